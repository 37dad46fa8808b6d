package zfs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// Reading for tagging.
//
// `zfs-vm tag` and the hooks need far less than the full listing (ListArgs), whose cost
// follows every snapshot on the host, zfs-vm's or not: OpenZFS fetches all properties of each
// snapshot with one ioctl that gathers every statistic (10,000 snapshots: 45.8 s in the TCG
// lab, see BENCHMARKS.md). What tagging one dataset needs, and how it is read:
//
//  1. Every filesystem and volume, with all columns (ListDatasets): to resolve an argument
//     or a container's configured path to a dataset, and for the origin of each. Without
//     snapshots this costs what the host's datasets cost, however many snapshots they have.
//  2. The snapshots, in full, of the dataset and of each dataset up its origin chain
//     (ListLineage, one `zfs list -t snapshot -d 1 DATASET...`): its streamline, its own
//     newest version and whether that is its newest snapshot, walking past foreign
//     snapshots such as lxc-copy's. Costs what those few datasets' snapshots cost.
//  3. Only when a new version is to be made: every zfs-vm snapshot of the host by name
//     (ListTagNames): the streamline's highest version and whether the chosen one exists.
//     ZFS has no index of snapshots by name across datasets, so this is a listing of every
//     snapshot's name, filtered here to zfs-vm's; `zfs list -t snapshot -o name -s name` is
//     OpenZFS's fast path (ZFS_ITER_SIMPLE: names come from the iteration itself, no
//     per-snapshot statistics), about 4× cheaper than the full listing on 2.1. OpenZFS 2.2
//     and later keep guid and createtxg on the fast path too, 2.1 only the name (with
//     -s name); names alone are enough here, so one command serves 2.1.11 and 2.3.x.
//
// A no-op (nothing written since the dataset's newest version) therefore never lists the
// pool's snapshots at all.

// DatasetListArgs returns the argv of ListArgs restricted to filesystems and volumes.
func DatasetListArgs() []string {
	return []string{"zfs", "list", "-H", "-p", "-t", "filesystem,volume", "-o", strings.Join(listProperties, ",")}
}

// SnapshotListArgs returns the argv that lists, with ListArgs' columns, the snapshots of the
// named datasets only (depth 1: not those of their descendants).
func SnapshotListArgs(datasets ...string) []string {
	a := []string{"zfs", "list", "-H", "-p", "-t", "snapshot", "-d", "1", "-o", strings.Join(listProperties, ",")}
	return append(a, datasets...)
}

// TagNamesArgs returns the argv of OpenZFS's names-only fast path over every snapshot.
func TagNamesArgs() []string {
	return []string{"zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-s", "name"}
}

// ParseDatasets parses the output of DatasetListArgs into an inventory whose datasets are all
// Partial (no snapshots yet).
func ParseDatasets(r io.Reader) (*Inventory, error) {
	inv, err := parseListing(r) // origins are checked once their snapshots are read
	if err != nil {
		return nil, err
	}
	if len(inv.byGUID) > 0 {
		return nil, fmt.Errorf("unexpected zfs list output: snapshots in a listing of datasets")
	}
	for _, d := range inv.Datasets {
		d.Partial = true
	}
	inv.allTags = false
	return inv, nil
}

// OriginChain returns d and the datasets up its origin chain, d first; it stops at a dataset
// not in the inventory and never loops.
func (inv *Inventory) OriginChain(d *Dataset) []*Dataset {
	chain := []*Dataset{d}
	seen := map[*Dataset]bool{d: true}
	for x := d; x.OriginName != ""; {
		ds, _, _ := SplitSnapshotName(x.OriginName)
		x = inv.Dataset(ds)
		if x == nil || seen[x] {
			break
		}
		seen[x] = true
		chain = append(chain, x)
	}
	return chain
}

// AddSnapshots adds the snapshots in r (output of SnapshotListArgs(datasets...)) to the
// inventory, which then holds those datasets in full.
func (inv *Inventory) AddSnapshots(r io.Reader, datasets []*Dataset) error {
	extra, snaps, err := parseRows(r)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return &ListError{extra[0].line, "dataset in a listing of snapshots", extra[0].Name}
	}
	byName := make(map[string]*Dataset, len(datasets))
	for _, d := range datasets {
		d.Snapshots, d.Partial = nil, false
		byName[d.Name] = d
	}
	if err := attach(byName, snaps); err != nil {
		return err
	}
	inv.relink()
	return nil
}

