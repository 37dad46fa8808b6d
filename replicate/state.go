package replicate

import (
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// StreamlineState is how far a receiver is behind its sender on one streamline.
type StreamlineState struct {
	Streamline string
	// SenderNewest and ReceiverNewest are each side's highest version (0: none), and the
	// Times their snapshots' creation (zero: none). A received snapshot keeps the sender's
	// creation time.
	SenderNewest, ReceiverNewest         uint64
	SenderNewestTime, ReceiverNewestTime time.Time
	// Behind counts the sender's versions above the receiver's newest.
	Behind int
}

// Compare returns the state of each streamline the sender has (of streamlines only, when
// given), by name. Versions are compared by number: a version of a recursive image counts
// once, whatever its members. dest is the pair's destination parent (-d; "" for none): the
// receiver's versions elsewhere are another destination's, as in the plan.
func Compare(sender, receiver *zfs.Inventory, streamlines []string, dest string) []StreamlineState {
	return compare(sender, receiver, streamlines, dest, nil)
}

// compare is Compare with the versions a run has just received (not in receiver's listing).
func compare(sender, receiver *zfs.Inventory, streamlines []string, dest string, received []*zfs.Snapshot) []StreamlineState {
	byName := map[string]*StreamlineState{}
	versions := map[string]map[uint64]bool{} // the sender's, per streamline
	for _, s := range sender.Tagged() {
		name := s.Tag.Streamline
		if len(streamlines) > 0 && !slices.Contains(streamlines, name) {
			continue
		}
		st := byName[name]
		if st == nil {
			st = &StreamlineState{Streamline: name}
			byName[name], versions[name] = st, map[uint64]bool{}
		}
		versions[name][s.Tag.Version] = true
		if s.Tag.Version >= st.SenderNewest {
			st.SenderNewest, st.SenderNewestTime = s.Tag.Version, time.Unix(s.Creation, 0)
		}
	}
	for _, s := range receiver.Tagged() {
		if underDest(s.Dataset.Name, dest) {
			received = append(received, s)
		}
	}
	for _, s := range received {
		st := byName[s.Tag.Streamline]
		if st != nil && s.Tag.Version >= st.ReceiverNewest {
			st.ReceiverNewest, st.ReceiverNewestTime = s.Tag.Version, time.Unix(s.Creation, 0)
		}
	}
	out := make([]StreamlineState, 0, len(byName))
	for name, st := range byName {
		for v := range versions[name] {
			if v > st.ReceiverNewest {
				st.Behind++
			}
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Streamline < out[j].Streamline })
	return out
}

// States returns, after a run, how far the receiver is behind on each streamline: the
// listings the plan was made from, plus the versions whose streams all arrived.
func (s *Summary) States() []StreamlineState {
	if s.sender == nil || s.receiver == nil {
		return nil
	}
	failed := map[string]bool{} // sender snapshots that did not arrive
	for _, err := range s.Errors {
		var se *StreamError
		var be *BlockedError
		switch {
		case errors.As(err, &se):
			failed[se.Stream.To.FullName()] = true
		case errors.As(err, &be):
			failed[be.Snapshot] = true
		}
	}
	complete := map[zfs.Tag]bool{} // a version arrived when all its streams did
	var received []*zfs.Snapshot
	for _, st := range s.Plan.Streams {
		ok, seen := complete[st.To.Tag]
		complete[st.To.Tag] = (ok || !seen) && !failed[st.To.FullName()]
	}
	for _, st := range s.Plan.Streams {
		if complete[st.To.Tag] {
			received = append(received, st.To)
		}
	}
	return compare(s.sender, s.receiver, s.streamlines, s.dest, received)
}
