package replicate

import (
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

func TestCompare(t *testing.T) {
	src := zfstest.Inventory(t, append(tree, "pool/img", "pool/img@zfs-vm:r:1", "pool/img/a", "pool/img/a@zfs-vm:r:1")...)
	dst := zfstest.Inventory(t, "pool", "pool/tmpl", "pool/tmpl@zfs-vm:d:1 #1", "pool/tmpl@zfs-vm:d:2 #2")
	got := Compare(src, dst, nil, "")
	if len(got) != 2 {
		t.Fatalf("%d streamlines: %+v", len(got), got)
	}
	d, r := got[0], got[1]
	if d.Streamline != "d" || d.SenderNewest != 5 || d.ReceiverNewest != 2 || d.Behind != 3 {
		t.Errorf("d: %+v, want newest 5 here, 2 there, 3 behind", d)
	}
	if r.Streamline != "r" || r.SenderNewest != 1 || r.ReceiverNewest != 0 || r.Behind != 1 || !r.ReceiverNewestTime.IsZero() {
		t.Errorf("r (a recursive version counts once): %+v", r)
	}
	if got := Compare(src, dst, []string{"r"}, ""); len(got) != 1 || got[0].Streamline != "r" {
		t.Errorf("only r: %+v", got)
	}
}

// Under -d the receiver's versions count only below the destination: another destination's
// (another peer on the same host) are not this pair's, whose status they would otherwise
// show as up to date.
func TestCompareUnderDest(t *testing.T) {
	src := zfstest.Inventory(t, "pool/t", "pool/t@zfs-vm:d:1 #1", "pool/t@zfs-vm:d:2 #2")
	dst := zfstest.Inventory(t, "tank", "tank/x", "tank/x/t", "tank/x/t@zfs-vm:d:1 #1",
		"tank/y", "tank/y/t", "tank/y/t@zfs-vm:d:1 #1", "tank/y/t@zfs-vm:d:2 #2", "tank/xx", "tank/xx/t", "tank/xx/t@zfs-vm:d:2 #2")
	for dest, behind := range map[string]int{"tank/x": 1, "tank/y": 0, "tank/z": 2, "": 0} {
		if got := Compare(src, dst, nil, dest); len(got) != 1 || got[0].Behind != behind {
			t.Errorf("under %q: %+v, want %d behind", dest, got, behind)
		}
	}
	// After a run: its summary compares under its destination too.
	dst = zfstest.Inventory(t, "tank", "tank/z", "tank/y", "tank/y/t", "tank/y/t@zfs-vm:d:1 #1", "tank/y/t@zfs-vm:d:2 #2")
	plan := Compute(src, dst, Options{DestParent: "tank/z"})
	if len(plan.Streams) != 2 {
		t.Fatalf("plan into tank/z: %v %v", describe(plan), plan.Errors())
	}
	errs := []error{&StreamError{Stream: plan.Streams[0]}, &BlockedError{Snapshot: plan.Streams[1].To.FullName()}}
	sum := &Summary{Plan: plan, Errors: errs, sender: src, receiver: dst, dest: "tank/z"}
	if got := sum.States(); len(got) != 1 || got[0].Behind != 2 {
		t.Errorf("after a failed run into tank/z: %+v, want 2 behind", got)
	}
}

func TestSummaryStates(t *testing.T) {
	src := zfstest.Inventory(t, tree...)
	dst := zfstest.Inventory(t, "pool", "pool/tmpl", "pool/tmpl@zfs-vm:d:1 #1")
	plan := Compute(src, dst, Options{})
	// The stream that brings version 4 (the clone c1) failed; 5 arrived.
	var errs []error
	for _, st := range plan.Streams {
		if st.To.Tag.Version == 4 {
			errs = append(errs, &StreamError{Stream: st})
		}
	}
	sum := &Summary{Plan: plan, Errors: errs, sender: src, receiver: dst}
	got := sum.States()
	if len(got) != 1 || got[0].ReceiverNewest != 5 || got[0].Behind != 0 {
		t.Errorf("states %+v, want the receiver at 5, 0 behind", got)
	}
	// Without version 5's stream, the receiver is at 3: 4 and 5 are behind.
	for _, st := range plan.Streams {
		if st.To.Tag.Version == 5 {
			sum.Errors = append(sum.Errors, &BlockedError{Snapshot: st.To.FullName()})
		}
	}
	if got := sum.States(); len(got) != 1 || got[0].ReceiverNewest != 3 || got[0].Behind != 2 {
		t.Errorf("states %+v, want the receiver at 3, 2 behind", got)
	}
}
