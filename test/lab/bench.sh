#!/usr/bin/env bash
# zfs-vm's benchmarks on real OpenZFS in the lab VMs. Prints ratios against the bare
# `zfs send | zfs receive`; never asserts timings. See BENCHMARKS.md for results.
#
#   LOCAL_MIB    data for the in-VM data path (default 2048)
#   SSH_MIB      data for the VM-to-VM data path over ssh (default 1024; about 4 MiB/s under TCG)
#   COMPRESS_MIB compressible data for the zstd-on-the-wire runs (default 256)
#   RUNS         runs per variant, alternating, median reported (default 3)
#   STREAMLINES  streamlines for the round-trip count (default 50)
#   CLONES       containers cloned from the template for the space benchmark (default 20)
#   SNAPSHOTS    snapshots on the host for the hook latency (default 10000)
#   LAT_RUNS     runs of each latency case of sections 5, 6 and 7 (default 5)
#   SCALE        foreign snapshots for the cost-by-pool sections 6 and 7 (default "10000 100000")
#   VERSIONS     zfs-vm snapshots on each side for the no-op push of section 7 (default 100)
#   BASE_REF     git ref whose zfs-vm section 7 times as "before" (default: the commit before
#                issue 16's listings, which read every snapshot in full; empty skips)
#   FANOUT       peer targets for section 8 (default "1 4 16"); FANOUT_JOBS (default "1 4")
#   FANOUT_MIB   data in each new template version of section 8 (default 16)
#   SMALL        datasets of the syncoid comparison, section 9 (default 21: a template, 20 clones)
#   SECTIONS     which sections to run (default "1 2 3 4 5 6 7 8 9")
#   VARIANTS     which variants of section 1 to time (default "a b c d j k e f g i h"); a
#                variant left out prints as "-"
#   ZFS_VM_LAB_MEM  each guest's memory in MiB (default 2048, see vm.sh; the header prints
#                what the guest sees). Section 6 at 100k depends on it (BENCHMARKS.md); the
#                ARC's counters in section 6b show whether the pool's metadata fits
# Pools live on each VM's scratch disk (/dev/vdb, see vm.sh), not on its root fs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export ZFS_VM_LAB_RUN=${ZFS_VM_LAB_RUN:-/tmp/zfs-vm-bench}
LOCAL_MIB=${LOCAL_MIB:-2048} SSH_MIB=${SSH_MIB:-1024} COMPRESS_MIB=${COMPRESS_MIB:-256} RUNS=${RUNS:-3}
STREAMLINES=${STREAMLINES:-50} CLONES=${CLONES:-20} SNAPSHOTS=${SNAPSHOTS:-10000} LAT_RUNS=${LAT_RUNS:-5}
SCALE=${SCALE:-10000 100000} VERSIONS=${VERSIONS:-100} BASE_REF=${BASE_REF-957920dfd635}
FANOUT=${FANOUT:-1 4 16} FANOUT_JOBS=${FANOUT_JOBS:-1 4} FANOUT_MIB=${FANOUT_MIB:-16} SMALL=${SMALL:-21}
SECTIONS=${SECTIONS:-1 2 3 4 5 6 7 8 9} VARIANTS=${VARIANTS:-a b c d j k e f g i h}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
vm="$here/vm.sh"
bin=$(mktemp) base=$(mktemp)
trap '[ -n "${ZFS_VM_LAB_KEEP:-}" ] || { "$vm" stop a; "$vm" stop b; }; rm -f "$bin" "$base"' EXIT

(cd "$here/../.." && CGO_ENABLED=0 go build -o "$bin" ./cmd/zfs-vm)
# The "before" of section 7: zfs-vm as BASE_REF has it, built from a clean export of that ref.
if [ -n "$BASE_REF" ] && want 7; then
  export_dir=$(mktemp -d)
  (cd "$here/../.." && git archive "$BASE_REF" | tar -x -C "$export_dir")
  (cd "$export_dir" && CGO_ENABLED=0 go build -o "$base" ./cmd/zfs-vm)
  rm -rf "$export_dir"
fi
"$here/build-image.sh" >/dev/null
"$vm" start a >/dev/null & "$vm" start b >/dev/null & wait
"$vm" install a "$bin" b
"$vm" install b "$bin" a
on() { local h=$1; shift; "$vm" ssh "$h" "$@"; }
if [ -s "$base" ]; then
  on a 'cat > /usr/local/bin/zfs-vm-base && chmod 755 /usr/local/bin/zfs-vm-base' < "$base"
fi
# unhold releases every hold in a pool, so that the runs can destroy what they received.
unhold='unhold() { for s in $(zfs list -H -t snapshot -o name -r "$1"); do zfs holds -H "$s" | cut -f2 | while read -r tag; do zfs release "$tag" "$s"; done; done; }'
# now prints seconds since the epoch with nanoseconds; elapsed subtracts.
timing='now() { date +%s.%N; }; elapsed() { awk -v a="$1" -v b="$(now)" "BEGIN {printf \"%.3f\\n\", b-a}"; }'
for h in a b; do on $h 'zpool list -H -o name | xargs -r -n1 zpool destroy -f; losetup -D'; done
# img NAME SIZE: a pool device carved from the scratch disk with losetup (the guest has no
# mkfs): src and the section pools at offset 0, dst after them. Pools are destroyed and their
# loop devices detached before the next section takes the same place.
img='img() { case $1 in dst) off=$((12 << 30));; *) off=0;; esac
  losetup -f --show -o "$off" --sizelimit "$(numfmt --from=iec "$2")" /dev/vdb; }'
