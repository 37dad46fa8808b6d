package replicate

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/stream"
)

// Executor runs a plan's streams, each as `zfs send` on the sender piped into `zfs receive`
// on the receiver. The stream flows through an OS pipe between the two processes (or the ssh
// processes that carry them), except where a copy of ours takes the place of a pipe: the rate
// limit, and, when this host receives from a peer, the check of the stream (see
// Executor.cuts; one dataset's stream is checked in the pipe instead, see gate).
type Executor struct {
	Sender   *zfs.Host
	Receiver *zfs.Host
	Log      logrus.FieldLogger
	// Progress, when set, is called about once a second while a stream runs, with the bytes
	// sent so far and the stream's estimated size (0 when unknown).
	Progress func(st *Stream, sent, total uint64)
	// HoldTags, when set, hold the newest common snapshot of each dataset a run advanced on
	// both sides (zfs hold), and release the previous one, so that neither side can destroy
	// the base of the next incremental by accident.
	HoldTags *HoldTags
	// Transport adds a compressor on the wire and a rate limit.
	Transport Transport
	// Streams is how many streams run at once (0 or 1: one at a time; at most MaxStreams).
	// With a rate limit they run one at a time.
	Streams int

	wireOnce sync.Once
	wire     wire
}

// HoldTags are the `zfs hold` tags of a sender/receiver pair. Each names zfs-vm, the peer
// and the destination (see cmd/zfs-vm's newJob), so that two pairs never move each other's
// holds.
type HoldTags struct {
	Sender   string // tag on the sender's snapshots
	Receiver string // tag on the receiver's snapshots
	// LegacySender and LegacyReceiver, when set, are the tags older versions used for the
	// same pair ("zfs-vm-base:HOST"). MigrateHolds replaces them; a base the run moves
	// past loses them too.
	LegacySender, LegacyReceiver string
}

// holdChanges collects the holds a run adds and releases, per side.
type holdChanges struct {
	senderHold, senderRelease, receiverHold, receiverRelease []string
}

func (h *holdChanges) advance(fromSender, fromReceiver, toSender, toReceiver string) {
	h.senderHold = append(h.senderHold, toSender)
	h.receiverHold = append(h.receiverHold, toReceiver)
	if fromSender != "" {
		h.senderRelease = append(h.senderRelease, fromSender)
		h.receiverRelease = append(h.receiverRelease, fromReceiver)
	}
}

// StreamError is a stream that failed, with what each side said.
type StreamError struct {
	Stream *Stream
	Err    error
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Stream.Kind, Describe(e.Stream), e.Err)
}

func (e *StreamError) Unwrap() error { return e.Err }

// Result summarises a run.
type Result struct {
	Done    int     // streams received
	Skipped int     // streams not run because a stream they depend on failed
	Errors  []error // one per failed or skipped stream
	// Bytes is the size of the streams received, as zfs send estimated it (-P).
	Bytes uint64
	// ByStreamline splits Bytes by the streamline of each stream's snapshot.
	ByStreamline map[string]uint64

	targets []string    // the receiver datasets of the streams received
	holds   holdChanges // the base holds the run moved
}

// Run executes the plan's streams, up to Streams of them at once, each after the earlier ones
// it needs (see needs); one at a time, in the plan's order. A failed stream does not stop the
// others; the streams that need what it would have brought are skipped.
func (e *Executor) Run(ctx context.Context, plan *Plan) Result {
	r := &run{e: e, ctx: ctx, failed: map[*zfs.Snapshot]bool{}}
	defer func() { e.applyHolds(ctx, &r.res.holds) }()
	at := min(max(e.Streams, 1), MaxStreams)
	if e.Transport.RateLimit > 0 {
		at = 1 // the limit is the run's, not each stream's
	}
	if at == 1 {
		for _, st := range plan.Streams {
			r.stream(st)
		}
	} else {
		r.atOnce(plan.Streams, at)
	}
	if r.stopped > 0 && !r.stopReported {
		// One line says the run was stopped, whether or not a stream was running.
		r.res.Errors = append(r.res.Errors, &StoppedError{Cause: context.Cause(ctx)})
	}
	return r.res
}

// atOnce runs streams, up to at of them at a time, each once the streams it needs have
// ended; of the streams ready, the first in the plan's order goes first. Only running
// streams have a goroutine.
func (r *run) atOnce(streams []*Stream, at int) {
	waiting := make([]int, len(streams)) // how many streams each one still waits for
	next := make([][]int, len(streams))  // the streams waiting for each one
	for j, need := range needs(streams) {
		waiting[j] = len(need)
		for _, i := range need {
			next[i] = append(next[i], j)
		}
	}
	var ready []int // sorted
	for j := range streams {
		if waiting[j] == 0 {
			ready = append(ready, j)
		}
	}
	ended := make(chan int)
	for running := 0; running > 0 || len(ready) > 0; running-- {
		for ; running < at && len(ready) > 0; running++ {
			j := ready[0]
			ready = ready[1:]
			go func() { r.stream(streams[j]); ended <- j }()
		}
		for _, j := range next[<-ended] {
			waiting[j]--
			if waiting[j] == 0 {
				k, _ := slices.BinarySearch(ready, j)
				ready = slices.Insert(ready, k, j)
			}
		}
	}
}

