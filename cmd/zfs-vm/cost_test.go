package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The listings tag and the hooks may run (see zfs.ListDatasets), as the fake zfs logs them.
const (
	fullListing    = "-t filesystem,volume,snapshot"
	datasetListing = "zfs list -H -p -t filesystem,volume -o "
	namesListing   = "zfs list -H -t snapshot -o name -s name"
	namesProgram   = "zfs program -j -n "
)

// listColumns are zfs.ListArgs' columns.
const listColumns = "name,type,guid,createtxg,origin,used,referenced,written,mountpoint,userrefs,creation,receive_resume_token"

// lineageListing is the full listing of the snapshots of datasets, as tag runs it.
func lineageListing(datasets ...string) string {
	return "-t snapshot -d 1 -o " + listColumns + " " + strings.Join(datasets, " ") + "\n"
}

// withExtraRows makes the fake zfs answer from testdata/list.txt plus rows.
func withExtraRows(t *testing.T, rows ...string) {
	b, err := os.ReadFile("testdata/list.txt")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(p, append(b, []byte(strings.Join(rows, "\n")+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_ZFS_LIST", p)
}

// A host with another tree carrying the streamline (a backup of the template, whose newest
// version is 7), an lxc-copy clone whose origin is a foreign snapshot, and foreign hourlies.
var otherTreeRows = []string{
	"pool/bk\tfilesystem\t30\t30\t-\t0\t0\t0\t/pool/bk\t-\t1\t-",
	"pool/bk@zfs-vm:debian:7\tsnapshot\t31\t31\t-\t0\t0\t-\t-\t0\t1\t-",
	"pool/bk@hourly-1\tsnapshot\t32\t32\t-\t0\t0\t-\t-\t0\t1\t-",
	"pool/tmpl@copy\tsnapshot\t33\t33\t-\t0\t0\t-\t-\t0\t1\t-",
	"pool/tmpl@hourly-1\tsnapshot\t34\t34\t-\t0\t0\t-\t-\t0\t1\t-",
	"pool/lxc\tfilesystem\t35\t35\tpool/tmpl@copy\t0\t0\t0\t/var/lib/lxc/c1/rootfs\t-\t1\t-",
}

// lineageNames is the names-only listing of the snapshots of datasets, as tag runs it for an
// automatic version (the datasets of the lineage not already read in full).
func lineageNames(datasets ...string) string {
	return namesListing + " -d 1 " + strings.Join(datasets, " ") + "\n"
}

// allNames is the names-only listing of every snapshot of the host.
const allNames = namesListing + "\n"

func TestTagReadsOnlyItsLineage(t *testing.T) {
	// A clone of the template that holds the streamline's highest version.
	cloneHighest := []string{"pool/ct@zfs-vm:debian:5\tsnapshot\t41\t41\t-\t0\t0\t-\t-\t0\t1\t-"}
	// Another streamline, higher, on a dataset of its own.
	otherStreamline := []string{
		"pool/other\tfilesystem\t42\t42\t-\t0\t0\t0\t/pool/other\t-\t1\t-",
		"pool/other@zfs-vm:debian-other:9\tsnapshot\t43\t43\t-\t0\t0\t-\t-\t0\t1\t-",
	}
	// A member of the recursive image pool/img that holds a higher version than the image's
	// root (tagged on its own).
	memberHigher := []string{"pool/img/data@zfs-vm:rec:4\tsnapshot\t44\t44\t-\t0\t0\t-\t-\t0\t1\t-"}
	// Listings no real host makes: an origin cycle (pool/cy1 and pool/cy2 clones of each
	// other), with a clone of it holding the highest version, and a clone whose origin's
	// dataset is not listed.
	cycle := []string{
		"pool/cy1\tfilesystem\t50\t50\tpool/cy2@zfs-vm:cy:2\t0\t0\t0\t/pool/cy1\t-\t1\t-",
		"pool/cy1@zfs-vm:cy:1\tsnapshot\t51\t51\t-\t0\t0\t-\t-\t0\t1\t-",
		"pool/cy2\tfilesystem\t52\t52\tpool/cy1@zfs-vm:cy:1\t0\t0\t0\t/pool/cy2\t-\t1\t-",
		"pool/cy2@zfs-vm:cy:2\tsnapshot\t53\t53\t-\t0\t0\t-\t-\t0\t1\t-",
		"pool/cy3\tfilesystem\t54\t54\tpool/cy1@zfs-vm:cy:1\t0\t0\t0\t/pool/cy3\t-\t1\t-",
		"pool/cy3@zfs-vm:cy:5\tsnapshot\t55\t55\t-\t0\t0\t-\t-\t0\t1\t-",
		"pool/dg\tfilesystem\t56\t56\tpool/gone@zfs-vm:cy:9\t0\t0\t0\t/pool/dg\t-\t1\t-",
		"pool/dg@zfs-vm:cy:6\tsnapshot\t57\t57\t-\t0\t0\t-\t-\t0\t1\t-",
	}
	cases := []struct {
		name    string
		written string
		args    []string
		rows    []string
		out     string
		lineage string // the lineage listing that must run
		names   string // the names listing that must run: "" none, else its log line
	}{
		{"unchanged: no snapshot listing beyond its own", "0", []string{"tag", "pool/tmpl"}, nil,
			"unchanged since pool/tmpl@zfs-vm:debian:2", lineageListing("pool/tmpl"), ""},
		{"changed: the names of its clone's snapshots read", "4096", []string{"tag", "pool/tmpl"}, nil,
			"pool/tmpl@zfs-vm:debian:3", lineageListing("pool/tmpl"), lineageNames("pool/ct")},
		{"a clone holds the highest version", "4096", []string{"tag", "pool/tmpl"}, cloneHighest,
			"pool/tmpl@zfs-vm:debian:6", lineageListing("pool/tmpl"), lineageNames("pool/ct")},
		{"clone: its origin's snapshots read, nothing more to read", "0", []string{"tag", "1007"}, nil,
			"pool/ct@zfs-vm:debian:3", lineageListing("pool/ct", "pool/tmpl"), ""},
		{"a copy of the streamline outside the lineage is not read", "0", []string{"tag", "1007"}, otherTreeRows,
			"pool/ct@zfs-vm:debian:3", lineageListing("pool/ct", "pool/tmpl"), lineageNames("pool/lxc")},
		{"another streamline elsewhere is not read", "4096", []string{"tag", "pool/tmpl"}, otherStreamline,
			"pool/tmpl@zfs-vm:debian:3", lineageListing("pool/tmpl"), lineageNames("pool/ct")},
		{"lxc-copy clone walks past the foreign origin", "0", []string{"tag", "pool/lxc"}, otherTreeRows,
			"pool/lxc@zfs-vm:debian:3", lineageListing("pool/lxc", "pool/tmpl"), lineageNames("pool/ct")},
		{"-n with the lineage's streamline reads the lineage only", "0", []string{"tag", "-n", "debian", "1007"}, otherTreeRows,
			"pool/ct@zfs-vm:debian:3", lineageListing("pool/ct", "pool/tmpl"), lineageNames("pool/lxc")},
		{"an explicit version is checked against the whole host", "0", []string{"tag", "-n", "7", "pool/ct"}, otherTreeRows,
			"version debian:7 already exists: pool/bk@zfs-vm:debian:7 (the next free one is 8)", lineageListing("pool/ct", "pool/tmpl"), allNames},
		{"a streamline named with -n is numbered on the whole host", "0", []string{"tag", "-n", "debian-other", "pool/ct"}, otherStreamline,
			"pool/ct@zfs-vm:debian-other:10", lineageListing("pool/ct", "pool/tmpl"), allNames},
		{"unchanged with foreign snapshots after the version", "0", []string{"tag", "pool/bk"}, otherTreeRows,
			"unchanged since pool/bk@zfs-vm:debian:7", lineageListing("pool/bk"), ""},
		{"recursive: the descendants' names are read, all get the name", "4096", []string{"tag", "-r", "pool/img"}, memberHigher,
			"pool/img@zfs-vm:rec:5 (recursive, 3 members)", lineageListing("pool/img"), lineageNames("pool/img/data", "pool/img/disk")},
		{"not recursive: the descendants are not read", "4096", []string{"tag", "pool/img"}, memberHigher,
			"pool/img@zfs-vm:rec:2", lineageListing("pool/img"), ""},
		{"an origin cycle ends", "4096", []string{"tag", "pool/cy1"}, cycle,
			"pool/cy1@zfs-vm:cy:6", lineageListing("pool/cy1", "pool/cy2"), lineageNames("pool/cy3")},
		{"an origin not listed ends the lineage", "4096", []string{"tag", "pool/dg"}, cycle,
			"pool/dg@zfs-vm:cy:7", lineageListing("pool/dg"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setupFakeZFS(t, c.written)
			if c.rows != nil {
				withExtraRows(t, c.rows...)
			}
			out, zfsLog, _ := runKeepPath(t, c.args...)
			if !strings.Contains(out, c.out) {
				t.Errorf("output %q; want %q", out, c.out)
			}
			checkListings(t, zfsLog, c.lineage, c.names)
		})
	}
}

// checkListings checks that zfsLog has the dataset listing first, then the lineage one, the
// names listing only if names is not "" (and then exactly that one), and never the full
// listing.
func checkListings(t *testing.T, zfsLog, lineage string, names string) {
	t.Helper()
	if strings.Contains(zfsLog, fullListing) {
		t.Errorf("listed every snapshot with every column:\n%s", zfsLog)
	}
	if !strings.HasPrefix(zfsLog, datasetListing) || strings.Count(zfsLog, datasetListing) != 1 {
		t.Errorf("want one dataset listing first:\n%s", zfsLog)
	}
	if !strings.Contains(zfsLog, lineage) || strings.Count(zfsLog, "-t snapshot -d 1") != 1 {
		t.Errorf("want one lineage listing %q:\n%s", lineage, zfsLog)
	}
	want := 0
	if names != "" {
		want = 1
		if strings.Count(zfsLog, names) != 1 {
			t.Errorf("want the names listing %q:\n%s", names, zfsLog)
		}
	}
	if got := strings.Count(zfsLog, namesListing); got != want {
		t.Errorf("names listings ran %d times, want %d:\n%s", got, want, zfsLog)
	}
}

// A hook tags a new version after reading the names of its lineage's snapshots only: not
// those of the backup tree (pool/bk), whatever version it holds.
func TestHookReadsOnlyItsLineage(t *testing.T) {
	for _, written := range []string{"0", "4096"} {
		setupFakeZFS(t, written)
		withExtraRows(t, otherTreeRows...)
		t.Setenv("VEID", "1007")
		out, zfsLog, _ := runKeepPath(t, "--config", filepath.Join(t.TempDir(), "none.toml"), "hook", "vzctl")
		if !strings.Contains(out, "tagged pool/ct@zfs-vm:debian:3") {
			t.Errorf("written %s: hook output %q", written, out)
		}
		checkListings(t, zfsLog, lineageListing("pool/ct", "pool/tmpl"), lineageNames("pool/lxc"))
	}
}

// A no-op push to a host that has every version lists on each side the datasets, every
// snapshot's name, and the snapshots of the datasets that hold versions (and their origin
// chains) only: never every snapshot with every column.
func TestPushAndListReadOnlyZfsVMsDatasets(t *testing.T) {
	abs, _ := filepath.Abs("testdata")
	setupFakeZFS(t, "0")
	withFakeSSH(t, filepath.Join(abs, "fakebin")+":/usr/bin:/bin")
	withExtraRows(t, otherTreeRows...)
	// pool/ct (a clone of pool/tmpl) and pool/lxc (of pool/tmpl@copy) hold no version: not read.
	snapshotsOf := lineageListing("pool/bk", "pool/img/data", "pool/img/disk", "pool/img", "pool/tmpl")
	for _, args := range [][]string{{"push", "--lock-dir", t.TempDir(), "b"}, {"list", "b"}, {"list"}} {
		t.Setenv("FAKE_ZFS_LOG", filepath.Join(t.TempDir(), "log"))
		out, zfsLog, status := runKeepPath(t, args...)
		if status != 0 {
			t.Fatalf("%s: status %d: %s", args, status, out)
		}
		sides := 1
		if args[0] == "push" {
			sides = 2
			if !strings.Contains(out, "0 stream(s) received") || !strings.Contains(out, "0 refused") {
				t.Errorf("push output %q", out)
			}
		}
		if strings.Contains(zfsLog, fullListing) {
			t.Errorf("%s listed every snapshot with every column:\n%s", args, zfsLog)
		}
		for _, want := range []string{datasetListing, namesListing, snapshotsOf} {
			if got := strings.Count(zfsLog, want); got != sides {
				t.Errorf("%s: %q ran %d times, want %d:\n%s", args, want, got, sides, zfsLog)
			}
		}
	}
}