free="zpool list -H -o name | xargs -r -n1 zpool destroy -f; losetup -D"

echo "# zfs-vm benchmarks, $(date -u +%Y-%m-%d), $(nproc) host cores, qemu accel $("$vm" accel)"
echo "# guest: $(on a 'zfs version | head -1; uname -r; echo "$(( $(awk "/^MemTotal/ {print \$2}" /proc/meminfo) / 1024 )) MiB memory"' | tr '\n' ' ')"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# --- 1. Data path -----------------------------------------------------------------------
if want 1; then
big=$(( (LOCAL_MIB + SSH_MIB + 2 * COMPRESS_MIB) / 1024 + 2 ))G
on a "$img; zpool create -f -O compression=off src \$(img src $big) && zpool create -f -O compression=off dst \$(img dst $big)
zfs create src/local && dd if=/dev/urandom of=/src/local/data bs=1M count=$LOCAL_MIB status=none
zfs create src/remote && dd if=/dev/urandom of=/src/remote/data bs=1M count=$SSH_MIB status=none
# Compressible: the guest's own /usr (programs, libraries, text), as a container image holds.
zfs create src/text && { tar -cf - /usr 2>/dev/null | head -c ${COMPRESS_MIB}M > /src/text/data; }
zfs create src/rand && dd if=/dev/urandom of=/src/rand/data bs=1M count=$COMPRESS_MIB status=none
for d in local remote text rand; do zfs-vm tag -n \$d:1 src/\$d >/dev/null; done
zfs create dst/vm"
on b "$img; zpool create -f -O compression=off dst \$(img dst $big) && zfs create dst/vm"

# Each variant prints the seconds it took; zfs-vm's own CPU and RSS come from its -d log.
push() { # $1: variant, $2: dataset, $3: destination host, $4...: zfs-vm push options
  local v=$1 ds=$2 to=$3; shift 3
  on a "$timing; s=\$(now); zfs-vm -d push -n $ds $* -d dst/vm $to 2>/tmp/$v.log >/dev/null; elapsed \$s; sed -n 's/.*resources: /$v: /p' /tmp/$v.log >&2"
}
bare_ssh() { # $1: dataset
  on a "$timing; s=\$(now); zfs send src/$1@zfs-vm:$1:1 | ssh b zfs receive -u dst/vm/$1; elapsed \$s"
}
# A pull checks the stream's first record on the receiver before zfs receive sees a byte (in
# the pipe from ssh, see replicate's gate), where a push leaves it to ssh: B pulls from A.
pull() { # $1: variant, $2: dataset
  on b "$timing; s=\$(now); zfs-vm -d pull -n $2 -d dst/vm a 2>/tmp/$1.log >/dev/null; elapsed \$s; sed -n 's/.*resources: /$1: /p' /tmp/$1.log >&2"
}
variant() {
  case $1 in
    a) on a "$timing; zfs destroy -r dst/vm/local 2>/dev/null; s=\$(now); zfs send src/local@zfs-vm:local:1 | zfs receive -u dst/vm/local; elapsed \$s" ;;
    b) on a "zfs destroy -r dst/vm/local 2>/dev/null || true"; push b local local ;;
    c) bare_ssh remote ;;
    d) push d remote b ;;
    e) bare_ssh text ;;
    f) push f text b ;;
    g) push g text b --compress zstd ;;
    h) push h rand b --compress zstd ;;
    i) bare_ssh rand ;;
    j) on b "$timing; s=\$(now); ssh a zfs send src/remote@zfs-vm:remote:1 | zfs receive -u dst/vm/remote; elapsed \$s" ;;
    k) pull k remote ;;
  esac
}
declare -A secs
for run in $(seq 1 "$RUNS"); do
  for v in $VARIANTS; do
    on a "$unhold; unhold src; unhold dst"
    on b "$unhold; unhold dst; zfs list -H -o name -d 1 dst/vm | tail -n +2 | xargs -r -n1 zfs destroy -r"
    t=$(variant $v 2>>/tmp/zfs-vm-bench-res.log)
    secs[$v]+="$t "
  done
