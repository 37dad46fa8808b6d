package zfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// roundTrip runs the quoted words through a real POSIX shell and returns the words it saw.
func roundTrip(t *testing.T, words []string) []string {
	t.Helper()
	line := "printf '%s\\0' " + QuoteCommand(words)
	out, err := exec.Command("/bin/sh", "-c", line).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	got := strings.Split(string(out), "\x00")
	return got[:len(got)-1]
}

func TestQuoteCommandIsData(t *testing.T) {
	words := []string{"zfs", "send", "tank/my image@zfs-vm:web app:1", "a;b", "$(touch /tmp/x)", "`id`",
		"it's", `"q"`, "*", "~", "a\nb", "", "-o", "x|y&z>w", "ümlaut", "\\"}
	got := roundTrip(t, words)
	if strings.Join(got, "\x01") != strings.Join(words, "\x01") {
		t.Errorf("shell saw %q, want %q", got, words)
	}
}

func FuzzQuoteCommand(f *testing.F) {
	f.Add("tank/a b", "$(reboot)", "'")
	f.Add("", "\n", "`x`")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		words := []string{a, b, c}
		for _, w := range words {
			if strings.IndexByte(w, 0) >= 0 {
				return // cannot be an argv word at all
			}
		}
		got := roundTrip(t, words)
		if strings.Join(got, "\x00") != strings.Join(words, "\x00") || len(got) != 3 {
			t.Fatalf("shell saw %q, want %q", got, words)
		}
	})
}

func TestParseHostSpec(t *testing.T) {
	cases := []struct{ in, target, port string }{
		{"backup1", "backup1", ""},
		{"root@backup1.example.org", "root@backup1.example.org", ""},
		{"zfs-vm@10.0.2.2:2222", "zfs-vm@10.0.2.2", "2222"},
		{"[::1]:22", "::1", "22"},
		{"my_host", "my_host", ""},
	}
	for _, c := range cases {
		target, port, err := ParseHostSpec(c.in)
		if err != nil || target != c.target || port != c.port {
			t.Errorf("ParseHostSpec(%q) = %q, %q, %v; want %q, %q", c.in, target, port, err, c.target, c.port)
		}
	}
	for _, bad := range []string{"", "-oProxyCommand=id", "host;id", "user@", "@host", "a b", "host:", "host:port", "us er@h", "h/x", "-h"} {
		if _, _, err := ParseHostSpec(bad); err == nil {
			t.Errorf("ParseHostSpec(%q) accepted", bad)
		}
	}
}

func TestRemoteCommandQuoting(t *testing.T) {
	h := &Host{Name: "b", ssh: &sshConn{target: "root@b", dir: "/run/x"}}
	cmd := h.Command(t.Context(), "zfs", "receive", "-u", "tank/my image")
	remote := cmd.Args[len(cmd.Args)-1]
	if cmd.Args[len(cmd.Args)-2] != "--" || cmd.Args[len(cmd.Args)-3] != "root@b" {
		t.Fatalf("ssh argv %q", cmd.Args)
	}
	if !strings.HasSuffix(remote, "zfs receive -u 'tank/my image'") || !strings.HasPrefix(remote, "env PATH=") {
		t.Errorf("remote command %q", remote)
	}
	h.sudo = true
	cmd = h.Command(t.Context(), "zfs", "list")
	if remote := cmd.Args[len(cmd.Args)-1]; remote != "sudo -n zfs list" {
		t.Errorf("sudo remote command %q", remote)
	}
}

func TestRunAllIsOneRemoteLine(t *testing.T) {
	h := &Host{Name: "b", ssh: &sshConn{target: "b", dir: "/run/x"}}
	// The line RunAll sends, run by a real shell, with echo and false for zfs.
	script := h.allScript([][]string{{"echo", "hold", "t", "p/a@x y"}, {"false"}, {"echo", "release", "t", "p/a@w"}})
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if string(out) != "hold t p/a@x y\nrelease t p/a@w\n" {
		t.Errorf("the line ran %q", out)
	}
	if err == nil {
		t.Error("a failing command in the line did not fail it")
	}
}

