package zfs

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
)

// Reading for replication and `list`.
//
// The planner needs every zfs-vm snapshot with its guid and createtxg, the snapshots (foreign
// ones too) around them in their datasets and up their origin chains, to find bases, keep
// `zfs send -I` from carrying foreign snapshots and walk past lxc-copy's, and, on the
// receiver, every snapshot of each replica, since a foreign snapshot there is divergence.
// Snapshots of datasets that hold no zfs-vm snapshot and are not up the origin chain of one
// that does are of no use to it. ListVersions therefore reads, on each host:
//
//  1. every filesystem and volume, all columns (as for tagging, see ListDatasets), and at
//     the same time every snapshot's name through OpenZFS's fast path (TagNamesArgs);
//  2. in full, the snapshots of the datasets whose names showed a zfs-vm snapshot and of the
//     datasets up their origin chains, in one `zfs list -t snapshot -d 1` (a few for very
//     many datasets, to keep each command line short).
//
// Cost: the names of all snapshots (the floor for any tool that must find zfs-vm's among
// them) plus the full columns of zfs-vm's datasets only, instead of the full columns of
// every snapshot. Limit: a snapshot of a dataset without zfs-vm snapshots is not indexed by
// guid, so a receiver dataset holding copies of the sender's foreign snapshots and none of
// its versions (filled by another tool) is not recognised as a copy; the full listing
// (List) would have used it as a base.

// ListVersions reads the host as replication and `list` need it (see above). Datasets
// outside what step 2 read are Partial and have no snapshots.
func (h *Host) ListVersions(ctx context.Context) (*Inventory, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	list := func(argv []string, each func(line []byte) error) error {
		maxLine := maxRowLine
		if slices.Equal(argv, TagNamesArgs()) {
			maxLine = maxNameLine
		}
		return h.eachLine(ctx, argv, maxLine, each)
	}
	inv, err := readVersions(list, h.rowBudget(), stop)
	if err != nil {
		return nil, h.listError(err)
	}
	return inv, nil
}

// ReadVersions is ListVersions with the listings given: datasets and names are the outputs
// of DatasetListArgs and TagNamesArgs, and snapshots returns that of SnapshotListArgs(ds...)
// for the datasets it is asked about.
func ReadVersions(datasets, names io.Reader, snapshots func(ds []string) ([]byte, error)) (*Inventory, error) {
	list := func(argv []string, each func(line []byte) error) error {
		switch {
		case slices.Equal(argv, DatasetListArgs()):
			return scanLines(datasets, each)
		case slices.Equal(argv, TagNamesArgs()):
			return scanLines(names, each)
		}
		out, err := snapshots(argv[len(SnapshotListArgs()):])
		if err != nil {
			return err
		}
		return scanLines(bytes.NewReader(out), each)
	}
	return readVersions(list, nil, func() {})
}

// lister runs the listing argv and passes each line of its output to each.
type lister func(argv []string, each func(line []byte) error) error

// readVersions reads a host as ListVersions does, through list, keeping what budget allows.
// Each listing is parsed as its lines arrive; the names listing runs beside the datasets'.
// The first of the two to fail calls stop (which stops the other's command) and is the error
// returned, not the other's being stopped.
func readVersions(list lister, budget *rowBudget, stop func()) (*Inventory, error) {
	tagged := tagDatasets{budget: budget, seen: map[string]bool{}}
	var first error
	var once sync.Once
	fail := func(err error) {
		if err != nil {
			once.Do(func() { first = err; stop() })
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fail(list(TagNamesArgs(), tagged.add))
	}()
	rows := rowParser{budget: budget}
	fail(list(DatasetListArgs(), rows.add))
	<-done
	if first != nil {
		return nil, first
	}
	inv, err := rows.datasetInventory()
	if err != nil {
		return nil, err
	}
	for _, chunk := range chunkDatasets(inv.partialLineage(inv.named(tagged.names)...), listArgBytes) {
		ds := make([]string, len(chunk))
		for i, d := range chunk {
			ds[i] = d.Name
		}
		p := rowParser{budget: budget}
		if err := list(SnapshotListArgs(ds...), p.add); err != nil {
			return nil, err
		}
		if err := inv.addSnapshotRows(&p, chunk); err != nil {
			return nil, err
		}
	}
	inv.allTags = true
	if err := inv.check(); err != nil {
		return nil, err
	}
	return inv, nil
}

// listArgBytes bounds the dataset names of one `zfs list`: a remote command line is one
// argument of the remote shell, which Linux limits to 128 KiB.
const listArgBytes = 32 << 10

// chunkDatasets splits ds into runs whose names take at most max bytes (at least one each).
func chunkDatasets(ds []*Dataset, max int) [][]*Dataset {
	var out [][]*Dataset
	var cur []*Dataset
	n := 0
	for _, d := range ds {
		if len(cur) > 0 && n+len(d.Name)+1 > max {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, d)
		n += len(d.Name) + 1
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// tagDatasets collects, from the lines of a names listing (TagNamesArgs) as they arrive, the
// names of the datasets that have a zfs-vm snapshot, each once: all that ListVersions needs
// of the names, whatever else (a million hourlies) the host has.
type tagDatasets struct {
	seen   map[string]bool
	names  []string
	line   int
	budget *rowBudget
}

func (t *tagDatasets) add(b []byte) error {
	t.line++
	if !t.budget.line() {
		return t.budget.linesErr()
	}
	if !bytes.Contains(b, []byte("@"+TagPrefix)) {
		return nil // foreign: not even validated, as the full listing's parser would
	}
	name := string(b)
	ds, snap, ok := SplitSnapshotName(name)
	if !ok || !strings.HasPrefix(snap, TagPrefix) {
		return nil
	}
	if err := ValidateSnapshotName(name); err != nil {
		return &ListError{t.line, err.Error(), name}
	}
	if _, ok := ParseTag(snap); !ok || t.seen[ds] {
		return nil
	}
	if !t.budget.take(64 + len(ds)) { // a map entry and a name, not a row
		return t.budget.err()
	}
	t.seen[ds] = true
	t.names = append(t.names, ds)
	return nil
}

// named returns the inventory's datasets of the given names, in their order; names not in
// the inventory (datasets created since it was read) are skipped.
func (inv *Inventory) named(names []string) []*Dataset {
	var out []*Dataset
	for _, n := range names {
		if d := inv.byName[n]; d != nil {
			out = append(out, d)
		}
	}
	return out
}