// MaxStreams is the most streams a run may have at once: a peer's multiplexed ssh connection
// carries one session per stream, and OpenSSH's sshd allows 10 (MaxSessions).
const MaxStreams = 8

// run is one Executor.Run: what its streams, which may run at once, report.
type run struct {
	e            *Executor
	ctx          context.Context
	mu           sync.Mutex
	res          Result
	failed       map[*zfs.Snapshot]bool // the sender snapshots that failed streams would have brought
	stopped      int                    // streams not started: the run was stopped
	stopReported bool                   // a stream's error says so
}

// stream runs st unless the run was stopped or a stream it needs failed, and records the
// outcome.
func (r *run) stream(st *Stream) {
	r.mu.Lock()
	stopped := r.ctx.Err() != nil
	if stopped {
		r.res.Skipped++
		r.stopped++
	}
	blocked := !stopped && st.From != nil && r.failed[st.From]
	if blocked {
		r.res.Skipped++
		r.res.Errors = append(r.res.Errors, &BlockedError{Snapshot: st.To.FullName(), Base: st.From.FullName()})
		markFailed(r.failed, st)
	}
	r.mu.Unlock()
	if stopped || blocked {
		return
	}
	start := time.Now()
	size, err := r.e.runStream(r.ctx, st)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.res.Errors = append(r.res.Errors, &StreamError{Stream: st, Err: err})
		r.stopReported = r.stopReported || errors.As(err, new(*StoppedError))
		markFailed(r.failed, st)
		return
	}
	r.done(st, size)
	r.e.Log.WithFields(logrus.Fields{"kind": st.Kind.String(), "snapshot": st.To.FullName(),
		"streamline": st.To.Tag.Streamline, "dataset": st.Target, "bytes": size,
		"seconds": time.Since(start).Seconds()}).
		Infof("%-11s %s  done in %.1fs", st.Kind, Describe(st), time.Since(start).Seconds())
}

// done records st received, size bytes, and the base holds it moves.
func (r *run) done(st *Stream, size uint64) {
	res := &r.res
	res.Done++
	res.Bytes += size
	if res.ByStreamline == nil {
		res.ByStreamline = map[string]uint64{}
	}
	res.ByStreamline[st.To.Tag.Streamline] += size
	res.targets = append(res.targets, st.Target)
	if st.Kind == Incremental {
		res.holds.advance(st.From.FullName(), st.Base, st.To.FullName(), st.Target+"@"+st.To.Name)
	} else {
		res.holds.advance("", "", st.To.FullName(), st.Target+"@"+st.To.Name)
	}
}

// markFailed records the sender snapshots that a failed stream would have brought.
func markFailed(failed map[*zfs.Snapshot]bool, st *Stream) {
	failed[st.To] = true
	if !st.Intermediates {
		return
	}
	for s := range st.To.Ancestors() {
		if s == st.From {
			return
		}
		failed[s] = true
	}
}

// runStream runs one stream and returns its size as zfs send reported it.
func (e *Executor) runStream(ctx context.Context, st *Stream) (uint64, error) {
	send, err := st.SendArgs()
	if err != nil {
		return 0, err
	}
	recv, err := st.ReceiveArgs()
	if err != nil {
		return 0, err
	}
	if rb := st.Rollback; rb != nil {
		if err := e.rollback(ctx, rb); err != nil {
			return 0, err
		}
	}
	return e.pipe(ctx, send, recv, st)
}

// rollback rolls a diverged receiver dataset back to the common snapshot (--rollback), after
// saying what that destroys. -r destroys later snapshots; clones were refused when planning.
func (e *Executor) rollback(ctx context.Context, rb *Rollback) error {
	what := fmt.Sprintf("%d bytes written since its newest snapshot", rb.Written)
	if len(rb.Destroys) > 0 {
		what = "the snapshots " + strings.Join(rb.Destroys, ", ")
	}
	e.Log.WithField("dataset", rb.Dataset).Warnf("--rollback: rolling %s back to %s, destroying %s", rb.Dataset, rb.To, what)
	if err := zfs.ValidateSnapshotName(rb.To); err != nil {
		return err
	}
	argv := []string{"zfs", "rollback", rb.To}
	if len(rb.Destroys) > 0 {
		argv = []string{"zfs", "rollback", "-r", rb.To}
		// Our own base holds would keep the rollback from destroying them; anyone else's
		// holds stay and make it fail, as they should.
		if e.HoldTags != nil {
			cmds := [][]string{append([]string{"zfs", "release", e.HoldTags.Receiver}, rb.Destroys...)}
			if e.HoldTags.LegacyReceiver != "" {
				cmds = append(cmds, append([]string{"zfs", "release", e.HoldTags.LegacyReceiver}, rb.Destroys...))
			}
			if err := e.Receiver.RunAll(ctx, cmds...); err != nil && !onlyHoldNoise(err) {
				return err
			}
		}
	}
	return e.Receiver.Run(ctx, argv...)
}

