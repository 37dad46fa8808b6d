package replicate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

// The bases are the newest common zfs-vm snapshot of each sender dataset of the selected
// streamlines, with the receiver's copy.
func TestPlanBases(t *testing.T) {
	src := zfstest.Inventory(t, append(tree, "pool/o", "pool/o@zfs-vm:other:1 #9")...)
	dst := zfstest.Inventory(t, "bk", "bk/tmpl", "bk/tmpl@zfs-vm:d:1 #1", "bk/tmpl@zfs-vm:d:2 #2",
		"bk/c1 < bk/tmpl@zfs-vm:d:2", "bk/c1@zfs-vm:d:4 #4", "bk/o", "bk/o@zfs-vm:other:1 #9")
	describeBases := func(p *Plan) []string {
		var out []string
		for _, b := range p.Bases {
			out = append(out, b.Sender.FullName()+" "+b.Receiver.FullName())
		}
		slices.Sort(out)
		return out
	}
	plan := Compute(src, dst, Options{DestParent: "bk", Streamlines: []string{"d"}})
	equal(t, describeBases(plan), []string{
		"pool/c1@zfs-vm:d:4 bk/c1@zfs-vm:d:4",
		"pool/tmpl@zfs-vm:d:2 bk/tmpl@zfs-vm:d:2",
	})
	plan = Compute(src, dst, Options{DestParent: "bk"})
	if got := describeBases(plan); len(got) != 3 || got[1] != "pool/o@zfs-vm:other:1 bk/o@zfs-vm:other:1" {
		t.Errorf("bases of all streamlines: %q", got)
	}
	// Another destination's copies are not this pair's bases: its holds would land there.
	other := zfstest.Inventory(t, "bk", "bk2", "bk2/tmpl", "bk2/tmpl@zfs-vm:d:1 #1")
	if got := describeBases(Compute(src, other, Options{DestParent: "bk", Streamlines: []string{"d"}})); len(got) != 0 {
		t.Errorf("bases under another destination: %q", got)
	}
}

func snap(name string, refs uint64) *zfs.Snapshot {
	ds, s, _ := strings.Cut(name, "@")
	return &zfs.Snapshot{Dataset: &zfs.Dataset{Name: ds}, Name: s, UserRefs: refs}
}

// withFakeHolds puts the hold tests' fake zfs first in PATH, answering `zfs holds` from
// lines ("NAME<tab>TAG<tab>TIME"), and returns its directory.
func withFakeHolds(t *testing.T, lines ...string) string {
	fake, _ := filepath.Abs("testdata/fakeholds")
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	holds := filepath.Join(dir, "holds")
	t.Setenv("FAKE_HOLDS", holds)
	if err := os.WriteFile(holds, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// MigrateHolds gives each base the pair's hold, and moves a legacy host-named hold to it on
// the receiver only; on the sender another pair on the same host may still count on it.
func TestMigrateHolds(t *testing.T) {
	dir := withFakeHolds(t,
		"p/a@zfs-vm:d:2\tzfs-vm\t0",               // the tagging hold
		"p/a@zfs-vm:d:2\tzfs-vm-base:hostb\t0",    // legacy, on the sender
		"p/b@zfs-vm:d:3\tzfs-vm-base:bk1:tank\t0", // already the pair's
		"bk/a@zfs-vm:d:2\tzfs-vm-base:me\t0",      // legacy, on the receiver
		"bk/b@zfs-vm:d:3\tzfs-vm-base:me:bk1:tank\t0",
		"bk/b@zfs-vm:d:3\tzfs-vm-base:me\t0",
	)
	t.Setenv("FAKE_ZFS_LOG", filepath.Join(dir, "log"))
	log := logrus.New()
	log.SetOutput(&strings.Builder{})
	ex := &Executor{Sender: zfs.Local(log), Receiver: zfs.Local(log), Log: log, HoldTags: &HoldTags{
		Sender: "zfs-vm-base:bk1:tank", Receiver: "zfs-vm-base:me:bk1:tank",
		LegacySender: "zfs-vm-base:hostb", LegacyReceiver: "zfs-vm-base:me"}}
	ex.MigrateHolds(t.Context(), []Base{
		{snap("p/a@zfs-vm:d:2", 2), snap("bk/a@zfs-vm:d:2", 1)},
		{snap("p/b@zfs-vm:d:3", 1), snap("bk/b@zfs-vm:d:3", 2)},
		{snap("p/c@zfs-vm:d:1", 0), snap("bk/c@zfs-vm:d:1", 0)},
	})
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	got := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := map[string]bool{
		"zfs hold zfs-vm-base:bk1:tank p/c@zfs-vm:d:1 p/a@zfs-vm:d:2":      true,
		"zfs hold zfs-vm-base:me:bk1:tank bk/c@zfs-vm:d:1 bk/a@zfs-vm:d:2": true,
		"zfs release zfs-vm-base:me bk/a@zfs-vm:d:2 bk/b@zfs-vm:d:3":       true,
	}
	for _, l := range got {
		if !want[l] {
			t.Errorf("unexpected %q", l)
		}
		delete(want, l)
	}
	for l := range want {
		t.Errorf("missing %q", l)
	}
}

// A run that moves past a base releases the pair's hold on it and the legacy one, on both
// sides, and holds the new base with the pair's tags.
func TestAdvanceReleasesLegacyHolds(t *testing.T) {
	fake, _ := filepath.Abs("testdata/fakeholds")
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	t.Setenv("FAKE_ZFS_LOG", filepath.Join(dir, "log"))
	t.Setenv("FAKE_SEND_DATA", filepath.Join(dir, "data"))
	t.Setenv("FAKE_RECV_OUT", filepath.Join(dir, "out"))
	os.WriteFile(filepath.Join(dir, "data"), []byte("stream"), 0o644)
	src := zfstest.Inventory(t, "p", "p/a", "p/a@zfs-vm:d:1 #1", "p/a@zfs-vm:d:2 #2")
	dst := zfstest.Inventory(t, "bk", "bk/a", "bk/a@zfs-vm:d:1 #1")
	plan := Compute(src, dst, Options{DestParent: "bk"})
	log := logrus.New()
	log.SetOutput(&strings.Builder{})
	ex := &Executor{Sender: zfs.Local(log), Receiver: zfs.Local(log), Log: log, HoldTags: &HoldTags{
		Sender: "zfs-vm-base:bk1:bk", Receiver: "zfs-vm-base:me:bk1:bk",
		LegacySender: "zfs-vm-base:hostb", LegacyReceiver: "zfs-vm-base:me"}}
	if res := ex.Run(t.Context(), plan); res.Done != 1 {
		t.Fatalf("run: %+v", res)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	var got []string // the hold moves; the fake logs the stream's send and receive too
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "zfs hold ") || strings.HasPrefix(l, "zfs release ") {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	equal(t, got, []string{
		"zfs hold zfs-vm-base:bk1:bk p/a@zfs-vm:d:2",
		"zfs hold zfs-vm-base:me:bk1:bk bk/a@zfs-vm:d:2",
		"zfs release zfs-vm-base:bk1:bk p/a@zfs-vm:d:1",
		"zfs release zfs-vm-base:hostb p/a@zfs-vm:d:1",
		"zfs release zfs-vm-base:me bk/a@zfs-vm:d:1",
		"zfs release zfs-vm-base:me:bk1:bk bk/a@zfs-vm:d:1",
	})
}
