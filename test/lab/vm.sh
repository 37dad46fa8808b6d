#!/usr/bin/env bash
# Boots, reaches and stops the lab's VMs.
#
#   vm.sh start NAME     boot VM NAME from the cached image; prints its ssh port when sshd answers
#   vm.sh stop NAME      power it off
#   vm.sh ssh NAME CMD   run CMD in it as root
#   vm.sh port NAME      print its forwarded ssh port
#   vm.sh install NAME BINARY PEER...
#                        install BINARY as /usr/local/bin/zfs-vm (and /usr/bin/zfs-vm) and the
#                        hook scripts in /usr/libexec/zfs-vm in NAME, and let it reach each
#                        started PEER VM by ssh under the peer's name
#   vm.sh accel          print the qemu accelerator this machine can use (kvm or tcg)
#
# State lives in $ZFS_VM_LAB_RUN (default /tmp/zfs-vm-lab-$ZFS_VM_LAB_ZFS): NAME/{pid,port,console.log}.
# ZFS_VM_LAB_ZFS (2.1 or 2.3, default 2.1) picks the image, so both series can run side by side.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
run=${ZFS_VM_LAB_RUN:-/tmp/zfs-vm-lab-${ZFS_VM_LAB_ZFS:-2.1}}
boot_timeout=${ZFS_VM_LAB_BOOT_TIMEOUT:-600}

die() { echo "vm.sh: $*" >&2; exit 1; }

# accel prints kvm only when KVM really runs a guest. /dev/kvm can exist where nested
# virtualisation does not work (no VMX/SVM): qemu then starts but the guest never runs. So
# require the CPU flag, then boot the image's kernel and wait for its first console line.
accel() {
  local img=$1 out pid
  if [ ! -w /dev/kvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
    echo tcg; return
  fi
  out=$(mktemp)
  qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -display none -no-reboot \
    -kernel "$img/vmlinuz" -append "console=ttyS0 panic=-1" -serial "file:$out" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 20); do
    grep -q "Linux version" "$out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if grep -q "Linux version" "$out" 2>/dev/null; then echo kvm; else echo tcg; fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$out"
}

image() { "$here/build-image.sh"; }

ssh_opts() {
  local dir=$1
  echo "-i $dir/key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=10"
}

start() {
  local name=$1 img dir acc port
  img=$(image)
  dir=$run/$name
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    cat "$dir/port"; return 0
  fi
  mkdir -p "$dir"
  install -m 600 "$img/key" "$dir/key"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "$port" > "$dir/port"
  acc=$(accel "$img")
  local accel_args=(-accel kvm -cpu host)
  [ "$acc" = tcg ] && accel_args=(-accel tcg,thread=multi -cpu max)
  : > "$dir/console.log"
  # /dev/vdb in the guest: sparse scratch space for data that does not fit the root fs
  # (the benchmarks' 2 GiB runs). Fresh at every boot.
  rm -f "$dir/scratch.img" && truncate -s "${ZFS_VM_LAB_SCRATCH:-32G}" "$dir/scratch.img"
  qemu-system-x86_64 "${accel_args[@]}" -m "${ZFS_VM_LAB_MEM:-2048}" -smp 2 -nodefaults -display none \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.show_status=1" \
    -drive "file=$img/rootfs.img,format=raw,if=virtio,snapshot=on" \
    -drive "file=$dir/scratch.img,format=raw,if=virtio,cache=unsafe" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
    -serial "file:$dir/console.log" -pidfile "$dir/pid" -daemonize \
    || die "qemu failed to start VM $name (accel $acc)"
  local t0=$SECONDS
  # shellcheck disable=SC2046
  until ssh $(ssh_opts "$dir") -p "$port" root@127.0.0.1 true 2>/dev/null; do
    if ! kill -0 "$(cat "$dir/pid" 2>/dev/null)" 2>/dev/null; then
      echo "vm.sh: VM $name died while booting; last console lines:" >&2
      tail -n 30 "$dir/console.log" >&2
      exit 1
    fi
    if (( SECONDS - t0 > boot_timeout )); then
      echo "vm.sh: VM $name: ssh on port $port never answered within ${boot_timeout}s (accel $acc); last console lines:" >&2
      tail -n 30 "$dir/console.log" >&2
      stop "$name"
      exit 1
    fi
    sleep 3
  done
  echo "vm.sh: VM $name up in $((SECONDS - t0))s (accel $acc, ssh port $port)" >&2
  echo "$port"
}

stop() {
  local dir=$run/$1
  if [ -f "$dir/pid" ]; then
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid" "$dir/scratch.img"
  fi
}

vssh() {
  local name=$1; shift
  local dir=$run/$name
  [ -f "$dir/port" ] || die "VM $name is not started"
  # shellcheck disable=SC2046
  ssh $(ssh_opts "$dir") -p "$(cat "$dir/port")" root@127.0.0.1 "$@"
}

# install copies zfs-vm in and writes an ssh config through which the VM reaches each peer's
# sshd: slirp forwards the guest's 10.0.2.2:<port> to the host's loopback, where the peer's
# ssh port is forwarded.
install_bin() {
  local name=$1 bin=$2; shift 2
  local dir=$run/$name cfg="" peer
  for peer in "$@"; do
    cfg+="Host $peer
  HostName 10.0.2.2
  Port $(cat "$run/$peer/port")
  User root
  IdentityFile /root/.ssh/lab_key
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
"
  done
  vssh "$name" 'cat > /usr/local/bin/zfs-vm.new && chmod 755 /usr/local/bin/zfs-vm.new && mv /usr/local/bin/zfs-vm.new /usr/local/bin/zfs-vm' < "$bin"
  vssh "$name" 'ln -sf /usr/local/bin/zfs-vm /usr/bin/zfs-vm && mkdir -p /usr/libexec/zfs-vm'
  local hook
  for hook in "$here/../../hooks/scripts/"*; do
    vssh "$name" "cat > /usr/libexec/zfs-vm/$(basename "$hook") && chmod 755 /usr/libexec/zfs-vm/$(basename "$hook")" < "$hook"
  done
  vssh "$name" 'umask 077; cat > /root/.ssh/lab_key' < "$dir/key"
  printf '%s' "$cfg" | vssh "$name" 'umask 077; cat > /root/.ssh/config'
}

case ${1:-} in
  start) start "$2" ;;
  stop) stop "$2" ;;
  ssh) shift; vssh "$@" ;;
  port) cat "$run/$2/port" ;;
  install) shift; install_bin "$@" ;;
  accel) accel "$(image)" ;;
  *) die "usage: vm.sh start|stop|ssh|port NAME, or vm.sh accel" ;;
esac
