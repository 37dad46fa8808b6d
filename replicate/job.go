package replicate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Job is one replication from a sender to a receiver: list both, plan, run.
type Job struct {
	Sender   *zfs.Host
	Receiver *zfs.Host
	Options  Options
	Log      logrus.FieldLogger
	// HoldTags, when set, keep each dataset's newest common snapshot held on both sides.
	HoldTags *HoldTags
	// Progress is passed to the Executor.
	Progress func(st *Stream, sent, total uint64)
	// Transport is passed to the Executor: compression on the wire, rate limit.
	Transport Transport
	// Streams is passed to the Executor: how many streams run at once.
	Streams int
	// Hints, when set, are the Summary.Hints of this job's last run (empty for a first run),
	// and the run learns what costs little to learn for the next (zfs.Guess.Learn).
	Hints *Hints
}

// Summary is what a job did.
type Summary struct {
	Plan   *Plan
	Done   int // streams received
	Failed int // streams that failed or were skipped because one they need failed
	Bytes  uint64
	// ByStreamline splits Bytes by streamline.
	ByStreamline map[string]uint64
	Duration     time.Duration
	// Errors are the refusals and failures, one per line to report.
	Errors []error
	// Hints are for the next run of the job (Job.Hints).
	Hints *Hints

	// The listings the plan was made from, the run's streamlines and destination parent,
	// for States.
	sender, receiver *zfs.Inventory
	streamlines      []string
	dest             string
}

// list reads both hosts. When both are this machine (replicating to another of its pools),
// the receiver is the destination's pool and the sender everything else: one host's copy
// of a snapshot would otherwise count as the other's.
func (j *Job) list(ctx context.Context) (src, dst *zfs.Inventory, err error) {
	// Both listings at once: on a remote host each is a round trip.
	var dstErr error
	done := make(chan struct{})
	var hints Hints
	if j.Hints != nil {
		hints = *j.Hints
	}
	sg, dg := hints.Sender.Guess(), hints.Receiver.Guess()
	sg.Learn, dg.Learn = j.Hints != nil, j.Hints != nil // what is learned is kept as hints
	go func() {
		defer close(done)
		dst, dstErr = j.Receiver.ListVersionsGuessing(ctx, dg)
	}()
	src, err = j.Sender.ListVersionsGuessing(ctx, sg)
	<-done
	if err != nil {
		return nil, nil, err
	}
	if dstErr != nil {
		return nil, nil, dstErr
	}
	if j.Sender.IsLocal() && j.Receiver.IsLocal() {
		if j.Options.DestParent == "" {
			return nil, nil, fmt.Errorf("replicating to this host needs -d POOL/DATASET in another pool")
		}
		src = src.Subset(func(d *zfs.Dataset) bool { return !zfs.InPool(d.Name, j.destPool()) })
	}
	return src, j.receiverView(dst), nil
}

// destPool is the pool of the destination parent.
func (j *Job) destPool() string {
	pool, _, _ := strings.Cut(j.Options.DestParent, "/")
	return pool
}

// receiverView is what of dst, a read of the receiver, is the receiver's: when both are this
// machine, the destination's pool only.
func (j *Job) receiverView(dst *zfs.Inventory) *zfs.Inventory {
	if !j.Sender.IsLocal() || !j.Receiver.IsLocal() {
		return dst
	}
	return dst.Subset(func(d *zfs.Dataset) bool { return zfs.InPool(d.Name, j.destPool()) })
}

// Plan lists both hosts and computes the plan (see plan).
func (j *Job) Plan(ctx context.Context) (*Plan, []Resume, error) {
	src, dst, err := j.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	resumes, _ := FindResumes(src, dst, j.Options)
	plan, err := j.plan(src, dst)
	return plan, resumes, err
}

// plan computes the plan, checking the options against what is there: the destination
// parent must exist on the receiver, and every selected streamline must have versions on the
// sender.
func (j *Job) plan(src, dst *zfs.Inventory) (*Plan, error) {
	if d := j.Options.DestParent; d != "" && dst.Dataset(d) == nil {
		return nil, fmt.Errorf("destination %s does not exist on %s", d, j.Receiver.Name)
	}
	for _, name := range j.Options.Streamlines {
		if max, ok := src.MaxVersion(name); !ok {
			_ = max
			return nil, fmt.Errorf("%s has no versions of streamline %s", j.Sender.Name, name)
		}
	}
	opt := j.Options
	opt.ReceiverName = j.Receiver.Name
	return Compute(src, dst, opt), nil
}

