package main

import (
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/replicate"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// Two peers on one host (two pools, two destinations) hold their bases under tags of their
// own on both sides; the legacy tags are the host names older versions used.
func TestHoldTagsPerPeerAndDestination(t *testing.T) {
	remote := &zfs.Host{Name: "root@b"}
	local := zfs.Local(nil)
	a := newJob(local, remote, true, replicate.Options{DestParent: "tank1/bk"}, "b-tank1").HoldTags
	b := newJob(local, remote, true, replicate.Options{DestParent: "tank2/bk"}, "b-tank2").HoldTags
	if a.Sender == b.Sender || a.Receiver == b.Receiver {
		t.Errorf("two peers on one host share tags: %+v %+v", a, b)
	}
	if a.Sender != "zfs-vm-base:b-tank1:tank1/bk" || !strings.HasSuffix(a.Receiver, ":b-tank1:tank1/bk") {
		t.Errorf("push tags %+v", a)
	}
	if a.LegacySender != "zfs-vm-base:root@b" || a.LegacyReceiver == "" || a.LegacyReceiver == a.LegacySender {
		t.Errorf("legacy tags %+v", a)
	}
	// A pull: the remote sends, and the tags change sides with it.
	p := newJob(local, remote, false, replicate.Options{DestParent: "tank1/bk"}, "b-tank1").HoldTags
	if p.Receiver != "zfs-vm-base:b-tank1:tank1/bk" || p.LegacyReceiver != "zfs-vm-base:root@b" || p.Sender != a.Receiver {
		t.Errorf("pull tags %+v", p)
	}
	long := holdTag("zfs-vm-base:" + strings.Repeat("x", 300))
	if len(long) > 255 || long == holdTag("zfs-vm-base:"+strings.Repeat("x", 301)) {
		t.Errorf("long tag %q", long)
	}
}
