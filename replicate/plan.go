package replicate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Kind is the kind of a planned stream.
type Kind int

const (
	// Full is a complete stream of one snapshot into a new receiver dataset.
	Full Kind = iota
	// Incremental carries the changes between two snapshots of one dataset.
	Incremental
	// Clone is an incremental from a snapshot of the origin's lineage to the first snapshot
	// of a clone; the receiver creates a clone of its copy of that snapshot.
	Clone
)

func (k Kind) String() string {
	switch k {
	case Full:
		return "full"
	case Incremental:
		return "incremental"
	case Clone:
		return "clone"
	}
	return "unknown"
}

// Stream is one planned `zfs send | zfs receive`.
type Stream struct {
	Kind Kind
	From *zfs.Snapshot // sender's base; nil for Full
	To   *zfs.Snapshot // sender's snapshot to send
	// Intermediates sends every snapshot between From and To too (zfs send -I).
	Intermediates bool
	Target        string    // receiver dataset
	Origin        string    // receiver snapshot a Clone stream is received as a clone of
	Base          string    // the receiver's copy of From (Incremental and Clone)
	Rollback      *Rollback // set when the receiver dataset must be rolled back first
	SendFlags     []string  // extra zfs send flags (Options.SendFlags)
	Versions      []zfs.Tag // the zfs-vm versions this stream brings, oldest first
	// Volume: the receiver dataset is a volume (the receiver's own, when it exists).
	Volume bool
	// Mountable lets a new filesystem mount where it inherits (Options.Mountable).
	Mountable bool
}

// SendArgs validates the stream into the arguments of its zfs send.
func (s *Stream) SendArgs() (zfs.SendArgs, error) {
	var a zfs.SendArgs
	var err error
	switch s.Kind {
	case Full:
		a, err = zfs.NewFullSend(s.To.FullName())
	case Incremental:
		a, err = zfs.NewIncrementalSend(s.From.FullName(), s.To.FullName(), s.Intermediates)
	default:
		a, err = zfs.NewCloneSend(s.From.FullName(), s.To.FullName())
	}
	return a.WithOptions(s.SendFlags), err
}

// ReceiveArgs validates the stream into the arguments of its zfs receive.
func (s *Stream) ReceiveArgs() (zfs.ReceiveArgs, error) {
	a, err := zfs.NewReceive(s.Target, s.Origin)
	return a.WithProps(zfs.ReceiveProps{Volume: s.Volume, New: s.Kind != Incremental, Mountable: s.Mountable}), err
}

// Refusal is a snapshot the plan leaves out, and why.
type Refusal struct {
	Snapshot *zfs.Snapshot
	Err      error
}

// Plan is the ordered list of streams to run, and what was refused. Every stream's base is
// on the receiver before it runs: either it was there already or an earlier stream brings it.
type Plan struct {
	Streams []*Stream
	Refused []Refusal
	// Notices are things worth saying that need no action, such as a member of a recursive
	// image that the sender no longer has (never destroyed on the receiver).
	Notices []string
	// Bases are, per sender dataset of the selected streamlines, its newest zfs-vm
	// snapshot that the receiver already has, with the receiver's copy: the snapshots the
	// base holds of this pair sit on before the run.
	Bases []Base
}

// Base is the newest common zfs-vm snapshot of a sender dataset and its receiver copy.
type Base struct {
	Sender, Receiver *zfs.Snapshot
}

// Errors returns the distinct refusal errors in plan order.
func (p *Plan) Errors() []error {
	seen := map[string]bool{}
	var out []error
	for _, r := range p.Refused {
		if msg := r.Err.Error(); !seen[msg] {
			seen[msg] = true
			out = append(out, r.Err)
		}
	}
	return out
}

