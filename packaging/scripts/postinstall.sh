#!/bin/sh
# After install or upgrade: make systemd see the units. Timers are never enabled here: the
# operator chooses (`zfs-vm systemd enable` or `systemctl enable --now zfs-vm-sync@PEER.timer`).
# On a Debian upgrade the enabled sync timers are restarted, so that they run the new units
# and run again if an older package's prerm stopped them. RPM passes a count ($1 = 1 on
# install, 2 on upgrade) and runs the old package's %preun after this: posttrans.sh restarts
# the timers there.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  case "$1" in
    configure)
      [ -n "$2" ] || exit 0 # a first install: nothing is enabled yet
      ;;
    abort-upgrade|abort-remove|abort-deconfigure) ;;
    *) exit 0 ;;
  esac
  for link in /etc/systemd/system/timers.target.wants/zfs-vm-sync@*.timer; do
    [ -e "$link" ] || [ -L "$link" ] || continue
    systemctl restart "${link##*/}" >/dev/null 2>&1 || true
  done
fi
exit 0