// pipe runs zfs send on the sender into zfs receive on the receiver, through the run's
// compressor and rate limit if any; st, when not nil, is the stream reported to Progress.
func (e *Executor) pipe(ctx context.Context, send zfs.SendArgs, recv zfs.ReceiveArgs, st *Stream) (uint64, error) {
	e.wireOnce.Do(func() { e.wire = e.chooseWire(ctx) })
	recvCtx, stopRecv := receiverContext(ctx)
	defer stopRecv()
	p := e.newStreamPipe(ctx, recvCtx, send, recv, st)
	if err := p.connect(e.cuts(p, send, recv, st)); err != nil {
		return 0, err
	}
	if err := p.start(); err != nil {
		return 0, err
	}
	errs, copyErr := p.wait(ctx)
	if err := e.pipeError(ctx, send, p, errs, copyErr); err != nil {
		return 0, err
	}
	return p.report.total, nil
}

// cuts are the copies of ours a stream passes through: the rate limit, between the two
// sides; and, when this host receives from a peer (a pull), the check of the stream (see
// checkedCopy), just before zfs receive, after any decompressor. Where both fall on the
// same pipe, one copy does both. A pull of one dataset's stream not limited there is
// checked in place instead, with no copy (see gate). st, when not nil, is the planned
// stream, whose snapshots' guids a run of snapshots (-I) must start and end at.
func (e *Executor) cuts(p *streamPipe, send zfs.SendArgs, recv zfs.ReceiveArgs, st *Stream) []*cut {
	var cuts []*cut
	if rate := e.Transport.RateLimit; rate > 0 {
		cuts = append(cuts, &cut{at: len(p.senders) - 1, copy: func(ctx context.Context, dst, src *os.File) error {
			_, err := rateLimitedCopy(ctx, dst, src, rate)
			return err
		}})
	}
	if !e.Receiver.IsLocal() || e.Sender.IsLocal() {
		return cuts
	}
	at, rest, rate := len(p.all)-2, plainCopy, uint64(0)
	if len(cuts) > 0 && cuts[0].at == at {
		at, rest, rate, cuts = cuts[0].at, cuts[0].copy, e.Transport.RateLimit, nil
	}
	want := recv.Expects()
	want.Range = send.Range()
	if want.Range && st != nil && st.From != nil && st.To != nil {
		want.FromGUID, want.ToGUID, want.Planned = st.From.GUID, st.To.GUID, plannedGUIDs(st)
	}
	if rate == 0 && !want.Range && stream.CanPeek {
		p.gate = &gate{peer: e.Sender.Name, want: want}
		return cuts
	}
	return append(cuts, &cut{at: at, copy: p.checkedCopy(e.Sender.Name, want, rate, rest)})
}

// gate is the check of one dataset's stream that a pull makes in place of checkedCopy: zfs
// receive is started only once the stream's first record, waiting in the pipe from the
// sending side, passed the check (stream.AdmitInPlace), and it then reads that pipe itself.
// A pull's stream then goes from ssh to zfs receive as in a bare `ssh PEER zfs send | zfs
// receive` (or from `zstd -d`, with --compress), with no copy of ours between them (a copy
// cost a pull 6% of its speed in the TCG lab, see BENCHMARKS.md). A run of snapshots (-I),
// whose every substream is checked, and a stream rate-limited without compression (where
// the rate's copy is the last before zfs receive) still go through checkedCopy.
type gate struct {
	peer string
	want stream.Expect
	in   *os.File // the read end of the pipe into zfs receive, ours until it is started
}

