#!/usr/bin/env bash
# Installs dist/stalld and the systemd unit:
#   bash scripts/install.sh            # then: systemctl enable --now stalld
# DESTDIR=/some/root installs into a staging tree (packaging, tests).
# An existing /etc/sysconfig/stalld is kept: it is the operator's.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${DESTDIR:-}"
bindir="${BINDIR:-/usr/local/bin}"

[ -x dist/stalld ] || { echo "install.sh: dist/stalld is missing: run scripts/setup.sh first" >&2; exit 1; }
install -D -m 0755 dist/stalld "$root$bindir/stalld"
# The unit names the binary by absolute path: point it at where it went.
install -d "$root/etc/systemd/system"
sed "s|/usr/local/bin/stalld|$bindir/stalld|g" systemd/stalld.service >"$root/etc/systemd/system/stalld.service"
chmod 0644 "$root/etc/systemd/system/stalld.service"
if [ -e "$root/etc/sysconfig/stalld" ]; then
  echo "install.sh: kept the existing $root/etc/sysconfig/stalld"
else
  install -D -m 0644 systemd/stalld.conf "$root/etc/sysconfig/stalld"
fi
echo "install.sh: installed $root$bindir/stalld, $root/etc/systemd/system/stalld.service, $root/etc/sysconfig/stalld"
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "install.sh: now run: systemctl enable --now stalld"
elif [ -z "$root" ]; then
  echo "install.sh: systemd is not running here; start stalld by hand: $bindir/stalld -f"
fi
