package main

import (
	"fmt"
	"io"
	"os"
	"slices"
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
// stderr, not from the stream, which mostly does not pass through zfs-vm at all.
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
		fmt.Fprintf(w, "%s%s", clearLine, progressText(st, sent, total, t0))
	}
}

// progressText is one stream's progress: bytes, share, rate and ETA from zfs send's
// estimate; t0 is when the stream started.
func progressText(st *replicate.Stream, sent, total uint64, t0 time.Time) string {
	rate := float64(sent) / time.Since(t0).Seconds()
	eta := "?"
	if total > sent && rate > 0 {
		eta = time.Duration(float64(total-sent) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := ""
	if total > 0 {
		pct = fmt.Sprintf(" %3.0f%%", 100*float64(sent)/float64(total))
	}
	return fmt.Sprintf("%-11s %s  %s / %s%s  %s/s  ETA %s", st.Kind, st.To.FullName(),
		humanBytes(sent), humanBytes(total), pct, humanBytes(uint64(rate)), eta)
}

// board draws sync's progress on a terminal: one line per running peer, kept below the log
// lines. It is the log's output while it is up, so that a log line is written above it
// instead of over it.
type board struct {
	mu      sync.Mutex
	w       io.Writer
	width   int
	order   []string // running peers, in the order they started
	lines   map[string]string
	drawn   int // board lines on the screen
	started map[*replicate.Stream]time.Time
}

// newBoard returns a board drawing on w, a terminal width columns wide.
func newBoard(w io.Writer, width int) *board {
	if width < 20 {
		width = 80
	}
	return &board{w: w, width: width, lines: map[string]string{}, started: map[*replicate.Stream]time.Time{}}
}

// Write writes log output above the board.
func (b *board) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.erase()
	n, err := b.w.Write(p)
	b.draw()
	return n, err
}

// set shows text on peer's line, adding the line if the peer has none.
func (b *board) set(peer, text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.lines[peer]; !ok {
		b.order = append(b.order, peer)
	}
	b.lines[peer] = text
	b.erase()
	b.draw()
}

// done removes peer's line.
func (b *board) done(peer string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.lines, peer)
	b.order = slices.DeleteFunc(b.order, func(p string) bool { return p == peer })
	b.erase()
	b.draw()
}

// progress returns the Executor's progress callback for peer's streams.
func (b *board) progress(peer string) func(st *replicate.Stream, sent, total uint64) {
	return func(st *replicate.Stream, sent, total uint64) {
		b.mu.Lock()
		t0, ok := b.started[st]
		if !ok {
			t0 = time.Now().Add(-time.Second) // the first report comes after a second
			b.started[st] = t0
		}
		b.mu.Unlock()
		b.set(peer, progressText(st, sent, total, t0))
	}
}

// erase moves to the board's first line and clears the screen from there.
func (b *board) erase() {
	if b.drawn > 0 {
		fmt.Fprintf(b.w, "\r\033[%dA\033[J", b.drawn)
		b.drawn = 0
	}
}

// draw writes the board below the cursor, each line cut to the terminal's width so that
// none wraps (a wrapped line would throw off erase's count).
func (b *board) draw() {
	for _, peer := range b.order {
		line := []rune(peer + ": " + b.lines[peer])
		if len(line) > b.width-1 {
			line = line[:b.width-1]
		}
		fmt.Fprintf(b.w, "%s%s\n", clearLine, string(line))
		b.drawn++
	}
}
