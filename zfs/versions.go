package zfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
	var names []byte
	var namesErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		names, namesErr = h.TagNamesOutput(ctx, TagNamesArgs()...)
	}()
	datasets, err := h.Output(ctx, DatasetListArgs()...)
	<-done
	if err != nil {
		return nil, err
	}
	if namesErr != nil {
		return nil, namesErr
	}
	snapshots := func(ds []string) ([]byte, error) { return h.Output(ctx, SnapshotListArgs(ds...)...) }
	inv, err := ReadVersions(bytes.NewReader(datasets), bytes.NewReader(names), snapshots)
	var ce *CommandError
	if err != nil && !errors.As(err, &ce) {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	return inv, err
}

// ReadVersions is ListVersions with the listings given: datasets and names are the outputs
// of DatasetListArgs and TagNamesArgs, and snapshots returns that of SnapshotListArgs(ds...)
// for the datasets it is asked about.
func ReadVersions(datasets, names io.Reader, snapshots func(ds []string) ([]byte, error)) (*Inventory, error) {
	inv, err := ParseDatasets(datasets)
	if err != nil {
		return nil, err
	}
	withTags, err := inv.datasetsWithTags(names)
	if err != nil {
		return nil, err
	}
	for _, chunk := range chunkDatasets(inv.partialLineage(withTags...), listArgBytes) {
		ds := make([]string, len(chunk))
		for i, d := range chunk {
			ds[i] = d.Name
		}
		out, err := snapshots(ds)
		if err != nil {
			return nil, err
		}
		if err := inv.AddSnapshots(bytes.NewReader(out), chunk); err != nil {
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

// datasetsWithTags returns the inventory's datasets of which r (output of TagNamesArgs)
// names a zfs-vm snapshot, in name order. Names of datasets not in the inventory (created
// since) are skipped.
func (inv *Inventory) datasetsWithTags(r io.Reader) ([]*Dataset, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	seen := map[*Dataset]bool{}
	var out []*Dataset
	line := 0
	for sc.Scan() {
		line++
		name := sc.Text()
		ds, snap, ok := SplitSnapshotName(name)
		if !ok || !strings.HasPrefix(snap, TagPrefix) {
			continue
		}
		if err := ValidateSnapshotName(name); err != nil {
			return nil, &ListError{line, err.Error(), name}
		}
		if _, ok := ParseTag(snap); !ok {
			continue
		}
		if d := inv.byName[ds]; d != nil && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading zfs list output: %w", err)
	}
	return out, nil
}
