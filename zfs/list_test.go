package zfs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/list-tree.txt is `zfs list -H -p` output in ListArgs' column order, as OpenZFS
// 2.1 prints it: a template, a clone of one of its versions (with an lxc-copy style foreign
// origin), a clone of a clone, a volume, and a dataset with a resume token.
func TestParseListFixture(t *testing.T) {
	f, err := os.Open("testdata/list-tree.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inv, err := ParseList(f)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := inv.Dataset("tank/tmpl")
	if tmpl == nil || len(tmpl.Snapshots) != 4 || tmpl.Mountpoint != "/tank/tmpl" {
		t.Fatalf("tank/tmpl parsed as %+v", tmpl)
	}
	// Snapshots come sorted by createtxg even when listed by name.
	var names []string
	for _, s := range tmpl.Snapshots {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "zfs-vm:debian:1 zfs-vm:debian:2 web1 zfs-vm:debian:3" {
		t.Errorf("tmpl snapshots in order %q", got)
	}
	web1 := inv.Dataset("tank/web1")
	if web1.Origin == nil || web1.Origin.FullName() != "tank/tmpl@web1" {
		t.Fatalf("web1 origin = %v", web1.Origin)
	}
	// The clone's first version descends from the foreign origin, whose nearest version is debian:2.
	first := web1.Snapshots[0]
	if first.Parent() != web1.Origin || first.Parent().NearestTagged().Tag.String() != "debian:2" {
		t.Errorf("lineage of %s wrong", first.FullName())
	}
	if lt := inv.Dataset("tank/web2").LineageTag(); lt == nil || lt.FullName() != "tank/web1@zfs-vm:debian:4" {
		t.Errorf("clone-of-clone lineage tag = %v", lt)
	}
	if v := inv.Dataset("tank/disk"); v.Type != "volume" || v.Mountpoint != "" {
		t.Errorf("volume parsed as %+v", v)
	}
	if d := inv.Dataset("tank/recv"); d.ResumeToken != "1-abc-def" {
		t.Errorf("resume token = %q", d.ResumeToken)
	}
	if s := inv.Snapshot("tank/tmpl@zfs-vm:debian:1"); s == nil || s.UserRefs != 1 || s.GUID != 11 || s.Creation != 1700000000 {
		t.Errorf("snapshot parsed as %+v", s)
	}
	if max, ok := inv.MaxVersion("debian"); !ok || max != 4 {
		t.Errorf("MaxVersion = %d, %v", max, ok)
	}
	if got := len(inv.ByGUID(11)); got != 1 {
		t.Errorf("ByGUID(11) = %d snapshots", got)
	}
	tagged := inv.Tagged()
	for i := 1; i < len(tagged); i++ {
		if tagged[i-1].CreateTXG > tagged[i].CreateTXG {
			t.Errorf("Tagged not in creation order at %d", i)
		}
	}
}

func TestParseListErrors(t *testing.T) {
	cases := map[string]string{
		"garbage":              "Permission denied\n",
		"bad number":           "tank\tfilesystem\tx\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\n",
		"bad type":             "tank\tpool\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\n",
		"orphan snapshot":      "tank/a@s\tsnapshot\t1\t1\t-\t0\t0\t0\t-\t0\t1\t-\n",
		"bad name":             "tank/a;b\tfilesystem\t1\t1\t-\t0\t0\t0\t/x\t-\t1\t-\n",
		"dataset listed twice": "tank\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\ntank\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\n",
	}
	for name, in := range cases {
		_, err := ParseList(strings.NewReader(in))
		var le *ListError
		if !errors.As(err, &le) {
			t.Errorf("%s: got %v, want a *ListError", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "unexpected zfs list output at line") {
			t.Errorf("%s: message %q", name, err)
		}
	}
}

func FuzzParseList(f *testing.F) {
	if b, err := os.ReadFile("testdata/list-tree.txt"); err == nil {
		f.Add(string(b))
	}
	f.Add("tank\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\n")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseList(strings.NewReader(s))
		if err != nil {
			return
		}
		// Whatever parses is linked consistently.
		for _, d := range inv.Datasets {
			for i, snap := range d.Snapshots {
				if snap.Dataset != d || inv.Snapshot(snap.FullName()) == nil {
					t.Fatalf("snapshot %s not linked", snap.FullName())
				}
				if i > 0 && snap.Parent() != d.Snapshots[i-1] {
					t.Fatalf("parent of %s wrong", snap.FullName())
				}
			}
			// Walking up any lineage ends (no cycles).
			if n := d.Newest(); n != nil {
				steps := 0
				for a := n; a != nil; a = a.Parent() {
					if steps++; steps > 100000 {
						t.Fatal("lineage cycle")
					}
				}
			}
		}
	})
}

// withinSeconds fails the test, instead of hanging it, when f does not return in time.
func withinSeconds(t *testing.T, secs int, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Duration(secs) * time.Second):
		t.Fatalf("did not return within %d s", secs)
	}
}

