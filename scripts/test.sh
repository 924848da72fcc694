#!/usr/bin/env bash
# Runs every hazgate test against real services: installs what is missing
# (Mosquitto, python3-pymodbus, socat, chromium from Debian; InfluxDB OSS
# 1.8.10 built with `go install`), starts InfluxDB and Mosquitto on free
# loopback ports in a temporary directory, runs gofmt, go vet and go test with
# HAZGATE_INTEGRATION=1, and stops what it started.
#
# Usage: scripts/test.sh [go test flags] [./package/patterns]
#   Arguments starting with "./" (or ".") are package patterns and replace
#   ./... for vet and test; every other argument is passed to go test, e.g.
#     scripts/test.sh -run TestInflux -v ./collector/
set -euo pipefail

cd "$(dirname "$0")/.."

INFLUX_VERSION=1.8.10
WAIT_SECONDS=${HAZGATE_SERVICE_WAIT:-60}

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

pkgs=()
flags=()
for a in "$@"; do
	case "$a" in
	. | ./*) pkgs+=("$a") ;;
	*) flags+=("$a") ;;
	esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

# as_root runs a command as root: directly, or through sudo when we are not root.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# 1. Debian packages.
find_mosquitto() { command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true; }
if [ -z "$(find_mosquitto)" ] || ! command -v socat >/dev/null || [ ! -x /usr/bin/chromium ] ||
	! /usr/bin/python3 -c 'import pymodbus, serial_asyncio' >/dev/null 2>&1; then
	# python3-serial-asyncio is only a Recommends of python3-pymodbus, and the
	# RTU tests need it: name it so --no-install-recommends setups get it too.
	log "installing mosquitto python3-pymodbus python3-serial-asyncio socat chromium"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto python3-pymodbus python3-serial-asyncio socat chromium
fi
MOSQUITTO=$(find_mosquitto)
[ -n "$MOSQUITTO" ] || die "mosquitto not found after install"

# 2. InfluxDB OSS 1.8.10, built from source through the Go module proxy.
GOBIN_DIR=$(go env GOBIN)
[ -n "$GOBIN_DIR" ] || GOBIN_DIR="$(go env GOPATH | cut -d: -f1)/bin"
INFLUXD="$GOBIN_DIR/influxd"

# A plain `go install` leaves `influxd version` at "unknown", so the module
# version recorded in the binary counts as well.
influxd_ok() {
	[ -x "$INFLUXD" ] || return 1
	"$INFLUXD" version 2>/dev/null | grep -q "v$INFLUX_VERSION" && return 0
	go version -m "$INFLUXD" 2>/dev/null | grep -Eq "^[[:space:]]*mod[[:space:]]+github.com/influxdata/influxdb[[:space:]]+v$INFLUX_VERSION([[:space:]]|$)"
}

if ! influxd_ok; then
	# Another shell may be building the same binary; building twice costs
	# minutes and races on the output file.
	waited=0
	while pgrep -f "go install github.com/influxdata/influxdb/cmd/influxd" >/dev/null 2>&1 && [ $waited -lt 900 ]; do
		[ $waited -eq 0 ] && log "waiting for a running 'go install' of influxd"
		sleep 5
		waited=$((waited + 5))
	done
fi
if ! influxd_ok; then
	log "building influxd v$INFLUX_VERSION (about 2 minutes)"
	go install -ldflags "-X main.version=$INFLUX_VERSION" "github.com/influxdata/influxdb/cmd/influxd@v$INFLUX_VERSION"
	influxd_ok || die "$INFLUXD is not InfluxDB v$INFLUX_VERSION after go install"
fi

# 3. Services on free loopback ports, in a temporary directory.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hazgate-test.XXXXXX")
INFLUXD_PID=
MOSQUITTO_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in $INFLUXD_PID $MOSQUITTO_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $INFLUXD_PID $MOSQUITTO_PID; do
		# Give each a few seconds to stop cleanly, then insist.
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port prints a loopback TCP port nobody listens on (the kernel picks it).
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# http_status prints the status code of GET http://127.0.0.1:$1$2 (bash only:
# a fresh machine may have no curl).
http_status() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
	IFS=' ' read -r _ line _ <&3 || true
	exec 3>&-
	echo "$line"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME PID LOGFILE CHECK... retries CHECK until it succeeds, the
# process dies, or WAIT_SECONDS pass; on failure it shows the log's tail.
wait_for() {
	local name=$1 pid=$2 logfile=$3
	shift 3
	local deadline=$((SECONDS + WAIT_SECONDS))
	until "$@" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during start-up; last lines of $logfile:"
			tail -n 30 "$logfile" >&2 || true
			exit 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			log "$name did not answer within ${WAIT_SECONDS}s; last lines of $logfile:"
			tail -n 30 "$logfile" >&2 || true
			exit 1
		fi
		sleep 0.2
	done
}

influx_healthy() { [ "$(http_status "$INFLUX_PORT" /health)" = 200 ]; }

INFLUX_PORT=$(free_port)
INFLUX_RPC_PORT=$(free_port)
while [ "$INFLUX_RPC_PORT" = "$INFLUX_PORT" ]; do INFLUX_RPC_PORT=$(free_port); done
mkdir -p "$TMP/influx/meta" "$TMP/influx/data" "$TMP/influx/wal"
cat >"$TMP/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$INFLUX_RPC_PORT"

[meta]
  dir = "$TMP/influx/meta"

[data]
  dir = "$TMP/influx/data"
  wal-dir = "$TMP/influx/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$INFLUX_PORT"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
  pprof-enabled = false
  debug-pprof-enabled = false

[logging]
  level = "warn"

[continuous_queries]
  log-enabled = false
EOF
"$INFLUXD" run -config "$TMP/influxdb.conf" >"$TMP/influxd.log" 2>&1 &
INFLUXD_PID=$!

MQTT_PORT=$(free_port)
while [ "$MQTT_PORT" = "$INFLUX_PORT" ] || [ "$MQTT_PORT" = "$INFLUX_RPC_PORT" ]; do MQTT_PORT=$(free_port); done
mkdir -p "$TMP/mosquitto"
cat >"$TMP/mosquitto.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence true
# A gateway restart may leave thousands of QoS 1 messages queued for it (the
# default of 1000 drops the rest).
max_queued_messages 100000
persistence_location $TMP/mosquitto/
log_dest file $TMP/mosquitto.log
log_type error
log_type warning
log_type notice
user $(id -un)
EOF
touch "$TMP/mosquitto.log"
"$MOSQUITTO" -c "$TMP/mosquitto.conf" >>"$TMP/mosquitto.log" 2>&1 &
MOSQUITTO_PID=$!

wait_for influxd "$INFLUXD_PID" "$TMP/influxd.log" influx_healthy
wait_for mosquitto "$MOSQUITTO_PID" "$TMP/mosquitto.log" port_open "$MQTT_PORT"
log "influxd v$INFLUX_VERSION on 127.0.0.1:$INFLUX_PORT, mosquitto on 127.0.0.1:$MQTT_PORT (in $TMP)"

# 4. Checks and tests.
export HAZGATE_INTEGRATION=1
export HAZGATE_INFLUX_URL="http://127.0.0.1:$INFLUX_PORT"
export HAZGATE_MQTT_URL="tcp://127.0.0.1:$MQTT_PORT"
export HAZGATE_PYTHON=/usr/bin/python3

mapfile -t dirs < <(go list -f '{{.Dir}}' "${pkgs[@]}")
unformatted=$(gofmt -l "${dirs[@]}")
if [ -n "$unformatted" ]; then
	log "gofmt -l reports unformatted files:"
	printf '%s\n' "$unformatted" | sed "s|^$PWD/||" >&2
	exit 1
fi
go vet "${pkgs[@]}"

set +e
go test -count=1 -timeout 15m "${flags[@]}" "${pkgs[@]}"
rc=$?
set -e
exit $rc
