#!/bin/sh
# Make systemd see the units. Timers are never enabled here: the operator chooses
# (`zfs-vm systemd enable` or `systemctl enable --now zfs-vm-sync@PEER.timer`).
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