// Options select what to plan.
type Options struct {
	// Streamlines limits the plan to these streamlines (none = all). The zfs-vm versions
	// that the selected ones descend from come along when the receiver lacks them, so that
	// clones still arrive as clones.
	Streamlines []string
	// DestParent, when set, receives each dataset as DestParent/<last component of its
	// name>; otherwise under the sender's name.
	DestParent string
	// ReceiverName names the receiver host in messages.
	ReceiverName string
	// SendFlags are added to every zfs send (from zfs.SendOptions).
	SendFlags []string
	// Rollback lets an incremental go onto a receiver dataset that diverged from the common
	// snapshot: the dataset is rolled back to it first, destroying what came after (never
	// clones). Without it such datasets are refused.
	Rollback bool
	// Mountable receives new filesystems mountable (canmount from the receiver's default)
	// rather than with canmount=noauto. Their mountpoint is inherited on the receiver either
	// way; the sender's is never used.
	Mountable bool
	// pending are receiver datasets whose interrupted receive is kept for a later run:
	// no stream goes into them (see Job.Run).
	pending map[string]error
}

// Rollback is the rollback a stream needs first (Options.Rollback).
type Rollback struct {
	Dataset  string   // receiver dataset
	To       string   // the receiver's copy of the common snapshot
	Destroys []string // receiver snapshots after it, destroyed by the rollback
	Written  uint64   // bytes written since the newest snapshot, discarded
}

type planner struct {
	src, dst *zfs.Inventory
	opt      Options
	wanted   map[*zfs.Snapshot]bool
	refused  map[*zfs.Snapshot]error
	// received maps a sender snapshot that a planned stream brings to its receiver name.
	received map[*zfs.Snapshot]string
	// created maps receiver datasets that planned streams create to their sender dataset.
	created  map[string]*zfs.Dataset
	collided map[*zfs.Dataset]error
	plan     *Plan
}

// Compute plans the streams that bring the receiver (dst) up to date with the sender's (src)
// zfs-vm snapshots. It does no I/O.
func Compute(src, dst *zfs.Inventory, opt Options) *Plan {
	if opt.ReceiverName == "" {
		opt.ReceiverName = "the receiver"
	}
	p := newPlanner(src, dst, opt)
	p.markWanted()
	var order []*zfs.Snapshot
	for s := range p.wanted {
		order = append(order, s)
	}
	zfs.SortByCreation(order)

	conflicts := p.conflicts(order)
	p.findCollisions(order)
	for _, s := range order {
		if err := conflicts[s.Tag.Streamline]; err != nil {
			p.refuse(s, err)
			continue
		}
		if err := p.collided[s.Dataset]; err != nil {
			p.refuse(s, err)
			continue
		}
		p.planOne(s)
	}
	p.coalesce()
	p.noticeGoneMembers()
	p.findBases()
	return p.plan
}

// newPlanner returns a planner of src and dst under opt.
func newPlanner(src, dst *zfs.Inventory, opt Options) *planner {
	return &planner{src: src, dst: dst, opt: opt,
		wanted: map[*zfs.Snapshot]bool{}, refused: map[*zfs.Snapshot]error{},
		received: map[*zfs.Snapshot]string{}, created: map[string]*zfs.Dataset{},
		collided: map[*zfs.Dataset]error{}, plan: &Plan{}}
}

// selected reports whether the options select s's streamline.
func (p *planner) selected(s *zfs.Snapshot) bool {
	return len(p.opt.Streamlines) == 0 || slices.Contains(p.opt.Streamlines, s.Tag.Streamline)
}

// markWanted marks the zfs-vm snapshots the plan sends: those of the selected streamlines
// that the receiver lacks, and the versions they descend from that it lacks too.
func (p *planner) markWanted() {
	for _, s := range p.src.Tagged() {
		if p.selected(s) && p.onReceiver(s) == nil {
			p.want(s)
		}
	}
}

