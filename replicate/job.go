package replicate

import (
	"context"
	"fmt"
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
}

// Summary is what a job did.
type Summary struct {
	Plan     *Plan
	Done     int // streams received
	Failed   int // streams that failed or were skipped because one they need failed
	Bytes    uint64
	Duration time.Duration
	// Errors are the refusals and failures, one per line to report.
	Errors []error
}

// Plan lists both hosts and computes the plan, checking the options against what is there:
// the destination parent must exist on the receiver, and every selected streamline must have
// versions on the sender.
func (j *Job) Plan(ctx context.Context) (*Plan, error) {
	src, err := j.Sender.List(ctx)
	if err != nil {
		return nil, err
	}
	dst, err := j.Receiver.List(ctx)
	if err != nil {
		return nil, err
	}
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

// Run plans and executes the job.
func (j *Job) Run(ctx context.Context) (*Summary, error) {
	start := time.Now()
	plan, err := j.Plan(ctx)
	if err != nil {
		return nil, err
	}
	ex := &Executor{Sender: j.Sender, Receiver: j.Receiver, Log: j.Log}
	res := ex.Run(ctx, plan)
	return &Summary{
		Plan: plan, Done: res.Done, Failed: len(res.Errors), Bytes: res.Bytes,
		Duration: time.Since(start), Errors: append(plan.Errors(), res.Errors...),
	}, nil
}
