#!/usr/bin/env bash
# zfs-vm's benchmarks on real OpenZFS in the lab VMs. Prints ratios against the bare
# `zfs send | zfs receive`; never asserts timings. See BENCHMARKS.md for results.
#
#   LOCAL_MIB   data for the in-VM data path (default 256)
#   SSH_MIB     data for the VM-to-VM data path over ssh (default 64; ssh is slow under TCG)
#   RUNS        runs per variant, alternating, median reported (default 3)
#   STREAMLINES streamlines for the round-trip count (default 50)
#   CLONES      containers cloned from the template for the space benchmark (default 20)
#   SNAPSHOTS   snapshots on the host for the hook latency (default 10000)
#   LAT_RUNS    runs of each hook-latency case (default 8; each lists every snapshot)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export ZFS_VM_LAB_RUN=${ZFS_VM_LAB_RUN:-/tmp/zfs-vm-bench}
LOCAL_MIB=${LOCAL_MIB:-256} SSH_MIB=${SSH_MIB:-64} RUNS=${RUNS:-3}
STREAMLINES=${STREAMLINES:-50} CLONES=${CLONES:-20} SNAPSHOTS=${SNAPSHOTS:-10000} LAT_RUNS=${LAT_RUNS:-8}
vm="$here/vm.sh"
bin=$(mktemp)
trap '[ -n "${ZFS_VM_LAB_KEEP:-}" ] || { "$vm" stop a; "$vm" stop b; }; rm -f "$bin"' EXIT

(cd "$here/../.." && CGO_ENABLED=0 go build -o "$bin" ./cmd/zfs-vm)
"$here/build-image.sh" >/dev/null
"$vm" start a >/dev/null & "$vm" start b >/dev/null & wait
"$vm" install a "$bin" b
"$vm" install b "$bin" a
on() { local h=$1; shift; "$vm" ssh "$h" "$@"; }
# unhold releases every hold in a pool, so that the runs can destroy what they received.
unhold='unhold() { for s in $(zfs list -H -t snapshot -o name -r "$1"); do zfs holds -H "$s" | cut -f2 | while read -r tag; do zfs release "$tag" "$s"; done; done; }'
# now prints seconds since the epoch with nanoseconds; elapsed subtracts.
timing='now() { date +%s.%N; }; elapsed() { awk -v a="$1" -v b="$(now)" "BEGIN {printf \"%.3f\\n\", b-a}"; }'
for h in a b; do on $h 'zpool list -H -o name | xargs -r -n1 zpool destroy -f; rm -f /var/tmp/*.img'; done

echo "# zfs-vm benchmarks, $(date -u +%Y-%m-%d), $(nproc) host cores, qemu accel $("$vm" accel)"
echo "# guest: $(on a 'zfs version | head -1; uname -r' | tr '\n' ' ')"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# --- 1. Data path -----------------------------------------------------------------------
on a "truncate -s 2G /var/tmp/src.img && zpool create -O compression=off src /var/tmp/src.img
truncate -s 2G /var/tmp/dst.img && zpool create -O compression=off dst /var/tmp/dst.img
zfs create src/local && dd if=/dev/urandom of=/src/local/data bs=1M count=$LOCAL_MIB status=none
zfs create src/remote && dd if=/dev/urandom of=/src/remote/data bs=1M count=$SSH_MIB status=none
zfs-vm tag -n local:1 src/local >/dev/null && zfs-vm tag -n remote:1 src/remote >/dev/null
zfs create dst/vm"
on b "truncate -s 2G /var/tmp/dst.img && zpool create -O compression=off dst /var/tmp/dst.img && zfs create dst/vm"

# Each variant prints the seconds it took; zfs-vm's own CPU and RSS come from its -d log.
variant() {
  case $1 in
    a) on a "$timing; zfs destroy -r dst/vm/local 2>/dev/null; s=\$(now); zfs send src/local@zfs-vm:local:1 | zfs receive -u dst/vm/local; elapsed \$s" ;;
    b) on a "$timing; zfs destroy -r dst/vm/local 2>/dev/null; s=\$(now); zfs-vm -d push -n local -d dst/vm local 2>/tmp/b.log >/dev/null; elapsed \$s; grep resources: /tmp/b.log >&2" ;;
    c) on b 'zfs destroy -r dst/vm/remote 2>/dev/null || true'
       on a "$timing; s=\$(now); zfs send src/remote@zfs-vm:remote:1 | ssh b zfs receive -u dst/vm/remote; elapsed \$s" ;;
    d) on b 'zfs destroy -r dst/vm/remote 2>/dev/null || true'
       on a "$timing; s=\$(now); zfs-vm -d push -n remote -d dst/vm b 2>/tmp/d.log >/dev/null; elapsed \$s; grep resources: /tmp/d.log >&2" ;;
  esac
}
declare -A secs
for run in $(seq 1 "$RUNS"); do
  for v in a b c d; do
    on a "$unhold; unhold src; unhold dst"
    on b "$unhold; unhold dst"
    t=$(variant $v 2>>/tmp/zfs-vm-bench-res.log)
    secs[$v]+="$t "
  done
