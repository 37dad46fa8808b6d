package replicate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

// treePlan is the plan of a first push of tree, with a third clone and a dataset below the
// first, under bk.
func treePlan(t *testing.T) *Plan {
	src := zfstest.Inventory(t, append(tree,
		"pool/c1/data",
		"pool/c1/data@zfs-vm:x:1 #6",
		"pool/c3 < pool/tmpl@zfs-vm:d:3",
		"pool/c3@zfs-vm:d:6 #7")...)
	return Compute(src, zfstest.Inventory(t, "bk"), Options{DestParent: "bk"})
}

// A stream waits for the earlier ones that bring its base or origin and for those into its
// own dataset or one above or below it; the clones of a received version wait for that
// stream only, not for each other.
func TestNeeds(t *testing.T) {
	plan := treePlan(t)
	var got []string
	for j, need := range needs(plan.Streams) {
		var on []string
		for _, i := range need {
			on = append(on, fmt.Sprint(i))
		}
		got = append(got, fmt.Sprintf("%d %s %s>%s: %s", j, plan.Streams[j].Kind, plan.Streams[j].Target, plan.Streams[j].To.Name, strings.Join(on, ",")))
	}
	equal(t, got, []string{
		"0 full bk/tmpl>zfs-vm:d:1: ",
		"1 incremental bk/tmpl>zfs-vm:d:3: 0",
		"2 clone bk/c1>zfs-vm:d:4: 1",
		"3 clone bk/c2>zfs-vm:d:5: 1",
		"4 full bk/c1/data>zfs-vm:x:1: 2",
		"5 clone bk/c3>zfs-vm:d:6: 1",
	})
}

// runLab is a fake zfs whose receive notes when it starts and ends in a log and takes a
// moment, to show which streams Executor.Run runs at once.
type runLab struct {
	t   *testing.T
	log string
}

const runLabZFS = `#!/bin/sh
eval last=\${$#}
case "$1" in
  send) printf 'full\t%s\t4\nsize\t4\n' "$last" >&2; printf data ;;
  receive)
    echo "start $last" >> "$FAKE_RUN_LOG"; cat > /dev/null; sleep 0.3
    echo "end $last" >> "$FAKE_RUN_LOG"
    if [ "$last" = "$FAKE_RECV_FAIL" ]; then echo "cannot receive $last" >&2; exit 1; fi ;;
  *) echo "fake zfs: unsupported $1" >&2; exit 1 ;;
esac
`

func newRunLab(t *testing.T) *runLab {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "zfs"), []byte(runLabZFS), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	l := &runLab{t: t, log: filepath.Join(dir, "log")}
	t.Setenv("FAKE_RUN_LOG", l.log)
	return l
}

// run runs the streams of treePlan, streams at a time, and returns the result and
// the receives' log lines.
func (l *runLab) run(streams int) (Result, []string) {
	return l.runCtx(l.t.Context(), streams)
}

// runCtx is run under ctx.
func (l *runLab) runCtx(ctx context.Context, streams int) (Result, []string) {
	os.Remove(l.log)
	plan := treePlan(l.t)
	logger, _ := test.NewNullLogger()
	ex := &Executor{Sender: zfs.Local(logger), Receiver: zfs.Local(logger), Log: logger, Streams: streams}
	res := ex.Run(ctx, plan)
	b, _ := os.ReadFile(l.log)
	return res, strings.Split(strings.TrimSpace(string(b)), "\n")
}

// overlap is the most receives running at once in the log's lines.
func overlap(lines []string) int {
	most, now := 0, 0
	for _, l := range lines {
		if strings.HasPrefix(l, "start ") {
			now++
		} else {
			now--
		}
		most = max(most, now)
	}
	return most
}

// at returns the line number of line in lines, failing when it is not there.
func at(t *testing.T, lines []string, line string) int {
	t.Helper()
	i := slices.Index(lines, line)
	if i < 0 {
		t.Fatalf("%q not in\n%s", line, strings.Join(lines, "\n"))
	}
	return i
}

