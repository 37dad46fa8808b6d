#!/bin/sh
# On purge (Debian) remove the timer links and schedule drop-ins zfs-vm wrote; on remove,
# keep them with the operator's configuration.
set -e
case "$1" in
  purge)
    rm -f /etc/systemd/system/timers.target.wants/zfs-vm-sync@*.timer
    rm -f /etc/systemd/system/zfs-vm-sync@*.timer.d/zfs-vm-schedule.conf
    rmdir /etc/systemd/system/zfs-vm-sync@*.timer.d 2>/dev/null || true
    rm -rf /run/zfs-vm
    ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