done
med() { echo "${secs[$1]:-}" | tr ' ' '\n' | grep . | median; }
text_wire=$(on a "zfs send src/text@zfs-vm:text:1 | zstd -q -c -T0 | wc -c")
echo
echo "## 1. Data path (median of $RUNS alternating runs)"
awk -v a="$(med a)" -v b="$(med b)" -v c="$(med c)" -v d="$(med d)" -v e="$(med e)" -v f="$(med f)" -v g="$(med g)" \
    -v h="$(med h)" -v i="$(med i)" -v j="$(med j)" -v k="$(med k)" -v l="$LOCAL_MIB" -v s="$SSH_MIB" -v z="$COMPRESS_MIB" -v w="$text_wire" 'BEGIN {
  if (a>0) printf "a. bare zfs send | zfs receive (in one VM, %d MiB):  %.2fs  %.1f MiB/s\n", l, a, l/a
  if (a>0 && b>0) printf "b. zfs-vm push to the same VM:                      %.2fs  %.1f MiB/s   b/a throughput = %.3f\n", b, l/b, a/b
  if (c>0) printf "c. bare zfs send | ssh B zfs receive (%d MiB):     %.2fs  %.1f MiB/s\n", s, c, s/c
  if (c>0 && d>0) printf "d. zfs-vm push to B:                                %.2fs  %.1f MiB/s   d/c throughput = %.3f\n", d, s/d, c/d
  if (j>0) printf "j. bare ssh A zfs send | zfs receive, on B:          %.2fs  %.1f MiB/s\n", j, s/j
  if (j>0 && k>0) printf "k. zfs-vm pull from A, on B:                        %.2fs  %.1f MiB/s   k/j throughput = %.3f\n", k, s/k, j/k
  printf "compressible data (%d MiB of the guest'"'"'s /usr; zstd -3 makes it %.0f MiB):\n", z, w/1048576
  if (e>0) printf "e. bare zfs send | ssh B zfs receive:               %.2fs  %.1f MiB/s\n", e, z/e
  if (e>0 && f>0) printf "f. zfs-vm push to B:                                %.2fs  %.1f MiB/s   f/e throughput = %.3f\n", f, z/f, e/f
  if (e>0 && g>0) printf "g. zfs-vm push --compress zstd to B:                %.2fs  %.1f MiB/s   g/e throughput = %.3f\n", g, z/g, e/g
  printf "incompressible data (%d MiB):\n", z
  if (i>0) printf "i. bare zfs send | ssh B zfs receive:               %.2fs  %.1f MiB/s\n", i, z/i
  if (i>0 && h>0) printf "h. zfs-vm push --compress zstd to B:                %.2fs  %.1f MiB/s   h/i throughput = %.3f\n", h, z/h, i/h}'
echo "each run, in the order run (s):"
for v in $VARIANTS; do echo "  $v: ${secs[$v]:-}"; done
echo "zfs-vm's own process per push or pull (user+sys CPU, peak RSS), by variant:"
sort /tmp/zfs-vm-bench-res.log | sed 's/^/  /'
rm -f /tmp/zfs-vm-bench-res.log
on a "$free"; on b "$free"
fi
# --- 2. Round trips ---------------------------------------------------------------------
if want 2; then
on b 'echo "LogLevel VERBOSE" > /etc/ssh/sshd_config.d/bench.conf && systemctl reload ssh'
on a "$img; zpool create -f rt \$(img rt 1G) && zfs create rt/img
for i in \$(seq 1 $STREAMLINES); do zfs create rt/img/s\$i; zfs-vm tag -n s\$i:1 rt/img/s\$i >/dev/null; done
printf '[[peer]]\nname = \"b\"\nhost = \"b\"\ndirection = \"push\"\ndest = \"rt\"\n' > /tmp/rt.toml"
on b "$img; zpool create -f rt \$(img rt 1G)"
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
echo "(remote commands: the listings (datasets, snapshot names, then the snapshots of zfs-vm's datasets) + 1 per stream + 1 that moves the base holds)"
on b "rm -f /etc/ssh/sshd_config.d/bench.conf && systemctl reload ssh; $free"
on a "$free"
fi

# --- 4. Space ---------------------------------------------------------------------------
if want 4; then
on a "$img; zpool create -f -O compression=off sp \$(img sp 2G) && zfs create sp/tmpl
dd if=/dev/urandom of=/sp/tmpl/rootfs bs=1M count=64 status=none && zfs-vm tag -n tmpl:1 sp/tmpl >/dev/null
zfs create sp/ct
for i in \$(seq 1 $CLONES); do zfs clone sp/tmpl@zfs-vm:tmpl:1 sp/ct/\$i; dd if=/dev/urandom of=/sp/ct/\$i/own bs=1M count=1 status=none; zfs-vm tag sp/ct/\$i >/dev/null; done"
on b "$img; zpool create -f -O compression=off sp \$(img sp 2G) && zfs create sp/vm"
on a 'zfs-vm push -d sp/vm b >/dev/null 2>&1'
echo
echo "## 4. Space: a 64 MiB template with $CLONES containers cloned from it, pushed to B"
ua=$(on a 'zfs list -Hp -o used sp/tmpl sp/ct' | awk '{s+=$1} END {print s}')
ub=$(on b 'zfs list -Hp -o used sp/vm' | awk '{print $1}')
ex=$(on a 'zfs list -Hp -r -o referenced sp/tmpl sp/ct' | awk 'NR>0 {s+=$1} END {print s}')
awk -v a="$ua" -v b="$ub" -v e="$ex" 'BEGIN {
  printf "used on A: %.1f MiB   on B: %.1f MiB   B/A = %.3f\n", a/1048576, b/1048576, b/a
  printf "a tool that expands clones into full copies would use %.1f MiB on B (%.1fx)\n", e/1048576, e/a }'
on a "$free"; on b "$free"
fi

