package replicate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// Executor runs a plan's streams, each as `zfs send` on the sender piped into `zfs receive`
// on the receiver. The stream flows through an OS pipe between the two processes (or the ssh
// processes that carry them); it never passes through a buffer of ours.
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
}

// Run executes the plan's streams in order. A failed stream does not stop the others; the
// streams that need what it would have brought are skipped.
func (e *Executor) Run(ctx context.Context, plan *Plan) Result {
	var res Result
	var holds holdChanges
	defer func() { e.applyHolds(ctx, &holds) }()
	failed := map[*zfs.Snapshot]bool{}
	for _, st := range plan.Streams {
		if st.From != nil && failed[st.From] {
			res.Skipped++
			res.Errors = append(res.Errors, &BlockedError{Snapshot: st.To.FullName(), Base: st.From.FullName()})
			markFailed(failed, st)
			continue
		}
		start := time.Now()
		size, err := e.runStream(ctx, st)
		if err != nil {
			res.Errors = append(res.Errors, &StreamError{Stream: st, Err: err})
			markFailed(failed, st)
			continue
		}
		res.Done++
		res.Bytes += size
		if res.ByStreamline == nil {
			res.ByStreamline = map[string]uint64{}
		}
		res.ByStreamline[st.To.Tag.Streamline] += size
		if st.Kind == Incremental {
			holds.advance(st.From.FullName(), st.Base, st.To.FullName(), st.Target+"@"+st.To.Name)
		} else {
			holds.advance("", "", st.To.FullName(), st.Target+"@"+st.To.Name)
		}
		e.Log.WithFields(logrus.Fields{"kind": st.Kind.String(), "snapshot": st.To.FullName(),
			"streamline": st.To.Tag.Streamline, "dataset": st.Target, "bytes": size,
			"seconds": time.Since(start).Seconds()}).
			Infof("%-11s %s  done in %.1fs", st.Kind, Describe(st), time.Since(start).Seconds())
	}
	return res
}

