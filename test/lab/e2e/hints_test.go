//go:build lab

package e2e

import (
	"strings"
	"testing"
)

// TestHintsOnAHostWithManySnapshots: on hosts past zfs.SmallHost (600 foreign snapshots on
// each), a push's hints from the last run list the datasets it read in full beside the first
// listings. Runs with hints plan as runs without: a no-op stays one, a clone made since (a
// dataset the hints do not name) arrives as a clone, a foreign snapshot on a replica (read
// through the hints) is still divergence, and a hints file that does not parse or names a
// destroyed dataset changes nothing. The names are read through the names program once the
// first push learned that it works on both hosts.
func TestHintsOnAHostWithManySnapshots(t *testing.T) {
	src := vmA.pool(t, "hintsrc")
	dst := vmB.pool(t, "hintdst")
	makeTree(t, vmA, src)
	// One zfs snapshot takes at most one snapshot of each filesystem: 20 of 30 filesystems.
	foreign := `for d in $(seq 30); do zfs create -p $p/hourly/$d; done
for i in $(seq 20); do zfs snapshot $(for d in $(seq 30); do printf "$p/hourly/$d@h$i "; done); done`
	vmA.must(t, "p="+src+"; "+foreign)
	vmB.must(t, "p="+dst+"; "+foreign+" && zfs create "+dst+"/vm")
	push := "rm -rf /run/zfs-vm/hints; zfs-vm push -d " + dst + "/vm b"
	expectStreams(t, vmA.must(t, push), 4, "first push")
	push = "zfs-vm -d push -d " + dst + "/vm b 2>&1"

	out := vmA.must(t, push)
	expectStreams(t, out, 0, "no-op push with hints")
	// The hinted bases' holds are read once a side (beside the listings), not again after.
	if strings.Contains(out, "-t filesystem,volume,snapshot") || strings.Count(out, "zfs holds -H") != 2 {
		t.Errorf("the no-op push read a host in full, or the holds other than once a side:\n%s", out)
	}
	// The first push learned that the names program stands for the names listing on both
	// hosts (run as root): the no-op reads every pool's names through it, never the listing.
	if strings.Contains(out, "-o name -s name") || !strings.Contains(out, "zfs program -j -n "+src+" /dev/stdin") ||
		!strings.Contains(out, "zfs program -j -n "+dst+" /dev/stdin") {
		t.Errorf("the no-op push listed every snapshot's name, or did not run the names program on each side:\n%s", out)
	}

	// list reads a host as a push does and keeps hints per host: its first read of a host
	// learns the names program beside the listing, the next reads the names through it alone.
	for _, host := range []struct{ arg, pool string }{{"", src}, {"b", dst}} {
		list := "zfs-vm -d list " + host.arg + " 2>/tmp/list.err"
		first, learning := vmA.must(t, list), vmA.must(t, "cat /tmp/list.err")
		next, read := vmA.must(t, list), vmA.must(t, "cat /tmp/list.err")
		program := "zfs program -j -n " + host.pool + " /dev/stdin"
		if !strings.Contains(learning, "-o name -s name") || !strings.Contains(learning, program) {
			t.Errorf("list %s without hints did not run the names listing and the program beside it:\n%s", host.arg, learning)
		}
		if strings.Contains(read, "-o name -s name") || !strings.Contains(read, program) {
			t.Errorf("list %s with hints listed every snapshot's name, or did not run the names program:\n%s", host.arg, read)
		}
		if first != next || !strings.Contains(first, host.pool+"/") {
			t.Errorf("list %s printed\n%s\nthen\n%s", host.arg, first, next)
		}
	}

	vmA.must(t, "zfs clone "+src+"/tmpl@zfs-vm:debian:3 "+src+"/c3 && echo own > /"+src+"/c3/own && zfs-vm tag "+src+"/c3")
	out = vmA.must(t, push)
	expectStreams(t, out, 1, "push of a clone made since the hints")
	if o := prop(t, vmB, "origin", dst+"/vm/c3"); o != dst+"/vm/tmpl@zfs-vm:debian:3" {
		t.Errorf("c3 arrived with origin %q, want the received debian:3", o)
	}

	vmB.must(t, "zfs snapshot "+dst+"/vm/c1@mine")
	vmA.must(t, "echo more > /"+src+"/c1/more && zfs-vm tag "+src+"/c1")
	out = vmA.fails(t, push)
	if !strings.Contains(out, "receiver dataset "+dst+"/vm/c1 diverged") {
		t.Errorf("a foreign snapshot on a replica read through the hints is not divergence:\n%s", out)
	}
	vmB.must(t, "zfs destroy "+dst+"/vm/c1@mine")

	// A hinted dataset destroyed, then a hints file that is not JSON.
	// c3's version is the pair's held base: release its holds, then destroy it.
	vmA.must(t, "s="+src+"/c3@zfs-vm:debian:6; zfs holds -H $s | cut -f2 | while read -r tag; do zfs release \"$tag\" $s; done; zfs destroy -r "+src+"/c3")
	expectStreams(t, vmA.must(t, push), 1, "push after a hinted dataset was destroyed")
	vmA.must(t, "for f in /run/zfs-vm/hints/*.json; do echo garbage > $f; done")
	expectStreams(t, vmA.must(t, push), 0, "push with a garbage hints file")
	vmB.must(t, "s="+dst+"/vm/c3@zfs-vm:debian:6; zfs holds -H $s | cut -f2 | while read -r tag; do zfs release \"$tag\" $s; done; zfs destroy -r "+dst+"/vm/c3")
	checkTree(t, vmA, src, vmB, dst+"/vm")
}
