#!/bin/sh
# After the package's files went. Debian passes remove, purge, upgrade NEW-VERSION,
# failed-upgrade, abort-install, abort-upgrade or disappear; RPM %postun passes the number of
# versions left (0 on erase, 1 on upgrade). Removal keeps the operator's configuration and
# timer links (Debian keeps conffiles until purge); purge, and RPM's erase (RPM has no purge),
# remove the timer links and schedule drop-ins `zfs-vm systemd enable` wrote.
set -e
case "$1" in
  purge|0)
    rm -f /etc/systemd/system/timers.target.wants/zfs-vm-sync@*.timer
    rm -f /etc/systemd/system/timers.target.wants/zfs-vm-tag-templates.timer
    rm -f /etc/systemd/system/zfs-vm-sync@*.timer.d/zfs-vm-schedule.conf
    for dir in /etc/systemd/system/zfs-vm-sync@*.timer.d; do
      [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true
    done
    rm -rf /run/zfs-vm
    ;;
  remove)
    rm -rf /run/zfs-vm
    ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
