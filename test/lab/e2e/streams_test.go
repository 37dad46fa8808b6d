//go:build lab

package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestPushStreamsAtOnce: push --streams 4 of a template with six clones (one with a child
// dataset) receives the clones side by side on real ZFS, each as a clone of the received
// template version, the child after its parent, and leaves nothing for a second push.
func TestPushStreamsAtOnce(t *testing.T) {
	src := vmA.pool(t, "strsrc")
	dst := vmB.pool(t, "strdst")
	makeTree(t, vmA, src)
	vmA.must(t, "p="+src+`
for c in 3 4 5 6; do
  zfs clone $p/tmpl@zfs-vm:debian:3 $p/c$c && dd if=/dev/urandom of=/$p/c$c/own bs=64k count=8 status=none && zfs-vm tag $p/c$c
done
zfs create $p/c3/data && echo data > /$p/c3/data/f && zfs-vm tag -n data:1 $p/c3/data`)
	vmB.must(t, "zfs create "+dst+"/vm && rm -f /tmp/streams-done")
	t.Cleanup(func() { vmB.run("touch /tmp/streams-done") }) // the sampler stops, whatever happens
	// B samples how many zfs receives run at once while the push runs.
	peak := make(chan string, 1)
	go func() {
		out, _ := vmB.run(`m=0; for i in $(seq 3000); do
  n=$(pgrep -fc '^zfs receive' || true); [ "$n" -gt "$m" ] && m=$n
  [ -e /tmp/streams-done ] && break; sleep 0.05; done; echo $m`)
		peak <- strings.TrimSpace(out)
	}()
	out := vmA.must(t, "zfs-vm push --streams 4 -d "+dst+"/vm b")
	vmB.must(t, "touch /tmp/streams-done")
	expectStreams(t, out, 9, "push with --streams 4")
	if n, _ := strconv.Atoi(<-peak); n < 2 {
		t.Errorf("at most %d zfs receive ran at once on the receiver; want the clones side by side", n)
	} else {
		t.Logf("up to %d zfs receives at once", n)
	}
	checkTree(t, vmA, src, vmB, dst+"/vm")
	for _, c := range []string{"c3", "c4", "c5", "c6"} {
		if o := prop(t, vmB, "origin", dst+"/vm/"+c); o != dst+"/vm/tmpl@zfs-vm:debian:3" {
			t.Errorf("%s arrived with origin %q, want the received debian:3", c, o)
		}
	}
	if g, w := prop(t, vmB, "guid", dst+"/vm/c3/data@zfs-vm:data:1"), prop(t, vmA, "guid", src+"/c3/data@zfs-vm:data:1"); g != w {
		t.Errorf("c3/data's version has guid %q on the receiver, %q on the sender", g, w)
	}
	expectStreams(t, vmA.must(t, "zfs-vm push --streams 4 -d "+dst+"/vm b"), 0, "second push")
}
