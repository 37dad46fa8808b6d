package tagging

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// HoldTag is the `zfs hold` tag on every snapshot zfs-vm creates. It keeps a version from
// being destroyed behind zfs-vm's back (lxc-destroy destroys a clone's origin snapshot, for
// one); `zfs release zfs-vm <snapshot>` lifts it.
const HoldTag = "zfs-vm"

// Result is what Apply did.
type Result struct {
	Decision
	Snapshot string // the snapshot created; "" when Unchanged
}

// Apply decides the tag for dataset d (see Decide) and creates it on host: `zfs snapshot`,
// then `zfs hold`. inv is a full listing, or one read for tagging d (zfs.Host.ListDatasets
// and ListLineage of d); Apply then reads version names only when it makes a version (see
// readVersionNames). Before calling a dataset unchanged it syncs the pool, because `written`
// counts only committed data and a container that just stopped may have writes in flight.
func Apply(ctx context.Context, host *zfs.Host, inv *zfs.Inventory, d *zfs.Dataset, req Request) (Result, error) {
	written, err := writtenSinceNewestTag(ctx, host, d)
	if err != nil {
		return Result{}, err
	}
	if req.Recursive && written == 0 && d.NewestTagged() != nil {
		if written, err = membersWritten(ctx, host, inv, d); err != nil {
			return Result{}, err
		}
	}
	dec, err := Decide(inv, d, req, written)
	if err == nil && !dec.Unchanged && !inv.AllTags() {
		// An error or a no-op on the partial inventory stands, as it is one on the whole.
		if err := readVersionNames(ctx, host, inv, d, req); err != nil {
			return Result{}, err
		}
		dec, err = Decide(inv, d, req, written)
	}
	if err != nil {
		return Result{}, err
	}
	if dec.Unchanged {
		return Result{Decision: dec}, nil
	}
	snap := d.Name + "@" + dec.Tag.SnapshotName()
	if err := zfs.ValidateSnapshotName(snap); err != nil {
		return Result{}, err
	}
	snapshot, hold := []string{"zfs", "snapshot", snap}, []string{"zfs", "hold", HoldTag, snap}
	if req.Recursive {
		snapshot = []string{"zfs", "snapshot", "-r", snap}
		hold = []string{"zfs", "hold", "-r", HoldTag, snap}
	}
	if err := host.Run(ctx, snapshot...); err != nil {
		return Result{}, err
	}
	if err := host.Run(ctx, hold...); err != nil {
		return Result{Decision: dec, Snapshot: snap}, fmt.Errorf("%s created, but holding it failed: %w", snap, err)
	}
	return Result{Decision: dec, Snapshot: snap}, nil
}

// readVersionNames adds to inv the versions, by name, that a new version of d must be
// chosen among (see the top of zfs/lineage.go). The next version of the streamline d
// already carries is one above the highest of d's lineage (zfs.Inventory.LineageComponent;
// with -r, also of its descendants', which get the same name), whose snapshots are all that
// is listed: a hook or tag costs what the lineage costs, not what the pool does. A version
// or a streamline the operator named with -n is checked against every version on the host:
// the name may be taken anywhere, and an explicit version below the streamline's highest on
// the host needs --force.
func readVersionNames(ctx context.Context, host *zfs.Host, inv *zfs.Inventory, d *zfs.Dataset, req Request) error {
	lineage := d.LineageTag()
	if req.Version == 0 && lineage != nil && (req.Streamline == "" || req.Streamline == lineage.Tag.Streamline) {
		ds := []*zfs.Dataset{d}
		if req.Recursive {
			ds = append(ds, inv.Descendants(d)...)
		}
		return host.ListLineageTagNames(ctx, inv, ds...)
	}
	return host.ListTagNames(ctx, inv)
}

// writtenSinceNewestTag returns the space written to d since its own newest zfs-vm snapshot
// (0 when it has none).
func writtenSinceNewestTag(ctx context.Context, host *zfs.Host, d *zfs.Dataset) (uint64, error) {
	own := d.NewestTagged()
	if own == nil {
		return 0, nil
	}
	if d.Newest() == own && d.Written > 0 {
		return d.Written, nil // written only grows with a sync; no need to ask again
	}
	pool, _, _ := strings.Cut(d.Name, "/")
	if err := host.Run(ctx, "zpool", "sync", pool); err != nil {
		return 0, err
	}
	out, err := host.Output(ctx, "zfs", "get", "-H", "-p", "-o", "value", "written@"+own.Name, d.Name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("zfs get written@%s %s: unexpected %q", own.Name, d.Name, out)
	}
	return n, nil
}

// membersWritten returns how much was written to the descendants of d since the version d's
// newest zfs-vm snapshot names (the pool is already synced). A member without that snapshot
// (created since) counts as written.
func membersWritten(ctx context.Context, host *zfs.Host, inv *zfs.Inventory, d *zfs.Dataset) (uint64, error) {
	members := inv.Descendants(d)
	if len(members) == 0 {
		return 0, nil
	}
	snap := d.NewestTagged().Name
	out, err := host.Output(ctx, "zfs", "get", "-H", "-p", "-r", "-t", "filesystem,volume", "-o", "name,value", "written@"+snap, d.Name)
	if err != nil {
		return 0, err
	}
	values := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, v, ok := strings.Cut(l, "\t"); ok {
			values[name] = v
		}
	}
	var total uint64
	for _, m := range members {
		n, err := strconv.ParseUint(values[m.Name], 10, 64)
		if err != nil {
			return 1, nil // no such snapshot in this member: it is new
		}
		total += n
	}
	return total, nil
}