// open checks the waiting stream and starts zfs receive (the last of all) on it; an empty
// stream starts it too, whose failure then says so as it would have. A stream refused, or
// that could not be checked, stops the sending side, and zfs receive is never started. It
// returns whether zfs receive runs, else why it could not start, and the check's error: a
// *StreamRefusedError, a *checkError, or the stop's cause when ctx ended meanwhile (a
// stream cut short by a stop is no refusal).
func (p *streamPipe) open(ctx context.Context) (receiving bool, startErr, err error) {
	defer p.gate.in.Close()
	_, err = stream.AdmitInPlace(p.gate.in, p.gate.want)
	if err != nil && !errors.Is(err, stream.ErrEmpty) {
		p.stopSenders()
		var refused *stream.RefusedError
		switch {
		case ctx.Err() != nil:
			return false, nil, context.Cause(ctx)
		case errors.As(err, &refused):
			return false, nil, &StreamRefusedError{Peer: p.gate.peer, Err: refused.Err}
		}
		return false, nil, &checkError{err}
	}
	if err := p.all[len(p.all)-1].Start(); err != nil {
		return false, err, nil
	}
	return true, nil, nil
}

// stopSenders ends the sending side of a stream that is refused, as a stop does: a SIGTERM
// to ssh ends the remote session.
func (p *streamPipe) stopSenders() {
	for _, c := range p.senders {
		c.Process.Signal(syscall.SIGTERM)
	}
}

// checkError is a pull's check in place (see gate) that failed without a verdict on the
// stream: the sides' failures that follow (a broken pipe) only echo it.
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }

func (e *checkError) Unwrap() error { return e.err }

// plannedGUIDs are the guids of the snapshots a run (-I) brings, its base's excluded: every
// snapshot of the sender's dataset after From up to To, as zfs send -I sends them. nil
// (nothing to check) where From is not among To's ancestors.
func plannedGUIDs(st *Stream) []uint64 {
	guids := []uint64{st.To.GUID}
	for s := range st.To.Ancestors() {
		if s == st.From {
			return guids
		}
		guids = append(guids, s.GUID)
	}
	return nil
}

// plainCopy passes a stream on, as it is, where it cannot be checked in place (see gate).
func plainCopy(_ context.Context, dst, src *os.File) error {
	_, err := io.Copy(dst, src)
	return err
}

// StreamRefusedError is a peer's stream refused before zfs receive got a byte of what was
// refused: it is not the one dataset's stream of the type the receive options were chosen
// for, or (a run of snapshots) one of its substreams is not the next snapshot of that
// dataset; the whole snapshots before it were received.
type StreamRefusedError struct {
	Peer string
	Err  error
}

func (e *StreamRefusedError) Error() string {
	return fmt.Sprintf("refused the stream from %s: %v", e.Peer, e.Err)
}

func (e *StreamRefusedError) Unwrap() error { return e.Err }

// checkedCopy reads the stream's first record and checks it against want (see
// stream.Check) before it passes the record, then the rest (with rest), to zfs receive;
// the compound stream of a run of snapshots (-I) is walked record by record instead, at
// rate bytes a second when rate is not 0, each substream checked before its first byte
// passes (see stream.Walk). A refused stream stops the sending side and ends zfs receive's
// input where the refused part would start, so that zfs receive fails there, with the
// whole snapshots before it received. An empty stream is passed on as it is: the sender's
// failure explains it, as it explains a run that ends early (stream.ErrTruncated).
func (p *streamPipe) checkedCopy(peer string, want stream.Expect, rate uint64, rest func(context.Context, *os.File, *os.File) error) func(context.Context, *os.File, *os.File) error {
	return func(ctx context.Context, dst, src *os.File) error {
		h, err := stream.Admit(dst, src, want)
		if err == nil && h.Compound() {
			var in io.Reader = src
			if rate > 0 {
				in = newRateLimitedReader(ctx, src, rate)
			}
			_, err = stream.Walk(dst, in, h, want)
		}
		var refused *stream.RefusedError
		switch {
		case errors.As(err, &refused):
			p.stopSenders()
			return &StreamRefusedError{Peer: peer, Err: refused.Err}
		case errors.Is(err, stream.ErrEmpty):
			return nil
		case err != nil || h.Compound():
			return err
		}
		return rest(ctx, dst, src)
	}
}

// streamPipe is one stream's processes: the sender's (zfs send, then a compressor) and the
// receiver's (a decompressor, then zfs receive), in order, with what each side printed.
type streamPipe struct {
	senders, receivers []*exec.Cmd
	all                []*exec.Cmd       // senders then receivers
	sendErr, recvErr   *untrusted.Buffer // bounded: a peer may print without end
	report             *sendReport
	// ours are pipe ends that only the children need once started.
	ours []*os.File
	// cuts are the copies of ours that take the place of pipes (see Executor.cuts).
	cuts []*cut
	// gate, when not nil, holds zfs receive (the last of all) back until its stream passed.
	gate *gate
}

// cut is a copy of ours in the place of the pipe between all[at] and all[at+1]: it reads
// in, writes out, and closes both when done, so that each side sees the other end.
type cut struct {
	at      int
	in, out *os.File
	copy    func(ctx context.Context, dst, src *os.File) error
}

