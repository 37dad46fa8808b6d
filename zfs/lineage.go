package zfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
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
//  3. Only when a new version is to be made, the zfs-vm snapshots, by name, that the choice
//     depends on. ZFS has no index of snapshots by name across datasets, so these come from
//     listings of snapshot names, filtered here to zfs-vm's; `zfs list -t snapshot -o name
//     -s name` is OpenZFS's fast path (ZFS_ITER_SIMPLE: names come from the iteration
//     itself, no per-snapshot statistics), about 4× cheaper than the full listing on 2.1,
//     with or without dataset arguments. OpenZFS 2.2 and later keep guid and createtxg on
//     the fast path too, 2.1 only the name (with -s name); names alone are enough here, so
//     one command serves 2.1.11 and 2.3.x. Which snapshots:
//       - For the next version of the streamline the dataset already carries (`tag` without
//         -n, and every hook), those of its lineage only (ListLineageTagNames): the datasets
//         connected to it by origin (up its origin chain, down to every clone of a dataset
//         on it, their clones and so on) and, for `tag -r`, to its descendants, which all
//         get the new name. Step 1 has every dataset's origin, so this set costs no command,
//         and the listing (`zfs list -t snapshot -o name -s name -d 1 DATASET...`, only of
//         those not read in step 2) costs what those datasets' snapshots cost, not the
//         pool's; none at all when step 2 read them all (a dataset without clones).
//       - For a version or a streamline named with -n, every snapshot of the host
//         (ListTagNames): the operator chose the name, and the whole host is checked for it
//         and for "below the streamline's highest".
//
// The limit of the lineage: a copy of the same streamline in a dataset not connected to this
// one by origin is not consulted when the next version is chosen automatically. push and
// pull make such copies too (a `push local` to another pool, a second -d destination on one
// host), and so does a manual `zfs send | zfs receive` into a backup pool; a container cloned
// from such a copy (a restore) has a lineage behind the original's. The automatic version
// here may then take a number that copy already has, with other contents (another guid). That is the price
// of a tag and a container stop costing what their lineage costs, whatever else the pool
// holds (issue 16). What an operator sees if it happens: the number twice on this host, and
// replication to a host that holds the other snapshot under that name refuses the
// streamline as a conflict, naming both guids ("streamline S conflicts: version N is ...
// here but ... on PEER"). `tag -n S:VERSION` checks the whole host and names the next free
// version; destroying or renaming one of the two ends the conflict.
//
// A no-op (nothing written since the dataset's newest version) therefore never lists the
// snapshots of other datasets at all.

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

// TagNamesOfArgs returns the argv of the names-only fast path over the snapshots of the
// named datasets only (depth 1: not those of their descendants).
func TagNamesOfArgs(datasets ...string) []string {
	return append(append(TagNamesArgs(), "-d", "1"), datasets...)
}

// ParseDatasets parses the output of DatasetListArgs into an inventory whose datasets are all
// Partial (no snapshots yet).
func ParseDatasets(r io.Reader) (*Inventory, error) {
	var p rowParser
	if err := scanLines(r, p.add); err != nil {
		return nil, err
	}
	return p.datasetInventory()
}

// datasetInventory is ParseDatasets of the rows parsed.
func (p *rowParser) datasetInventory() (*Inventory, error) {
	if len(p.snaps) > 0 {
		return nil, fmt.Errorf("unexpected zfs list output: snapshots in a listing of datasets")
	}
	inv, err := p.inventory() // origins are checked once their snapshots are read
	if err != nil {
		return nil, err
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
	var p rowParser
	if err := scanLines(r, p.add); err != nil {
		return err
	}
	return inv.addSnapshotRows(&p, datasets)
}

// addSnapshotRows is AddSnapshots of the rows parsed.
func (inv *Inventory) addSnapshotRows(p *rowParser, datasets []*Dataset) error {
	if len(p.datasets) > 0 {
		return &ListError{p.datasets[0].line, "dataset in a listing of snapshots", p.datasets[0].Name}
	}
	byName := make(map[string]*Dataset, len(datasets))
	for _, d := range datasets {
		d.Snapshots, d.Partial = nil, false
		byName[d.Name] = d
	}
	if err := attach(byName, p.snaps); err != nil {
		return err
	}
	inv.relink()
	return nil
}

// AddTagNames adds the zfs-vm snapshots among the names in r (output of TagNamesArgs) to the
// Partial datasets, by name; the inventory then has AllTags. Names of datasets created
// since the inventory was read are skipped, as a snapshot made after a listing would be.
func (inv *Inventory) AddTagNames(r io.Reader) error {
	if err := inv.addTagNames(r, func(*Dataset) bool { return true }); err != nil {
		return err
	}
	inv.allTags = true
	return nil
}

// AddTagNamesOf adds the zfs-vm snapshots among the names in r (output of
// TagNamesOfArgs(datasets...)) to those datasets, by name. The inventory then holds every
// zfs-vm snapshot of each of them (see HasTagsOf), but not AllTags.
func (inv *Inventory) AddTagNamesOf(r io.Reader, datasets []*Dataset) error {
	want := make(map[*Dataset]bool, len(datasets))
	for _, d := range datasets {
		want[d] = true
	}
	if err := inv.addTagNames(r, func(d *Dataset) bool { return want[d] }); err != nil {
		return err
	}
	for _, d := range datasets {
		d.tagNames = true
	}
	return nil
}

// addTagNames adds the zfs-vm snapshots named in r to the datasets of which it knows only
// the names of none (Partial, names not read yet) and that accept takes.
func (inv *Inventory) addTagNames(r io.Reader, accept func(*Dataset) bool) error {
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
		if !ok || d == nil || !d.Partial || d.tagNames || !accept(d) {
			continue
		}
		d.Snapshots = append(d.Snapshots, &Snapshot{Name: snap, Tag: tag, Tagged: true})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading zfs list output: %w", err)
	}
	inv.relink()
	return nil
}

