//go:build lab

package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The fault matrix: each case breaks a replication in a way operators meet, then checks that
// the next run finishes it, that both sides hold the same bytes, and that no snapshot the
// user made was destroyed. (Case 7, a hook with ZFS failing, is TestOpenVZStyleTagAndHook.)

// interruptScript runs zfs-vm with args in the background on the VM (with -d, which logs
// zfs send's once-a-second progress), and once the stream of a snapshot matching snapshot
// has sent `after` bytes, kills the processes matching victim. It prints zfs-vm's output
// and "exit=N killed=yes|no".
func interruptScript(args, snapshot string, after int64, victim string) string {
	return fmt.Sprintf(`
set +e +o pipefail
zfs-vm -d %s > /tmp/interrupted.log 2>&1 &
bg=$!
killed=no
for i in $(seq 1 6000); do
  sent=$(grep -E "^debug: progress [^ ]*%s[^ ]*: [0-9]+ of" /tmp/interrupted.log | tail -n1 | sed -E 's/.*: ([0-9]+) of.*/\1/')
  if [ "${sent:-0}" -ge %d ]; then pkill -f -- %q; killed=yes; break; fi
  kill -0 $bg 2>/dev/null || break
  sleep 0.05
done
wait $bg
echo "exit=$? killed=$killed"
grep -v '^debug:' /tmp/interrupted.log`, args, snapshot, after, victim)
}

// snapshotSet lists a pool's snapshots by name.
func snapshotSet(t *testing.T, v *vm, pool string) map[string]bool {
	t.Helper()
	out := v.must(t, "zfs list -H -t snapshot -o name -r "+pool)
	set := map[string]bool{}
	for _, l := range strings.Fields(out) {
		set[l] = true
	}
	return set
}

// keptAll fails the test if a snapshot of before is missing from after (except gone).
func keptAll(t *testing.T, where string, before, after map[string]bool, gone ...string) {
	t.Helper()
	var lost []string
	for s := range before {
		if !after[s] && !contains(gone, s) {
			lost = append(lost, s)
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("%s lost snapshots: %v", where, lost)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var summaryBytes = regexp.MustCompile(`stream\(s\) received \(([0-9.]+)([KMG]?i?B) in`)

// receivedBytes reads the byte count of a push summary line.
func receivedBytes(t *testing.T, out string) float64 {
	t.Helper()
	m := summaryBytes.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in:\n%s", out)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return n * map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[2]]
}

func noToken(t *testing.T, v *vm, pool string) {
	t.Helper()
	out := v.must(t, "zfs get -H -r -o name,value receive_resume_token "+pool)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] != "-" {
			t.Errorf("%s still has a resume token: %s", f[0], l)
		}
	}
}

const streamMiB = 24

// replica names one side of a transfer: a VM, the dataset there and the receiver's pool.
type replica struct {
	vm      *vm
	dataset string
}

// resumeCompletes runs cmd on runner (the rerun after an interruption) and checks that it
// resumed the receive of version from src into dst, left no resume token in dst's pool and
// that both sides now hold the same files; it returns the run's output.
func resumeCompletes(t *testing.T, runner *vm, cmd string, src, dst replica, version string) string {
	t.Helper()
	out := runner.must(t, cmd)
	want := fmt.Sprintf("resumed the interrupted receive of %s@%s into %s", src.dataset, version, dst.dataset)
	if !strings.Contains(out, want) {
		t.Errorf("the rerun did not resume (want %q):\n%s", want, out)
	}
	pool, _, _ := strings.Cut(dst.dataset, "/")
	noToken(t, dst.vm, pool)
	if a, b := checksums(t, src.vm, src.dataset, version), checksums(t, dst.vm, dst.dataset, version); a != b {
		t.Errorf("data differs:\n%s\n%s", a, b)
	}
	return out
}

// TestFaultKillSendResumes (cases 1 and 2): the sending zfs send, or the ssh carrying the
// stream, dies half-way; the rerun resumes and sends about the remaining half.
func TestFaultKillSendResumes(t *testing.T) {
	for _, c := range []struct{ name, victim string }{
		{"kill zfs send", "^zfs send -P"},
		{"drop the ssh connection", "^ssh .*zfs receive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			vmA.pool(t, "ksrc")
			vmB.pool(t, "kdst")
			vmA.must(t, fmt.Sprintf("zfs create ksrc/img && dd if=/dev/urandom of=/ksrc/img/big bs=1M count=%d status=none && zfs-vm tag -n big:1 ksrc/img", streamMiB))
			userB := snapshotSet(t, vmB, "kdst")
			out := vmA.must(t, interruptScript("push -d kdst b", "ksrc/img@", streamMiB<<19, c.victim))
			if !strings.Contains(out, "killed=yes") || strings.Contains(out, "exit=0") {
				t.Fatalf("the transfer was not interrupted:\n%s", out)
			}
			token := prop(t, vmB, "receive_resume_token", "kdst/img")
			if token == "-" || token == "" {
				t.Fatalf("no resume token on the receiver after the interruption")
			}
			out = resumeCompletes(t, vmA, "zfs-vm push -d kdst b", replica{vmA, "ksrc/img"}, replica{vmB, "kdst/img"}, "zfs-vm:big:1")
			sent := receivedBytes(t, out)
			full := float64(streamMiB << 20)
			t.Logf("rerun sent %.1f MiB of a %.0f MiB stream", sent/(1<<20), full/(1<<20))
			if sent > 0.75*full || sent < 0.1*full {
				t.Errorf("rerun sent %.0f bytes of %.0f: not the remaining part", sent, full)
			}
			keptAll(t, "receiver", userB, snapshotSet(t, vmB, "kdst"))
		})
	}
}

