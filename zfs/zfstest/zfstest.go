// Package zfstest builds inventories for tests from compact rows, through the real listing
// parser, so that planner, tagging and resolver tests work on plain values.
package zfstest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Inventory builds an inventory from rows, one dataset or snapshot each:
//
//	"pool/a"                      a filesystem, mounted at /pool/a
//	"pool/c < pool/a@snap"        a clone of pool/a@snap
//	"pool/a w=5"                  a filesystem written 5 bytes since its newest snapshot
//	"pool/a /srv/a"  "pool/a -"   a filesystem mounted at /srv/a, or not mounted
//	"pool/a@zfs-vm:d:1 #7"        a snapshot with guid 7 (unique ones are made up otherwise)
//	"pool/v volume"               a volume
//
// Rows get increasing createtxg in order.
func Inventory(t testing.TB, rows ...string) *zfs.Inventory {
	t.Helper()
	inv, err := zfs.ParseList(strings.NewReader(Listing(t, rows...)))
	if err != nil {
		t.Fatalf("zfstest: %v", err)
	}
	return inv
}

// Versions builds the same inventory as Inventory, read the way zfs.Host.ListVersions reads
// a host (datasets, snapshot names, then the snapshots of the datasets that matter), so
// that a test can check that this gives the same answers as the full listing.
func Versions(t testing.TB, rows ...string) *zfs.Inventory {
	t.Helper()
	var datasets, names strings.Builder
	snaps := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSuffix(Listing(t, rows...), "\n"), "\n") {
		f := strings.Split(l, "\t")
		if f[1] != "snapshot" {
			datasets.WriteString(l + "\n")
			continue
		}
		names.WriteString(f[0] + "\n")
		ds, _, _ := zfs.SplitSnapshotName(f[0])
		snaps[ds] = append(snaps[ds], l)
	}
	snapshots := func(ds []string) ([]byte, error) {
		var b strings.Builder
		for _, d := range ds {
			for _, l := range snaps[d] {
				b.WriteString(l + "\n")
			}
		}
		return []byte(b.String()), nil
	}
	inv, err := zfs.ReadVersions(strings.NewReader(datasets.String()), strings.NewReader(names.String()), snapshots)
	if err != nil {
		t.Fatalf("zfstest: %v", err)
	}
	return inv
}

// Listing returns the rows as `zfs list` prints them in zfs.ListArgs' columns.
func Listing(t testing.TB, rows ...string) string {
	t.Helper()
	var b strings.Builder
	for i, r := range rows {
		txg := 101 + i
		f := strings.Fields(r)
		name := f[0]
		guid, origin, written, mountpoint, typ := fmt.Sprint(9000+txg), "-", "0", "/"+name, "filesystem"
		for j := 1; j < len(f); j++ {
			switch tok := f[j]; {
			case tok == "<" && j+1 < len(f):
				origin = f[j+1]
				j++
			case strings.HasPrefix(tok, "w="):
				written = tok[2:]
			case strings.HasPrefix(tok, "#"):
				guid = tok[1:]
			case tok == "volume":
				typ, mountpoint = tok, "-"
			case tok == "-" || strings.HasPrefix(tok, "/"):
				mountpoint = tok
			default:
				t.Fatalf("zfstest: row %q: unknown %q", r, tok)
			}
		}
		if strings.Contains(name, "@") {
			fmt.Fprintf(&b, "%s\tsnapshot\t%s\t%d\t-\t0\t0\t0\t-\t0\t0\t-\n", name, guid, txg)
			continue
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%d\t%s\t0\t0\t%s\t%s\t-\t0\t-\n", name, typ, guid, txg, origin, written, mountpoint)
	}
	return b.String()
}
