//go:build lab

package e2e

import (
	"strings"
	"testing"
)

// TestRecursiveImageTree: a template made of a filesystem, a child filesystem and a (sparse:
// a thick one's refreservation would count as used on the sender only) zvol,
// tagged recursively twice; two containers cloned member by member from version 2 and
// tagged recursively; pushed with an interruption after the first member. The rerun
// completes without resending finished members, every member of every version arrives
// with the sender's guid, every cloned member is a clone of its received counterpart,
// and the space used matches.
func TestRecursiveImageTree(t *testing.T) {
	vmA.pool(t, "rec")
	vmB.pool(t, "recdst")
	vmA.must(t, `
zfs create rec/tmpl
zfs create rec/tmpl/data
zfs create -s -V 32M rec/tmpl/disk
udevadm settle
dd if=/dev/urandom of=/rec/tmpl/root bs=64k count=8 status=none
dd if=/dev/urandom of=/rec/tmpl/data/db bs=1M count=12 status=none
dd if=/dev/urandom of=/dev/zvol/rec/tmpl/disk bs=1M count=2 status=none conv=fsync
zfs-vm tag -r -n t:1 rec/tmpl
echo v2 > /rec/tmpl/data/v2
zfs-vm tag -r rec/tmpl
for ct in ct1 ct2; do
  zfs clone rec/tmpl@zfs-vm:t:2 rec/$ct
  zfs clone rec/tmpl/data@zfs-vm:t:2 rec/$ct/data
  zfs clone rec/tmpl/disk@zfs-vm:t:2 rec/$ct/disk
  udevadm settle
  echo $ct > /rec/$ct/data/who
  dd if=/dev/urandom of=/dev/zvol/rec/$ct/disk bs=64k count=4 seek=64 status=none conv=fsync
  zfs-vm tag -r rec/$ct
done`)
	if out := vmA.must(t, "zfs-vm tag -r rec/ct2"); !strings.Contains(out, "unchanged") {
		t.Errorf("an unchanged recursive image was tagged again: %s", out)
	}
	list := strings.Join(strings.Fields(vmA.must(t, "zfs-vm list")), " ")
	for _, want := range []string{"t 1 rec/tmpl (+2: data,disk)", "t 3 rec/ct1 (+2: data,disk) t:2 (clone)"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	vmB.must(t, "zfs create recdst/vm")

	// Interrupt the second member's first stream, after the root's has finished.
	out := vmA.must(t, interruptScript("push -d recdst/vm b", "rec/tmpl/data@", 1, "^zfs send -P.*rec/tmpl/data@"))
	if !strings.Contains(out, "killed=yes") || !strings.Contains(out, "full        - → rec/tmpl@zfs-vm:t:1 into recdst/vm/tmpl  done") {
		t.Fatalf("not interrupted after the first member:\n%s", out)
	}
	out = vmA.must(t, "zfs-vm push -d recdst/vm b")
	if strings.Contains(out, "→ rec/tmpl@zfs-vm:t:1 ") {
		t.Errorf("the rerun resent a finished member:\n%s", out)
	}
	if !strings.Contains(out, "resumed the interrupted receive of rec/tmpl/data@zfs-vm:t:1") {
		t.Errorf("the rerun did not resume the interrupted member:\n%s", out)
	}

	// Every member of every version, with the sender's guid.
	sender := vmA.must(t, "zfs list -H -t snapshot -o name,guid -r rec | grep @zfs-vm: | sed 's|^rec/|recdst/vm/|'")
	receiver := vmB.must(t, "zfs list -H -t snapshot -o name,guid -r recdst/vm | grep @zfs-vm:")
	if sender != receiver {
		t.Errorf("receiver's members differ:\nsender (mapped):\n%s\nreceiver:\n%s", sender, receiver)
	}
	if n := strings.Count(receiver, "\n"); n != 12 {
		t.Errorf("receiver has %d member versions, want 12 (4 versions x 3 members)", n)
	}
	for _, ct := range []string{"ct1", "ct2"} {
		for _, m := range []string{"", "/data", "/disk"} {
			if o := prop(t, vmB, "origin", "recdst/vm/"+ct+m); o != "recdst/vm/tmpl"+m+"@zfs-vm:t:2" {
				t.Errorf("recdst/vm/%s%s origin = %q", ct, m, o)
			}
		}
	}
	if typ := prop(t, vmB, "type", "recdst/vm/ct1/disk"); typ != "volume" {
		t.Errorf("the zvol member arrived as %q", typ)
	}
	s := usedSum(t, vmA, "rec/tmpl", "rec/ct1", "rec/ct2")
	r := usedSum(t, vmB, "recdst/vm/tmpl", "recdst/vm/ct1", "recdst/vm/ct2")
	t.Logf("space: sender %d, receiver %d, ratio %.3f", s, r, float64(r)/float64(s))
	if ratio := float64(r) / float64(s); ratio < 0.9 || ratio > 1.1 {
		t.Errorf("receiver uses %d bytes, sender %d: members were not kept as clones", r, s)
	}
	if a, b := checksums(t, vmA, "rec/ct2/data", "zfs-vm:t:4"), checksums(t, vmB, "recdst/vm/ct2/data", "zfs-vm:t:4"); a != b {
		t.Errorf("member data differs:\n%s\n%s", a, b)
	}
	disk := "udevadm settle; dd if=/dev/zvol/%s bs=1M count=8 status=none | sha256sum"
	if a, b := vmA.must(t, strings.Replace(disk, "%s", "rec/ct1/disk", 1)), vmB.must(t, strings.Replace(disk, "%s", "recdst/vm/ct1/disk", 1)); a != b {
		t.Errorf("zvol data differs: %s vs %s", a, b)
	}
	remote := strings.Join(strings.Fields(vmB.must(t, "zfs-vm list")), " ")
	if !strings.Contains(remote, "t 4 recdst/vm/ct2 (+2: data,disk) t:2 (clone)") {
		t.Errorf("receiver's list:\n%s", remote)
	}
}