// TestFaultReceiverPoolFull (case 3): the receiver's pool fills up; the error says so; after
// space is freed the rerun completes.
func TestFaultReceiverPoolFull(t *testing.T) {
	vmA.pool(t, "fsrc")
	vmB.must(t, "truncate -s 256M /var/tmp/fdst.img && zpool create -O compression=off fdst /var/tmp/fdst.img")
	t.Cleanup(func() { vmB.run("zpool destroy -f fdst; rm -f /var/tmp/fdst.img") })
	vmA.must(t, "zfs create fsrc/img && dd if=/dev/urandom of=/fsrc/img/big bs=1M count=48 status=none && zfs-vm tag -n full:1 fsrc/img")
	// Leave 16 MiB free: less than the 48 MiB stream.
	vmB.must(t, `zfs create fdst/filler
avail=$(zfs get -Hp -o value avail fdst)
dd if=/dev/urandom of=/fdst/filler/f bs=1M count=$(( avail / 1048576 - 16 )) status=none
zpool sync fdst`)
	out, err := vmA.run("zfs-vm push -d fdst b")
	if err == nil || !strings.Contains(out, "receive on b failed: cannot receive new filesystem stream: out of space") {
		t.Fatalf("a full pool is not reported clearly (err=%v):\n%s", err, out)
	}
	vmB.must(t, "rm /fdst/filler/f && zpool sync fdst")
	out = vmA.must(t, "zfs-vm push -d fdst b")
	if !strings.Contains(out, "received") {
		t.Errorf("rerun after freeing space:\n%s", out)
	}
	noToken(t, vmB, "fdst")
	if a, b := checksums(t, vmA, "fsrc/img", "zfs-vm:full:1"), checksums(t, vmB, "fdst/img", "zfs-vm:full:1"); a != b {
		t.Errorf("data differs:\n%s\n%s", a, b)
	}
}

