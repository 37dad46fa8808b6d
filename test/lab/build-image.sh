#!/usr/bin/env bash
# Builds the lab's Debian VM image with a real OpenZFS (zfs-dkms from contrib) and caches it
# outside the checkout, keyed by a hash of what goes into it: an unchanged recipe reuses the image.
#
#   ZFS_VM_LAB_ZFS     2.1 (default): bookworm's own OpenZFS 2.1.x
#                      2.3: OpenZFS 2.3.x from bookworm-backports (what Debian 13 ships too)
#   ZFS_VM_LAB_MIRROR  the Debian mirror; by default the one this build host's apt uses for bookworm
#   ZFS_VM_LAB_CACHE   where images are kept (default /var/cache/zfs-vm-lab)
#
# Prints the image directory on stdout (rootfs.img, vmlinuz, initrd.img, lab_key).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${ZFS_VM_LAB_CACHE:-/var/cache/zfs-vm-lab}
zfs_series=${ZFS_VM_LAB_ZFS:-2.1}

# host_mirror prints the URI this host's apt fetches Debian bookworm from (deb822 or one-line
# sources alike, as apt itself resolved them), without a trailing slash.
host_mirror() {
  apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(CODENAME)|$(REPO_URI)' 2>/dev/null |
    awk -F'|' '$1 == "Debian" && $2 == "Debian" && $3 == "bookworm" { print $4; exit }' | sed 's:/*$::'
}
mirror=${ZFS_VM_LAB_MIRROR:-$(host_mirror)}
if [ -z "$mirror" ]; then
  echo "build-image.sh: this host's apt has no Debian bookworm source (run apt-get update?); set ZFS_VM_LAB_MIRROR to a Debian mirror" >&2
  exit 1
fi

# Everything the suites need inside the guest. Changing this list changes the hash.
packages=(
  linux-image-amd64 linux-headers-amd64 zfs-dkms zfsutils-linux
  systemd-sysv udev kmod dbus iproute2 procps psmisc netbase
  openssh-server openssh-client sudo zstd
  lxc busybox-static
  tcsh sanoid
)
# mmdebstrap's extra apt sources and the packages' release, per OpenZFS series.
extra_sources=()
setup=()
case $zfs_series in
  2.1) ;;
  2.3)
    extra_sources=("deb $mirror bookworm-backports main contrib")
    # OpenZFS and only OpenZFS (its tools, module source and libraries) from backports.
    setup=(--setup-hook 'mkdir -p "$1/etc/apt/preferences.d" && printf "%s\n" \
      "Package: zfs-dkms zfsutils-linux zfs-zed libnvpair3linux libuutil3linux libzfs6linux libzpool6linux libzfs4linux libzpool5linux" \
      "Pin: release n=bookworm-backports" "Pin-Priority: 990" > "$1/etc/apt/preferences.d/zfs-backports"')
    ;;
  *) echo "build-image.sh: ZFS_VM_LAB_ZFS=$zfs_series: choose 2.1 or 2.3" >&2; exit 2 ;;
esac

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
    chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer sanoid.timer \
      systemd-networkd-wait-online.service lxc-net.service >/dev/null 2>&1 || true
    mkdir -p "$1/root/.ssh" && chmod 700 "$1/root/.ssh"
    echo "$LAB_PUBKEY" > "$1/root/.ssh/authorized_keys"
    printf "UseDNS no\nMaxStartups 100\nMaxSessions 100\n" > "$1/etc/ssh/sshd_config.d/lab.conf"
    rm -rf "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*
'

# The cache key covers what goes into the image, not this script's logging or packing.
key=$(printf '%s\n' "${packages[@]}" "$customize" "$mirror" "${extra_sources[@]}" "${setup[@]}" | sha256sum | cut -c1-16)
dir=$cache/$key
if [ -f "$dir/ok" ]; then
  echo "$dir"
  exit 0
fi

log() { echo "[lab-build $(date +%T)] $*" >&2; }
start=$SECONDS
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/build.XXXXXX")
# cleanup removes the build directory. A build cut short (a signal to mmdebstrap) can leave
# its mounts in the rootfs (/proc, /sys, /dev/pts, /dev/shm, bound from this host): unmount
# them first, and never let rm cross into another file system, so that a killed build cannot
# delete what the host has there.
cleanup() {
  grep -o " $tmp/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
rootfs=$tmp/rootfs

log "mmdebstrap bookworm (main contrib, OpenZFS $zfs_series) from $mirror into $rootfs; this takes 6 to 17 minutes"
ssh-keygen -q -t ed25519 -N '' -C zfs-vm-lab -f "$tmp/lab_key"
export LAB_PUBKEY; LAB_PUBKEY=$(cat "$tmp/lab_key.pub")

mmdebstrap --variant=apt --components=main,contrib \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --aptopt='APT::Install-Recommends "false"' \
  --customize-hook="$customize" "${setup[@]}" \
  bookworm "$rootfs" "deb $mirror bookworm main contrib" "${extra_sources[@]}" >&2
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