// findBases fills in the plan's Bases.
func (p *planner) findBases() {
	for _, d := range p.src.Datasets {
		for i := len(d.Snapshots) - 1; i >= 0; i-- {
			s := d.Snapshots[i]
			if !s.Tagged || len(p.opt.Streamlines) > 0 && !slices.Contains(p.opt.Streamlines, s.Tag.Streamline) {
				continue
			}
			if c := p.onReceiver(s); c != nil {
				p.plan.Bases = append(p.plan.Bases, Base{Sender: s, Receiver: c})
				break
			}
		}
	}
}

// noticeGoneMembers notes receiver datasets with zfs-vm snapshots that are copies of nothing
// the sender has, below a dataset that is a copy: members of a recursive image destroyed on
// the sender after they were replicated. They are left as they are.
func (p *planner) noticeGoneMembers() {
	isCopy := func(d *zfs.Dataset) bool {
		for _, s := range d.Snapshots {
			if len(p.src.ByGUID(s.GUID)) > 0 {
				return true
			}
		}
		return false
	}
	for _, d := range p.dst.Datasets {
		parent := p.dst.Dataset(zfs.ParentDataset(d.Name))
		if d.HasTagged() && !isCopy(d) && parent != nil && isCopy(parent) {
			p.plan.Notices = append(p.plan.Notices, fmt.Sprintf(
				"receiver dataset %s is a member of an image the sender no longer has; leaving it", d.Name))
		}
	}
}

// onReceiver returns the receiver's copy of a sender snapshot (same guid), preferring the
// one in the dataset it would be received into, or nil. Under -d only copies below
// DestParent count: one elsewhere belongs to another destination (another peer on the same
// host, which may destroy it, and whose holds it carries); taking it for this one's would
// plan nothing for this destination, and hold that copy as this pair's base.
func (p *planner) onReceiver(s *zfs.Snapshot) *zfs.Snapshot {
	want := p.mapped(s.Dataset.Name)
	var first *zfs.Snapshot
	for _, c := range p.dst.ByGUID(s.GUID) {
		if c.Dataset.Name == want {
			return c
		}
		if first == nil && p.inDest(c.Dataset.Name) {
			first = c
		}
	}
	return first
}

// inDest reports whether a receiver dataset is below the destination parent.
func (p *planner) inDest(name string) bool { return underDest(name, p.opt.DestParent) }

// underDest reports whether a receiver dataset is below dest, the destination parent (any
// is, without -d: names are the sender's, and a copy renamed on the receiver is still found).
func underDest(name, dest string) bool {
	return dest == "" || strings.HasPrefix(name, dest+"/")
}

// want marks s, and the zfs-vm versions it descends from that the receiver lacks, as to be
// sent. Foreign snapshots on the way are passed over: they are not zfs-vm's to send.
func (p *planner) want(s *zfs.Snapshot) {
	if p.wanted[s] {
		return
	}
	p.wanted[s] = true
	for a := range s.Ancestors() {
		if p.onReceiver(a) != nil {
			return
		}
		if a.Tagged {
			p.want(a)
			return
		}
	}
}

// base returns the nearest ancestor of s that the receiver will have when s is sent.
func (p *planner) base(s *zfs.Snapshot) *zfs.Snapshot {
	for a := range s.Ancestors() {
		if p.wanted[a] || p.onReceiver(a) != nil {
			return a
		}
	}
	return nil
}

// mapped returns the receiver name of a sender dataset under -d: DestParent/<last component>
// for an image's root, with the members of a recursive image keeping their place below it.
func (p *planner) mapped(name string) string {
	if p.opt.DestParent == "" {
		return name
	}
	root := name
	if d := p.src.Dataset(name); d != nil {
		root = p.src.ImageRoot(d).Name
	}
	return p.opt.DestParent + "/" + zfs.LastComponent(root) + name[len(root):]
}

