#!/bin/sh
# Before the package's files go. Debian passes remove, upgrade NEW-VERSION, deconfigure or
# failed-upgrade; RPM %preun passes the number of versions left (0 on erase, 1 on upgrade).
# Only a removal stops the sync and template timers and services: an upgrade leaves them running, and
# their enablement links are the operator's (`zfs-vm systemd disable`, or purge/erase below).
set -e
case "$1" in
  remove|deconfigure|0)
    if [ -d /run/systemd/system ]; then
      systemctl stop 'zfs-vm-sync@*.timer' 'zfs-vm-sync@*.service' \
        zfs-vm-tag-templates.timer zfs-vm-tag-templates.service >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
