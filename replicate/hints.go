package replicate

import (
	"context"
	"slices"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Hints are what a job found on each host, kept by the caller from one run to the next (see
// Job.Hints and Summary.Hints): the next run reads the same things beside its first
// listings instead of a round trip later. A hint is only a guess: what it names is read
// from zfs all the same, and a wrong one costs the round trip it was meant to save.
type Hints struct {
	Sender   HostHints `json:"sender"`
	Receiver HostHints `json:"receiver"`
}

// HostHints are the hints of one host.
type HostHints struct {
	// Datasets were read in full (the guess of zfs.Host.ListVersionsGuessing), and on the
	// receiver those the run received into, which the next run will read in full.
	Datasets []string `json:"datasets,omitempty"`
	// Bases are the snapshots the pair's base holds sat on when the run ended.
	Bases []string `json:"bases,omitempty"`
	// Small: the host had few snapshots (zfs.Guess.Small).
	Small bool `json:"small,omitempty"`
	// Pools: the names program reads the names of the host's pools (zfs.Guess.Pools);
	// NoProgram: it failed there (zfs.Guess.NoProgram).
	Pools     []string `json:"pools,omitempty"`
	NoProgram bool     `json:"no_program,omitempty"`
}

// Guess is the hints' zfs.Guess (without Learn, which is the caller's to set).
func (h HostHints) Guess() zfs.Guess {
	return zfs.Guess{Datasets: h.Datasets, Small: h.Small, Pools: h.Pools, NoProgram: h.NoProgram}
}

// HostHintsOf are the hints of a host read as inv, for the next read of the same host.
func HostHintsOf(inv *zfs.Inventory) HostHints {
	return HostHints{Datasets: inv.FullyRead(), Small: inv.Small(), Pools: inv.ProgramPools(), NoProgram: inv.NoProgram()}
}

// heldTags is one `zfs holds` read made before it was needed: the tags of the snapshots
// asked about. ok is false when the read failed.
type heldTags struct {
	asked map[string]bool
	tags  map[string]map[string]bool
	ok    bool
}

// covers reports whether the read answered for every snapshot in names.
func (h *heldTags) covers(names []string) bool {
	if h == nil || !h.ok {
		return false
	}
	for _, n := range names {
		if !h.asked[n] {
			return false
		}
	}
	return true
}

// prefetchHolds reads the hold tags of bases on host in the background; the result is ready
// once the returned function returns it.
func prefetchHolds(ctx context.Context, host *zfs.Host, bases []string) func() *heldTags {
	if len(bases) == 0 || len(bases) > maxPrefetch || !validSnapshots(bases) {
		return noHolds
	}
	done := make(chan *heldTags, 1)
	go func() {
		tags, err := holdTags(ctx, host, bases)
		h := &heldTags{asked: map[string]bool{}, tags: tags, ok: err == nil}
		for _, b := range bases {
			h.asked[b] = true
		}
		done <- h
	}()
	var h *heldTags
	return func() *heldTags {
		if done != nil {
			h, done = <-done, nil
		}
		return h
	}
}

// noHolds is the result of no read.
func noHolds() *heldTags { return nil }

// maxPrefetch bounds the bases whose holds are read ahead: a few `zfs holds` (holdsBatch
// snapshots each), not a hints file's worth.
const maxPrefetch = 4 * holdsBatch

// validSnapshots reports whether every name is a snapshot name zfs will not take for an
// option: hints come from a file.
func validSnapshots(names []string) bool {
	return !slices.ContainsFunc(names, func(n string) bool { return zfs.ValidateSnapshotName(n) != nil })
}

// nextHints are the hints of a run that read src and dst, planned plan and received what res
// says: the datasets read in full (on the receiver, with the datasets the run received
// into) and the snapshots holding the pair's base holds once the run's holds moved.
func nextHints(src, dst *zfs.Inventory, plan *Plan, res Result) *Hints {
	h := &Hints{Sender: HostHintsOf(src), Receiver: HostHintsOf(dst)}
	h.Receiver.Datasets = union(h.Receiver.Datasets, res.targets)
	var sender, receiver []string
	for _, b := range plan.Bases {
		sender = append(sender, b.Sender.FullName())
		receiver = append(receiver, b.Receiver.FullName())
	}
	h.Sender.Bases = union(without(sender, res.holds.senderRelease), res.holds.senderHold)
	h.Receiver.Bases = union(without(receiver, res.holds.receiverRelease), res.holds.receiverHold)
	return h
}

// union returns a followed by the names of b that a lacks, each once.
func union(a, b []string) []string {
	seen := make(map[string]bool, len(a)+len(b))
	var out []string
	for _, n := range slices.Concat(a, b) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// without returns a without the names in drop.
func without(a, drop []string) []string {
	gone := make(map[string]bool, len(drop))
	for _, n := range drop {
		gone[n] = true
	}
	return slices.DeleteFunc(slices.Clone(a), func(n string) bool { return gone[n] })
}
