#!/usr/bin/env bash
# Installs, with apt, what the lab and the package checks need on the build machine (a Debian host), and only what
# is missing. Go itself must be on PATH.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have qemu-system-x86_64 || need+=(qemu-system-x86)
have mmdebstrap || need+=(mmdebstrap)
have mkfs.ext4 || need+=(e2fsprogs)
have ssh || need+=(openssh-client)
have ssh-keygen || need+=(openssh-client)
have python3 || need+=(python3)
have lintian || need+=(lintian)
have rpmlint || need+=(rpmlint)
have rpm || need+=(rpm)
have cpio || need+=(cpio)
have gzip || need+=(gzip)
have zstd || need+=(zstd)
have systemd-analyze || need+=(systemd)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if ! have go; then
  echo "deps.sh: Go is not on PATH; install Go 1.24 or newer first" >&2
  exit 1
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "deps.sh: installing ${need[*]}" >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
