package zfs

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// partialFromFixture reads testdata/list-tree.txt (plus extra rows) the way tag does: the
// dataset rows, then the snapshot rows of d's origin chain, then (if names) every snapshot
// name. It returns the full inventory of the same rows for comparison.
func partialFromFixture(t *testing.T, dataset string, names bool, extra ...string) (part, full *Inventory) {
	t.Helper()
	b, err := os.ReadFile("testdata/list-tree.txt")
	if err != nil {
		t.Fatal(err)
	}
	rows := append(strings.Split(strings.TrimSpace(string(b)), "\n"), extra...)
	full, err = ParseList(strings.NewReader(strings.Join(rows, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	var ds, snaps []string
	var allNames []string
	for _, r := range rows {
		f := strings.Split(r, "\t")
		if f[1] == "snapshot" {
			snaps = append(snaps, r)
			allNames = append(allNames, f[0])
		} else {
			ds = append(ds, r)
		}
	}
	part, err = ParseDatasets(strings.NewReader(strings.Join(ds, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	chain := part.OriginChain(part.Dataset(dataset))
	in := map[string]bool{}
	for _, c := range chain {
		in[c.Name] = true
	}
	var chainRows []string
	for _, r := range snaps {
		d, _, _ := SplitSnapshotName(strings.Split(r, "\t")[0])
		if in[d] {
			chainRows = append(chainRows, r)
		}
	}
	if err := part.AddSnapshots(strings.NewReader(strings.Join(chainRows, "\n")), chain); err != nil {
		t.Fatal(err)
	}
	if names {
		sort.Strings(allNames)
		if err := part.AddTagNames(strings.NewReader(strings.Join(allNames, "\n"))); err != nil {
			t.Fatal(err)
		}
	}
	return part, full
}

func TestOriginChain(t *testing.T) {
	part, _ := partialFromFixture(t, "tank/web2", false)
	var got []string
	for _, d := range part.OriginChain(part.Dataset("tank/web2")) {
		got = append(got, d.Name)
	}
	if strings.Join(got, " ") != "tank/web2 tank/web1 tank/tmpl" {
		t.Errorf("chain %q", got)
	}
}

// What tagging reads from the partial inventory is what it would read from the full one.
func TestPartialInventoryAnswersAsTheFullOne(t *testing.T) {
	// A foreign lineage elsewhere on the host, and a version of the streamline outside the
	// chain of every dataset below (another tree: only the names listing sees it).
	extra := []string{
		"tank/other\tfilesystem\t7\t70\t-\t0\t0\t0\t/tank/other\t-\t1\t-",
		"tank/other@hourly-1\tsnapshot\t71\t71\t-\t0\t0\t-\t-\t0\t1\t-",
		"tank/other@zfs-vm:debian:9\tsnapshot\t72\t72\t-\t0\t0\t-\t-\t0\t1\t-",
	}
	for _, ds := range []string{"tank/web2", "tank/web1", "tank/tmpl", "tank/recv"} {
		part, full := partialFromFixture(t, ds, false, extra...)
		if part.AllTags() {
			t.Errorf("%s: AllTags before the names were read", ds)
		}
		pd, fd := part.Dataset(ds), full.Dataset(ds)
		if a, b := name(pd.LineageTag()), name(fd.LineageTag()); a != b {
			t.Errorf("%s: lineage %s, full listing says %s", ds, a, b)
		}
		if a, b := name(pd.NewestTagged()), name(fd.NewestTagged()); a != b {
			t.Errorf("%s: newest version %s, full listing says %s", ds, a, b)
		}
		if a, b := name(pd.Newest()), name(fd.Newest()); a != b {
			t.Errorf("%s: newest snapshot %s, full listing says %s", ds, a, b)
		}
		part, _ = partialFromFixture(t, ds, true, extra...)
		if !part.AllTags() {
			t.Errorf("%s: not AllTags after the names", ds)
		}
		pm, _ := part.MaxVersion("debian")
		fm, _ := full.MaxVersion("debian")
		if pm != fm || pm != 9 {
			t.Errorf("%s: MaxVersion %d, full listing says %d", ds, pm, fm)
		}
		for _, tag := range []Tag{{"debian", 1}, {"debian", 4}, {"debian", 9}, {"debian", 5}} {
			if a, b := len(part.ByTag(tag)), len(full.ByTag(tag)); a != b {
				t.Errorf("%s: ByTag(%s) %d, full listing %d", ds, tag, a, b)
			}
		}
		if got := len(part.Dataset("tank/other").Snapshots); got != 1 {
			t.Errorf("%s: tank/other holds %d snapshots; want its one version (the foreign one skipped)", ds, got)
		}
	}
}

func name(s *Snapshot) string {
	if s == nil {
		return "-"
	}
	return s.FullName()
}

func TestPartialListingsRejectWhatWasNotAsked(t *testing.T) {
	part, err := ParseDatasets(strings.NewReader("tank\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\ntank/a\tfilesystem\t2\t2\t-\t0\t0\t0\t/tank/a\t-\t1\t-\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := []*Dataset{part.Dataset("tank/a")}
	cases := map[string]string{
		"snapshot of a dataset not asked for": "tank@s\tsnapshot\t3\t3\t-\t0\t0\t-\t-\t0\t1\t-\n",
		"a dataset row":                       "tank/b\tfilesystem\t4\t4\t-\t0\t0\t0\t/b\t-\t1\t-\n",
	}
	for what, in := range cases {
		if err := part.AddSnapshots(strings.NewReader(in), a); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	if err := part.AddTagNames(strings.NewReader("tank/a@zfs-vm:x:1;reboot\n")); err == nil {
		t.Error("AddTagNames accepted an invalid name")
	}
	if _, err := ParseDatasets(strings.NewReader("tank\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\ntank@s\tsnapshot\t3\t3\t-\t0\t0\t-\t-\t0\t1\t-\n")); err == nil {
		t.Error("ParseDatasets accepted a snapshot row")
	}
}

func TestPartialInventoryHasNoStubsByGUID(t *testing.T) {
	part, _ := partialFromFixture(t, "tank/recv", true)
	if got := part.ByGUID(0); len(got) != 0 {
		t.Errorf("name-only snapshots indexed by guid 0: %d", len(got))
	}
}

func TestChunkDatasetsBoundsEachCommandLine(t *testing.T) {
	var ds []*Dataset
	for _, n := range []string{"tank/aaaa", "tank/bbbb", "tank/cccc", "tank/a-very-long-name"} {
		ds = append(ds, &Dataset{Name: n})
	}
	var got []string
	for _, c := range chunkDatasets(ds, 20) {
		var names []string
		for _, d := range c {
			names = append(names, d.Name)
		}
		got = append(got, strings.Join(names, " "))
	}
	// Two short names fit in 20 bytes with their separators; a longer one goes alone.
	if want := "tank/aaaa tank/bbbb|tank/cccc|tank/a-very-long-name"; strings.Join(got, "|") != want {
		t.Errorf("chunks %q, want %q", strings.Join(got, "|"), want)
	}
}

func TestReadVersionsRejectsBadNames(t *testing.T) {
	none := func([]string) ([]byte, error) { return nil, nil }
	_, err := ReadVersions(strings.NewReader("tank\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\n"),
		strings.NewReader("tank@zfs-vm:x:1\ttab\n"), none)
	if err == nil || !strings.Contains(err.Error(), "unexpected zfs list output at line 1") {
		t.Errorf("got %v", err)
	}
}
