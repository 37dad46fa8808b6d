package zfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeSSH puts a fake ssh first in PATH: it logs each argv on a line of the returned file,
// answers -G with $FAKE_SSH_G (what the user's ssh_config would give) and succeeds.
func fakeSSH(t *testing.T, sshG string) (logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "argv")
	withSSHScript(t, dir, `#!/bin/sh
echo "$*" >> "$FAKE_SSH_ARGV"
case " $* " in *" -G "*) printf '%s' "$FAKE_SSH_G" ;; esac
exit 0
`)
	t.Setenv("FAKE_SSH_ARGV", logFile)
	t.Setenv("FAKE_SSH_G", sshG)
	return logFile
}

// withSSHScript writes script as dir/ssh and puts dir first in PATH.
func withSSHScript(t *testing.T, dir, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// sshG is what ssh -G prints for the options timeoutArgs reads, OpenSSH's defaults unless set.
func sshG(interval, count, connect string) string {
	return "host b\nuser root\nconnecttimeout " + connect + "\nserveraliveinterval " + interval + "\nserveralivecountmax " + count + "\n"
}

func TestEverySSHInvocationHasTimeouts(t *testing.T) {
	argvLog := fakeSSH(t, sshG("0", "3", "none"))
	h, err := Dial(t.Context(), "root@b:2222", DialOptions{ExtraArgs: []string{"-o", "ProxyJump=j"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Command(t.Context(), "zfs", "list").Run()
	h.Close()
	b, _ := os.ReadFile(argvLog)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "-G -o ProxyJump=j -p 2222 root@b") {
		t.Fatalf("ssh ran %d times:\n%s\nwant -G, the master, one command, -O exit", len(lines), b)
	}
	want := "-o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4"
	for _, l := range lines[1:] {
		if !strings.Contains(l, want) {
			t.Errorf("ssh %s\nlacks %s", l, want)
		}
	}
	// The user's options come first: OpenSSH keeps the first value of an option.
	if i, j := strings.Index(lines[1], "ProxyJump=j"), strings.Index(lines[1], "ConnectTimeout"); i < 0 || j < i {
		t.Errorf("master %q: the config's options must come before the defaults", lines[1])
	}
}

func TestTimeoutDefaultsYieldToTheUser(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
		sshG  string // "" = ssh -G prints nothing (an old OpenSSH)
		want  []string
	}{
		{"nothing set", nil, sshG("0", "3", "none"),
			[]string{"ConnectTimeout=30", "ServerAliveInterval=15", "ServerAliveCountMax=4"}},
		{"ssh_config sets the interval", nil, sshG("60", "3", "none"), []string{"ConnectTimeout=30"}},
		{"ssh_config sets all", nil, sshG("60", "10", "5"), nil},
		{"ssh_config sets only the count", nil, sshG("0", "8", "none"), []string{"ConnectTimeout=30", "ServerAliveInterval=15"}},
		{"config options, no ssh -G", []string{"-o", "ServerAliveInterval=2", "-oConnectTimeout=5"}, "", nil},
		{"config option with a space", []string{"-o", "connecttimeout 5"}, "", []string{"ServerAliveInterval=15", "ServerAliveCountMax=4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fakeSSH(t, c.sshG)
			var got []string
			a := timeoutArgs(t.Context(), nil, c.extra, "", "b")
			for i := 1; i < len(a); i += 2 {
				got = append(got, a[i])
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("defaults %q, want %q", got, c.want)
			}
		})
	}
}

// A master that cannot connect fails every command of a host dialled in the background with
// its one-line *ConnectError, and leaves nothing to close; the ssh -G answer given with the
// options is not asked again.
func TestDialInBackgroundFailure(t *testing.T) {
	dir := t.TempDir()
	argv := filepath.Join(dir, "argv")
	script := "#!/bin/sh\necho \"$*\" >> " + argv + "\ncase \" $* \" in *\" -G \"*) printf 'hostname b\\nport 22\\n'; exit 0 ;; esac\n" +
		"echo 'root@b: Permission denied (publickey).' >&2\nexit 255\n"
	withSSHScript(t, dir, script)
	cfg, err := ReadSSHConfig(t.Context(), "root@b", nil)
	if err != nil {
		t.Fatal(err)
	}
	control := t.TempDir()
	h, err := DialInBackground(t.Context(), "root@b", DialOptions{Config: cfg, ControlDir: control}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Output(t.Context(), "zfs", "list")
	var ce *ConnectError
	if !errors.As(err, &ce) || err.Error() != "cannot connect to root@b: root@b: Permission denied (publickey)." {
		t.Errorf("error %v (%T), want the *ConnectError", err, err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left, _ := os.ReadDir(control); len(left) != 0 {
		t.Errorf("left in the control directory: %v", left)
	}
	b, _ := os.ReadFile(argv)
	if n := strings.Count(string(b), "-G "); n != 1 {
		t.Errorf("ssh -G ran %d times, want 1 (ReadSSHConfig's):\n%s", n, b)
	}
}

// A run stopped while its master connects (a signal, --timeout) fails the host's commands
// with what stopped it, not as a command that ran, and Close waits for the dial to end.
func TestDialStoppedWhileConnecting(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\ncase \" $* \" in *\" -G \"*) printf 'hostname b\\nport 22\\n'; exit 0 ;; esac\nexec sleep 30\n"
	withSSHScript(t, dir, script)
	ctx, stop := context.WithCancelCause(t.Context())
	control := t.TempDir()
	h, err := DialInBackground(ctx, "b", DialOptions{ControlDir: control}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); stop(errors.New("--timeout 1s reached")) }()
	_, err = h.Output(ctx, "zfs", "list")
	if err == nil || err.Error() != "cannot connect to b: --timeout 1s reached" {
		t.Errorf("error %v, want the stop's cause", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left, _ := os.ReadDir(control); len(left) != 0 {
		t.Errorf("left in the control directory: %v", left)
	}
}