// garbageLines is a listing line per entry: "name origin" for a filesystem (origin "-" for
// none), "name@snap txg" for a snapshot.
func garbageList(lines ...string) string {
	var b strings.Builder
	guid := 100
	for _, l := range lines {
		name, rest, _ := strings.Cut(l, " ")
		guid++
		if strings.Contains(name, "@") {
			fmt.Fprintf(&b, "%s\tsnapshot\t%d\t%s\t-\t0\t0\t-\t-\t0\t1\t-\n", name, guid, rest)
		} else {
			fmt.Fprintf(&b, "%s\tfilesystem\t%d\t1\t%s\t0\t0\t0\t/%s\t-\t1\t-\n", name, guid, rest, name)
		}
	}
	return b.String()
}

func TestParseListGarbageOrigins(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"clone of its own snapshot", garbageList("tank -", "tank/a tank/a@zfs-vm:x:1", "tank/a@zfs-vm:x:1 5"),
			"dataset tank/a: origin tank/a@zfs-vm:x:1 is one of its own snapshots"},
		{"two datasets cloned from each other", garbageList("tank -", "tank/a tank/b@s", "tank/b tank/a@zfs-vm:x:1",
			"tank/a@zfs-vm:x:1 5", "tank/b@s 6"), "origin cycle"},
		{"cycle of three below a sound clone", garbageList("tank -", "tank/a tank/c@s", "tank/b tank/a@s",
			"tank/c tank/b@s", "tank/d tank/a@s", "tank/a@s 5", "tank/b@s 6", "tank/c@s 7"), "origin cycle"},
		{"dangling origin", garbageList("tank -", "tank/a tank/gone@zfs-vm:x:1", "tank/a@zfs-vm:x:2 5"),
			"dataset tank/a: origin tank/gone@zfs-vm:x:1 is not in the listing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			withinSeconds(t, 5, func() { _, err = ParseList(strings.NewReader(c.in)) })
			var oe *OriginError
			if !errors.As(err, &oe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an *OriginError saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
}

// An inventory built from a cyclic listing (as tests and Subset build them, without the
// listing's check) still has bounded walks everywhere.
func TestCyclicInventoryWalksEnd(t *testing.T) {
	a := &Dataset{Name: "tank/a", OriginName: "tank/b@s", Snapshots: []*Snapshot{{Name: "s", CreateTXG: 5}}}
	b := &Dataset{Name: "tank/b", OriginName: "tank/a@s", Snapshots: []*Snapshot{{Name: "s", CreateTXG: 6}}}
	self := &Dataset{Name: "tank/self", OriginName: "tank/self@zfs-vm:x:1", Snapshots: []*Snapshot{{Name: "zfs-vm:x:1", CreateTXG: 7}}}
	var inv *Inventory
	withinSeconds(t, 5, func() {
		inv = NewInventory([]*Dataset{a, b, self})
		for _, d := range inv.Datasets {
			d.LineageTag()
			for _, s := range d.Snapshots {
				s.NearestTagged()
				for range s.Ancestors() {
				}
			}
		}
	})
	if inv.check() == nil {
		t.Error("cycle not reported")
	}
}