// AddTagNames adds the zfs-vm snapshots among the names in r (output of TagNamesArgs) to the
// Partial datasets, by name; the inventory then has AllTags. Names of datasets created
// since the inventory was read are skipped, as a snapshot made after a listing would be.
func (inv *Inventory) AddTagNames(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		name := sc.Text()
		ds, snap, ok := SplitSnapshotName(name)
		if !ok || !strings.HasPrefix(snap, TagPrefix) {
			continue // foreign: not even validated, as the full listing's parser would
		}
		if err := ValidateSnapshotName(name); err != nil {
			return &ListError{line, err.Error(), name}
		}
		tag, ok := ParseTag(snap)
		d := inv.byName[ds]
		if !ok || d == nil || !d.Partial {
			continue
		}
		d.Snapshots = append(d.Snapshots, &Snapshot{Name: snap, Tag: tag, Tagged: true})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading zfs list output: %w", err)
	}
	inv.relink()
	inv.allTags = true
	return nil
}

// relink rebuilds the inventory's indexes and links after its datasets' snapshots changed.
func (inv *Inventory) relink() {
	all := inv.allTags
	*inv = *newInventory(inv.Datasets)
	inv.allTags = all
}

// ListDatasets reads the host's filesystems and volumes without their snapshots: the first
// step of reading for tagging (see ListLineage, ListTagNames).
func (h *Host) ListDatasets(ctx context.Context) (*Inventory, error) {
	out, err := h.Output(ctx, DatasetListArgs()...)
	if err != nil {
		return nil, err
	}
	inv, err := ParseDatasets(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	return inv, nil
}

// ListLineage reads in full the snapshots of each of ds and of the datasets up their origin
// chains into an inventory from ListDatasets, with one `zfs list`. Datasets already in full
// are skipped.
func (h *Host) ListLineage(ctx context.Context, inv *Inventory, ds ...*Dataset) error {
	want := inv.partialLineage(ds...)
	names := make([]string, len(want))
	for i, d := range want {
		names[i] = d.Name
	}
	if len(want) == 0 {
		return nil
	}
	out, err := h.Output(ctx, SnapshotListArgs(names...)...)
	if err != nil {
		return err
	}
	if err := inv.AddSnapshots(bytes.NewReader(out), want); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// ListTagNames adds every zfs-vm snapshot of the host, by name, to an inventory from
// ListDatasets. It does nothing when the inventory already has them all.
func (h *Host) ListTagNames(ctx context.Context, inv *Inventory) error {
	if inv.allTags {
		return nil
	}
	out, err := h.Output(ctx, TagNamesArgs()...)
	if err != nil {
		return err
	}
	if err := inv.AddTagNames(bytes.NewReader(out)); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// partialLineage returns the Partial datasets among ds and up their origin chains, each once.
func (inv *Inventory) partialLineage(ds ...*Dataset) []*Dataset {
	var want []*Dataset
	seen := map[*Dataset]bool{}
	for _, d := range ds {
		for _, x := range inv.OriginChain(d) {
			if x.Partial && !seen[x] {
				seen[x] = true
				want = append(want, x)
			}
		}
	}
	return want
}

// NoteCreated adds the zfs-vm snapshot full, just created, to the inventory as its
// dataset's newest (nothing written since), so that a later decision in the same run sees
// its version.
func (inv *Inventory) NoteCreated(full string) {
	ds, snap, _ := SplitSnapshotName(full)
	d := inv.byName[ds]
	tag, ok := ParseTag(snap)
	if d == nil || !ok {
		return
	}
	var txg uint64
	if n := d.Newest(); n != nil && !d.Partial {
		txg = n.CreateTXG + 1
	}
	d.Snapshots = append(d.Snapshots, &Snapshot{Name: snap, Tag: tag, Tagged: true, CreateTXG: txg})
	d.Written = 0
	inv.relink()
}
