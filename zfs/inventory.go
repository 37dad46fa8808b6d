package zfs

import (
	"fmt"
	"iter"
	"sort"
	"strings"
)

// Dataset is a filesystem or volume as the listing showed it.
type Dataset struct {
	Name       string
	Type       string // "filesystem" or "volume"
	GUID       uint64
	CreateTXG  uint64
	OriginName string    // full name of the origin snapshot; "" when not a clone
	Origin     *Snapshot // resolved OriginName; nil when not a clone or not listed
	Used       uint64
	Referenced uint64
	// Written is the space written since the dataset's newest snapshot (for a clone without
	// snapshots: since its origin).
	Written     uint64
	Mountpoint  string // "" for volumes and "none"/"legacy"/"-" mountpoints
	ResumeToken string // receive_resume_token; "" when none
	// Snapshots in creation order (ascending createtxg).
	Snapshots []*Snapshot
	// Partial is set in an inventory read for tagging (see ListDatasets) on a dataset whose
	// snapshots were not listed in full: Snapshots then holds at most its zfs-vm snapshots,
	// by name only (no guid, createtxg or order).
	Partial bool
	// tagNames is set on a Partial dataset whose snapshot names were read (AddTagNamesOf):
	// Snapshots then holds every zfs-vm snapshot it has.
	tagNames bool
	line     int // of the listing, for errors
}

// Snapshot is one snapshot of a dataset.
type Snapshot struct {
	Dataset    *Dataset
	Name       string // the part after '@'
	GUID       uint64
	CreateTXG  uint64
	Creation   int64 // seconds since the epoch
	Used       uint64
	Referenced uint64
	UserRefs   uint64 // number of holds
	Tag        Tag    // valid when Tagged
	Tagged     bool   // a zfs-vm snapshot
	index      int    // position in Dataset.Snapshots
	// depth is the number of ancestors (see Parent); it bounds every walk up the lineage,
	// so that no listing, however broken, can make one loop.
	depth int
}

// FullName returns "dataset@name".
func (s *Snapshot) FullName() string { return s.Dataset.Name + "@" + s.Name }

// Parent returns the snapshot this one descends from: the previous snapshot of its dataset,
// or, for the first snapshot of a clone, the clone's origin. It is nil at a lineage's root.
func (s *Snapshot) Parent() *Snapshot {
	if s.index > 0 {
		return s.Dataset.Snapshots[s.index-1]
	}
	return s.Dataset.Origin
}

// Next returns the following snapshot of the same dataset, or nil.
func (s *Snapshot) Next() *Snapshot {
	if s.index+1 < len(s.Dataset.Snapshots) {
		return s.Dataset.Snapshots[s.index+1]
	}
	return nil
}

// Ancestors yields s's parent, its parent's parent and so on up to the lineage's root; at
// most as many as the inventory counted when it linked s, whatever the links say now.
func (s *Snapshot) Ancestors() iter.Seq[*Snapshot] {
	return func(yield func(*Snapshot) bool) {
		a := s
		for range s.depth {
			if a = a.Parent(); a == nil || !yield(a) {
				return
			}
		}
	}
}

// NearestTagged returns the nearest zfs-vm snapshot among s and its ancestors, or nil.
func (s *Snapshot) NearestTagged() *Snapshot {
	if s.Tagged {
		return s
	}
	for a := range s.Ancestors() {
		if a.Tagged {
			return a
		}
	}
	return nil
}

// Newest returns the dataset's newest snapshot, or nil.
func (d *Dataset) Newest() *Snapshot {
	if len(d.Snapshots) == 0 {
		return nil
	}
	return d.Snapshots[len(d.Snapshots)-1]
}

// NewestTagged returns the newest zfs-vm snapshot of this dataset itself, or nil.
func (d *Dataset) NewestTagged() *Snapshot {
	for i := len(d.Snapshots) - 1; i >= 0; i-- {
		if d.Snapshots[i].Tagged {
			return d.Snapshots[i]
		}
	}
	return nil
}

// LineageTag returns the newest zfs-vm snapshot that the dataset's current state descends
// from: its own newest tagged snapshot, else the nearest one up its origin chain (walking past
// foreign snapshots such as those lxc-copy makes). It is nil when there is none.
func (d *Dataset) LineageTag() *Snapshot {
	if s := d.NewestTagged(); s != nil {
		return s
	}
	if d.Origin != nil {
		return d.Origin.NearestTagged()
	}
	return nil
}

