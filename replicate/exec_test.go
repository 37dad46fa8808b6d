package replicate

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// zfs send's report on stderr is read line by line whatever a peer sends: a "line" without
// end or endless stderr keep zfs-vm's memory bounded, and what was cut is said.
func TestSendReportIsBounded(t *testing.T) {
	rest := &untrusted.Buffer{Max: maxStderr}
	var sent []uint64
	r := &sendReport{rest: rest, progress: func(s, total uint64) { sent = append(sent, s, total) }}
	write := func(s string) {
		if n, err := r.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if len(r.partial) > maxReportLine {
			t.Fatalf("partial line grew to %d bytes", len(r.partial))
		}
	}
	write("full\ttank/a@s\t1000\nsize\t1000\n12:00:")
	write("01\t500\ttank/a@s\n")
	if r.total != 1000 || len(sent) != 2 || sent[0] != 500 || sent[1] != 1000 {
		t.Errorf("total %d, progress %v", r.total, sent)
	}
	// 10 MiB without a newline, in pieces, then its end and an honest line.
	chunk := strings.Repeat("\x1b", 64<<10)
	for range 160 {
		write(chunk)
	}
	write("tail\ncannot receive: out of space\n")
	got := rest.String()
	if !strings.Contains(got, " [10481668 more bytes cut]\ncannot receive: out of space\n") {
		t.Errorf("overlong line not cut as said: ...%q", got[max(0, len(got)-120):])
	}
	if !strings.HasPrefix(got, strings.Repeat("\x1b", maxReportLine)+" [") {
		t.Errorf("overlong line does not start with its first %d bytes", maxReportLine)
	}
	if msg := zfs.FirstLine(got, nil); strings.ContainsRune(msg, '\x1b') || len(msg) > 5*maxMessageLine {
		t.Errorf("error message from it: %d bytes, %.40q", len(msg), msg)
	}
	// Endless short lines: the kept stderr stays at its limit.
	for range 100000 {
		write("warning: something\n")
	}
	if len(rest.Bytes()) > maxStderr || !strings.HasSuffix(rest.String(), "more bytes cut]") {
		t.Errorf("stderr kept %d bytes", len(rest.Bytes()))
	}
}

// A pull's check in place that failed without a verdict (see gate) is the error reported,
// not the broken pipe that the sides it stopped then die of.
func TestPipeErrorNamesAFailedCheck(t *testing.T) {
	local := zfs.Local(nil)
	ex := &Executor{Sender: local, Receiver: local}
	p := &streamPipe{senders: make([]*exec.Cmd, 1), sendErr: &untrusted.Buffer{Max: maxStderr}, recvErr: &untrusted.Buffer{Max: maxStderr}}
	p.sendErr.Write([]byte("Write failed: Broken pipe\n"))
	send, _ := zfs.NewFullSend("tank/a@zfs-vm:a:1")
	checked := &checkError{errors.New("reading the stream's first record: tee: invalid argument")}
	err := ex.pipeError(t.Context(), send, p, []error{errors.New("exit status 255"), nil}, checked)
	if err == nil || err.Error() != checked.Error() {
		t.Errorf("error %v, want %v", err, checked)
	}
}
