package zfs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

// datasetsOnly reads rows (zfstest's compact form) as ListDatasets would: their datasets,
// without snapshots, all Partial.
func datasetsOnly(t *testing.T, rows ...string) *zfs.Inventory {
	t.Helper()
	var ds []string
	for _, l := range strings.Split(strings.TrimSuffix(zfstest.Listing(t, rows...), "\n"), "\n") {
		if strings.Split(l, "\t")[1] != "snapshot" {
			ds = append(ds, l)
		}
	}
	inv, err := zfs.ParseDatasets(strings.NewReader(strings.Join(ds, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func names(ds []*zfs.Dataset) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return strings.Join(out, " ")
}

// lineageRows: a template with a clone, a clone of that clone, an lxc-copy clone of a
// foreign snapshot and a child of the clone (not a clone itself); beside them an unrelated
// tree with a higher version of another streamline, a backup copy of the streamline that
// shares no origin, and listings no real host has: an origin cycle, a dataset that is its
// own origin, and a clone whose origin's dataset is not listed.
var lineageRows = []string{
	"tank/tmpl",
	"tank/tmpl@zfs-vm:debian:1",
	"tank/tmpl@copy",
	"tank/ct < tank/tmpl@zfs-vm:debian:1",
	"tank/ct@zfs-vm:debian:2",
	"tank/ct2 < tank/ct@zfs-vm:debian:2",
	"tank/lxc < tank/tmpl@copy",
	"tank/ct/data",
	"tank/other",
	"tank/other@zfs-vm:other:9",
	"tank/other2 < tank/other@zfs-vm:other:9",
	"tank/bk",
	"tank/bk@zfs-vm:debian:7",
	"tank/cy1 < tank/cy2@s",
	"tank/cy2 < tank/cy1@s",
	"tank/cy3 < tank/cy1@s",
	"tank/self < tank/self@s",
	"tank/dangling < tank/gone@s",
}

func TestLineageComponent(t *testing.T) {
	cases := []struct {
		name string
		of   []string
		want string
	}{
		{"from the template: its clones and theirs", []string{"tank/tmpl"}, "tank/ct tank/ct2 tank/lxc tank/tmpl"},
		{"from a clone of a clone: up to the root and down again", []string{"tank/ct2"}, "tank/ct tank/ct2 tank/lxc tank/tmpl"},
		{"from an lxc-copy clone of a foreign snapshot", []string{"tank/lxc"}, "tank/ct tank/ct2 tank/lxc tank/tmpl"},
		{"with a descendant (tag -r)", []string{"tank/ct", "tank/ct/data"}, "tank/ct tank/ct/data tank/ct2 tank/lxc tank/tmpl"},
		{"an unrelated tree stays apart", []string{"tank/other2"}, "tank/other tank/other2"},
		{"a copy without shared origin stays apart", []string{"tank/bk"}, "tank/bk"},
		{"an origin cycle ends", []string{"tank/cy3"}, "tank/cy1 tank/cy2 tank/cy3"},
		{"its own origin", []string{"tank/self"}, "tank/self"},
		{"an origin not listed", []string{"tank/dangling"}, "tank/dangling"},
	}
	inv := datasetsOnly(t, lineageRows...)
	for _, c := range cases {
		var ds []*zfs.Dataset
		for _, n := range c.of {
			ds = append(ds, inv.Dataset(n))
		}
		if got := names(inv.LineageComponent(ds...)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// The names of the lineage's snapshots make the next version one above the lineage's
// highest, wherever in the lineage it is; versions outside it are not read, and the
// inventory does not claim to know the whole host.
func TestAddTagNamesOf(t *testing.T) {
	inv := datasetsOnly(t, lineageRows...)
	ct := inv.Dataset("tank/ct")
	lineage := inv.LineageComponent(ct)
	if inv.HasTagsOf(lineage) {
		t.Fatal("HasTagsOf before any names were read")
	}
	every := "tank/bk@zfs-vm:debian:7\ntank/ct@zfs-vm:debian:2\ntank/ct2@zfs-vm:debian:5\ntank/other@zfs-vm:other:9\ntank/tmpl@copy\ntank/tmpl@zfs-vm:debian:1\n"
	if err := inv.AddTagNamesOf(strings.NewReader(every), lineage); err != nil {
		t.Fatal(err)
	}
	if !inv.HasTagsOf(lineage) || inv.AllTags() {
		t.Errorf("HasTagsOf %v, AllTags %v; want true, false", inv.HasTagsOf(lineage), inv.AllTags())
	}
	if max, _ := inv.MaxVersion("debian"); max != 5 {
		t.Errorf("MaxVersion(debian) %d, want 5 (tank/ct2's; tank/bk's 7 is outside the lineage)", max)
	}
	if _, ok := inv.MaxVersion("other"); ok {
		t.Error("tank/other's version read, outside the lineage")
	}
	if inv.HasTagsOf([]*zfs.Dataset{inv.Dataset("tank/bk")}) {
		t.Error("HasTagsOf(tank/bk), whose names were not read")
	}
	// The whole host's names afterwards add what the lineage's did not, once.
	if err := inv.AddTagNames(strings.NewReader(every)); err != nil {
		t.Fatal(err)
	}
	if got := len(inv.ByTag(zfs.Tag{Streamline: "debian", Version: 5})); got != 1 {
		t.Errorf("debian:5 held %d times after both listings", got)
	}
	if max, _ := inv.MaxVersion("debian"); max != 7 || !inv.AllTags() {
		t.Errorf("after the whole host's names: MaxVersion %d, AllTags %v", max, inv.AllTags())
	}
}

// fakeZFS puts a zfs in PATH that logs its argv to the returned file and prints out, or
// fails when its arguments contain fail.
func fakeZFS(t *testing.T, out, fail string) string {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\n"
	if fail != "" {
		script += "case \" $* \" in *' " + fail + " '*) echo \"cannot open '" + fail + "': dataset does not exist\" >&2; exit 1 ;; esac\n"
	}
	script += "printf '%s' '" + out + "'\n"
	if err := os.WriteFile(filepath.Join(dir, "zfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func readLog(t *testing.T, p string) []string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// ListLineageTagNames lists the names of the lineage's datasets that are not read yet, by
// name: never every snapshot of the host, unless that listing fails (a dataset destroyed
// since the datasets were read), when it falls back to the whole host's names.
func TestListLineageTagNames(t *testing.T) {
	names := "tank/ct2@zfs-vm:debian:5\n"
	for _, c := range []struct {
		name, fail string
		want       []string
	}{
		{"the lineage only", "", []string{"list -H -t snapshot -o name -s name -d 1 tank/ct tank/ct2 tank/lxc tank/tmpl"}},
		{"a dataset gone: the whole host", "tank/lxc", []string{
			"list -H -t snapshot -o name -s name -d 1 tank/ct tank/ct2 tank/lxc tank/tmpl",
			"list -H -t snapshot -o name -s name"}},
	} {
		log := fakeZFS(t, names, c.fail)
		inv := datasetsOnly(t, lineageRows...)
		if err := zfs.Local(nil).ListLineageTagNames(t.Context(), inv, inv.Dataset("tank/tmpl")); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := readLog(t, log); !slices.Equal(got, c.want) {
			t.Errorf("%s: ran %q, want %q", c.name, got, c.want)
		}
		if max, _ := inv.MaxVersion("debian"); max != 5 {
			t.Errorf("%s: MaxVersion %d, want 5", c.name, max)
		}
		// Read once: a second call (a second template of the lineage) lists nothing.
		if err := zfs.Local(nil).ListLineageTagNames(t.Context(), inv, inv.Dataset("tank/ct")); err != nil {
			t.Fatal(err)
		}
		if got := readLog(t, log); len(got) != len(c.want) {
			t.Errorf("%s: a second call ran %q", c.name, got[len(c.want):])
		}
	}
}

// vanishingZFS puts a zfs in PATH whose host has tank/tmpl (with debian:1) and tank/gone
// (with debian:2), and that destroys tank/gone between the first read's two steps: the first
// datasets listing (every one, when always) lists it, and a snapshot listing that names it
// fails as zfs does. It returns the file that logs each call's argv.
func vanishingZFS(t *testing.T, always bool) string {
	dir := t.TempDir()
	row := func(name, typ string, guid int) string {
		return fmt.Sprintf("%s\t%s\t%d\t%d\t-\t0\t4096\t0\t-\t-\t1700000000\t-\n", name, typ, guid, guid)
	}
	files := map[string]string{
		"datasets":      row("tank", "filesystem", 1) + row("tank/tmpl", "filesystem", 2),
		"gone-datasets": row("tank", "filesystem", 1) + row("tank/tmpl", "filesystem", 2) + row("tank/gone", "filesystem", 3),
		"names":         "tank/gone@zfs-vm:debian:2\ntank/tmpl@zfs-vm:debian:1\n",
		"snapshots":     row("tank/tmpl@zfs-vm:debian:1", "snapshot", 11),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	first := `[ -e "$d/read" ]`
	if always {
		first = "false"
	}
	script := `#!/bin/sh
d=` + dir + `
echo "$*" >> "$d/log"
case "$*" in
"list -H -p -t filesystem,volume "*)
	if ` + first + `; then cat "$d/datasets"; else touch "$d/read"; cat "$d/gone-datasets"; fi ;;
"list -H -t snapshot -o name -s name") cat "$d/names" ;;
*" tank/gone"*) echo "cannot open 'tank/gone': dataset does not exist" >&2; exit 1 ;;
"list -H -p -t snapshot -d 1 "*) cat "$d/snapshots" ;;
*) echo "unexpected: $*" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "zfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return filepath.Join(dir, "log")
}

// A dataset destroyed between a read's two steps (step 2's listing of it fails) is read
// again once, and the host seen without it; a host that fails so twice fails the read.
func TestDatasetDestroyedWhileReadIsReadAgain(t *testing.T) {
	datasetListings := func(log string) int {
		n := 0
		for _, l := range readLog(t, log) {
			if strings.HasPrefix(l, "list -H -p -t filesystem,volume ") {
				n++
			}
		}
		return n
	}
	log := vanishingZFS(t, false)
	inv, err := zfs.Local(nil).ListVersionsGuessing(t.Context(), zfs.Guess{})
	if err != nil {
		t.Fatalf("read with tank/gone destroyed meanwhile: %v", err)
	}
	if max, _ := inv.MaxVersion("debian"); inv.Dataset("tank/gone") != nil || max != 1 || datasetListings(log) != 2 {
		t.Errorf("after a dataset went away: tank/gone %v, debian's newest %d, %d datasets listings; want none, 1, 2",
			inv.Dataset("tank/gone"), max, datasetListings(log))
	}
	log = vanishingZFS(t, true)
	_, err = zfs.Local(nil).ListVersionsGuessing(t.Context(), zfs.Guess{})
	if err == nil || !strings.Contains(err.Error(), "dataset does not exist") || datasetListings(log) != 2 {
		t.Errorf("a listing that always fails: %v after %d datasets listings, want its error after 2", err, datasetListings(log))
	}
}