// Inventory is everything one listing showed of a host: datasets, snapshots and how they
// descend from each other.
type Inventory struct {
	Datasets []*Dataset // sorted by name
	byName   map[string]*Dataset
	byGUID   map[uint64][]*Snapshot
	byTag    map[Tag][]*Snapshot
	err      error // an origin cycle found while linking (see linkLineages)
	// allTags is set when every zfs-vm snapshot of the host is in the inventory (at least by
	// name): always for ParseList and ListVersions, after AddTagNames for an inventory read
	// for tagging. An inventory that read only a lineage's names (AddTagNamesOf) does not
	// have it: it knows the versions of those datasets only (see HasTagsOf).
	allTags bool
	// read is how ListVersions read the host.
	read readFacts
}

// readFacts is what ListVersions learned of a host besides its datasets and snapshots, for
// the next run's guess (see Guess).
type readFacts struct {
	// snapshots is how many snapshots the host had (counted).
	snapshots int
	counted   bool
	// programPools are the pools the names program read, or can; noProgram: it failed here.
	programPools []string
	noProgram    bool
}

// AllTags reports whether every zfs-vm snapshot of the host is in the inventory, so that
// MaxVersion and ByTag speak for the whole host.
func (inv *Inventory) AllTags() bool { return inv.allTags }

// Dataset returns the named filesystem or volume, or nil.
func (inv *Inventory) Dataset(name string) *Dataset { return inv.byName[name] }

// Snapshot returns the snapshot with the given full name, or nil.
func (inv *Inventory) Snapshot(full string) *Snapshot {
	ds, snap, ok := SplitSnapshotName(full)
	if !ok {
		return nil
	}
	d := inv.byName[ds]
	if d == nil {
		return nil
	}
	for _, s := range d.Snapshots {
		if s.Name == snap {
			return s
		}
	}
	return nil
}

// ByGUID returns the snapshots with the given guid (normally one; a pool that received the
// same snapshot under two parents holds it twice).
func (inv *Inventory) ByGUID(guid uint64) []*Snapshot { return inv.byGUID[guid] }

// ByTag returns the zfs-vm snapshots that carry tag, in creation order.
func (inv *Inventory) ByTag(tag Tag) []*Snapshot { return inv.byTag[tag] }

// Tagged returns every zfs-vm snapshot, ordered by createtxg, then name; because a clone is
// always younger than its origin, this order lists every ancestor before its descendants.
func (inv *Inventory) Tagged() []*Snapshot {
	var out []*Snapshot
	for _, d := range inv.Datasets {
		for _, s := range d.Snapshots {
			if s.Tagged {
				out = append(out, s)
			}
		}
	}
	SortByCreation(out)
	return out
}

// MaxVersion returns the highest version of streamline in the inventory, and whether any
// exists: on the host when the inventory has AllTags, else among the datasets it read.
func (inv *Inventory) MaxVersion(streamline string) (uint64, bool) {
	var max uint64
	found := false
	for tag := range inv.byTag {
		if tag.Streamline == streamline && (!found || tag.Version > max) {
			max, found = tag.Version, true
		}
	}
	return max, found
}

// SortByCreation sorts snapshots by createtxg, then dataset name, then snapshot name: an order
// in which every snapshot comes after all of its ancestors, and the members of a recursive
// snapshot (one txg) come parents first.
func SortByCreation(snaps []*Snapshot) {
	sort.Slice(snaps, func(i, j int) bool {
		a, b := snaps[i], snaps[j]
		if a.CreateTXG != b.CreateTXG {
			return a.CreateTXG < b.CreateTXG
		}
		if a.Dataset.Name != b.Dataset.Name {
			return a.Dataset.Name < b.Dataset.Name
		}
		return a.Name < b.Name
	})
}

// HasTagged reports whether the dataset has any zfs-vm snapshot.
func (d *Dataset) HasTagged() bool { return d.NewestTagged() != nil }

// ImageRoot returns the topmost dataset among d and its ancestors that has zfs-vm
// snapshots: the root of the (possibly recursive) image d belongs to.
func (inv *Inventory) ImageRoot(d *Dataset) *Dataset {
	root := d
	for p := ParentDataset(d.Name); p != ""; p = ParentDataset(p) {
		if pd := inv.Dataset(p); pd != nil && pd.HasTagged() {
			root = pd
		}
	}
	return root
}

// Descendants returns d's descendant datasets, in name order.
func (inv *Inventory) Descendants(d *Dataset) []*Dataset {
	var out []*Dataset
	for _, x := range inv.Datasets {
		if strings.HasPrefix(x.Name, d.Name+"/") {
			out = append(out, x)
		}
	}
	return out
}