# --- 5. Hook latency --------------------------------------------------------------------
if want 5; then
on a "$img; zpool create -f hk \$(img hk 1G) && zfs create hk/private && zfs create hk/many
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
# What the listing costs by itself: zfs-vm's own (12 columns), and OpenZFS's fast path (names
# only, sorted by name), the least any tool that looks at every snapshot can pay.
on a 'ms() { s=$(date +%s%N); "$@" >/dev/null; echo $(( ($(date +%s%N) - s) / 1000000 )); }
echo "bare zfs list as zfs-vm runs it (12 columns): $(ms zfs list -H -p -t filesystem,volume,snapshot -o name,type,guid,createtxg,origin,used,referenced,written,mountpoint,userrefs,creation,receive_resume_token) ms"
echo "bare zfs list -t snapshot -o name -s name (fast path): $(ms zfs list -H -t snapshot -o name -s name) ms"'
lat "changed (tags a version):" 'echo $RANDOM >> /var/lib/vz/private/1007/log'
lat "unchanged (no-op):" 'true'
on a "$free; rm -rf /etc/vz /var/lib/vz"
fi

# --- Helpers of sections 6 to 9 ------------------------------------------------------------
# ms (in the guest) prints how long a command took, in milliseconds.
ms='ms() { s=$(date +%s%N); "$@" >/dev/null 2>&1; echo $(( ($(date +%s%N) - s) / 1000000 )); }'
p50() { sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.5+0.5)]}'; }
# grow HOST POOL FROM TO: foreign snapshots FROM+1..TO of each of POOL/many/d1..d100, as
# hourlies of unrelated filesystems would be. A channel program takes each round of 100 in
# one transaction group (OpenZFS takes one snapshot of a dataset per group): 0.9 s a round
# in the lab at 10,000 where `zfs snapshot` of the same 100 took 1.4 s.
grow_lua='local a = (...)["argv"]
for d = 1, 100 do
  local name = a[1] .. "/many/d" .. d .. "@s" .. a[2]
  local err = zfs.sync.snapshot(name)
  if err ~= 0 then error("snapshot " .. name .. ": error " .. err) end
end'
grow() {
  [ "$4" -gt "$3" ] || return 0
  printf '%s\n' "$grow_lua" | on "$1" "cat > /tmp/grow.lua && for s in \$(seq $(( $3 + 1 )) $4); do
    zfs program $2 /tmp/grow.lua $2 \$s >/dev/null || exit 1; done
    [ \$(zfs list -H -t snapshot -o name -d 1 $2/many/d100 | wc -l) -eq $4 ] || { echo 'grow: too few snapshots' >&2; exit 1; }"
}
many() { # HOST POOL: the 100 datasets that carry the foreign snapshots
  on "$1" "zfs create $2/many && for d in \$(seq 1 100); do zfs create $2/many/d\$d; done"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0 && a != "-") printf "%.2f", a/b; else printf "-"}'; }

