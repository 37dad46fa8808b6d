#!/bin/sh
# Stop the sync timers and services before their units go away; their enablement links are
# the operator's and are removed by `zfs-vm systemd disable` or on purge below.
set -e
if [ -d /run/systemd/system ]; then
  for unit in $(systemctl list-units --all --plain --no-legend 'zfs-vm-sync@*' 2>/dev/null | awk '{print $1}'); do
    systemctl stop "$unit" >/dev/null 2>&1 || true
  done
fi