func TestRunStreamsAtOnce(t *testing.T) {
	l := newRunLab(t)
	res, lines := l.run(1)
	if res.Done != 6 || len(res.Errors) != 0 {
		t.Fatalf("one at a time: %d done, errors %v", res.Done, res.Errors)
	}
	for i := 0; i < len(lines); i += 2 {
		if target := strings.TrimPrefix(lines[i], "start "); lines[i+1] != "end "+target {
			t.Errorf("one at a time, a stream started before the one before ended:\n%s", strings.Join(lines, "\n"))
			break
		}
	}
	res, lines = l.run(4)
	if res.Done != 6 || len(res.Errors) != 0 {
		t.Fatalf("four at a time: %d done, errors %v", res.Done, res.Errors)
	}
	tmplDone := slices.Index(lines, "end bk/tmpl") + 2 // the second stream's end
	if lines[tmplDone] != "end bk/tmpl" {
		t.Fatalf("the template's two streams did not run first, one after the other:\n%s", strings.Join(lines, "\n"))
	}
	for _, c := range []string{"bk/c1", "bk/c2", "bk/c3"} {
		if at(t, lines, "start "+c) < tmplDone {
			t.Errorf("%s started before the template's streams ended:\n%s", c, strings.Join(lines, "\n"))
		}
	}
	if at(t, lines, "start bk/c1/data") < at(t, lines, "end bk/c1") {
		t.Errorf("bk/c1/data started before bk/c1, its parent, was received:\n%s", strings.Join(lines, "\n"))
	}
	if overlap(lines) < 2 {
		t.Errorf("the clones were not received side by side:\n%s", strings.Join(lines, "\n"))
	}
}

// Streams at once fail as streams one at a time do: a failed stream's dependants are
// skipped, the rest go on.
func TestRunStreamsAtOnceFailAsOneAtATime(t *testing.T) {
	l := newRunLab(t)
	t.Setenv("FAKE_RECV_FAIL", "bk/c1")
	outcome := func(res Result) string {
		var kinds []string
		for _, err := range res.Errors {
			kinds = append(kinds, fmt.Sprintf("%T", err))
		}
		slices.Sort(kinds)
		return fmt.Sprintf("done %d, skipped %d, errors %v", res.Done, res.Skipped, kinds)
	}
	one, _ := l.run(1)
	four, _ := l.run(4)
	// c1 fails; c1/data, a full stream, is still tried (and here received).
	if want := "done 5, skipped 0, errors [*replicate.StreamError]"; outcome(one) != want || outcome(four) != want {
		t.Errorf("one at a time: %s; four: %s; want %s", outcome(one), outcome(four), want)
	}
	t.Setenv("FAKE_RECV_FAIL", "bk/tmpl")
	one, _ = l.run(1)
	four, _ = l.run(4)
	// The template's first stream fails: its second and the clones are skipped.
	if want := "done 1, skipped 4, errors [*replicate.BlockedError *replicate.BlockedError *replicate.BlockedError *replicate.BlockedError *replicate.StreamError]"; outcome(one) != want || outcome(four) != want {
		t.Errorf("one at a time: %s; four: %s; want %s", outcome(one), outcome(four), want)
	}
}

// A run stopped while streams run at once says so once, and starts no other stream.
func TestRunStreamsAtOnceStopped(t *testing.T) {
	l := newRunLab(t)
	for _, n := range []int{1, 4} {
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		res, lines := l.runCtx(ctx, n)
		cancel()
		stopped := 0
		for _, err := range res.Errors {
			if errors.As(err, new(*StoppedError)) {
				stopped++
			}
		}
		// The first receive may not have started, or end on its own (ReceiverGrace); no
		// other starts, and one error says the run was stopped.
		if res.Done+res.Skipped != 6 || len(res.Errors) != 1 || stopped != 1 || len(lines) > 2 {
			t.Errorf("%d at a time, stopped in the first stream: done %d, skipped %d, errors %v; receives:\n%s",
				n, res.Done, res.Skipped, res.Errors, strings.Join(lines, "\n"))
		}
	}
}
