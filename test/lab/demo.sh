#!/usr/bin/env bash
# The demo: two hosts with real OpenZFS (lab VMs), a template image with two versions and
# three containers cloned from it, tagged with zfs-vm and pushed from host a to host b.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export ZFS_VM_LAB_RUN=${ZFS_VM_LAB_RUN:-/tmp/zfs-vm-demo}
vm="$here/vm.sh"
bin=$(mktemp)
trap '"$vm" stop a; "$vm" stop b; rm -f "$bin"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { local h=$1; shift; printf '%s# %s\n' "$h" "$*"; "$vm" ssh "$h" "$*"; }

say "Building zfs-vm and the lab image (cached after the first run)"
(cd "$here/../.." && CGO_ENABLED=0 go build -o "$bin" ./cmd/zfs-vm)
"$here/build-image.sh" >/dev/null
say "Booting host a and host b (Debian with OpenZFS under qemu)"
"$vm" start a >/dev/null & "$vm" start b >/dev/null & wait
"$vm" install a "$bin" b
"$vm" install b "$bin" a
for h in a b; do "$vm" ssh "$h" 'zpool list -H -o name | xargs -r -n1 zpool destroy -f; rm -f /var/tmp/*.img'; done
on a 'zfs version | head -1'

say "Host a: a pool with a template image, two versions of it"
on a 'truncate -s 1G /var/tmp/tank.img && zpool create tank /var/tmp/tank.img && zfs create -p tank/templates/debian-12'
on a 'dd if=/dev/urandom of=/tank/templates/debian-12/rootfs.img bs=1M count=8 status=none && zfs-vm tag -n debian-12:1 tank/templates/debian-12'
on a 'dd if=/dev/urandom of=/tank/templates/debian-12/security-update bs=1M count=2 status=none && zfs-vm tag tank/templates/debian-12'

say "Host a: three containers cloned from the template, each changed and tagged"
on a 'zfs create tank/ct && zfs clone tank/templates/debian-12@zfs-vm:debian-12:1 tank/ct/101 && zfs clone tank/templates/debian-12@zfs-vm:debian-12:2 tank/ct/102 && zfs clone tank/templates/debian-12@zfs-vm:debian-12:2 tank/ct/103'
for ct in 101 102 103; do
  on a "dd if=/dev/urandom of=/tank/ct/$ct/app-data bs=1M count=1 status=none && zfs-vm tag tank/ct/$ct"
done
on a 'zfs-vm list'

say "Host b: an empty pool to receive into"
on b 'truncate -s 1G /var/tmp/backup.img && zpool create backup /var/tmp/backup.img && zfs create backup/images'

say "The plan, then the push"
on a 'zfs-vm push --dry-run -d backup/images b'
on a 'zfs-vm push -d backup/images b'

say "Both hosts now list the same versions"
on a 'zfs-vm list'
on b 'zfs-vm list'

say "Clones arrived as clones: same origins, same space"
on a 'zfs list -o name,origin,used,referenced -r tank'
on b 'zfs list -o name,origin,used,referenced -r backup/images'
used_a=$("$vm" ssh a 'zfs get -Hp -o value used tank/templates/debian-12' ; "$vm" ssh a 'zfs get -Hp -o value used tank/ct')
used_b=$("$vm" ssh b 'zfs get -Hp -o value used backup/images')
expanded=$("$vm" ssh a 'zfs list -Hp -o referenced tank/templates/debian-12 tank/ct/101 tank/ct/102 tank/ct/103' | awk '{s+=$1} END {print s}')
awk -v a="$(echo "$used_a" | awk '{s+=$1} END {print s}')" -v b="$used_b" -v e="$expanded" 'BEGIN {
  printf "space on a: %.1f MiB; on b: %.1f MiB (ratio %.2f); a tool that expands clones into full copies would need %.1f MiB on b\n", a/1048576, b/1048576, b/a, e/1048576 }'

say "A new version is one incremental stream"
on a 'dd if=/dev/urandom of=/tank/ct/102/more bs=1M count=1 status=none && zfs-vm tag tank/ct/102'
on a 'zfs-vm push --dry-run -d backup/images b'