// newStreamPipe builds the commands of both sides and captures their stderr: zfs send's
// through the progress reader, the rest into bounded buffers. The receiving side runs
// under recvCtx (see receiverContext).
func (e *Executor) newStreamPipe(ctx, recvCtx context.Context, send zfs.SendArgs, recv zfs.ReceiveArgs, st *Stream) *streamPipe {
	p := &streamPipe{
		senders:   e.Sender.Pipeline(ctx, append([]zfs.Stage{{Argv: send.ReportingArgv()}}, e.wire.compress...)...),
		receivers: e.Receiver.Pipeline(recvCtx, append(append([]zfs.Stage(nil), e.wire.decompress...), zfs.Stage{Argv: recv.Argv()})...),
		sendErr:   &untrusted.Buffer{Max: maxStderr},
		recvErr:   &untrusted.Buffer{Max: maxStderr},
	}
	p.all = append(append([]*exec.Cmd(nil), p.senders...), p.receivers...)
	sendRest := p.sendErr
	p.report = &sendReport{rest: sendRest}
	if e.Progress != nil && st != nil {
		p.report.progress = func(sent, total uint64) { e.Progress(st, sent, total) }
	}
	p.senders[0].Stderr = p.report
	for _, c := range p.senders[1:] {
		c.Stderr = sendRest
	}
	recvRest := p.recvErr
	for _, c := range p.receivers {
		c.Stderr = recvRest
	}
	p.receivers[len(p.receivers)-1].Stdout = io.Discard
	return p
}

// connect joins each command's stdout to the next one's stdin with an OS pipe; a pipe
// where one of cuts is goes through that copy instead.
func (p *streamPipe) connect(cuts []*cut) error {
	p.cuts = cuts
	for i := 0; i+1 < len(p.all); i++ {
		pr, pw, err := os.Pipe()
		if err != nil {
			p.closeAll()
			return err
		}
		p.all[i].Stdout = pw
		p.ours = append(p.ours, pw)
		if c := p.cutAt(i); c != nil {
			c.in = pr
			if pr, pw, err = os.Pipe(); err != nil {
				p.closeAll()
				return err
			}
			c.out = pw
		}
		p.all[i+1].Stdin = pr
		if p.gate != nil && i+2 == len(p.all) {
			p.gate.in = pr // closed by open, once zfs receive has it
			continue
		}
		p.ours = append(p.ours, pr)
	}
	return nil
}

func (p *streamPipe) cutAt(i int) *cut {
	for _, c := range p.cuts {
		if c.at == i {
			return c
		}
	}
	return nil
}

// start starts the commands from the receiving end, so that nothing is sent before
// something reads it. On failure it reaps those already started.
func (p *streamPipe) start() error {
	last := len(p.all) - 1
	if p.gate != nil {
		last-- // zfs receive starts once its stream passed (see open)
	}
	for i := last; i >= 0; i-- {
		if err := p.all[i].Start(); err != nil {
			p.closeAll()
			for _, c := range p.all[i+1 : last+1] {
				c.Wait()
			}
			return err
		}
	}
	// Only the children hold the pipes now, so each sees the other's end close.
	p.closeOurs()
	return nil
}

// wait runs the cuts' copies while the commands run, and returns each command's exit error
// (in the order of all) and the copies' error: a refusal first, else the first.
func (p *streamPipe) wait(ctx context.Context) ([]error, error) {
	copied := make(chan error, len(p.cuts))
	for _, c := range p.cuts {
		go func() {
			err := c.copy(ctx, c.out, c.in)
			c.out.Close()
			c.in.Close()
			copied <- err
		}()
	}
	type opening struct {
		receiving         bool
		startErr, gateErr error
	}
	opened := make(chan opening, 1)
	if p.gate != nil {
		go func() {
			var o opening
			o.receiving, o.startErr, o.gateErr = p.open(ctx)
			opened <- o
		}()
	}
	errs := make([]error, len(p.all))
	var o opening
	for i, c := range p.all {
		if p.gate != nil && i == len(p.all)-1 {
			if o = <-opened; !o.receiving {
				errs[i] = o.startErr // nil when it was held back
				break
			}
		}
		errs[i] = c.Wait()
	}
	var copyErr error
	for range p.cuts {
		err := <-copied
		if copyErr == nil || errors.As(err, new(*StreamRefusedError)) {
			copyErr = cmp.Or(err, copyErr)
		}
	}
	return errs, cmp.Or(o.gateErr, copyErr)
}

func (p *streamPipe) closeOurs() {
	for _, f := range p.ours {
		f.Close()
	}
}

