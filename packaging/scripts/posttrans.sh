#!/bin/sh
# RPM %posttrans: the last step of an install or upgrade, after the old package's scriptlets.
# Restart the enabled sync timers so that they run the new units (a fresh install has none
# enabled; an erase disabled them).
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  for link in /etc/systemd/system/timers.target.wants/zfs-vm-sync@*.timer; do
    [ -e "$link" ] || [ -L "$link" ] || continue
    systemctl restart "${link##*/}" >/dev/null 2>&1 || true
  done
fi
exit 0
