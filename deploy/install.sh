#!/bin/bash
# Install or upgrade hazgate as a systemd service. Run it again to upgrade:
# it replaces the binary and the unit, keeps the config, the secrets and
# data_dir, and restarts the service if it was running.
#
#   sudo deploy/install.sh [BINARY]
#
# BINARY defaults to a fresh build with deploy/build.sh (needs Go).
# Environment:
#   CONFIG     config to install when /etc/hazgate/hazgate.yaml is absent
#              (default deploy/examples/site.yaml)
#   DESTDIR    install the files under this root instead of / (staging,
#              tests); the user is still created on this machine
#   BINDIR     where the binary goes (default /usr/local/bin)
#   SYSTEMCTL  the systemctl to call; empty skips it (default systemctl)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DESTDIR=${DESTDIR:-}
BINDIR=${BINDIR:-/usr/local/bin}
CONFIG=${CONFIG:-$here/examples/site.yaml}
SYSTEMCTL=${SYSTEMCTL-systemctl}
user=hazgate
etc=$DESTDIR/etc/hazgate
data=$DESTDIR/var/lib/hazgate
unit=$DESTDIR/etc/systemd/system/hazgate.service
doc=$DESTDIR/usr/local/share/doc/hazgate

if [[ -z $DESTDIR && $EUID -ne 0 ]]; then
	echo "install.sh: run as root (or set DESTDIR to stage under a directory)" >&2
	exit 1
fi

bin=${1:-}
if [[ -z $bin ]]; then
	bin=$(mktemp)
	trap 'rm -f "$bin"' EXIT
	"$here/build.sh" "$bin"
fi
if [[ ! -x $bin ]]; then
	echo "install.sh: $bin is not an executable hazgate binary" >&2
	exit 1
fi

# The service user: a system account without a shell, in dialout for serial ports.
if ! getent passwd "$user" >/dev/null; then
	useradd --system --user-group --home-dir /var/lib/hazgate --no-create-home \
		--shell /usr/sbin/nologin --comment "hazgate gateway" "$user"
	echo "created user $user"
fi
if getent group dialout >/dev/null; then
	usermod -a -G dialout "$user"
fi

install -d -m 0755 "$DESTDIR$BINDIR" "$etc" "$(dirname "$unit")" "$doc"
install -d -m 0750 "$data"
chown "$user:$user" "$data"

# Replace the binary by rename, so a running service keeps its old file.
install -m 0755 "$bin" "$DESTDIR$BINDIR/hazgate.new"
mv -f "$DESTDIR$BINDIR/hazgate.new" "$DESTDIR$BINDIR/hazgate"

sed "s|/usr/local/bin/hazgate|$BINDIR/hazgate|g" "$here/systemd/hazgate.service" >"$unit.new"
chmod 0644 "$unit.new"
mv -f "$unit.new" "$unit"

for f in operating.md configuration.md api.md northbound.md northbound.schema.json; do
	if [[ -f $here/../docs/$f ]]; then
		install -m 0644 "$here/../docs/$f" "$doc/$f"
	fi
done

# The config and the secrets are the operator's: never overwritten.
if [[ ! -e $etc/hazgate.yaml ]]; then
	install -m 0640 "$CONFIG" "$etc/hazgate.yaml"
	chown "root:$user" "$etc/hazgate.yaml"
	echo "installed $etc/hazgate.yaml from $CONFIG: edit it for this site"
fi
if [[ ! -e $etc/hazgate.env ]]; then
	(
		umask 027
		{
			echo "# Secrets for /etc/hazgate/hazgate.yaml: one NAME=value a line, for each \${NAME} it uses."
			echo "# Read by systemd (EnvironmentFile); readable by root and the hazgate group only."
			# shellcheck disable=SC2016 # the ${NAME}s are literal
			grep -o '\${[A-Za-z_][A-Za-z0-9_]*}' "$etc/hazgate.yaml" | sort -u | sed 's/^\${\(.*\)}$/#\1=/' || true
		} >"$etc/hazgate.env"
	)
	chown "root:$user" "$etc/hazgate.env"
	echo "created $etc/hazgate.env: set the secrets the config refers to"
fi

if [[ -n $SYSTEMCTL ]]; then
	"$SYSTEMCTL" daemon-reload
	"$SYSTEMCTL" enable hazgate.service
	if "$SYSTEMCTL" is-active --quiet hazgate.service; then
		"$SYSTEMCTL" restart hazgate.service
		echo "restarted hazgate"
	else
		echo "enabled hazgate; start it with: systemctl start hazgate"
	fi
fi
echo "installed $("$DESTDIR$BINDIR/hazgate" version)"
