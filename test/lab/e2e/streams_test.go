//go:build lab

package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestPushStreamsAtOnce: push --streams 4 of a template with six clones (one with a child
// dataset) receives the clones side by side on real ZFS, each as a clone of the received
// template version, the child after its parent, and leaves nothing for a second push; a sync
// with streams = 4 in its configuration sends the clones' next versions side by side.
func TestPushStreamsAtOnce(t *testing.T) {
	src := vmA.pool(t, "strsrc")
	dst := vmB.pool(t, "strdst")
	makeWideTree(t, vmA, src)
	vmB.must(t, "zfs create "+dst+"/vm")

	peak := sampleReceives(t)
	out := vmA.must(t, "zfs-vm push --streams 4 -d "+dst+"/vm b")
	expectStreams(t, out, 9, "push with --streams 4")
	if n := peak(); n < 2 {
		t.Errorf("at most %d zfs receive ran at once on the receiver; want the clones side by side", n)
	}
	checkWideTree(t, vmA, src, vmB, dst+"/vm")
	expectStreams(t, vmA.must(t, "zfs-vm push --streams 4 -d "+dst+"/vm b"), 0, "second push")

	// sync with streams = 4 in its configuration: the clones' next versions side by side.
	vmA.must(t, "p="+src+`; for c in 3 4 5 6; do dd if=/dev/urandom of=/$p/c$c/more bs=64k count=8 status=none && zfs-vm tag $p/c$c; done
printf '[[peer]]\nname = "b"\nhost = "b"\ndirection = "push"\ndest = "`+dst+`/vm"\nstreams = 4\n' > /tmp/streams.toml`)
	t.Cleanup(func() { vmA.run("rm -f /tmp/streams.toml") })
	peak = sampleReceives(t)
	out = vmA.must(t, "zfs-vm --config /tmp/streams.toml sync")
	expectStreams(t, out, 4, "sync with streams = 4")
	if n := peak(); n < 2 {
		t.Errorf("at most %d zfs receive ran at once on the receiver during the sync; want its streams side by side", n)
	}
	checkTree(t, vmA, src, vmB, dst+"/vm")
	expectStreams(t, vmA.must(t, "zfs-vm --config /tmp/streams.toml sync"), 0, "second sync")
}

// makeWideTree makes makeTree's tree in pool on v, and four more clones of the template's
// debian:3 (c3 to c6), each with a version of its own, c3 with a child dataset of a
// streamline of its own: nine streams in all, six of them able to run side by side.
func makeWideTree(t *testing.T, v *vm, pool string) {
	t.Helper()
	makeTree(t, v, pool)
	v.must(t, "p="+pool+`
for c in 3 4 5 6; do
  zfs clone $p/tmpl@zfs-vm:debian:3 $p/c$c && dd if=/dev/urandom of=/$p/c$c/own bs=64k count=8 status=none && zfs-vm tag $p/c$c
done
zfs create $p/c3/data && echo data > /$p/c3/data/f && zfs-vm tag -n data:1 $p/c3/data`)
}

// checkWideTree checks makeWideTree's tree from sender's pool src as received below dst on
// receiver: makeTree's checks, c3 to c6 clones of the received debian:3, and the child's
// version the sender's by guid.
func checkWideTree(t *testing.T, sender *vm, src string, receiver *vm, dst string) {
	t.Helper()
	checkTree(t, sender, src, receiver, dst)
	for _, c := range []string{"c3", "c4", "c5", "c6"} {
		if o := prop(t, receiver, "origin", dst+"/"+c); o != dst+"/tmpl@zfs-vm:debian:3" {
			t.Errorf("%s arrived with origin %q, want the received debian:3", c, o)
		}
	}
	sameGUID(t, sender, src+"/c3/data@zfs-vm:data:1", receiver, dst+"/c3/data@zfs-vm:data:1")
}

// TestPullStreamsAtOnceCompressed: B pulls makeWideTree's tree from A with --streams 4 and
// zstd on the wire: every stream is compressed on A, the clones are received side by side,
// and the tree arrives as a push would bring it.
func TestPullStreamsAtOnceCompressed(t *testing.T) {
	src := vmA.pool(t, "spsrc")
	dst := vmB.pool(t, "spdst")
	makeWideTree(t, vmA, src)
	vmB.must(t, "zfs create "+dst+"/vm")

	peak := sampleReceives(t)
	out := vmB.must(t, "zfs-vm -d pull --streams 4 --compress zstd -d "+dst+"/vm a 2>&1")
	expectStreams(t, out, 9, "pull with --streams 4 --compress zstd")
	if n := strings.Count(out, "| env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin zstd -q -c -T0"); n < 9 {
		t.Errorf("%d of the pull's 9 streams were compressed on A:\n%s", n, out)
	}
	if n := peak(); n < 2 {
		t.Errorf("at most %d zfs receive ran at once on the puller; want the clones side by side", n)
	}
	checkWideTree(t, vmA, src, vmB, dst+"/vm")
	expectStreams(t, vmB.must(t, "zfs-vm pull --streams 4 --compress zstd -d "+dst+"/vm a"), 0, "second pull")
}

// TestPushStreamsAtOnceThroughServe: A pushes makeWideTree's tree with --streams 4 and zstd
// to B through a key forced to `zfs-vm serve` (one serve a stream): the clones are received
// side by side there too, and the tree arrives whole.
func TestPushStreamsAtOnceThroughServe(t *testing.T) {
	src := vmA.pool(t, "sssrc")
	dst := vmB.pool(t, "ssdst")
	makeWideTree(t, vmA, src)
	vmB.must(t, "zfs create "+dst+"/vm")
	serveOnB(t, "--allow-receive "+dst+"/vm")

	peak := sampleReceives(t)
	out := vmA.must(t, "zfs-vm -d push --streams 4 --compress zstd -d "+dst+"/vm bserve 2>&1")
	expectStreams(t, out, 9, "push with --streams 4 through serve")
	if n := strings.Count(out, "zstd -q -d -c | env PATH="); n < 9 {
		t.Errorf("%d of the push's 9 streams were decompressed on B:\n%s", n, out)
	}
	if n := peak(); n < 2 {
		t.Errorf("at most %d zfs receive ran at once under serve; want the clones side by side", n)
	}
	checkWideTree(t, vmA, src, vmB, dst+"/vm")
	expectStreams(t, vmA.must(t, "zfs-vm push --streams 4 --compress zstd -d "+dst+"/vm bserve"), 0, "second push")
}

// sampleReceives starts counting, every 50 ms on B, the zfs receives running there (run as
// zfs, or by a path to it as zfs-vm serve may); the function it returns stops that and
// returns the most seen at once. The sampler also stops when the test ends, whatever happens.
func sampleReceives(t *testing.T) func() int {
	t.Helper()
	vmB.must(t, "rm -f /tmp/streams-done /tmp/streams-sampling")
	peak := make(chan string, 1)
	go func() {
		out, _ := vmB.run(`touch /tmp/streams-sampling; m=0; for i in $(seq 6000); do
  n=$(pgrep -fc '^([^ ]*/)?zfs receive' || true); [ "$n" -gt "$m" ] && m=$n
  [ -e /tmp/streams-done ] && break; sleep 0.05; done; echo $m`)
		peak <- strings.TrimSpace(out)
	}()
	stop := func() { vmB.run("touch /tmp/streams-done") }
	t.Cleanup(stop)
	// Sampling before the command starts: an ssh login takes seconds under TCG.
	vmB.must(t, "for i in $(seq 300); do [ -e /tmp/streams-sampling ] && exit 0; sleep 0.1; done; exit 1")
	return func() int {
		stop()
		n, _ := strconv.Atoi(<-peak)
		t.Logf("up to %d zfs receives at once", n)
		return n
	}
}
