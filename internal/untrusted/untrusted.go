// Package untrusted holds what zfs-vm keeps of text a peer sends (stderr, progress lines,
// names inside resume tokens): bounded in size, and escaped before it reaches a terminal or
// a log.
package untrusted

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Printable returns s with every control character, invalid UTF-8 byte and bidirectional
// override escaped (\x1b, \u202e), so that a peer cannot move the cursor, rewrite a line or
// reorder text on an operator's terminal.
func Printable(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || isBidi(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII only, the common case.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// isBidi reports the Unicode bidirectional embedding, override and isolate controls.
func isBidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// Buffer keeps the first Max bytes written to it and counts the rest; several writers may
// share one. It never fails a write, so a chatty peer cannot make a command fail or grow
// zfs-vm's memory.
type Buffer struct {
	Max int
	mu  sync.Mutex
	buf bytes.Buffer
	cut int64
}

// Write keeps what fits and counts the rest.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := max(b.Max-b.buf.Len(), 0)
	keep := min(room, len(p))
	b.buf.Write(p[:keep])
	b.cut += int64(len(p) - keep)
	return len(p), nil
}

// String returns what was kept, followed by a line saying how much was cut, if anything.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut == 0 {
		return b.buf.String()
	}
	return fmt.Sprintf("%s\n[%d more bytes cut]", b.buf.String(), b.cut)
}

// Truncated reports whether anything was cut.
func (b *Buffer) Truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cut > 0
}

// Bytes returns what was kept.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Bytes()
}

// Line shortens one line of text to at most n bytes (cut at a rune boundary), saying so.
func Line(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s [%d more bytes cut]", s[:cut], len(s)-cut)
}