// closeAll closes every pipe end we hold, the copy's too, after a failed setup.
func (p *streamPipe) closeAll() {
	p.closeOurs()
	if p.gate != nil && p.gate.in != nil {
		p.gate.in.Close()
	}
	for _, c := range p.cuts {
		for _, f := range []*os.File{c.in, c.out} {
			if f != nil {
				f.Close()
			}
		}
	}
}

// pipeError decides which side's failure explains a stream that failed: zfs send dying of
// a broken pipe only echoes the receive's failure.
func (e *Executor) pipeError(ctx context.Context, send zfs.SendArgs, p *streamPipe, errs []error, copyErr error) error {
	sErr := firstError(errs[:len(p.senders)])
	rErr := errs[len(errs)-1]
	if rErr == nil {
		rErr = firstError(errs[len(p.senders):])
	}
	sendText, recvText := p.sendErr.String(), p.recvErr.String()
	sendSaid := zfs.FirstLine(sendText, nil)
	if refused := new(StreamRefusedError); errors.As(copyErr, &refused) {
		return refused
	}
	if unchecked := new(checkError); errors.As(copyErr, &unchecked) {
		return unchecked
	}
	if send.Resumes() && sErr != nil {
		if why := tokenRejection(sendText); why != "" {
			return &TokenRejectedError{Sender: e.Sender.Name, Msg: zfs.FirstLine(why, sErr)}
		}
	}
	switch {
	case ctx.Err() != nil && (rErr != nil || sErr != nil || copyErr != nil):
		return &StoppedError{Cause: context.Cause(ctx)}
	case rErr != nil && sErr != nil && !isBrokenPipe(sErr, sendText),
		// A remote `zfs send | zstd` exits with zstd's status: what send said is the clue.
		rErr != nil && sErr == nil && sendSaid != "" && !isBrokenPipe(nil, sendText):
		return fmt.Errorf("send failed: %s; receive failed: %s", zfs.FirstLine(sendText, sErr), zfs.FirstLine(recvText, rErr))
	case rErr != nil:
		return fmt.Errorf("receive on %s failed: %s", e.Receiver.Name, lostOr(e.Receiver, recvText, rErr))
	case sErr != nil:
		return fmt.Errorf("send on %s failed: %s", e.Sender.Name, lostOr(e.Sender, sendText, sErr))
	case copyErr != nil && e.Transport.RateLimit > 0:
		return fmt.Errorf("passing the stream on at %d bytes/s: %v", e.Transport.RateLimit, copyErr)
	case copyErr != nil:
		return fmt.Errorf("passing the stream on to zfs receive: %v", copyErr)
	}
	return nil
}

// ReceiverGrace is how long the receiving side of a stream that is being stopped (a signal,
// --timeout) has to end by itself, once the sending side is gone, before it is stopped too.
const ReceiverGrace = 10 * time.Second

// receiverContext returns the context of a stream's receiving side: done ReceiverGrace after
// ctx, or when stop is called. Stopping the sender first makes the receiver see its stream
// end, and a resumable receive (-s) then keeps what it got, exactly as when a link drops;
// the receiver is signalled only if it hangs (a peer that stopped answering).
func receiverContext(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-rctx.Done():
			return
		}
		t := time.NewTimer(ReceiverGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(context.Cause(ctx))
		case <-rctx.Done():
		}
	}()
	return rctx, func() { cancel(nil) }
}

// StoppedError is a stream, or a run, stopped before its end because its context was
// cancelled: Cause says why (a signal, --timeout). A stream's partial receive is kept for the
// next run to resume.
type StoppedError struct{ Cause error }

func (e *StoppedError) Error() string {
	return fmt.Sprintf("stopped: %v (the next run resumes what was received)", e.Cause)
}

func (e *StoppedError) Unwrap() error { return e.Cause }

// lostOr is oneLine, except that a remote side whose ssh ended with status 255 and said
// nothing lost its connection (the peer stopped answering ssh's keepalives, or the link broke).
func lostOr(h *zfs.Host, stderr string, err error) string {
	var xe *exec.ExitError
	if said := zfs.FirstLine(stderr, nil); said != "" || h.IsLocal() || !errors.As(err, &xe) || xe.ExitCode() != 255 {
		return zfs.FirstLine(stderr, err)
	}
	return "lost the ssh connection to " + h.Name + " (ssh exit status 255)"
}

// firstError returns the first of errs that is not nil.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// isBrokenPipe reports whether zfs send failed only because the receiving side went away
// (SIGPIPE, directly or as a shell reports it, or EPIPE reported on stderr): the receive's
// error is then the one that matters.
func isBrokenPipe(err error, stderr string) bool {
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGPIPE {
			return true
		}
		// A shell (a remote pipeline, a wrapper script) reports its child's SIGPIPE as 128+13.
		if xe.ExitCode() == 128+int(syscall.SIGPIPE) {
			return true
		}
	}
	return strings.Contains(stderr, "Broken pipe")
}