// receiverDataset returns where the sender's dataset d lives on the receiver: where its
// snapshots already are, else its mapped name.
func (p *planner) receiverDataset(d *zfs.Dataset) (name string, exists bool) {
	for i := len(d.Snapshots) - 1; i >= 0; i-- {
		if c := p.onReceiver(d.Snapshots[i]); c != nil {
			return c.Dataset.Name, true
		}
	}
	return p.mapped(d.Name), false
}

func (p *planner) refuse(s *zfs.Snapshot, err error) {
	p.refused[s] = err
	p.plan.Refused = append(p.plan.Refused, Refusal{Snapshot: s, Err: err})
}

// conflicts finds, per streamline, versions the receiver has under the same name but with
// another guid.
func (p *planner) conflicts(order []*zfs.Snapshot) map[string]error {
	clashes := map[string][]uint64{}
	for _, s := range order {
		for _, r := range p.dst.ByTag(s.Tag) {
			// A receiver snapshot that is a copy of some sender snapshot is no clash: the
			// members of a recursive version share its name.
			if len(p.src.ByGUID(r.GUID)) == 0 {
				clashes[s.Tag.Streamline] = append(clashes[s.Tag.Streamline], s.Tag.Version)
				break
			}
		}
	}
	out := map[string]error{}
	for name, versions := range clashes {
		out[name] = &ConflictError{Streamline: name, Receiver: p.opt.ReceiverName,
			Sender: versionsOf(p.src, name), Received: versionsOf(p.dst, name), Clashes: versions}
	}
	return out
}

// findCollisions refuses sender datasets that would be created under one receiver name.
func (p *planner) findCollisions(order []*zfs.Snapshot) {
	byTarget := map[string][]*zfs.Dataset{}
	seen := map[*zfs.Dataset]bool{}
	for _, s := range order {
		d := s.Dataset
		if seen[d] {
			continue
		}
		seen[d] = true
		if name, exists := p.receiverDataset(d); !exists {
			byTarget[name] = append(byTarget[name], d)
		}
	}
	for target, ds := range byTarget {
		if len(ds) < 2 {
			continue
		}
		err := &NameCollisionError{Target: target}
		for _, d := range ds {
			err.Sources = append(err.Sources, d.Name)
		}
		for _, d := range ds {
			p.collided[d] = err
		}
	}
}

// receivedName returns the receiver's name of a sender snapshot that is there or that a
// planned stream brings.
func (p *planner) receivedName(s *zfs.Snapshot) string {
	if c := p.onReceiver(s); c != nil {
		return c.FullName()
	}
	return p.received[s]
}

func (p *planner) planOne(s *zfs.Snapshot) {
	b := p.base(s)
	if b != nil && p.refused[b] != nil {
		p.refuse(s, &BlockedError{Snapshot: s.FullName(), Base: b.FullName()})
		return
	}
	st := &Stream{To: s, From: b, Versions: []zfs.Tag{s.Tag}, SendFlags: p.opt.SendFlags,
		Volume: s.Dataset.Type == "volume", Mountable: p.opt.Mountable}
	switch {
	case b == nil || b.Dataset != s.Dataset:
		st.Kind = Full
		if b != nil {
			st.Kind = Clone
			st.Origin = p.receivedName(b)
			st.Base = st.Origin
		}
		target, err := p.newTarget(s)
		if err != nil {
			p.refuse(s, err)
			return
		}
		st.Target = target
		p.created[target] = s.Dataset
	default:
		st.Kind = Incremental
		base := p.receivedName(b)
		target, _, _ := zfs.SplitSnapshotName(base)
		if p.opt.pending[target] != nil {
			p.refuse(s, &ResumePendingError{Snapshot: s.FullName(), Target: target})
			return
		}
		if c := p.onReceiver(b); c != nil {
			if err := p.checkDiverged(s, c); err != nil {
				var div *DivergedError
				if !p.opt.Rollback || !errors.As(err, &div) {
					p.refuse(s, err)
					return
				}
				if clones := p.clonesOf(div.Foreign); len(clones) > 0 {
					p.refuse(s, &RollbackClonesError{Diverged: div, Clones: clones})
					return
				}
				st.Rollback = &Rollback{Dataset: div.Target, To: div.Base, Destroys: div.Foreign, Written: div.Written}
			}
		}
		st.Target = target
		st.Base = base
		if r := p.dst.Dataset(target); r != nil {
			st.Volume = r.Type == "volume" // the receiver's own word over the sender's
		}
	}
	p.received[s] = st.Target + "@" + s.Name
	p.plan.Streams = append(p.plan.Streams, st)
}

