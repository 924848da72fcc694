#!/usr/bin/env bash
# Runs every hazgate test against real services: installs what is missing
# (Mosquitto, python3-pymodbus, socat, chromium, PostgreSQL from Debian;
# InfluxDB OSS 1.8.10 built with `go install`), starts InfluxDB, Mosquitto and
# a throwaway PostgreSQL cluster on free loopback ports in a temporary
# directory, runs gofmt, go vet and go test with HAZGATE_INTEGRATION=1, and
# stops what it started.
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
# find_pg_bin prints the newest /usr/lib/postgresql/N/bin holding initdb,
# postgres and pg_ctl (Debian keeps them off $PATH).
find_pg_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/pg_isready" ] && [ -x "$d/psql" ]; then
			echo "$d"
			return
		fi
	done
}
if [ -z "$(find_mosquitto)" ] || ! command -v socat >/dev/null || [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] ||
	[ -z "$(find_pg_bin)" ] || ! /usr/bin/python3 -c 'import pymodbus, serial_asyncio' >/dev/null 2>&1; then
	# python3-serial-asyncio is only a Recommends of python3-pymodbus, and the
	# RTU tests need it: name it so --no-install-recommends setups get it too.
	log "installing mosquitto python3-pymodbus python3-serial-asyncio socat chromium fonts-noto-cjk postgresql"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto python3-pymodbus python3-serial-asyncio socat chromium fonts-noto-cjk postgresql
fi
MOSQUITTO=$(find_mosquitto)
[ -n "$MOSQUITTO" ] || die "mosquitto not found after install"
PG_BIN=$(find_pg_bin)
[ -n "$PG_BIN" ] || die "PostgreSQL's initdb, postgres, pg_ctl, pg_isready and psql not found in /usr/lib/postgresql/*/bin after install"

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
POSTGRES_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# postgres runs under runuser, which a SIGKILL would orphan it from:
	# pg_ctl stops the cluster itself (fast: roll back, disconnect, stop).
	if [ -n "$POSTGRES_PID" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -t 10 -w stop >/dev/null 2>&1 ||
			as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	for pid in $INFLUXD_PID $MOSQUITTO_PID $POSTGRES_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $INFLUXD_PID $MOSQUITTO_PID $POSTGRES_PID; do
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

# PostgreSQL refuses to run as root: as root, the cluster belongs to a
# system user of its own and every server command runs as that user.
PG_USER=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	PG_USER=hazgate-pg
	if ! id -u "$PG_USER" >/dev/null 2>&1; then
		log "creating system user $PG_USER for the test PostgreSQL"
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
	fi
fi
as_pg_user() {
	if [ "$PG_USER" = "$(id -un)" ]; then
		"$@"
	else
		runuser -u "$PG_USER" -- "$@"
	fi
}
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U hazgate; }

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

# A throwaway cluster: trust authentication for the superuser hazgate, TCP
# on loopback only, its unix socket in its own directory, no fsync (nothing
# here has to survive a crash).
PG_PORT=$(free_port)
while [ "$PG_PORT" = "$INFLUX_PORT" ] || [ "$PG_PORT" = "$INFLUX_RPC_PORT" ] || [ "$PG_PORT" = "$MQTT_PORT" ]; do PG_PORT=$(free_port); done
PGDATA_DIR="$TMP/postgres/data"
mkdir -p "$TMP/postgres"
touch "$TMP/postgres.log"
if [ "$PG_USER" != "$(id -un)" ]; then
	chmod 0711 "$TMP" # the cluster's user passes through, lists nothing
	chown -R "$PG_USER" "$TMP/postgres" "$TMP/postgres.log"
fi
chmod 0700 "$TMP/postgres"
as_pg_user "$PG_BIN/initdb" -D "$PGDATA_DIR" -U hazgate --auth=trust --encoding=UTF8 --locale=C --no-sync \
	>"$TMP/initdb.log" 2>&1 || { log "initdb failed:"; tail -n 30 "$TMP/initdb.log" >&2; exit 1; }
as_pg_user "$PG_BIN/postgres" -D "$PGDATA_DIR" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
	-c unix_socket_directories="$TMP/postgres" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
	-c max_connections=200 >>"$TMP/postgres.log" 2>&1 &
POSTGRES_PID=$!

wait_for influxd "$INFLUXD_PID" "$TMP/influxd.log" influx_healthy
wait_for mosquitto "$MOSQUITTO_PID" "$TMP/mosquitto.log" port_open "$MQTT_PORT"
wait_for postgres "$POSTGRES_PID" "$TMP/postgres.log" pg_ready
"$PG_BIN/psql" -q -X -h 127.0.0.1 -p "$PG_PORT" -U hazgate -d postgres -v ON_ERROR_STOP=1 -c 'CREATE DATABASE hazgate_test' ||
	die "could not create database hazgate_test"
log "influxd v$INFLUX_VERSION on 127.0.0.1:$INFLUX_PORT, mosquitto on 127.0.0.1:$MQTT_PORT, postgres $("$PG_BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$PG_PORT (in $TMP)"

# 4. Checks and tests.
export HAZGATE_INTEGRATION=1
export HAZGATE_INFLUX_URL="http://127.0.0.1:$INFLUX_PORT"
export HAZGATE_MQTT_URL="tcp://127.0.0.1:$MQTT_PORT"
export HAZGATE_PYTHON=/usr/bin/python3
export HAZGATE_POSTGRES_URL="postgres://hazgate@127.0.0.1:$PG_PORT/hazgate_test?sslmode=disable"

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