// maxStderr is how much of each side's stderr a stream keeps for its error message;
// maxReportLine is the longest line of zfs send's report that is read whole (real ones are
// under 100 bytes). Whatever a peer prints, zfs-vm's memory stays bounded.
const (
	maxStderr      = 64 << 10
	maxReportLine  = 4 << 10
	maxMessageLine = 512 // bytes of a line quoted in an error message
)

// sendReport reads zfs send -P -v's stderr as it comes: the size estimate, the progress
// lines (passed to progress), and anything else (kept for error messages). A line longer
// than maxReportLine is passed on cut, saying so, and the rest of it is dropped.
type sendReport struct {
	rest     io.Writer
	progress func(sent, total uint64)
	total    uint64
	partial  []byte // the line read so far; never longer than maxReportLine
	dropped  int    // bytes dropped of an overlong line, until its newline
}

func (r *sendReport) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		chunk, whole := p, false
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			chunk, whole = p[:i], true
			p = p[i+1:]
		} else {
			p = nil
		}
		switch {
		case r.dropped > 0 || len(r.partial)+len(chunk) > maxReportLine:
			r.overlong(chunk, whole)
		case whole:
			r.line(string(append(r.partial, chunk...)))
			r.partial = r.partial[:0]
		default:
			r.partial = append(r.partial, chunk...)
		}
	}
	return n, nil
}

// overlong takes a piece of a line too long to be a report line: its first maxReportLine
// bytes are passed on, the rest is counted and dropped, and at the line's end how much.
func (r *sendReport) overlong(chunk []byte, whole bool) {
	if r.dropped == 0 {
		room := maxReportLine - len(r.partial)
		r.rest.Write(append(r.partial, chunk[:room]...))
		r.partial = r.partial[:0]
		chunk = chunk[room:]
	}
	r.dropped += len(chunk)
	if whole {
		fmt.Fprintf(r.rest, " [%d more bytes cut]\n", r.dropped)
		r.dropped = 0
	}
}

// line handles one whole line of the report.
func (r *sendReport) line(line string) {
	if n, ok := zfs.ParseProgress(line); ok {
		if r.progress != nil {
			r.progress(n, r.total)
		}
		return
	}
	if n, err := zfs.ParseEstimate(line); err == nil {
		r.total = n
		return
	}
	if zfs.IsSizeReport(line) {
		return
	}
	r.rest.Write([]byte(line + "\n"))
}

// tokenRejection returns the line in which zfs send -t refused the token itself, or "".
// Resuming can then never work: the token's snapshot or base is gone or replaced, or the
// token is corrupt or too new. zfs send -t reports a failure while streaming (a dropped link:
// "cannot resume send: Broken pipe"; an I/O error) under the same prefix; those keep the
// partial state, since a later run may well finish it.
func tokenRejection(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, "cannot resume send") {
			continue
		}
		for _, why := range []string{"no longer exists", "no longer the same snapshot", "corrupt", "must be upgraded"} {
			if strings.Contains(l, why) {
				return l
			}
		}
	}
	return ""
}

// Estimate asks the sender for the stream's estimated size (zfs send -n -P).
func (e *Executor) Estimate(ctx context.Context, st *Stream) (uint64, error) {
	send, err := st.SendArgs()
	if err != nil {
		return 0, err
	}
	out, err := e.Sender.Output(ctx, send.EstimateArgv()...)
	if err != nil {
		return 0, err
	}
	return zfs.ParseEstimate(string(out))
}

// Describe renders a stream as "from → to" with its receiver dataset.
func Describe(st *Stream) string {
	from := "-"
	if st.From != nil {
		from = st.From.FullName()
	}
	s := fmt.Sprintf("%s → %s", from, st.To.FullName())
	if st.To.Dataset.Name != st.Target {
		s += " into " + st.Target
	}
	return s
}