// newTarget returns the receiver dataset that a full or clone stream of s creates, checking
// that it is free and that its parent exists (or is created earlier in the plan).
func (p *planner) newTarget(s *zfs.Snapshot) (string, error) {
	target, exists := p.receiverDataset(s.Dataset)
	if p.opt.pending[target] != nil {
		return "", &ResumePendingError{Snapshot: s.FullName(), Target: target}
	}
	if exists {
		// The dataset is there with later snapshots of the lineage only.
		r := p.dst.Dataset(target)
		return "", &GapError{Snapshot: s.FullName(), Target: target, Later: r.Newest().FullName()}
	}
	if p.dst.Dataset(target) != nil {
		return "", &TargetExistsError{Source: s.Dataset.Name, Target: target}
	}
	if prev := p.created[target]; prev != nil && prev != s.Dataset {
		return "", &NameCollisionError{Target: target, Sources: []string{prev.Name, s.Dataset.Name}}
	}
	parent := zfs.ParentDataset(target)
	if parent == "" {
		return "", &TargetExistsError{Source: s.Dataset.Name, Target: target}
	}
	if p.dst.Dataset(parent) == nil && p.created[parent] == nil {
		return "", &MissingParentError{Target: target, Parent: parent}
	}
	return target, nil
}

// clonesOf returns the receiver datasets that are clones of any of the snapshots.
func (p *planner) clonesOf(snaps []string) []string {
	var out []string
	for _, d := range p.dst.Datasets {
		if d.OriginName != "" && slices.Contains(snaps, d.OriginName) {
			out = append(out, d.Name)
		}
	}
	return out
}

// checkDiverged refuses an incremental onto the receiver's copy c of the base when the
// receiver's dataset has moved past it.
func (p *planner) checkDiverged(s, c *zfs.Snapshot) error {
	r := c.Dataset
	var foreign []string
	var later *zfs.Snapshot
	for n := c.Next(); n != nil; n = n.Next() {
		if len(p.src.ByGUID(n.GUID)) == 0 {
			foreign = append(foreign, n.FullName())
		} else if later == nil {
			later = n
		}
	}
	switch {
	case len(foreign) > 0:
		return &DivergedError{Target: r.Name, Base: c.FullName(), Foreign: foreign}
	case later != nil:
		return &GapError{Snapshot: s.FullName(), Target: r.Name, Later: later.FullName()}
	case r.Written > 0:
		return &DivergedError{Target: r.Name, Base: c.FullName(), Written: r.Written}
	}
	return nil
}

// coalesce merges runs of incremental streams between adjacent snapshots of one dataset into
// one `zfs send -I` stream: fewer streams, and -I is only used where it sends no snapshot
// that was not planned.
func (p *planner) coalesce() {
	var out []*Stream
	open := map[*zfs.Dataset]*Stream{} // the run that can still be extended, per dataset
	for _, st := range p.plan.Streams {
		adjacent := st.Kind == Incremental && st.From.Next() == st.To
		if run := open[st.To.Dataset]; adjacent && run != nil && run.To == st.From {
			run.To = st.To
			run.Intermediates = true
			run.Versions = append(run.Versions, st.Versions...)
			continue
		}
		out = append(out, st)
		if adjacent {
			open[st.To.Dataset] = st
		} else {
			delete(open, st.To.Dataset)
		}
	}
	p.plan.Streams = out
}
