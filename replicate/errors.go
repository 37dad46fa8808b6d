package replicate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// VersionAt is one version of a streamline as one host has it.
type VersionAt struct {
	Version  uint64
	Snapshot string // full name
	GUID     uint64
}

// ConflictError refuses a streamline because the receiver has a version under the same
// zfs-vm name as the sender but with another guid: they are different images.
type ConflictError struct {
	Streamline string
	Receiver   string // host name
	Sender     []VersionAt
	Received   []VersionAt
	// Clashes are the versions present on both sides with different guids.
	Clashes []uint64
}

func (e *ConflictError) Error() string {
	var clash []string
	for _, v := range e.Clashes {
		s, r := find(e.Sender, v), find(e.Received, v)
		clash = append(clash, fmt.Sprintf("version %d is %s (guid %d) here but %s (guid %d) on %s",
			v, s.Snapshot, s.GUID, r.Snapshot, r.GUID, e.Receiver))
	}
	return fmt.Sprintf("streamline %s conflicts: %s; sender has versions %s, receiver has %s; refusing %s",
		e.Streamline, strings.Join(clash, "; "), versionList(e.Sender), versionList(e.Received), e.Streamline)
}

func find(vs []VersionAt, v uint64) VersionAt {
	for _, x := range vs {
		if x.Version == v {
			return x
		}
	}
	return VersionAt{}
}

func versionList(vs []VersionAt) string {
	if len(vs) == 0 {
		return "none"
	}
	nums := make([]uint64, 0, len(vs))
	for _, v := range vs {
		nums = append(nums, v.Version)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	out := make([]string, 0, len(nums))
	for i, n := range nums {
		if i > 0 && n == nums[i-1] {
			continue
		}
		out = append(out, strconv.FormatUint(n, 10))
	}
	return strings.Join(out, ",")
}

// DivergedError refuses an incremental stream because the receiver's dataset moved on from
// the common snapshot: it has snapshots the sender lacks, or was written since.
type DivergedError struct {
	Target  string   // receiver dataset
	Base    string   // receiver's copy of the common snapshot
	Foreign []string // receiver snapshots after Base that the sender does not have
	Written uint64   // bytes written to Target since its newest snapshot
}

func (e *DivergedError) Error() string {
	what := fmt.Sprintf("has snapshots the sender lacks after %s: %s", e.Base, strings.Join(e.Foreign, ", "))
	if len(e.Foreign) == 0 {
		what = fmt.Sprintf("was written (%d bytes) since its newest snapshot %s", e.Written, e.Base)
	}
	return fmt.Sprintf("receiver dataset %s diverged: it %s; not overwriting it (--rollback would roll it back to %s first)", e.Target, what, e.Base)
}

// RollbackClonesError refuses a --rollback that would have to destroy clones.
type RollbackClonesError struct {
	Diverged *DivergedError
	Clones   []string
}

func (e *RollbackClonesError) Error() string {
	return fmt.Sprintf("receiver dataset %s diverged, and rolling it back to %s would destroy the clones %s; not doing that",
		e.Diverged.Target, e.Diverged.Base, strings.Join(e.Clones, ", "))
}

// GapError reports a sender snapshot that can no longer be placed on the receiver, because
// the receiver's dataset already holds a later snapshot of the same lineage. It is reported,
// not forced.
type GapError struct {
	Snapshot string // sender's snapshot
	Target   string // receiver dataset
	Later    string // receiver's later snapshot
}

func (e *GapError) Error() string {
	return fmt.Sprintf("cannot place %s: receiver dataset %s already has the later %s", e.Snapshot, e.Target, e.Later)
}

// TargetExistsError refuses a full or clone stream whose receiver dataset already exists and
// holds none of the sender's snapshots of that dataset.
type TargetExistsError struct {
	Source string
	Target string
}

func (e *TargetExistsError) Error() string {
	return fmt.Sprintf("receiver already has %s, which is not a copy of %s; not overwriting it (choose another -d)", e.Target, e.Source)
}

// NameCollisionError refuses source datasets that would be received under one name.
type NameCollisionError struct {
	Target  string
	Sources []string
}

func (e *NameCollisionError) Error() string {
	return fmt.Sprintf("%s would land on the same receiver dataset %s; replicate them to different -d parents",
		strings.Join(e.Sources, " and "), e.Target)
}

// MissingParentError refuses a new receiver dataset whose parent does not exist there.
type MissingParentError struct {
	Target string
	Parent string
}

func (e *MissingParentError) Error() string {
	return fmt.Sprintf("receiver has no dataset %s to receive %s into; create it or choose another -d", e.Parent, e.Target)
}

// BlockedError reports a snapshot left out because the snapshot it must be sent from was
// refused.
type BlockedError struct {
	Snapshot string
	Base     string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s not sent: the version it descends from, %s, was refused", e.Snapshot, e.Base)
}

// versionsOf lists a streamline's versions in an inventory.
func versionsOf(inv *zfs.Inventory, streamline string) []VersionAt {
	var out []VersionAt
	for _, s := range inv.Tagged() {
		if s.Tag.Streamline == streamline {
			out = append(out, VersionAt{Version: s.Tag.Version, Snapshot: s.FullName(), GUID: s.GUID})
		}
	}
	return out
}

// TokenRejectedError is a resume that zfs send -t refused: the token can never be resumed
// from this sender, so its partial state is discarded.
type TokenRejectedError struct {
	Sender string
	Msg    string // what zfs send said
}

func (e *TokenRejectedError) Error() string {
	return fmt.Sprintf("zfs send -t on %s rejected the resume token: %s", e.Sender, e.Msg)
}

// ResumePendingError is a stream left out because its receiver dataset holds an interrupted
// receive that could not be resumed in this run; the next run resumes it first.
type ResumePendingError struct {
	Snapshot string
	Target   string
}

func (e *ResumePendingError) Error() string {
	return fmt.Sprintf("%s not sent: the interrupted receive into %s is to be resumed first", e.Snapshot, e.Target)
}