# --- 6. tag and hook cost against the pool's snapshots -----------------------------------
# At each level of SCALE foreign snapshots: OpenZFS's names-only listing of the pool (what
# looking at every snapshot costs at the least), and the p50 of `zfs-vm tag 1007` and of the
# vzctl hook, on a changed container (tags a version) and an unchanged one (no-op), each as a
# ratio against that listing. Goals (issue 16): <= 0.1 at 10k, and at 100k <= 1.2x the same
# command's 10k figure (the last line). Beside them, what OpenZFS itself costs at each level
# for the container alone: one cheap command (`zfs get written`) and a bare `zfs snapshot`
# (destroyed untimed before the next), so that growth of zfs-vm's figures can be told from
# growth of the zfs commands it runs.
if want 6; then
on a "$img; zpool create -f sc \$(img sc 4G) && zfs create sc/private
zfs create sc/tmpl && zfs-vm tag -n deb:1 sc/tmpl >/dev/null
zfs clone -o mountpoint=/var/lib/vz/private/1007 sc/tmpl@zfs-vm:deb:1 sc/private/1007
mkdir -p /etc/vz/conf && echo 'VE_PRIVATE=/var/lib/vz/private/\$VEID' > /etc/vz/vz.conf && : > /etc/vz/conf/1007.conf"
many a sc
hook='env -i VEID=1007 VE_CONFFILE=/etc/vz/conf/1007.conf PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /usr/libexec/zfs-vm/vzctl-umount'
write='echo $RANDOM >> /var/lib/vz/private/1007/log'
versions='zfs list -H -t snapshot -o name -d 1 sc/private/1007 | wc -l'
lat6() { # $1: command, $2: run before each; prints the p50 in ms
  for _ in $(seq 1 "$LAT_RUNS"); do on a "$ms; $2; ms $1 </dev/null"; done | p50
}
# Where a tag's time goes: a zfs (and zpool) first in PATH that logs how long each call took.
timed_zfs='#!/bin/sh
n=${0##*/}; real=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$n")
s=$(date +%s%N); "$real" "$@"; rc=$?
printf "%6d ms  %s %s\n" $(( ($(date +%s%N) - s) / 1000000 )) "$n" "$*" | cut -c1-140 >> /tmp/timed-zfs.log
exit $rc'
printf '%s\n' "$timed_zfs" | on a "mkdir -p /tmp/timed && cat > /tmp/timed/zfs && chmod +x /tmp/timed/zfs && ln -sf zfs /tmp/timed/zpool"
# arc prints the ARC's counters that tell whether the pool's metadata fits in the guest's
# memory: its size and limit, the metadata it holds, and the metadata reads it missed.
arc='arc() { awk '"'"'$1 ~ /^(size|c_max|arc_meta_used|metadata_size|demand_metadata_misses|prefetch_metadata_misses)$/ {printf "%s=%s ", $1, $3} END {print ""}'"'"' /proc/spl/kstat/zfs/arcstats; }'
breakdown() { # $1: label, $2: run before; one timed `zfs-vm tag 1007` and its zfs commands
  on a "$ms; $arc; $2; rm -f /tmp/timed-zfs.log; before=\$(arc)
    t=\$(PATH=/tmp/timed:\$PATH ms zfs-vm tag 1007 </dev/null)
    echo \"  $1: \$t ms, of which zfs commands \$(awk '{s+=\$1} END {print s+0}' /tmp/timed-zfs.log) ms:\"
    sed 's/^/    /' /tmp/timed-zfs.log
    echo \"    ARC before: \$before\"; echo \"    ARC after:  \$(arc)\""
}
echo
echo "## 6. tag and hook latency against the names-only listing (p50 of $LAT_RUNS runs, ms, and the ratio)"
printf '%-8s %9s %9s %8s %8s  %-16s %-16s %-16s %-16s\n' foreign names full "zfs get" snapshot "tag changed" "tag no-op" "hook changed" "hook no-op"
have=0 first=() last=() zfs0=() zfs1=() why=
for n in $SCALE; do
  grow a sc "$have" $(( n / 100 )); have=$(( n / 100 ))
  zfs1=("$(lat6 "zfs get -H -o value written sc/private/1007" true)")
  # A run whose untimed destroy fails is not timed (its snapshot would fail fast, a false
  # low floor).
  zfs1+=("$(lat6 "zfs snapshot sc/private/1007@floor" "if zfs list sc/private/1007@floor >/dev/null 2>&1; then zfs destroy sc/private/1007@floor || exit 1; fi")")
  on a "zfs destroy sc/private/1007@floor"
  [ ${#zfs0[@]} -gt 0 ] || zfs0=("${zfs1[@]}")
  names=$(on a "$ms; ms zfs list -H -t snapshot -o name -s name")
  full=- # today's 12-column listing, at the first level only (at 100k it takes many minutes)
  [ ${#first[@]} -gt 0 ] || full=$(on a "$ms; ms zfs list -H -p -t filesystem,volume,snapshot -o name,type,guid,createtxg,origin,used,referenced,written,mountpoint,userrefs,creation,receive_resume_token")
  before=$(on a "$versions")
  tc=$(lat6 "zfs-vm tag 1007" "$write"); tn=$(lat6 "zfs-vm tag 1007" true)
  hc=$(lat6 "$hook" "$write"); hn=$(lat6 "$hook" true)
  made=$(( $(on a "$versions") - before ))
  [ "$made" -eq $(( 2 * LAT_RUNS )) ] || echo "WARNING: $made versions made, want $(( 2 * LAT_RUNS )) (a changed run did not tag?)"
  # A bare `zpool sync` with nothing dirty: the transaction group's own cost at this level.
  sync=$(lat6 "zpool sync sc" true)
  why+=$'\n'"at $n foreign snapshots (a bare zpool sync: $sync ms, p50 of $LAT_RUNS):"$'\n'"$(breakdown "tag changed" "$write")"$'\n'"$(breakdown "tag no-op" true)"
  # The versions this level made are released and destroyed, so that every level reads the
  # same lineage and only the foreign snapshots differ (the container has none of its own).
  on a "zfs list -H -t snapshot -o name -d 1 sc/private/1007 | while read -r s; do zfs release zfs-vm \"\$s\" && zfs destroy \"\$s\" || exit 1; done
    [ \$(zfs list -H -t snapshot -o name -d 1 sc/private/1007 | wc -l) -eq 0 ]" || { echo "6: the container's versions were not destroyed" >&2; exit 1; }
  last=("$tc" "$tn" "$hc" "$hn")
  [ ${#first[@]} -gt 0 ] || first=("${last[@]}")
  printf '%-8s %9s %9s %8s %8s' "$n" "$names" "$full" "${zfs1[0]}" "${zfs1[1]}"
  for v in "${last[@]}"; do printf '  %-16s' "$v ($(ratio "$v" "$names"))"; done
  echo
done
printf '%-28s %8s %8s' "last level / first level:" "$(ratio "${zfs1[0]}" "${zfs0[0]}")x" "$(ratio "${zfs1[1]}" "${zfs0[1]}")x"
for i in 0 1 2 3; do printf '  %-16s' "$(ratio "${last[$i]}" "${first[$i]}")x"; done
echo
echo
echo "### 6b. Where one tag's time goes: each zfs command it ran, timed by a wrapper (one run each)"
echo "$why"
on a "$free; rm -rf /etc/vz /var/lib/vz /tmp/timed /tmp/timed-zfs.log"
fi

# --- 7. A no-op push against the pool's snapshots ----------------------------------------
# VERSIONS zfs-vm snapshots (10 streamlines) on A, all already on B; at each level of SCALE
# foreign snapshots on each side, the p50 of a push that has nothing to do, by this zfs-vm
# and by BASE_REF's. Goals (issue 16): <= 0.3x BASE_REF's at 10k, and <= 1.5x its own 10k
# figure at 100k. Beside them, one cheap zfs command on A (`zfs get written` of one dataset):
# how the zfs commands a push runs grow with the pool, zfs-vm aside.
if want 7; then
on a "$img; zpool create -f np \$(img np 4G) && zfs create np/img
for k in \$(seq 1 10); do zfs create np/img/s\$k
  for v in \$(seq 1 $(( VERSIONS / 10 ))); do echo \$v > /np/img/s\$k/f; zfs snapshot np/img/s\$k@zfs-vm:s\$k:\$v; done
done"
on b "$img; zpool create -f np \$(img np 4G) && zfs create np/vm"
on a 'zfs-vm push -d np/vm b >/dev/null 2>&1'
many a np; many b np
# check7 LEVEL: after the timings, that the push is still right at this many foreign
# snapshots (issue 16 point 2): a new version arrives with its guid, no foreign snapshot of
# A's goes to B, and a snapshot B's replica took of its own is refused as a divergence, not
# overwritten. Any failure stops the benchmark.
check7() {
  local v guid_a guid_b replica out
  v=$(on a "echo \$RANDOM >> /np/img/s1/f && zfs-vm tag np/img/s1" | sed 's/.*@zfs-vm:s1://')
  on a 'zfs-vm push -d np/vm b >/dev/null 2>&1' || { echo "7: FAILED: pushing s1:$v at $1 foreign snapshots" >&2; exit 1; }
  guid_a=$(on a "zfs get -H -o value guid np/img/s1@zfs-vm:s1:$v")
  read -r replica guid_b < <(on b "zfs list -H -t snapshot -o name,guid -r np/vm | grep '@zfs-vm:s1:$v\b'" | sed 's/@[^\t]*//')
  [ -n "$guid_b" ] && [ "$guid_a" = "$guid_b" ] || { echo "7: FAILED: s1:$v on B has guid '$guid_b', on A $guid_a" >&2; exit 1; }
  [ "$(on b "zfs list -H -t snapshot -o name -r np/vm | grep -vc @zfs-vm:" || true)" -eq 0 ] || { echo "7: FAILED: foreign snapshots of A's were sent to B" >&2; exit 1; }
  on b "zfs snapshot $replica@hourly"
  on a "echo \$RANDOM >> /np/img/s1/f && zfs-vm tag np/img/s1 >/dev/null"
  if out=$(on a 'zfs-vm push -d np/vm b 2>&1'); then echo "7: FAILED: a push over $replica@hourly went through" >&2; exit 1; fi
  grep -q "receiver dataset $replica diverged: it has snapshots the sender lacks after .*: $replica@hourly" <<<"$out" ||
    { echo "7: FAILED: the push over $replica@hourly said: $out" >&2; exit 1; }
  on b "zfs destroy $replica@hourly"
  on a 'zfs-vm push -d np/vm b >/dev/null 2>&1' || { echo "7: FAILED: the push after $replica@hourly was removed" >&2; exit 1; }
  echo "checked at $1: s1:$v arrived with its guid ($guid_a), no snapshot but zfs-vm's reached B, and a snapshot of B's own on $replica was refused as a divergence"
}
lat7() { # $1: binary; prints the p50 in ms of a no-op push
  for _ in $(seq 1 "$LAT_RUNS"); do on a "$ms; ms $1 push -d np/vm b"; done | p50
}
echo
echo "## 7. No-op push with $VERSIONS zfs-vm snapshots on each side (p50 of $LAT_RUNS runs, ms)"
printf '%-8s %9s %8s %12s %12s %8s\n' foreign names "zfs get" "zfs-vm" "$BASE_REF" ratio
have=0 first="" get0=""
for n in $SCALE; do
  grow a np "$have" $(( n / 100 )) & ga=$!; grow b np "$have" $(( n / 100 )) & gb=$!
  wait $ga; wait $gb; have=$(( n / 100 ))
  names=$(on a "$ms; ms zfs list -H -t snapshot -o name -s name")
  get=$(for _ in $(seq 1 "$LAT_RUNS"); do on a "$ms; ms zfs get -H -o value written np/img/s1"; done | p50)
  get0=${get0:-$get}
  now=$(lat7 zfs-vm) before=-
  # BASE_REF's at the first level only: past it, it reads every snapshot in full (127 s a
  # run at 10k), and the goal at the next level is against zfs-vm's own first figure.
  if [ -s "$base" ] && [ -z "$first" ]; then before=$(lat7 zfs-vm-base); fi
  first=${first:-$now}
  printf '%-8s %9s %8s %12s %12s %8s\n' "$n" "$names" "$get" "$now" "$before" "$(ratio "$now" "$before")"
done
echo "last level / first level: zfs-vm $(ratio "$now" "$first")x, zfs get $(ratio "$get" "$get0")x"
check7 "$n"
on a "$free"; on b "$free"
fi

# --- 8. Fan-out: one new template version to N peers --------------------------------------
# N peer entries on A, each pushing to its own dataset on B (fo/p1..), run with --jobs J.
# Each measured sync sends one new version (FANOUT_MIB of new data) to N targets; an
# unmeasured sync to every target brings them level again before the next. Wall time, and
# the sender's CPU (the whole VM's user+system time from /proc/stat, both vCPUs) per peer.
if want 8; then
maxn=$(printf '%s\n' $FANOUT | sort -n | tail -n1)
cfg() { # N: a configuration of peers p1..pN
  for i in $(seq 1 "$1"); do printf '[[peer]]\nname = "p%d"\nhost = "b"\ndirection = "push"\ndest = "fo/p%d"\n\n' "$i" "$i"; done
}
on a "$img; zpool create -f -O compression=off fo \$(img fo 4G) && zfs create fo/tmpl
dd if=/dev/urandom of=/fo/tmpl/data bs=1M count=$FANOUT_MIB status=none && zfs-vm tag -n fo:1 fo/tmpl >/dev/null"
on b "$img; zpool create -f -O compression=off fo \$(img fo 8G) && for i in \$(seq 1 $maxn); do zfs create fo/p\$i; done"
for n in $FANOUT $maxn; do cfg "$n" | on a "cat > /tmp/fo-$n.toml"; done
on a "zfs-vm --config /tmp/fo-$maxn.toml sync --jobs 4 >/dev/null 2>&1"
cpu='cpu() { awk -v t=$(getconf CLK_TCK) "/^cpu / {printf \"%.2f\n\", (\$2+\$3+\$4+\$7+\$8)/t}" /proc/stat; }'
echo
echo "## 8. Fan-out: one new $FANOUT_MIB MiB template version to N peers"
printf '%-4s %-6s %10s %10s %14s\n' N jobs "wall s" "cpu s" "cpu s / peer"
for n in $FANOUT; do
  for j in $FANOUT_JOBS; do
    on a "dd if=/dev/urandom of=/fo/tmpl/data bs=1M count=$FANOUT_MIB conv=notrunc status=none && zfs-vm tag fo/tmpl >/dev/null"
    read -r wall used < <(on a "$timing; $cpu; c=\$(cpu); s=\$(now); zfs-vm --config /tmp/fo-$n.toml sync --jobs $j >/tmp/fo.log 2>&1 || cat /tmp/fo.log >&2
      echo \$(elapsed \$s) \$(awk -v a=\$c -v b=\$(cpu) 'BEGIN {printf \"%.2f\", b-a}')")
    printf '%-4s %-6s %10s %10s %14s\n' "$n" "$j" "$wall" "$used" "$(ratio "$used" "$n")"
    on a "zfs-vm --config /tmp/fo-$maxn.toml sync --jobs 4 >/dev/null 2>&1"
  done
done
on a "$free; rm -f /tmp/fo-*.toml /tmp/fo.log"; on b "$free"
fi

# --- 9. Against syncoid, and against the floor ---------------------------------------------
# SMALL small datasets (a template and its clones, each with a version of its own) replicated
# A -> B by syncoid (Debian's sanoid package: `syncoid -r --no-sync-snap`, which sends the
# snapshots that exist and makes none of its own) and by `zfs-vm push`: the first sync and a
# no-op rerun (median of RUNS), with the ssh logins and remote commands counted at B's sshd.
# The floor, measured alike: one ssh login to B listing B's copies while A lists its own.
# Goals (issue 16): no-op <= 1.3x the floor, >= 20x syncoid where the floor allows, first
# sync >= 5x syncoid.
if want 9; then
if ! on a 'command -v syncoid >/dev/null'; then
  echo
  echo "## 9. FAILED: syncoid is not in the lab image (test/lab/build-image.sh installs Debian's sanoid)"; exit 1
else
on b 'echo "LogLevel VERBOSE" > /etc/ssh/sshd_config.d/bench.conf && systemctl reload ssh'
on a "$img; zpool create -f sy \$(img sy 2G) && zfs create -p sy/src/ct
zfs create sy/src/tmpl && dd if=/dev/urandom of=/sy/src/tmpl/f bs=1M count=1 status=none && zfs-vm tag -n sy:1 sy/src/tmpl >/dev/null
zfs snapshot sy/src@base && zfs snapshot sy/src/ct@base
for i in \$(seq 1 $(( SMALL - 1 ))); do zfs clone sy/src/tmpl@zfs-vm:sy:1 sy/src/ct/\$i && echo \$i > /sy/src/ct/\$i/own && zfs-vm tag sy/src/ct/\$i >/dev/null; done"
on b "$img; zpool create -f sy \$(img sy 2G) && zfs create sy/zv"
# counted LABEL SCRIPT: runs SCRIPT on A, prints its seconds, ssh logins and remote commands at B.
counted() {
  on b 'logger zfs-vm-bench-mark-start'
  local t log
  t=$(on a "$timing; s=\$(now); { $2; } >/tmp/counted.log 2>&1 || echo \"$1 exit \$?: \$(tail -n1 /tmp/counted.log)\" >&2; elapsed \$s")
  on b 'logger zfs-vm-bench-mark-end'
  log=$(on b "journalctl --no-pager -o cat -n 20000" | awk '/zfs-vm-bench-mark-start/ {buf = ""; on = 1; next}
    /zfs-vm-bench-mark-end/ {on = 0} on {buf = buf $0 "\n"} END {printf "%s", buf}')
  # The end marker came in over ssh too: one login, one command.
  printf '%-34s %8.2f s  ssh logins: %4d  remote commands: %4d\n' "$1" "$t" \
    $(( $(grep -c 'Accepted publickey' <<<"$log" || true) - 1 )) $(( $(grep -c 'Starting session: command' <<<"$log" || true) - 1 ))
  echo "$t" > /tmp/zfs-vm-bench-last
}
zv='zfs-vm push -d sy/zv b' so='syncoid -r --no-sync-snap sy/src root@b:sy/so'
echo
echo "## 9. $SMALL small datasets A -> B: syncoid against zfs-vm, and the floor"
counted "first sync, zfs-vm:" "$zv"; zv1=$(cat /tmp/zfs-vm-bench-last)
# The same with four streams at once (--streams 4): the clones side by side once the
# template's version is there. Into a dataset of its own, destroyed before the no-ops.
on b 'zfs create sy/z4'
counted "first sync, zfs-vm --streams 4:" "zfs-vm push --streams 4 -d sy/z4 b"; z41=$(cat /tmp/zfs-vm-bench-last)
counted "first sync, syncoid:" "$so"; so1=$(cat /tmp/zfs-vm-bench-last)
# The first sync's floor: one login, then the same streams as bare pipes, one after the other,
# received with zfs-vm's options (resumable, unmounted, the sender's mount settings dropped).
on b 'zfs create sy/fl'
recv='zfs receive -s -u -x mountpoint -x sharenfs -x sharesmb -o canmount=noauto'
counted "first sync floor (bare pipes):" "ssh -o ControlMaster=yes -o ControlPath=/tmp/fl -N -f b
zfs send sy/src/tmpl@zfs-vm:sy:1 | ssh -o ControlPath=/tmp/fl b $recv sy/fl/tmpl
for i in \$(seq 1 $(( SMALL - 1 ))); do zfs send -i sy/src/tmpl@zfs-vm:sy:1 sy/src/ct/\$i@zfs-vm:sy:\$((i + 1)) |
  ssh -o ControlPath=/tmp/fl b $recv -o origin=sy/fl/tmpl@zfs-vm:sy:1 sy/fl/\$i; done
ssh -o ControlPath=/tmp/fl -O exit b 2>/dev/null"; fl1=$(cat /tmp/zfs-vm-bench-last)
# The no-ops below read all of B, as they did before these were made. sy/z4's base holds
# are released first.
on b "$unhold; unhold sy/z4 && zfs destroy -r sy/z4 && zfs destroy -r sy/fl"
zvn=() son=() fl=()
for _ in $(seq 1 "$RUNS"); do
  counted "no-op, zfs-vm:" "$zv"; zvn+=("$(cat /tmp/zfs-vm-bench-last)")
  counted "no-op, syncoid:" "$so"; son+=("$(cat /tmp/zfs-vm-bench-last)")
  counted "floor (1 login + both listings):" "zfs list -H -t all -o name -r sy/src & ssh b zfs list -H -t all -o name -r sy/zv; wait"
  fl+=("$(cat /tmp/zfs-vm-bench-last)")
done
med9() { printf '%s\n' "$@" | median; }
zvm=$(med9 "${zvn[@]}") som=$(med9 "${son[@]}") flm=$(med9 "${fl[@]}")
echo "medians: no-op zfs-vm $zvm s, syncoid $som s, floor $flm s"
echo "no-op zfs-vm / floor = $(ratio "$zvm" "$flm")   no-op syncoid / zfs-vm = $(ratio "$som" "$zvm")   first sync syncoid / zfs-vm = $(ratio "$so1" "$zv1")"
echo "first sync zfs-vm / its floor = $(ratio "$zv1" "$fl1")   first sync syncoid / floor = $(ratio "$so1" "$fl1")"
echo "first sync with --streams 4: syncoid / zfs-vm = $(ratio "$so1" "$z41")   zfs-vm / the floor = $(ratio "$z41" "$fl1")"
echo "clones kept as clones on B: syncoid $(on b "zfs list -H -o origin -r sy/so | grep -vc '^-\$'" || true)," \
  "zfs-vm $(on b "zfs list -H -o origin -r sy/zv | grep -vc '^-\$'" || true) (of $(( SMALL - 1 )))"
rm -f /tmp/zfs-vm-bench-last
on b "rm -f /etc/ssh/sshd_config.d/bench.conf && systemctl reload ssh; $free"
on a "$free"
fi
fi

# --- 3. Planning scale (Go benchmark, no VM) ---------------------------------------------
if want 3; then
echo
echo "## 3. Planning scale (go test -bench BenchmarkPlan ./replicate)"
(cd "$here/../.." && go test -run '^$' -bench BenchmarkPlan -benchtime 3x ./replicate | grep '^Benchmark')
fi