// planKeeping plans, leaving out streams into the receiver datasets whose interrupted
// receive was kept for the next run (they could only fail on its partial state).
func (j *Job) planKeeping(src, dst *zfs.Inventory, kept map[string]error) (*Plan, error) {
	if len(kept) == 0 {
		return j.plan(src, dst)
	}
	opt := j.Options
	opt.pending = kept
	k := *j
	k.Options = opt
	return k.plan(src, dst)
}

// Run executes the job: it first finishes (or discards) interrupted receives of this
// replication, then plans against what the receiver has and runs the plan.
func (j *Job) Run(ctx context.Context) (*Summary, error) {
	start := time.Now()
	// The holds read beside the listings is stopped if the run ends before using it.
	prefetchCtx, stopPrefetch := context.WithCancel(ctx)
	senderHolds, receiverHolds := j.prefetchHolds(prefetchCtx)
	defer func(s, r func() *heldTags) { stopPrefetch(); s(); r() }(senderHolds, receiverHolds)
	src, dst, err := j.list(ctx)
	if err != nil {
		return nil, stopped(ctx, err)
	}
	ex := &Executor{Sender: j.Sender, Receiver: j.Receiver, Log: j.Log, HoldTags: j.HoldTags, Progress: j.Progress,
		Transport: j.Transport, Streams: j.Streams}
	resumes, notes := FindResumes(src, dst, j.Options)
	for _, n := range notes {
		j.Log.Warn(n)
	}
	var sum Summary
	var kept map[string]error
	if len(resumes) > 0 {
		var done int
		var bytes uint64
		var errs []error
		done, bytes, errs, kept = ex.Resume(ctx, resumes)
		// Resume moved holds: what was read of them before is stale.
		senderHolds, receiverHolds = noHolds, noHolds
		sum.Done, sum.Bytes, sum.Failed, sum.Errors = done, bytes, len(errs), errs
		// Read again as first read: through the names program where that did or learned
		// that it can.
		again := zfs.Guess{Pools: dst.ProgramPools(), NoProgram: dst.NoProgram()}
		if dst, err = j.Receiver.ListVersionsGuessing(ctx, again); err != nil {
			return nil, stopped(ctx, err)
		}
		dst = j.receiverView(dst)
	}
	plan, err := j.planKeeping(src, dst, kept)
	if err != nil {
		return nil, err
	}
	for _, n := range plan.Notices {
		j.Log.Warn(n)
	}
	ex.migrateHolds(ctx, plan.Bases, senderHolds(), receiverHolds())
	res := ex.Run(ctx, plan)
	sum.Hints = nextHints(src, dst, plan, res)
	sum.Plan = plan
	sum.sender, sum.receiver, sum.streamlines, sum.dest = src, dst, j.Options.Streamlines, j.Options.DestParent
	sum.Done += res.Done
	sum.Bytes += res.Bytes
	sum.ByStreamline = res.ByStreamline
	sum.Failed += len(res.Errors)
	sum.Errors = append(append(plan.Errors(), sum.Errors...), res.Errors...)
	sum.Duration = time.Since(start)
	return &sum, nil
}

// prefetchHolds starts reading the hold tags of the bases the last run left held (Hints),
// beside the listings, so that a run whose bases have not moved needs no `zfs holds` after
// planning. Without hints or hold tags it reads nothing.
func (j *Job) prefetchHolds(ctx context.Context) (sender, receiver func() *heldTags) {
	if j.Hints == nil || j.HoldTags == nil {
		return noHolds, noHolds
	}
	return prefetchHolds(ctx, j.Sender, j.Hints.Sender.Bases), prefetchHolds(ctx, j.Receiver, j.Hints.Receiver.Bases)
}

// stopped returns err, or a *StoppedError when ctx was cancelled (err is then only what the
// cancellation did to a command, e.g. "signal: terminated").
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &StoppedError{Cause: context.Cause(ctx)}
	}
	return err
}