// TestFaultStaleToken (case 4): a transfer is interrupted, then the version it was sending
// is destroyed on the sender; the rerun discards the partial state, says so, and sends the
// versions that exist.
func TestFaultStaleToken(t *testing.T) {
	vmA.pool(t, "ssrc")
	vmB.pool(t, "sdst")
	vmA.must(t, "zfs create ssrc/img && echo one > /ssrc/img/one && zfs-vm tag -n st:1 ssrc/img && zfs-vm push -d sdst b")
	vmA.must(t, fmt.Sprintf("dd if=/dev/urandom of=/ssrc/img/big bs=1M count=%d status=none && zfs-vm tag ssrc/img", streamMiB))
	out := vmA.must(t, interruptScript("push -d sdst b", "ssrc/img@", streamMiB<<19, "^zfs send -P"))
	if !strings.Contains(out, "killed=yes") {
		t.Fatalf("not interrupted:\n%s", out)
	}
	// -n 3: after st:2 is destroyed, the next free version on this host would be 2 again.
	vmA.must(t, "zfs release zfs-vm ssrc/img@zfs-vm:st:2 && zfs destroy ssrc/img@zfs-vm:st:2 && echo three > /ssrc/img/three && zfs-vm tag -n 3 ssrc/img")
	userB := snapshotSet(t, vmB, "sdst")
	out = vmA.must(t, "zfs-vm push -d sdst b")
	if !strings.Contains(out, "was of ssrc/img@zfs-vm:st:2, which the sender no longer has; discarding it") {
		t.Errorf("stale token not reported:\n%s", out)
	}
	expectStreams(t, out, 1, "rerun")
	noToken(t, vmB, "sdst")
	after := snapshotSet(t, vmB, "sdst")
	keptAll(t, "receiver", userB, after)
	if !after["sdst/img@zfs-vm:st:3"] {
		t.Errorf("st:3 did not arrive: %v", after)
	}
	if a, b := checksums(t, vmA, "ssrc/img", "zfs-vm:st:3"), checksums(t, vmB, "sdst/img", "zfs-vm:st:3"); a != b {
		t.Errorf("data differs:\n%s\n%s", a, b)
	}
}

// TestFaultSourceRolledBack (case 5): the sender was rolled back past versions the receiver
// has. The push is refused, naming both sides and --rollback; with --rollback the receiver
// is rolled back (and says what it destroys) and gets the new version.
func TestFaultSourceRolledBack(t *testing.T) {
	vmA.pool(t, "rsrc")
	vmB.pool(t, "rdst")
	vmA.must(t, `zfs create rsrc/img
for v in 1 2 3; do echo $v > /rsrc/img/f$v; zfs-vm tag -n rb:$v rsrc/img; done
zfs snapshot rsrc/img@mine`)
	vmA.must(t, "zfs-vm push -d rdst b")
	userA := snapshotSet(t, vmA, "rsrc")
	vmA.must(t, `for s in $(zfs list -H -t snapshot -o name rsrc/img); do zfs holds -H "$s"; done | awk '{print $2, $1}' | while read tag snap; do zfs release "$tag" "$snap"; done
zfs rollback -r rsrc/img@zfs-vm:rb:1
echo four > /rsrc/img/f4
zfs-vm tag -n rb:4 rsrc/img`)
	out, err := vmA.run("zfs-vm push -d rdst b")
	if err == nil || !strings.Contains(out, "receiver dataset rdst/img diverged") || !strings.Contains(out, "rdst/img@zfs-vm:rb:2") || !strings.Contains(out, "--rollback") {
		t.Fatalf("divergence not refused clearly (err=%v):\n%s", err, out)
	}
	if got := snapshotSet(t, vmB, "rdst"); !got["rdst/img@zfs-vm:rb:3"] {
		t.Fatalf("refused push changed the receiver: %v", got)
	}
	out = vmA.must(t, "zfs-vm push --rollback -d rdst b")
	if !strings.Contains(out, "--rollback: rolling rdst/img back to rdst/img@zfs-vm:rb:1, destroying the snapshots rdst/img@zfs-vm:rb:2") {
		t.Errorf("rollback not announced:\n%s", out)
	}
	got := snapshotSet(t, vmB, "rdst")
	if !got["rdst/img@zfs-vm:rb:4"] || got["rdst/img@zfs-vm:rb:2"] {
		t.Errorf("receiver after --rollback: %v", got)
	}
	keptAll(t, "sender", userA, snapshotSet(t, vmA, "rsrc"), "rsrc/img@zfs-vm:rb:2", "rsrc/img@zfs-vm:rb:3", "rsrc/img@mine")
	if a, b := checksums(t, vmA, "rsrc/img", "zfs-vm:rb:4"), checksums(t, vmB, "rdst/img", "zfs-vm:rb:4"); a != b {
		t.Errorf("data differs:\n%s\n%s", a, b)
	}
}

