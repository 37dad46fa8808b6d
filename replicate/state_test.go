package replicate

import (
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

func TestCompare(t *testing.T) {
	src := zfstest.Inventory(t, append(tree, "pool/img", "pool/img@zfs-vm:r:1", "pool/img/a", "pool/img/a@zfs-vm:r:1")...)
	dst := zfstest.Inventory(t, "pool", "pool/tmpl", "pool/tmpl@zfs-vm:d:1 #1", "pool/tmpl@zfs-vm:d:2 #2")
	got := Compare(src, dst, nil)
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
	if got := Compare(src, dst, []string{"r"}); len(got) != 1 || got[0].Streamline != "r" {
		t.Errorf("only r: %+v", got)
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
