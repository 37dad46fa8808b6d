package replicate

import (
	"fmt"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Resume is an interrupted receive on the receiver that a job deals with before planning:
// it continues the stream (zfs send -t) while the sender still has its snapshot, and
// discards the partial state (zfs receive -A) when not, so that a stale token never blocks a
// later run.
type Resume struct {
	Target string // receiver dataset holding the token
	Token  string
	Info   zfs.ResumeToken
	// Source is the sender's snapshot the stream was bringing; nil when it no longer exists.
	Source *zfs.Snapshot
	// From is the sender's base of an incremental stream, when it still exists.
	From *zfs.Snapshot
	// Props are the receive's property options: those of the stream it continues, with
	// the type the receiver's listing shows.
	Props zfs.ReceiveProps
}

// Stale reports whether the resume can only discard the partial state.
func (r Resume) Stale() bool { return r.Source == nil }

// FindResumes returns the interrupted receives on dst that belong to replication from src:
// those whose stream's snapshot the sender has (same guid), or, if the sender no longer has
// it, whose sender dataset maps to the receiver dataset under opt. Other datasets with a
// token are not ours to touch; they are returned as notes.
func FindResumes(src, dst *zfs.Inventory, opt Options) (resumes []Resume, notes []string) {
	p := &planner{src: src, dst: dst, opt: opt}
	for _, d := range dst.Datasets {
		if d.ResumeToken == "" {
			continue
		}
		info, err := zfs.ParseResumeToken(d.ResumeToken)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s has an interrupted receive whose token zfs-vm cannot read (%v); leaving it", d.Name, err))
			continue
		}
		// A dataset that a full or clone stream was creating has no snapshot yet.
		r := Resume{Target: d.Name, Token: d.ResumeToken, Info: info, Props: zfs.ReceiveProps{
			Volume: d.Type == "volume", New: len(d.Snapshots) == 0, Mountable: opt.Mountable}}
		if c := src.ByGUID(info.ToGUID); len(c) > 0 {
			r.Source = c[0]
			if info.FromGUID != 0 {
				if f := src.ByGUID(info.FromGUID); len(f) > 0 {
					r.From = f[0]
				}
			}
			resumes = append(resumes, r)
			continue
		}
		srcDataset, _, _ := zfs.SplitSnapshotName(info.ToName)
		if src.Dataset(srcDataset) != nil && p.mapped(srcDataset) == d.Name {
			resumes = append(resumes, r) // ours, but its snapshot is gone: discard
			continue
		}
		notes = append(notes, fmt.Sprintf("%s has an interrupted receive of %s, which is not from this sender; leaving it", d.Name, info.ToName))
	}
	return resumes, notes
}