// newInventory links datasets and snapshots into an Inventory.
func newInventory(datasets []*Dataset) *Inventory {
	snapshots := 0
	for _, d := range datasets {
		snapshots += len(d.Snapshots)
	}
	inv := &Inventory{
		Datasets: datasets,
		byName:   make(map[string]*Dataset, len(datasets)),
		byGUID:   make(map[uint64][]*Snapshot, snapshots),
		byTag:    make(map[Tag][]*Snapshot, snapshots),
	}
	sort.Slice(datasets, func(i, j int) bool { return datasets[i].Name < datasets[j].Name })
	for _, d := range datasets {
		inv.byName[d.Name] = d
		sort.Slice(d.Snapshots, func(i, j int) bool {
			if d.Snapshots[i].CreateTXG != d.Snapshots[j].CreateTXG {
				return d.Snapshots[i].CreateTXG < d.Snapshots[j].CreateTXG
			}
			return d.Snapshots[i].Name < d.Snapshots[j].Name
		})
		for i, s := range d.Snapshots {
			s.index = i
			s.Dataset = d
			if !d.Partial {
				inv.byGUID[s.GUID] = append(inv.byGUID[s.GUID], s)
			}
			if s.Tagged {
				inv.byTag[s.Tag] = append(inv.byTag[s.Tag], s)
			}
		}
	}
	for _, d := range datasets {
		if d.OriginName != "" {
			d.Origin = inv.Snapshot(d.OriginName)
		}
	}
	inv.err = inv.linkLineages()
	for _, l := range inv.byTag {
		SortByCreation(l)
	}
	return inv
}

// OriginError is a listing whose origins cannot be true: a dataset that descends from itself,
// or a clone whose origin is not listed.
type OriginError struct {
	Dataset string
	Origin  string
	Reason  string
}

func (e *OriginError) Error() string {
	return fmt.Sprintf("dataset %s: origin %s %s", e.Dataset, e.Origin, e.Reason)
}

// linkLineages follows every dataset's origin chain once, setting each snapshot's depth.
// A chain that comes back to a dataset on it (a clone of its own snapshot, or any longer
// cycle) is cut where it closes, so that the lineage links are a forest whatever the listing
// said; the first such cycle is returned.
func (inv *Inventory) linkLineages() error {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[*Dataset]int, len(inv.Datasets))
	var first error
	for _, d := range inv.Datasets {
		var path []*Dataset
		for x := d; x != nil && state[x] == unseen; {
			state[x] = onPath
			path = append(path, x)
			if x.Origin == nil {
				break
			}
			next := x.Origin.Dataset
			if state[next] == onPath {
				if first == nil {
					why := "makes an origin cycle"
					if next == x {
						why = "is one of its own snapshots"
					}
					first = &OriginError{Dataset: x.Name, Origin: x.OriginName, Reason: why}
				}
				x.Origin = nil
				break
			}
			x = next
		}
		for i := len(path) - 1; i >= 0; i-- {
			p := path[i]
			base := 0
			if p.Origin != nil {
				base = p.Origin.depth + 1
			}
			for j, s := range p.Snapshots {
				s.depth = base + j
			}
			state[p] = done
		}
	}
	return first
}

// check returns the first thing wrong with the origins of a whole host's listing: a cycle,
// or a clone whose origin is not listed.
func (inv *Inventory) check() error {
	if inv.err != nil {
		return inv.err
	}
	for _, d := range inv.Datasets {
		// A dataset read without its snapshots (Partial) has its origin unlinked by design.
		if d.OriginName != "" && d.Origin == nil && !d.Partial {
			return &OriginError{Dataset: d.Name, Origin: d.OriginName, Reason: "is not in the listing"}
		}
	}
	return nil
}

// NewInventory builds an Inventory from datasets whose Snapshots are filled in; their links
// (Snapshot.Dataset, Dataset.Origin) and order are set here. Tests build inventories with it.
func NewInventory(datasets []*Dataset) *Inventory {
	for _, d := range datasets {
		for _, s := range d.Snapshots {
			s.Tag, s.Tagged = ParseTag(s.Name)
		}
	}
	inv := newInventory(datasets)
	inv.allTags = true
	return inv
}

// Subset returns an inventory of the datasets keep accepts; origins outside it are unlinked.
// The receiving inventory is no longer to be used.
func (inv *Inventory) Subset(keep func(*Dataset) bool) *Inventory {
	var ds []*Dataset
	for _, d := range inv.Datasets {
		if keep(d) {
			d.Origin = nil
			ds = append(ds, d)
		}
	}
	sub := newInventory(ds)
	sub.allTags, sub.read = inv.allTags, inv.read
	return sub
}

// InPool reports whether dataset name is in pool.
func InPool(name, pool string) bool { return name == pool || strings.HasPrefix(name, pool+"/") }