// HasTagsOf reports whether the inventory holds every zfs-vm snapshot of each of ds: it
// has AllTags, or each was read in full or had its snapshot names read.
func (inv *Inventory) HasTagsOf(ds []*Dataset) bool {
	if inv.allTags {
		return true
	}
	for _, d := range ds {
		if d.Partial && !d.tagNames {
			return false
		}
	}
	return true
}

// LineageComponent returns, in name order, the datasets whose zfs-vm snapshots the next
// version of a streamline that ds carry is chosen among (see the top of this file): ds and
// every dataset connected to one of them by origin, up or down, however far (the root of an
// origin chain, every clone of a dataset on it, their clones and so on). It needs only the
// datasets' origins (ListDatasets) and visits each dataset once, so no listing (an origin
// cycle, an origin not listed) can make it loop.
func (inv *Inventory) LineageComponent(ds ...*Dataset) []*Dataset {
	clones := map[*Dataset][]*Dataset{}
	for _, x := range inv.Datasets {
		if o := inv.originDataset(x); o != nil {
			clones[o] = append(clones[o], x)
		}
	}
	seen := map[*Dataset]bool{}
	var out []*Dataset
	add := func(x *Dataset) {
		if x != nil && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	for _, d := range ds {
		add(d)
	}
	for i := 0; i < len(out); i++ { // out grows as the walk goes: a breadth-first search
		add(inv.originDataset(out[i]))
		for _, c := range clones[out[i]] {
			add(c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// originDataset returns the dataset of d's origin snapshot, by name (a Partial dataset's
// origin is not linked), or nil when d is not a clone or its origin's dataset is not listed.
func (inv *Inventory) originDataset(d *Dataset) *Dataset {
	if d.OriginName == "" {
		return nil
	}
	ds, _, _ := SplitSnapshotName(d.OriginName)
	return inv.byName[ds]
}

// relink rebuilds the inventory's indexes and links after its datasets' snapshots changed.
func (inv *Inventory) relink() {
	all, read := inv.allTags, inv.read
	*inv = *newInventory(inv.Datasets)
	inv.allTags, inv.read = all, read
}

// ListDatasets reads the host's filesystems and volumes without their snapshots: the first
// step of reading for tagging (see ListLineage, ListTagNames).
func (h *Host) ListDatasets(ctx context.Context) (*Inventory, error) {
	p := rowParser{budget: h.rowBudget()}
	if err := h.eachLine(ctx, DatasetListArgs(), maxRowLine, p.add); err != nil {
		return nil, h.listError(err)
	}
	inv, err := p.datasetInventory()
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
	p := rowParser{budget: h.rowBudget()}
	if err := h.eachLine(ctx, SnapshotListArgs(names...), maxRowLine, p.add); err != nil {
		return h.listError(err)
	}
	if err := inv.addSnapshotRows(&p, want); err != nil {
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
	out, err := h.TagNamesOutput(ctx, TagNamesArgs()...)
	if err != nil {
		return err
	}
	if err := inv.AddTagNames(bytes.NewReader(out)); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// ListLineageTagNames adds the zfs-vm snapshots, by name, of the datasets of the lineage of
// ds (LineageComponent) to an inventory from ListDatasets: one names-only `zfs list` of those
// not yet read (a few for very many, to keep each command line short). If one fails (a
// dataset of the lineage destroyed since the inventory was read makes `zfs list` fail), it
// reads every snapshot's name instead (ListTagNames), which names no dataset.
func (h *Host) ListLineageTagNames(ctx context.Context, inv *Inventory, ds ...*Dataset) error {
	var want []*Dataset
	for _, x := range inv.LineageComponent(ds...) {
		if !inv.HasTagsOf([]*Dataset{x}) {
			want = append(want, x)
		}
	}
	for _, chunk := range chunkDatasets(want, listArgBytes) {
		names := make([]string, len(chunk))
		for i, x := range chunk {
			names[i] = x.Name
		}
		out, err := h.TagNamesOutput(ctx, TagNamesOfArgs(names...)...)
		var ce *CommandError
		if errors.As(err, &ce) && ctx.Err() == nil {
			if h.log != nil {
				h.log.WithField("host", h.Name).Debugf("listing the lineage's snapshot names failed (%v); listing every snapshot's name", err)
			}
			return h.ListTagNames(ctx, inv)
		}
		if err != nil {
			return err
		}
		if err := inv.AddTagNamesOf(bytes.NewReader(out), chunk); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
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