done
med() { echo "${secs[$1]}" | tr ' ' '\n' | grep . | median; }
a=$(med a) b=$(med b) c=$(med c) d=$(med d)
echo
echo "## 1. Data path (median of $RUNS alternating runs)"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v l="$LOCAL_MIB" -v s="$SSH_MIB" 'BEGIN {
  printf "a. bare zfs send | zfs receive (in one VM, %d MiB):  %.2fs  %.1f MiB/s\n", l, a, l/a
  printf "b. zfs-vm push to the same VM:                     %.2fs  %.1f MiB/s   b/a throughput = %.3f\n", b, l/b, a/b
  printf "c. bare zfs send | ssh B zfs receive (%d MiB):      %.2fs  %.1f MiB/s\n", s, c, s/c
  printf "d. zfs-vm push to B:                               %.2fs  %.1f MiB/s   d/c throughput = %.3f\n", d, s/d, c/d }'
echo "zfs-vm's own resources per push (user+sys CPU, peak RSS):"
grep -o 'resources: .*' /tmp/zfs-vm-bench-res.log | sort | uniq -c | sed 's/^/  /'
rm -f /tmp/zfs-vm-bench-res.log
on a 'zpool destroy src; zpool destroy dst; rm -f /var/tmp/src.img /var/tmp/dst.img'; on b 'zpool destroy dst; rm -f /var/tmp/dst.img'

# --- 2. Round trips ---------------------------------------------------------------------
on b 'echo "LogLevel VERBOSE" > /etc/ssh/sshd_config.d/bench.conf && systemctl reload ssh'
on a "truncate -s 1G /var/tmp/rt.img && zpool create rt /var/tmp/rt.img && zfs create rt/img
for i in \$(seq 1 $STREAMLINES); do zfs create rt/img/s\$i; zfs-vm tag -n s\$i:1 rt/img/s\$i >/dev/null; done
printf '[[peer]]\nname = \"b\"\nhost = \"b\"\ndirection = \"push\"\ndest = \"rt\"\n' > /tmp/rt.toml"
on b 'truncate -s 1G /var/tmp/rt.img && zpool create rt /var/tmp/rt.img'
on a 'zfs-vm --config /tmp/rt.toml sync >/dev/null 2>&1'
count() { # $1: label; runs the sync between two markers in B's journal, counts at B's sshd
  on b 'logger zfs-vm-bench-mark-start'
  on a 'zfs-vm --config /tmp/rt.toml sync 2>&1 | tail -n1' >/dev/null
  on b 'logger zfs-vm-bench-mark-end'
  local log
  log=$(on b "journalctl --no-pager -o cat -n 5000" | awk '/zfs-vm-bench-mark-start/ {buf = ""; on = 1; next}
    /zfs-vm-bench-mark-end/ {on = 0} on {buf = buf $0 "\n"} END {printf "%s", buf}')
  # The marker command that logged the end came in over ssh too: one handshake, one command.
  printf '%-40s ssh handshakes: %s   remote commands: %s\n' "$1" \
    $(( $(grep -c 'Accepted publickey' <<<"$log" || true) - 1 )) $(( $(grep -c 'Starting session: command' <<<"$log" || true) - 1 ))
}
echo
echo "## 2. Round trips for a sync of $STREAMLINES streamlines (counted at B's sshd)"
count "nothing to do:"
on a "for i in \$(seq 1 $STREAMLINES); do echo x > /rt/img/s\$i/f; zfs-vm tag rt/img/s\$i >/dev/null; done"
count "one new version each:"
echo "(remote commands: 1 listing + 1 per stream + 1 that moves the base holds)"
on b 'rm -f /etc/ssh/sshd_config.d/bench.conf && systemctl reload ssh; zpool destroy rt; rm -f /var/tmp/rt.img'
on a 'zpool destroy rt; rm -f /var/tmp/rt.img'

# --- 4. Space ---------------------------------------------------------------------------
on a "truncate -s 2G /var/tmp/sp.img && zpool create -O compression=off sp /var/tmp/sp.img && zfs create sp/tmpl
dd if=/dev/urandom of=/sp/tmpl/rootfs bs=1M count=64 status=none && zfs-vm tag -n tmpl:1 sp/tmpl >/dev/null
zfs create sp/ct
for i in \$(seq 1 $CLONES); do zfs clone sp/tmpl@zfs-vm:tmpl:1 sp/ct/\$i; dd if=/dev/urandom of=/sp/ct/\$i/own bs=1M count=1 status=none; zfs-vm tag sp/ct/\$i >/dev/null; done"
on b 'truncate -s 2G /var/tmp/sp.img && zpool create -O compression=off sp /var/tmp/sp.img && zfs create sp/vm'
on a 'zfs-vm push -d sp/vm b >/dev/null 2>&1'
echo
echo "## 4. Space: a 64 MiB template with $CLONES containers cloned from it, pushed to B"
ua=$(on a 'zfs list -Hp -o used sp/tmpl sp/ct' | awk '{s+=$1} END {print s}')
ub=$(on b 'zfs list -Hp -o used sp/vm' | awk '{print $1}')
ex=$(on a 'zfs list -Hp -r -o referenced sp/tmpl sp/ct' | awk 'NR>0 {s+=$1} END {print s}')
awk -v a="$ua" -v b="$ub" -v e="$ex" 'BEGIN {
  printf "used on A: %.1f MiB   on B: %.1f MiB   B/A = %.3f\n", a/1048576, b/1048576, b/a
  printf "a tool that expands clones into full copies would use %.1f MiB on B (%.1fx)\n", e/1048576, e/a }'
