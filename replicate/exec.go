package replicate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
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
}

// Run executes the plan's streams in order. A failed stream does not stop the others; the
// streams that need what it would have brought are skipped.
func (e *Executor) Run(ctx context.Context, plan *Plan) Result {
	var res Result
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
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	sendCmd := e.Sender.Command(ctx, send.ReportingArgv()...)
	recvCmd := e.Receiver.Command(ctx, recv.Argv()...)
	var sendErr, recvErr bytes.Buffer
	sendCmd.Stdout, sendCmd.Stderr = pw, &limitedBuffer{buf: &sendErr, max: 64 << 10}
	recvCmd.Stdin, recvCmd.Stdout, recvCmd.Stderr = pr, io.Discard, &limitedBuffer{buf: &recvErr, max: 64 << 10}
	if err := recvCmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return 0, err
	}
	if err := sendCmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		recvCmd.Wait()
		return 0, err
	}
	// Only the children hold the pipe now, so each sees the other's end close.
	pw.Close()
	pr.Close()
	sErr := sendCmd.Wait()
	rErr := recvCmd.Wait()
	switch {
	case rErr != nil && sErr != nil && !isBrokenPipe(sendErr.String()):
		return 0, fmt.Errorf("send failed: %s; receive failed: %s", oneLine(sendErr.String(), sErr), oneLine(recvErr.String(), rErr))
	case rErr != nil:
		return 0, fmt.Errorf("receive on %s failed: %s", e.Receiver.Name, oneLine(recvErr.String(), rErr))
	case sErr != nil:
		return 0, fmt.Errorf("send on %s failed: %s", e.Sender.Name, oneLine(sendErr.String(), sErr))
	}
	size, _ := zfs.ParseEstimate(sendErr.String())
	return size, nil
}

func isBrokenPipe(stderr string) bool {
	return bytes.Contains([]byte(stderr), []byte("Broken pipe"))
}

// oneLine returns the first line of stderr that is not zfs send -P's size report.
func oneLine(stderr string, err error) string {
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || zfs.IsSizeReport(l) {
			continue
		}
		return l
	}
	return err.Error()
}

// limitedBuffer keeps the first max bytes of what a command prints on stderr.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
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
