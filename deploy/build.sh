#!/bin/sh
# Build a static hazgate with its version, commit and build date:
#   deploy/build.sh [OUTPUT]        (default ./hazgate)
# VERSION, COMMIT and DATE override what git and date say (the Dockerfile
# passes them in, having no .git). Extra go build flags: GOFLAGS.
set -eu
out=${1:-./hazgate}
cd "$(dirname "$0")/.."
if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi
if [ -z "${COMMIT:-}" ]; then
	COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo none)
fi
if [ -z "${DATE:-}" ]; then
	DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
# CGO_ENABLED=0: SQLite is modernc.org/sqlite, pure Go, so the binary runs on
# any Linux of its architecture with no libc to match.
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
	-o "$out" ./cmd/hazgate
echo "built $out: hazgate $VERSION (commit $COMMIT, built $DATE)"
