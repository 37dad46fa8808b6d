package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/zfs-vm/zfs-vm/replicate"
)

// stderrIsTerminal decides whether progress is drawn.
var stderrIsTerminal = term.IsTerminal(int(os.Stderr.Fd()))

// clearLine erases a progress line before other output takes its place.
const clearLine = "\r\033[K"

// newProgress returns the Executor's progress callback: on a terminal, one line per stream
// redrawn in place (bytes, rate, ETA from zfs send's estimate); otherwise nothing, except
// debug log lines with -d. The numbers come from zfs send -v's once-a-second reports on
// stderr; the stream itself never passes through zfs-vm.
func newProgress(w io.Writer, debug bool) func(st *replicate.Stream, sent, total uint64) {
	if !stderrIsTerminal && !debug {
		return nil
	}
	var mu sync.Mutex
	started := map[*replicate.Stream]time.Time{}
	return func(st *replicate.Stream, sent, total uint64) {
		mu.Lock()
		defer mu.Unlock()
		t0, ok := started[st]
		if !ok {
			t0 = time.Now().Add(-time.Second) // the first report comes after a second
			started[st] = t0
		}
		if !stderrIsTerminal {
			log.WithField("bytes", sent).Debugf("progress %s: %d of %d bytes", st.To.FullName(), sent, total)
			return
		}
		secs := time.Since(t0).Seconds()
		rate := float64(sent) / secs
		eta := "?"
		if total > sent && rate > 0 {
			eta = time.Duration(float64(total-sent) / rate * float64(time.Second)).Round(time.Second).String()
		}
		pct := ""
		if total > 0 {
			pct = fmt.Sprintf(" %3.0f%%", 100*float64(sent)/float64(total))
		}
		fmt.Fprintf(w, "%s%-11s %s  %s / %s%s  %s/s  ETA %s", clearLine, st.Kind, st.To.FullName(),
			humanBytes(sent), humanBytes(total), pct, humanBytes(uint64(rate)), eta)
	}
}