// TestFaultConcurrentSync (case 6): two syncs of the same peer at once; the second says so
// and exits 75, the first completes.
func TestFaultConcurrentSync(t *testing.T) {
	vmA.pool(t, "csrc")
	vmB.pool(t, "cdst")
	t.Cleanup(func() { vmA.run("rm -f /tmp/concurrent.toml") })
	vmA.must(t, fmt.Sprintf("zfs create csrc/img && dd if=/dev/urandom of=/csrc/img/big bs=1M count=%d status=none && zfs-vm tag -n cc:1 csrc/img", streamMiB))
	vmA.must(t, `printf '[[peer]]\nname = "b"\nhost = "b"\ndirection = "push"\ndest = "cdst"\n' > /tmp/concurrent.toml`)
	out := vmA.must(t, `
zfs-vm --config /tmp/concurrent.toml sync > /tmp/first.log 2>&1 &
first=$!
until pgrep -f "^zfs send -P" >/dev/null; do sleep 0.1; done
set +e
zfs-vm --config /tmp/concurrent.toml sync; echo "second=$?"
wait $first; echo "first=$?"
cat /tmp/first.log`)
	if !strings.Contains(out, "second=75") || !strings.Contains(out, "another zfs-vm run with b (cdst) is going on") || !strings.Contains(out, "first=0") {
		t.Errorf("concurrent syncs:\n%s", out)
	}
	if a, b := checksums(t, vmA, "csrc/img", "zfs-vm:cc:1"), checksums(t, vmB, "cdst/img", "zfs-vm:cc:1"); a != b {
		t.Errorf("data differs:\n%s\n%s", a, b)
	}
}

// TestFaultOneOfManyInterrupted (case 8): 20 streamlines of 5 versions each are pushed
// while the transfer of one is killed; the other 19 complete, and the rerun finishes it.
func TestFaultOneOfManyInterrupted(t *testing.T) {
	vmA.pool(t, "msrc")
	vmB.pool(t, "mdst")
	vmA.must(t, `
for i in $(seq -w 1 20); do
  zfs create msrc/s$i
  n=1; [ $i = 07 ] && n=16
  for v in 1 2 3 4 5; do
    dd if=/dev/urandom of=/msrc/s$i/f$v bs=1M count=$n status=none
    zfs-vm tag -n s$i:$v msrc/s$i >/dev/null
  done
done`)
	userB := snapshotSet(t, vmB, "mdst")
	out := vmA.must(t, interruptScript("push -d mdst b", "msrc/s07@", 8<<20, "^zfs send -P.*msrc/s07@"))
	if !strings.Contains(out, "killed=yes") || !strings.Contains(out, "exit=1") {
		t.Fatalf("s07 was not interrupted, or the push did not fail:\n%s", out)
	}
	got := snapshotSet(t, vmB, "mdst")
	for i := 1; i <= 20; i++ {
		if i == 7 {
			continue
		}
		for v := 1; v <= 5; v++ {
			if s := fmt.Sprintf("mdst/s%02d@zfs-vm:s%02d:%d", i, i, v); !got[s] {
				t.Errorf("%s missing after the interrupted run", s)
			}
		}
	}
	out = vmA.must(t, "zfs-vm push -d mdst b")
	if !strings.Contains(out, "resumed the interrupted receive") {
		t.Errorf("rerun did not resume s07:\n%s", out)
	}
	got = snapshotSet(t, vmB, "mdst")
	for v := 1; v <= 5; v++ {
		if s := fmt.Sprintf("mdst/s07@zfs-vm:s07:%d", v); !got[s] {
			t.Errorf("%s missing after the rerun", s)
		}
	}
	noToken(t, vmB, "mdst")
	keptAll(t, "receiver", userB, got)
	if a, b := checksums(t, vmA, "msrc/s07", "zfs-vm:s07:5"), checksums(t, vmB, "mdst/s07", "zfs-vm:s07:5"); a != b {
		t.Errorf("data differs:\n%s\n%s", a, b)
	}
}