// Resume finishes or discards interrupted receives (see FindResumes). It returns how many
// streams it finished, their bytes, the errors of those it could not, and the receiver
// datasets whose partial state it kept for a later run. A partial state is discarded
// (zfs receive -A) only when the sender no longer has the snapshot or zfs send -t rejects
// the token; a resume that fails otherwise (a link that drops again) keeps what arrived.
func (e *Executor) Resume(ctx context.Context, resumes []Resume) (done int, bytes uint64, errs []error, kept map[string]error) {
	var holds holdChanges
	defer func() { e.applyHolds(ctx, &holds) }()
	kept = map[string]error{}
	for _, r := range resumes {
		if ctx.Err() != nil {
			// A stopped run keeps every partial receive for the next one.
			return done, bytes, append(errs, &StoppedError{Cause: context.Cause(ctx)}), kept
		}
		l := e.Log.WithFields(logrus.Fields{"dataset": r.Target, "snapshot": r.Info.SafeName()})
		if r.Stale() {
			l.Warnf("the interrupted receive into %s was of %s, which the sender no longer has; discarding it", r.Target, r.Info.SafeName())
			errs = append(errs, e.abort(ctx, r.Target)...)
			continue
		}
		size, err := e.resumeOne(ctx, r)
		var rejected *TokenRejectedError
		switch {
		case err == nil:
			done++
			bytes += size
			from, fromRecv := "", ""
			if r.From != nil {
				from, fromRecv = r.From.FullName(), r.Target+"@"+r.From.Name
			}
			holds.advance(from, fromRecv, r.Source.FullName(), r.Target+"@"+r.Source.Name)
			l.WithField("bytes", size).Infof("resumed the interrupted receive of %s into %s", r.Source.FullName(), r.Target)
		case ctx.Err() != nil:
			// Stopped mid-resume: what arrived stays for the next run.
			return done, bytes, append(errs, &StoppedError{Cause: context.Cause(ctx)}), kept
		case errors.As(err, &rejected):
			l.Warnf("cannot resume the interrupted receive into %s (%v); discarding it and planning afresh", r.Target, err)
			errs = append(errs, e.abort(ctx, r.Target)...)
		default:
			err = fmt.Errorf("resuming the interrupted receive of %s into %s: %v; what arrived is kept for the next run (zfs receive -A %s discards it)",
				r.Source.FullName(), r.Target, err, r.Target)
			errs = append(errs, err)
			kept[r.Target] = err
		}
	}
	return done, bytes, errs, kept
}

// resumeOne continues one interrupted receive with zfs send -t. A token that does not
// match the send options is refused, and the partial state kept: it is the receiver's, and
// refusing to send is enough.
func (e *Executor) resumeOne(ctx context.Context, r Resume) (uint64, error) {
	if err := r.Info.MatchesRaw(r.Raw); err != nil {
		return 0, err
	}
	send, err := zfs.NewResumeSend(r.Token)
	if err != nil {
		return 0, &TokenRejectedError{Sender: e.Sender.Name, Msg: err.Error()}
	}
	recv, err := zfs.NewReceive(r.Target, "")
	if err != nil {
		return 0, err
	}
	return e.pipe(ctx, send, recv.WithProps(r.Props), &Stream{Kind: Incremental, To: r.Source, Target: r.Target})
}

// abort discards the partial state of an interrupted receive (zfs receive -A).
func (e *Executor) abort(ctx context.Context, target string) []error {
	argv, err := zfs.AbortArgv(target)
	if err == nil {
		err = e.Receiver.Run(ctx, argv...)
	}
	if err != nil {
		return []error{fmt.Errorf("discarding the interrupted receive into %s: %w", target, err)}
	}
	return nil
}

// applyHolds adds and releases base holds, in one round trip per side. Holds that are
// already there, or releases of holds that are not, are no error.
func (e *Executor) applyHolds(ctx context.Context, h *holdChanges) {
	if e.HoldTags == nil {
		return
	}
	if ctx.Err() != nil {
		// The run was stopped: the holds of what it did receive still move, within a bound.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), holdsAfterStop)
		defer cancel()
	}
	apply := func(host *zfs.Host, tag, legacy string, hold, release []string) {
		var cmds [][]string
		if len(hold) > 0 {
			cmds = append(cmds, append([]string{"zfs", "hold", tag}, hold...))
		}
		if len(release) > 0 {
			cmds = append(cmds, append([]string{"zfs", "release", tag}, release...))
			if legacy != "" {
				cmds = append(cmds, append([]string{"zfs", "release", legacy}, release...))
			}
		}
		if len(cmds) == 0 {
			return
		}
		if err := host.RunAll(ctx, cmds...); err != nil && !onlyHoldNoise(err) {
			e.Log.WithError(err).Warnf("moving the base hold %s on %s", tag, host.Name)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		apply(e.Sender, e.HoldTags.Sender, e.HoldTags.LegacySender, h.senderHold, h.senderRelease)
	}()
	apply(e.Receiver, e.HoldTags.Receiver, e.HoldTags.LegacyReceiver, h.receiverHold, h.receiverRelease)
	<-done
}

// holdsAfterStop bounds the moving of holds after a run was stopped (a signal, --timeout).
const holdsAfterStop = 10 * time.Second

// onlyHoldNoise reports whether a failed zfs hold/release only complained about tags that
// were already (or not) there.
func onlyHoldNoise(err error) bool {
	var ce *zfs.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	for _, l := range strings.Split(strings.TrimSpace(ce.Stderr), "\n") {
		if !strings.Contains(l, "tag already exists") && !strings.Contains(l, "no such tag") {
			return false
		}
	}
	return true
}
