#!/usr/bin/env bash
# Undoes scripts/install.sh:
#   bash scripts/uninstall.sh            # keeps /etc/sysconfig/stalld (the operator's)
#   bash scripts/uninstall.sh --purge    # removes it too
# DESTDIR and BINDIR as for install.sh. Stopping the service first lets the
# daemon put back what it changed (boosts, RT throttling, mounts).
set -euo pipefail
root="${DESTDIR:-}"
bindir="${BINDIR:-/usr/local/bin}"
purge=0
case "${1:-}" in
  "") ;;
  --purge) purge=1 ;;
  *) echo "uninstall.sh: unknown argument $1 (--purge or nothing)" >&2; exit 1 ;;
esac

if [ -z "$root" ] && [ -d /run/systemd/system ] && systemctl cat stalld.service >/dev/null 2>&1; then
  systemctl disable --now stalld.service
  echo "uninstall.sh: stopped and disabled stalld.service"
fi
rm -f "$root/etc/systemd/system/stalld.service" "$root$bindir/stalld"
echo "uninstall.sh: removed $root$bindir/stalld and $root/etc/systemd/system/stalld.service"
if [ "$purge" = 1 ]; then
  rm -f "$root/etc/sysconfig/stalld"
  echo "uninstall.sh: removed $root/etc/sysconfig/stalld"
elif [ -e "$root/etc/sysconfig/stalld" ]; then
  echo "uninstall.sh: kept $root/etc/sysconfig/stalld (--purge removes it)"
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