// TestFaultBaseIsHeld (case 9): someone runs `zfs destroy` on the base of the next
// incremental. It fails on both sides, even after the version's own `zfs-vm` hold is
// released, because the newest common snapshot is held as zfs-vm-base:<peer>:<destination>; the next
// push moves that hold to the new base.
func TestFaultBaseIsHeld(t *testing.T) {
	vmA.pool(t, "hsrc")
	vmB.pool(t, "hdst")
	vmA.must(t, "zfs create hsrc/img && echo 1 > /hsrc/img/f && zfs-vm tag -n hb:1 hsrc/img && echo 2 > /hsrc/img/f && zfs-vm tag -n hb:2 hsrc/img")
	vmA.must(t, "zfs-vm push -d hdst b")
	// The base hold alone keeps it: drop the per-version hold an operator would release.
	release := "zfs release zfs-vm %[1]s 2>/dev/null || true; zfs holds -H %[1]s"
	if out := vmA.must(t, fmt.Sprintf(release, "hsrc/img@zfs-vm:hb:2")); !strings.Contains(out, "\tzfs-vm-base:b:hdst\t") {
		t.Fatalf("sender's base not held as zfs-vm-base:b:hdst (peer b, destination hdst):\n%s", out)
	}
	if out := vmB.must(t, fmt.Sprintf(release, "hdst/img@zfs-vm:hb:2")); !strings.Contains(out, "\tzfs-vm-base:") {
		t.Fatalf("receiver's base not held:\n%s", out)
	}
	for _, side := range []struct {
		v    *vm
		snap string
	}{{vmA, "hsrc/img@zfs-vm:hb:2"}, {vmB, "hdst/img@zfs-vm:hb:2"}} {
		out := side.v.fails(t, "zfs destroy "+side.snap)
		// 2.1 says "dataset is busy", 2.3 "it's being held".
		if !strings.Contains(out, "dataset is busy") && !strings.Contains(out, "it's being held") {
			t.Errorf("zfs destroy %s: %s", side.snap, out)
		}
		side.v.must(t, "zfs list -H -o name "+side.snap)
	}
	// The next push moves the hold: hb:3 becomes the base, hb:2 is free to go.
	vmA.must(t, "echo 3 > /hsrc/img/f && zfs-vm tag -n hb:3 hsrc/img && zfs-vm push -d hdst b")
	for _, side := range []struct {
		v  *vm
		fs string
	}{{vmA, "hsrc/img"}, {vmB, "hdst/img"}} {
		out := side.v.must(t, fmt.Sprintf("zfs holds -H %[1]s@zfs-vm:hb:2 %[1]s@zfs-vm:hb:3", side.fs))
		if strings.Contains(out, side.fs+"@zfs-vm:hb:2\tzfs-vm-base:") || !strings.Contains(out, side.fs+"@zfs-vm:hb:3\tzfs-vm-base:") {
			t.Errorf("base hold did not move to hb:3 on %s:\n%s", side.v.name, out)
		}
		side.v.must(t, "zfs destroy "+side.fs+"@zfs-vm:hb:2")
	}
}
