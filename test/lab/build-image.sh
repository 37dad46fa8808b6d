#!/usr/bin/env bash
# Builds the lab's Debian VM image with a real OpenZFS (zfs-dkms from contrib) and caches it
# outside the checkout, keyed by a hash of this script: an unchanged script reuses the image.
#
# Prints the image directory on stdout (rootfs.img, vmlinuz, initrd.img, lab_key).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${ZFS_VM_LAB_CACHE:-/var/cache/zfs-vm-lab}
mirror=${ZFS_VM_LAB_MIRROR:-http://deb.debian.org/debian}

# Everything the suites need inside the guest. Changing this list changes the hash.
packages=(
  linux-image-amd64 linux-headers-amd64 zfs-dkms zfsutils-linux
  systemd-sysv udev kmod dbus iproute2 procps psmisc netbase
  openssh-server openssh-client sudo zstd
  lxc busybox-static
)

# The guest's setup, run by mmdebstrap with the rootfs as $1.
# The customize hook builds zfs for the *image's* kernel: inside the chroot `uname -r` is the
# host's kernel, so dkms must be told the version.
customize='set -e
    kver=$(ls "$1/lib/modules" | sort -V | tail -n1)
    zver=$(ls "$1/usr/src" | sed -n "s/^zfs-//p" | sort -V | tail -n1)
    if ! ls "$1/lib/modules/$kver/updates/dkms/zfs.ko"* >/dev/null 2>&1; then
      chroot "$1" dkms install -m zfs -v "$zver" -k "$kver"
    fi
    chroot "$1" depmod "$kver"
    ls "$1/lib/modules/$kver/updates/dkms/zfs.ko"* >/dev/null
    chroot "$1" update-initramfs -u -k "$kver" >/dev/null
    echo zfs > "$1/etc/modules-load.d/zfs.conf"
    echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$1/etc/fstab"
    echo zfsvm-lab > "$1/etc/hostname"
    printf "[Match]\nName=eth*\n\n[Network]\nDHCP=ipv4\n" > "$1/etc/systemd/network/80-lab.network"
    chroot "$1" systemctl enable systemd-networkd ssh >/dev/null 2>&1
    chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
      systemd-networkd-wait-online.service lxc-net.service >/dev/null 2>&1 || true
    mkdir -p "$1/root/.ssh" && chmod 700 "$1/root/.ssh"
    echo "$LAB_PUBKEY" > "$1/root/.ssh/authorized_keys"
    printf "UseDNS no\nMaxStartups 100\nMaxSessions 100\n" > "$1/etc/ssh/sshd_config.d/lab.conf"
    rm -rf "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*
'

# The cache key covers what goes into the image, not this script's logging or packing.
key=$(printf '%s\n' "${packages[@]}" "$customize" "$mirror" | sha256sum | cut -c1-16)
dir=$cache/$key
if [ -f "$dir/ok" ]; then
  echo "$dir"
  exit 0
fi

log() { echo "[lab-build $(date +%T)] $*" >&2; }
start=$SECONDS
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rootfs=$tmp/rootfs

log "mmdebstrap bookworm (main contrib) into $rootfs; this takes about 6 minutes"
ssh-keygen -q -t ed25519 -N '' -C zfs-vm-lab -f "$tmp/lab_key"
export LAB_PUBKEY; LAB_PUBKEY=$(cat "$tmp/lab_key.pub")

mmdebstrap --variant=apt --components=main,contrib \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --aptopt='APT::Install-Recommends "false"' \
  --customize-hook="$customize" \
  bookworm "$rootfs" "$mirror" >&2
log "rootfs ready after $((SECONDS - start))s"

install -m 600 "$tmp/lab_key" "$tmp/key"
cp -L "$rootfs/vmlinuz" "$tmp/vmlinuz"
cp -L "$rootfs/initrd.img" "$tmp/initrd.img"
size_mb=$(( $(du -sm "$rootfs" | cut -f1) + 1536 ))
mkfs.ext4 -q -F -L root -d "$rootfs" "$tmp/rootfs.img" "${size_mb}M"
rm -rf "$rootfs"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
touch "$dir/ok"
log "image ready in $dir after $((SECONDS - start))s"
echo "$dir"
