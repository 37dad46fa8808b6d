package replicate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

// A read of the holds made beside the listings (prefetchHolds) stands in for MigrateHolds'
// own when it covers every held base, and is not trusted for bases it did not ask about.
func TestMigrateHoldsTakesAnEarlierRead(t *testing.T) {
	withFakeHolds(t, "p/a@zfs-vm:d:2\tzfs-vm-base:bk1:tank\t0", "bk/a@zfs-vm:d:2\tzfs-vm-base:me:bk1:tank\t0")
	log := logrus.New()
	log.SetOutput(&strings.Builder{})
	ex := &Executor{Sender: zfs.Local(log), Receiver: zfs.Local(log), Log: log, HoldTags: &HoldTags{
		Sender: "zfs-vm-base:bk1:tank", Receiver: "zfs-vm-base:me:bk1:tank"}}
	bases := []Base{{snap("p/a@zfs-vm:d:2", 1), snap("bk/a@zfs-vm:d:2", 1)}}
	for _, tc := range []struct {
		name     string
		prefetch []string // the bases the earlier read asked about
		reads    int      // `zfs holds` run by MigrateHolds itself
	}{
		{"the read covers the bases", []string{"p/a@zfs-vm:d:2", "bk/a@zfs-vm:d:2"}, 0},
		{"the read missed them", []string{"p/b@zfs-vm:d:1", "bk/b@zfs-vm:d:1"}, 2},
		{"no read", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			hlog, zlog := filepath.Join(sub, "holds.log"), filepath.Join(sub, "zfs.log")
			t.Setenv("FAKE_ZFS_LOG", zlog)
			t.Setenv("FAKE_HOLDS_LOG", hlog)
			var senderRead, receiverRead *heldTags
			if tc.prefetch != nil {
				senderRead = prefetchHolds(t.Context(), ex.Sender, tc.prefetch[:1])()
				receiverRead = prefetchHolds(t.Context(), ex.Receiver, tc.prefetch[1:])()
			}
			os.Remove(hlog)
			ex.migrateHolds(t.Context(), bases, senderRead, receiverRead)
			b, _ := os.ReadFile(hlog)
			if got := strings.Count(string(b), "zfs holds"); got != tc.reads {
				t.Errorf("MigrateHolds read the holds %d times, want %d:\n%s", got, tc.reads, b)
			}
			// Both bases already carry the pair's holds: nothing to hold, whoever read them.
			if b, _ := os.ReadFile(zlog); len(b) != 0 {
				t.Errorf("holds moved: %s", b)
			}
		})
	}
}

func TestNextHints(t *testing.T) {
	plan := &Plan{Bases: []Base{
		{snap("p/a@zfs-vm:d:1", 1), snap("bk/a@zfs-vm:d:1", 1)},
		{snap("p/b@zfs-vm:d:3", 1), snap("bk/b@zfs-vm:d:3", 1)},
	}}
	var res Result
	res.holds.advance("p/a@zfs-vm:d:1", "bk/a@zfs-vm:d:1", "p/a@zfs-vm:d:2", "bk/a@zfs-vm:d:2")
	res.holds.advance("", "", "p/c@zfs-vm:d:1", "bk/c@zfs-vm:d:1")
	res.targets = []string{"bk/a", "bk/c"}
	src := zfstest.Versions(t, "p", "p/a", "p/a@zfs-vm:d:2", "p/x")
	dst := zfstest.Versions(t, "bk", "bk/a", "bk/a@zfs-vm:d:1")
	h := nextHints(src, dst, plan, res)
	equal(t, h.Sender.Bases, []string{"p/b@zfs-vm:d:3", "p/a@zfs-vm:d:2", "p/c@zfs-vm:d:1"})
	equal(t, h.Receiver.Bases, []string{"bk/b@zfs-vm:d:3", "bk/a@zfs-vm:d:2", "bk/c@zfs-vm:d:1"})
	equal(t, h.Sender.Datasets, []string{"p/a"}) // p/x holds no version
	equal(t, h.Receiver.Datasets, []string{"bk/a", "bk/c"})
	if !h.Sender.Small || !h.Receiver.Small {
		t.Errorf("small hosts not Small: %+v", h)
	}
}