func TestRemotePipelineIsOneQuotedLine(t *testing.T) {
	h := &Host{Name: "b", ssh: &sshConn{target: "b", dir: "/run/x"}}
	cmds := h.Pipeline(t.Context(), Stage{Argv: []string{"printf", "%s", "a b;$(id)"}}, Stage{Argv: []string{"tr", "a-z", "A-Z"}, Helper: true})
	if len(cmds) != 1 {
		t.Fatalf("%d processes for a remote pipeline, want 1 ssh", len(cmds))
	}
	line := cmds[0].Args[len(cmds[0].Args)-1]
	out, err := exec.Command("/bin/sh", "-c", line).Output()
	if err != nil || string(out) != "A B;$(ID)" {
		t.Errorf("the line %q printed %q, %v", line, out, err)
	}
	h.sudo = true
	line = h.Pipeline(t.Context(), Stage{Argv: []string{"zfs", "send", "p/a@x"}}, Stage{Argv: []string{"zstd", "-c"}, Helper: true})[0].Args[len(cmds[0].Args)-1]
	if !strings.HasPrefix(line, "sh -c 'sudo -n zfs send p/a@x | env PATH=") || !strings.HasSuffix(line, " zstd -c'") {
		t.Errorf("with sudo the line is %q; want zfs through sudo and the helper without", line)
	}
	local := Local(nil).Pipeline(t.Context(), Stage{Argv: []string{"zfs", "send", "p/a@x"}}, Stage{Argv: []string{"zstd", "-c"}, Helper: true})
	if len(local) != 2 || local[1].Args[0] != "zstd" {
		t.Errorf("local pipeline %v; want one process per stage", local)
	}
}

