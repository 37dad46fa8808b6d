package untrusted

import (
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	cases := map[string]string{
		"cannot open 'tank/a': dataset does not exist": "cannot open 'tank/a': dataset does not exist",
		"\x1b[2J\x1b[Hroot@host:~# ":                   `\x1b[2J\x1b[Hroot@host:~# `,
		"line\rover\nnext\ttab":                        `line\x0dover\x0anext\x09tab`,
		"bad \xff byte, DEL \x7f, C1 \u009b":           `bad \xff byte, DEL \x7f, C1 \u009b`,
		"tank/\u202egnp.exe":                           `tank/\u202egnp.exe`,
		"größe ok":                                     "größe ok",
	}
	for in, want := range cases {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBufferKeepsTheStartAndSaysWhatWasCut(t *testing.T) {
	b := &Buffer{Max: 10}
	for range 1000 {
		if n, err := b.Write([]byte("0123456789abcdef")); n != 16 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := b.String(); got != "0123456789\n[15990 more bytes cut]" {
		t.Errorf("String() = %q", got)
	}
	if len(b.Bytes()) != 10 || !b.Truncated() {
		t.Errorf("kept %d bytes", len(b.Bytes()))
	}
}

func TestLine(t *testing.T) {
	if got := Line(strings.Repeat("é", 10), 5); got != "éé [16 more bytes cut]" {
		t.Errorf("Line = %q", got)
	}
	if got := Line("short", 5); got != "short" {
		t.Errorf("Line = %q", got)
	}
}
