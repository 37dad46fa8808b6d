package replicate

import (
	"fmt"
	"slices"

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
	// Raw is whether this plan's sends are raw (-w); the token must agree (see
	// zfs.ResumeToken.MatchesRaw) before zfs send -t runs.
	Raw bool
}

// Stale reports whether the resume can only discard the partial state.
func (r Resume) Stale() bool { return r.Source == nil }

// FindResumes returns the interrupted receives on dst that belong to replication from src
// under opt: a stream of a zfs-vm snapshot that this plan sends (its streamline selected, or
// a version one descends from), into the receiver dataset the plan sends it to; or, if the
// sender no longer has the snapshot, a zfs-vm snapshot of a selected streamline whose
// sender dataset maps to the receiver dataset. Other tokens are not ours to touch; they are
// returned as notes.
func FindResumes(src, dst *zfs.Inventory, opt Options) (resumes []Resume, notes []string) {
	p := newPlanner(src, dst, opt)
	p.markWanted()
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
			Volume: d.Type == "volume", New: len(d.Snapshots) == 0, Mountable: opt.Mountable},
			Raw: slices.Contains(opt.SendFlags, "-w")}
		if why := p.claim(&r, d); why != "" {
			notes = append(notes, fmt.Sprintf("%s has an interrupted receive of %s, %s; leaving it", d.Name, info.SafeName(), why))
			continue
		}
		resumes = append(resumes, r)
	}
	return resumes, notes
}

// claim fills in r's sender snapshots and returns "" when the interrupted receive into d
// belongs to this plan, else why not.
func (p *planner) claim(r *Resume, d *zfs.Dataset) string {
	if c := p.src.ByGUID(r.Info.ToGUID); len(c) > 0 {
		s := c[0]
		switch {
		case !s.Tagged:
			return "which is not a zfs-vm version"
		case !p.wanted[s]:
			return "which this run does not send (another streamline)"
		}
		if target, _ := p.receiverDataset(s.Dataset); target != d.Name {
			return "which this run sends to " + target
		}
		r.Source = s
		if r.Info.FromGUID != 0 {
			if f := p.src.ByGUID(r.Info.FromGUID); len(f) > 0 {
				r.From = f[0]
			}
		}
		return ""
	}
	srcDataset, snap, _ := zfs.SplitSnapshotName(r.Info.ToName)
	tag, tagged := zfs.ParseTag(snap)
	switch {
	case p.src.Dataset(srcDataset) == nil || p.mapped(srcDataset) != d.Name:
		return "which is not from this sender"
	case !tagged:
		return "which is not a zfs-vm version"
	case len(p.opt.Streamlines) > 0 && !slices.Contains(p.opt.Streamlines, tag.Streamline):
		return "which this run does not send (another streamline)"
	}
	return "" // ours, but its snapshot is gone: discard
}
