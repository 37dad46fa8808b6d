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
	makeTree(t, vmA, src)
	vmA.must(t, "p="+src+`
for c in 3 4 5 6; do
  zfs clone $p/tmpl@zfs-vm:debian:3 $p/c$c && dd if=/dev/urandom of=/$p/c$c/own bs=64k count=8 status=none && zfs-vm tag $p/c$c
done
zfs create $p/c3/data && echo data > /$p/c3/data/f && zfs-vm tag -n data:1 $p/c3/data`)
	vmB.must(t, "zfs create "+dst+"/vm")

	peak := sampleReceives(t)
	out := vmA.must(t, "zfs-vm push --streams 4 -d "+dst+"/vm b")
	expectStreams(t, out, 9, "push with --streams 4")
	if n := peak(); n < 2 {
		t.Errorf("at most %d zfs receive ran at once on the receiver; want the clones side by side", n)
	}
	checkTree(t, vmA, src, vmB, dst+"/vm")
	for _, c := range []string{"c3", "c4", "c5", "c6"} {
		if o := prop(t, vmB, "origin", dst+"/vm/"+c); o != dst+"/vm/tmpl@zfs-vm:debian:3" {
			t.Errorf("%s arrived with origin %q, want the received debian:3", c, o)
		}
	}
	sameGUID(t, vmA, src+"/c3/data@zfs-vm:data:1", vmB, dst+"/vm/c3/data@zfs-vm:data:1")
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

// sampleReceives starts counting, every 50 ms on B, the zfs receives running there; the
// function it returns stops that and returns the most seen at once. The sampler also stops
// when the test ends, whatever happens.
func sampleReceives(t *testing.T) func() int {
	t.Helper()
	vmB.must(t, "rm -f /tmp/streams-done /tmp/streams-sampling")
	peak := make(chan string, 1)
	go func() {
		out, _ := vmB.run(`touch /tmp/streams-sampling; m=0; for i in $(seq 6000); do
  n=$(pgrep -fc '^zfs receive' || true); [ "$n" -gt "$m" ] && m=$n
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