// A command (a peer) that prints without end neither grows zfs-vm's memory nor hangs it,
// and what it says on stderr arrives short and escaped.
func TestOutputIsBounded(t *testing.T) {
	h := Local(nil)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { _, err := h.output(ctx, 1<<20, "sh", "-c", "yes"); done <- err }()
	select {
	case err := <-done:
		var big *OutputTooLargeError
		if !errors.As(err, &big) || !strings.Contains(err.Error(), "printed more than 1 MiB; stopped it") {
			t.Errorf("endless stdout: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("endless stdout: Output did not return")
	}
	if _, err := h.output(ctx, 1<<20, "head", "-c", "50000000", "/dev/zero"); err == nil {
		t.Error("50 MB of stdout passed a 1 MiB limit")
	}
	_, err := h.Output(ctx, "sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' x >&2; exit 1")
	if err == nil || len(err.Error()) > 1024 || !strings.Contains(err.Error(), "more bytes cut]") {
		t.Errorf("a 20 MB stderr line gave an error of %d bytes: %.200s", len(fmt.Sprint(err)), err)
	}
	_, err = h.Output(ctx, "sh", "-c", "printf '\\033[2J\\033[Hroot# \\rX' >&2; exit 1")
	if err == nil || !strings.Contains(err.Error(), `\x1b[2J\x1b[Hroot# \x0dX`) {
		t.Errorf("control characters not escaped: %q", err)
	}
}

// A names-only listing keeps zfs-vm's names only, whatever the pool holds besides: the
// foreign lines are dropped as they arrive (a line split across writes included), and a
// line no zfs would print stops the command.
func TestTagNamesOutputKeepsOnlyZFSVMNames(t *testing.T) {
	h := Local(nil)
	ctx := context.Background()
	// 300,000 foreign names (about 14 MB), with two of zfs-vm's among them and one at the end
	// without a newline.
	script := `awk 'BEGIN {for (i = 0; i < 300000; i++) { printf "tank/many/d%d@autosnap_%08d_hourly\n", i % 100, i; if (i == 1000) print "tank/t@zfs-vm:deb:1" }; print "tank/x@not-zfs-vm:1"; printf "tank/t@zfs-vm:deb:2" }'`
	out, err := h.TagNamesOutput(ctx, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "tank/t@zfs-vm:deb:1\ntank/t@zfs-vm:deb:2\n"; got != want {
		t.Errorf("kept %.200q; want %q", got, want)
	}
	_, err = h.TagNamesOutput(ctx, "sh", "-c", "printf 'tank/t@zfs-vm:deb:1\n'; head -c 100000 /dev/zero | tr '\\0' x; yes")
	var big *OutputTooLargeError
	if !errors.As(err, &big) || !strings.Contains(err.Error(), "a line longer than 4096 bytes") {
		t.Errorf("a 100 kB line: %v", err)
	}
}

func TestLineFilter(t *testing.T) {
	keep := func(l []byte) bool { return bytes.HasPrefix(l, []byte("k")) }
	for _, tc := range []struct {
		name   string
		writes []string
		max    int
		want   string
		failed error
	}{
		{"split lines", []string{"k1\nd", "rop\nk", "2\n", "k3"}, 100, "k1\nk2\nk3\n", nil},
		{"nothing kept", []string{"a\nb\n"}, 100, "", nil},
		{"kept past max", []string{"k123\nk456\n"}, 8, "", errFull},
		{"dropped past max", []string{"k1\n", "drop-me\n", "k2\n"}, 6, "k1\nk2\n", nil},
		{"long line", []string{"k1\n", "aaaaaaaaa", "aaaaaaa\n"}, 100, "", errLongLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stopped := false
			w := newLineFilter(keep, tc.max, 12, func() { stopped = true })
			for _, s := range tc.writes {
				if _, err := w.Write([]byte(s)); err != nil {
					break
				}
			}
			if w.failed == nil {
				w.flush()
			}
			if w.failed != tc.failed || stopped != (tc.failed != nil) {
				t.Fatalf("failed %v, stopped %v; want %v", w.failed, stopped, tc.failed)
			}
			if tc.failed == nil && w.kept.String() != tc.want {
				t.Errorf("kept %q; want %q", w.kept.String(), tc.want)
			}
		})
	}
}

// cshWords splits a command line the way csh and tcsh would, accepting only what means the
// same there as in sh: single spaces between words made of safe characters, '…' quotes
// without ! or a newline, and "'" for a quote. Anything else (;, |, $, a newline, ! …) is an
// error: a csh login shell would read it differently.
func cshWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
			continue
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed quote at %d", i)
			}
			q := line[i+1 : i+1+j]
			if strings.ContainsAny(q, "!\n") {
				return nil, fmt.Errorf("%q inside quotes: csh would expand or reject it", q)
			}
			w.WriteString(q)
			i += j + 1
		case strings.HasPrefix(line[i:], `"'"`):
			w.WriteByte('\'')
			i += 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_@%+=:,./-", c) >= 0:
			w.WriteByte(c)
		default:
			return nil, fmt.Errorf("%q at %d means something else to csh", c, i)
		}
		inWord = true
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// TestRemoteScriptsRunUnderSh: the lines with several commands (RunAll's hold moves, a
// pipeline) reach the login shell as one simple command, `sh -c SCRIPT`, that a csh splits
// into the same three words as sh does; the script then runs under sh.
func TestRemoteScriptsRunUnderSh(t *testing.T) {
	h := &Host{Name: "b", ssh: &sshConn{target: "b", dir: "/run/x"}}
	lines := map[string]string{
		"RunAll": h.allScript([][]string{{"zfs", "hold", "zfs-vm-base:a", "p/a b@zfs-vm:x:1"}, {"zfs", "release", "it's", "p/a@zfs-vm:x:0"}}),
		"pipeline": h.Pipeline(t.Context(), Stage{Argv: []string{"zfs", "send", "p/a@x"}},
			Stage{Argv: []string{"zstd", "-c"}, Helper: true})[0].Args[len(h.ssh.args(""))],
	}
	for name, line := range lines {
		words, err := cshWords(line)
		if err != nil {
			t.Errorf("%s: %q: %v", name, line, err)
			continue
		}
		if len(words) != 3 || words[0] != "sh" || words[1] != "-c" {
			t.Errorf("%s: a csh sees %q, want sh -c SCRIPT", name, words)
			continue
		}
		if got := roundTripLine(t, line); strings.Join(got, "\x01") != strings.Join(words, "\x01") {
			t.Errorf("%s: sh splits the line into %q, csh into %q", name, got, words)
		}
	}
	// A single command needs no sh -c, and is still one a csh reads the same way.
	one := h.Command(t.Context(), "zfs", "list", "-H", "p/a b").Args
	if words, err := cshWords(one[len(one)-1]); err != nil || words[0] != "env" {
		t.Errorf("single command %q: %q, %v", one[len(one)-1], words, err)
	}
}