// markFailed records the sender snapshots that a failed stream would have brought.
func markFailed(failed map[*zfs.Snapshot]bool, st *Stream) {
	s := st.To
	for {
		failed[s] = true
		if s == st.From || !st.Intermediates {
			break
		}
		s = s.Parent()
		if s == nil || s == st.From {
			break
		}
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
	senders := e.Sender.Pipeline(ctx, append([]zfs.Stage{{Argv: send.ReportingArgv()}}, e.wire.compress...)...)
	receivers := e.Receiver.Pipeline(ctx, append(append([]zfs.Stage(nil), e.wire.decompress...), zfs.Stage{Argv: recv.Argv()})...)
	var sendErr, recvErr bytes.Buffer
	sendRest := &limitedBuffer{buf: &sendErr, max: 64 << 10}
	report := &sendReport{rest: sendRest}
	if e.Progress != nil && st != nil {
		report.progress = func(sent, total uint64) { e.Progress(st, sent, total) }
	}
	senders[0].Stderr = report
	for _, c := range senders[1:] {
		c.Stderr = sendRest
	}
	recvRest := &limitedBuffer{buf: &recvErr, max: 64 << 10}
	for _, c := range receivers {
		c.Stderr = recvRest
	}
	receivers[len(receivers)-1].Stdout = io.Discard

	all := append(append([]*exec.Cmd(nil), senders...), receivers...)
	var ours []*os.File // pipe ends only the children need once started
	closeOurs := func() {
		for _, f := range ours {
			f.Close()
		}
	}
	var copyIn, copyOut *os.File // the rate-limited copy's ends, when there is one
	for i := 0; i+1 < len(all); i++ {
		pr, pw, err := os.Pipe()
		if err != nil {
			closeOurs()
			return 0, err
		}
		all[i].Stdout = pw
		ours = append(ours, pw)
		if i == len(senders)-1 && e.Transport.RateLimit > 0 {
			copyIn = pr
			if pr, pw, err = os.Pipe(); err != nil {
				copyIn.Close()
				closeOurs()
				return 0, err
			}
			copyOut = pw
		}
		all[i+1].Stdin = pr
		ours = append(ours, pr)
	}
	// Start from the receiving end, so that nothing is sent before something reads it.
	for i := len(all) - 1; i >= 0; i-- {
		if err := all[i].Start(); err != nil {
			closeOurs()
			if copyIn != nil {
				copyIn.Close()
				copyOut.Close()
			}
			for _, c := range all[i+1:] {
				c.Wait()
			}
			return 0, err
		}
	}
	// Only the children hold the pipes now, so each sees the other's end close.
	closeOurs()
	copied := make(chan error, 1)
	if copyIn != nil {
		go func() {
			_, err := rateLimitedCopy(ctx, copyOut, copyIn, e.Transport.RateLimit)
			copyOut.Close()
			copyIn.Close()
			copied <- err
		}()
	} else {
		copied <- nil
	}
	errs := make([]error, len(all))
	for i, c := range all {
		errs[i] = c.Wait()
	}
	copyErr := <-copied
	sErr := firstError(errs[:len(senders)])
	rErr := errs[len(all)-1]
	if rErr == nil {
		rErr = firstError(errs[len(senders):])
	}
	sendSaid := oneLine(sendErr.String(), nil)
	switch {
	case rErr != nil && sErr != nil && !isBrokenPipe(sErr, sendErr.String()),
		// A remote `zfs send | zstd` exits with zstd's status: what send said is the clue.
		rErr != nil && sErr == nil && sendSaid != "" && !isBrokenPipe(nil, sendErr.String()):
		return 0, fmt.Errorf("send failed: %s; receive failed: %s", oneLine(sendErr.String(), sErr), oneLine(recvErr.String(), rErr))
	case rErr != nil:
		return 0, fmt.Errorf("receive on %s failed: %s", e.Receiver.Name, oneLine(recvErr.String(), rErr))
	case sErr != nil:
		return 0, fmt.Errorf("send on %s failed: %s", e.Sender.Name, oneLine(sendErr.String(), sErr))
	case copyErr != nil:
		return 0, fmt.Errorf("passing the stream on at %d bytes/s: %v", e.Transport.RateLimit, copyErr)
	}
	return report.total, nil
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
// (SIGPIPE, or EPIPE reported on stderr): the receive's error is then the one that matters.
func isBrokenPipe(err error, stderr string) bool {
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGPIPE {
			return true
		}
	}
	return strings.Contains(stderr, "Broken pipe")
}

// sendReport reads zfs send -P -v's stderr as it comes: the size estimate, the progress
// lines (passed to progress), and anything else (kept for error messages).
type sendReport struct {
	rest     io.Writer
	progress func(sent, total uint64)
	total    uint64
	partial  []byte
}

func (r *sendReport) Write(p []byte) (int, error) {
	r.partial = append(r.partial, p...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		line := string(r.partial[:i])
		r.partial = r.partial[i+1:]
		if n, ok := zfs.ParseProgress(line); ok {
			if r.progress != nil {
				r.progress(n, r.total)
			}
			continue
		}
		if n, err := zfs.ParseEstimate(line); err == nil {
			r.total = n
			continue
		}
		if zfs.IsSizeReport(line) {
			continue
		}
		r.rest.Write([]byte(line + "\n"))
	}
	return len(p), nil
}

// oneLine returns the first line of stderr that is not zfs send -P's size report; err's text
// when there is none ("" for a nil err).
func oneLine(stderr string, err error) string {
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || zfs.IsSizeReport(l) {
			continue
		}
		return l
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// limitedBuffer keeps the first max bytes of what the commands of one side print on
// stderr; several commands may write at once.
type limitedBuffer struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) > room {
			l.buf.Write(p[:room])
		} else {
			l.buf.Write(p)
		}
	}
	return len(p), nil
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
// streams it finished, their bytes, and the errors of those it could not.
func (e *Executor) Resume(ctx context.Context, resumes []Resume) (done int, bytes uint64, errs []error) {
	var holds holdChanges
	defer func() { e.applyHolds(ctx, &holds) }()
	for _, r := range resumes {
		l := e.Log.WithFields(logrus.Fields{"dataset": r.Target, "snapshot": r.Info.ToName})
		if !r.Stale() {
			send, err := zfs.NewResumeSend(r.Token)
			if err == nil {
				var recv zfs.ReceiveArgs
				if recv, err = zfs.NewReceive(r.Target, ""); err == nil {
					var size uint64
					if size, err = e.pipe(ctx, send, recv, &Stream{Kind: Incremental, To: r.Source, Target: r.Target}); err == nil {
						done++
						bytes += size
						from, fromRecv := "", ""
						if r.From != nil {
							from, fromRecv = r.From.FullName(), r.Target+"@"+r.From.Name
						}
						holds.advance(from, fromRecv, r.Source.FullName(), r.Target+"@"+r.Source.Name)
						l.WithField("bytes", size).Infof("resumed the interrupted receive of %s into %s", r.Source.FullName(), r.Target)
						continue
					}
				}
			}
			l.Warnf("cannot resume the interrupted receive into %s (%v); discarding it and planning afresh", r.Target, err)
		} else {
			l.Warnf("the interrupted receive into %s was of %s, which the sender no longer has; discarding it", r.Target, r.Info.ToName)
		}
		argv, err := zfs.AbortArgv(r.Target)
		if err == nil {
			err = e.Receiver.Run(ctx, argv...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("discarding the interrupted receive into %s: %w", r.Target, err))
		}
	}
	return done, bytes, errs
}

// applyHolds adds and releases base holds, in one round trip per side. Holds that are
// already there, or releases of holds that are not, are no error.
func (e *Executor) applyHolds(ctx context.Context, h *holdChanges) {
	if e.HoldTags == nil {
		return
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