on a 'zpool destroy sp; rm -f /var/tmp/sp.img'; on b 'zpool destroy sp; rm -f /var/tmp/sp.img'

# --- 5. Hook latency --------------------------------------------------------------------
on a "truncate -s 1G /var/tmp/hk.img && zpool create hk /var/tmp/hk.img && zfs create hk/private && zfs create hk/many
zfs create hk/tmpl && zfs-vm tag -n deb:1 hk/tmpl >/dev/null
zfs clone -o mountpoint=/var/lib/vz/private/1007 hk/tmpl@zfs-vm:deb:1 hk/private/1007
mkdir -p /etc/vz/conf && echo 'VE_PRIVATE=/var/lib/vz/private/\$VEID' > /etc/vz/vz.conf && : > /etc/vz/conf/1007.conf
for d in \$(seq 1 100); do echo hk/many/d\$d; done | xargs zfs create -p 2>/dev/null || for d in \$(seq 1 100); do zfs create hk/many/d\$d; done
for s in \$(seq 1 \$(( $SNAPSHOTS / 100 ))); do zfs snapshot \$(for d in \$(seq 1 100); do printf 'hk/many/d%d@s%d ' \$d \$s; done); done"
echo
echo "## 5. Hook latency: zfs-vm tag 1007 on a host with $(on a 'zfs list -H -t snapshot | wc -l') snapshots ($LAT_RUNS runs each)"
lat() { # $1: label, $2: script run before each tag
  local ts=()
  for i in $(seq 1 "$LAT_RUNS"); do
    ts+=("$(on a "$2; s=\$(date +%s%N); zfs-vm tag 1007 >/dev/null; echo \$(( (\$(date +%s%N) - s) / 1000000 ))")")
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk -v l="$1" '{a[NR]=$1} END {printf "%-32s p50 %d ms   p95 %d ms\n", l, a[int(NR*0.5+0.5)], a[int(NR*0.95+0.5)]}'
}
on a 's=$(date +%s%N); zfs list -H -p -t all -o name,guid,createtxg,written >/dev/null; echo "bare zfs list of every snapshot: $(( ($(date +%s%N) - s) / 1000000 )) ms (zfs-vm tag needs one)"'
lat "changed (tags a version):" 'echo $RANDOM >> /var/lib/vz/private/1007/log'
lat "unchanged (no-op):" 'true'
on a 'zpool destroy hk; rm -f /var/tmp/hk.img; rm -rf /etc/vz /var/lib/vz'

# --- 3. Planning scale (Go benchmark, no VM) ---------------------------------------------
echo
echo "## 3. Planning scale (go test -bench BenchmarkPlan ./replicate)"
(cd "$here/../.." && go test -run '^$' -bench BenchmarkPlan -benchtime 3x ./replicate | grep '^Benchmark')