// roundTripLine returns the words a POSIX shell makes of line.
func roundTripLine(t *testing.T, line string) []string {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", "printf '%s\\0' "+line).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	got := strings.Split(string(out), "\x00")
	return got[:len(got)-1]
}
func TestFirstLine(t *testing.T) {
	cases := []struct {
		out      string
		fallback error
		want     string
	}{
		{"\n  cannot open 'x': dataset does not exist\nmore\n", nil, "cannot open 'x': dataset does not exist"},
		{"Warning: Permanently added 'b' (ED25519) to the list of known hosts.\r\nPermission denied\n", nil, "Permission denied"},
		{"full\tpool/a@s\t1024\nsize\t1024\n12:00:01\t512\tpool/a@s\nbroken\n", nil, "broken"},
		{"size\t1024\n", errors.New("exit status 1"), "exit status 1"},
		{"", nil, ""},
	}
	for _, c := range cases {
		if got := FirstLine(c.out, c.fallback); got != c.want {
			t.Errorf("FirstLine(%q) = %q, want %q", c.out, got, c.want)
		}
	}
}

// The configuration's ssh options go to every ssh run, not only the master: a command that
// finds the master gone connects on its own, and must keep the ProxyJump and identity.
func TestSSHOptionsReachEverySSH(t *testing.T) {
	extra := []string{"-o", "ProxyJump=jump", "-i", "/k"}
	c := &sshConn{target: "b", dir: "/run/x", extra: extra}
	h := &Host{Name: "b", ssh: c}
	argvs := map[string][]string{
		"master":   append([]string{"ssh"}, c.masterArgs()...),
		"command":  h.Command(t.Context(), "zfs", "list").Args,
		"pipeline": h.Pipeline(t.Context(), Stage{Argv: []string{"zfs", "send", "p@x"}}, Stage{Argv: []string{"zstd"}, Helper: true})[0].Args,
		"runall":   h.command(t.Context(), h.allScript([][]string{{"zfs", "hold", "t", "p@x"}})).Args,
		"exit":     append([]string{"ssh"}, c.exitArgs()...),
	}
	for what, argv := range argvs {
		line := strings.Join(argv, " ")
		target := strings.Index(line, " b ")
		if !strings.HasSuffix(line, " b") && target < 0 {
			t.Fatalf("%s: no target in %q", what, line)
		}
		if target < 0 {
			target = len(line)
		}
		if i := strings.Index(line, "-o ProxyJump=jump -i /k"); i < 0 || i > target {
			t.Errorf("%s: ssh_options missing before the host: %q", what, line)
		}
	}
}

// The control socket lives where the caller says ($XDG_RUNTIME_DIR for a user without root),
// in a directory of its own that only the user can enter.
func TestControlDir(t *testing.T) {
	base := t.TempDir()
	c, err := newSSHConn("zfs-vm@b:2222", DialOptions{ControlDir: base}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(c.dir) != base {
		t.Errorf("control directory %s, want one in %s", c.dir, base)
	}
	if st, err := os.Stat(c.dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("control directory %v, %v", st, err)
	}
	if args := strings.Join(c.masterArgs(), " "); !strings.Contains(args, "ControlPath="+filepath.Join(c.dir, "control")) {
		t.Errorf("master argv %s", args)
	}
}

// A user without root has no sbin in PATH; zfs is found there all the same.
func TestLocalCommandFindsSbin(t *testing.T) {
	sbin := t.TempDir()
	if err := os.WriteFile(filepath.Join(sbin, "zfs"), []byte("#!/bin/sh\necho found\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	saved := sbinDirs
	sbinDirs = []string{sbin}
	defer func() { sbinDirs = saved }()
	out, err := Local(nil).Output(t.Context(), "zfs", "list")
	if err != nil || string(out) != "found\n" {
		t.Errorf("zfs outside PATH: %q, %v", out, err)
	}
}

// A listing command that fails mid-row is reported by its own failure, not by the parse of
// the row it cut short; a row refused while it runs is reported, not the kill that stopped it.
func TestListingFailureWins(t *testing.T) {
	h := Local(nil)
	ctx := context.Background()
	p := rowParser{}
	err := h.eachLine(ctx, []string{"sh", "-c", `printf 'tank\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\ntank/a\tfilesys'; echo 'cannot iterate: I/O error' >&2; exit 1`}, maxRowLine, p.add)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "cannot iterate: I/O error") {
		t.Errorf("a command that failed mid-row: %v; want its own error", err)
	}
	p = rowParser{}
	err = h.eachLine(ctx, []string{"sh", "-c", `echo garbage; exec sleep 30`}, maxRowLine, p.add)
	var le *ListError
	if !errors.As(err, &le) {
		t.Errorf("a row refused: %v; want the *ListError", err)
	}
}
