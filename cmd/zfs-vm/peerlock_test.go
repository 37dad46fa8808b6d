package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/internal/lock"
)

// resolvingSSH puts first in PATH an ssh whose -G answers as an ~/.ssh/config would with
// "Host b b.example: HostName b.example.org" and "Host bport: HostName b.example.org, Port
// 2222" (a -p or -o Port= on the command line winning, as in OpenSSH); -G of host "broken"
// fails. Each run's argv goes to the returned file, a word a line, "--" after each run.
func resolvingSSH(t *testing.T) (argvLog string) {
	t.Helper()
	dir := t.TempDir()
	argvLog = filepath.Join(dir, "argv")
	script := `#!/bin/sh
printf '%s\n' "$@" -- >> "$FAKE_SSH_ARGV"
[ "$1" = -G ] || exit 255
port="" prev=""
for a; do
  case "$prev $a" in "-p "*) port=$a ;; "-o Port="*) port=${port:-${a#Port=}} ;; esac
  prev=$a host=$a
done
host=${host#*@}
case "$host" in
  b|b.example) name=b.example.org ;;
  bport) name=b.example.org; port=${port:-2222} ;;
  broken) printf 'ssh: /root/.ssh/config line 3: Bad configuration option \033[31m\nsecond line\n' >&2; exit 255 ;;
  *) name=$host ;;
esac
printf 'user root\nhostname %s\nport %s\nbatchmode no\n' "$name" "${port:-22}"
`
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_SSH_ARGV", argvLog)
	return argvLog
}

// Two spellings of one peer, as ssh resolves them, take one lock; other machines, ports and
// destinations do not.
func TestPeerLockResolvesTheHost(t *testing.T) {
	resolvingSSH(t)
	name := func(spec, dest string) string {
		t.Helper()
		n, _, err := peerLock(context.Background(), spec, dest, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, same := range [][2]string{
		{"root@b", "b.example"},          // a Host alias and the name it stands for
		{"b", "zfs-vm@b.example.org:22"}, // the resolved name, another user, port 22 written
		{"bport", "b.example.org:2222"},  // an alias with a Port, and the port written
	} {
		if a, b := name(same[0], "tank/bk"), name(same[1], "tank/bk"); a != b {
			t.Errorf("%s and %s take different locks: %s, %s", same[0], same[1], a, b)
		}
	}
	for _, other := range [][2]string{{"b", "bport"}, {"b", "c"}, {"bport", "b.example.org:2223"}} {
		if name(other[0], "tank/bk") == name(other[1], "tank/bk") {
			t.Errorf("%s and %s take one lock", other[0], other[1])
		}
	}
	if name("b", "tank/bk") == name("b", "tank/other") {
		t.Error("two destinations of one host take one lock")
	}
}

// When ssh -G cannot resolve a peer, there is no lock key: the name as written would let
// another spelling of the same machine run at once. The error is one line naming the peer
// and what ssh said, escaped.
func TestPeerLockFailsClosed(t *testing.T) {
	resolvingSSH(t)
	n, _, err := peerLock(context.Background(), "root@broken:2200", "tank/bk", nil)
	if err == nil {
		t.Fatalf("ssh -G failed, yet the lock is %s", n)
	}
	want := "cannot resolve peer root@broken:2200 for its lock: ssh -G root@broken: ssh: /root/.ssh/config line 3: Bad configuration option \\x1b[31m"
	if got := err.Error(); got != want {
		t.Errorf("error\n%s\nwant\n%s", got, want)
	}
	// push and pull reach this host without ssh: "local" keys their lock as written.
	t.Setenv("PATH", t.TempDir())
	if n, _, err := replicateLock(context.Background(), "local", "tank/bk"); err != nil || n != lock.PeerName("local", "", "tank/bk") {
		t.Errorf("local without ssh: %s, %v", n, err)
	}
}

// A push to a peer that ssh -G cannot resolve stops before any zfs command, with status 1.
func TestPushUnresolvedPeerStops(t *testing.T) {
	resolvingSSH(t)
	out, zfsLog, status := run(t, "0", "push", "-d", "tank/bk", "root@broken")
	if status != exitFailure || !strings.Contains(out, "cannot resolve peer root@broken for its lock: ssh -G root@broken: ssh:") {
		t.Errorf("status %d, want %d\n%s", status, exitFailure, out)
	}
	if zfsLog != "" {
		t.Errorf("ran zfs: %s", zfsLog)
	}
	// In a sync, that peer fails alone.
	cfg := writeConfig(t, "[[peer]]\nname = \"bad\"\nhost = \"broken\"\ndirection = \"push\"\n")
	out, _, status = run(t, "0", "--config", cfg, "sync")
	if status != exitFailure || !strings.Contains(out, "peer bad: failed: cannot resolve peer broken for its lock: ssh -G broken: ssh:") {
		t.Errorf("sync: status %d, want %d\n%s", status, exitFailure, out)
	}
}

// ssh -G gets the peer's ssh_options word for word, as the connection does, then -p.
func TestPeerLockPassesTheSSHOptions(t *testing.T) {
	argvLog := resolvingSSH(t)
	opts := []string{"-o", "ProxyJump=jump host", "-F", "/etc/zfs-vm/ssh config"}
	if _, _, err := peerLock(context.Background(), "root@b:2200", "", opts); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(argvLog)
	want := "-G\n-o\nProxyJump=jump host\n-F\n/etc/zfs-vm/ssh config\n-p\n2200\nroot@b\n--\n"
	if string(b) != want {
		t.Errorf("ssh ran with\n%s\nwant\n%s", b, want)
	}
}

// A push of one spelling waits for a sync of another, and gives up with status 75.
func TestPushWaitsForTheSameMachine(t *testing.T) {
	resolvingSSH(t)
	dir := t.TempDir()
	name, _, _ := peerLock(context.Background(), "b.example", "tank/bk", nil)
	held, err := lock.TryAcquire(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { held.Release() }()
	out, zfsLog, status := run(t, "0", "push", "--lock-dir", dir, "--wait", "300ms", "-d", "tank/bk", "root@b")
	if status != exitLocked || !strings.Contains(out, "another zfs-vm run with root@b (tank/bk) is going on") {
		t.Errorf("push root@b while b.example is locked: status %d, want %d\n%s", status, exitLocked, out)
	}
	if zfsLog != "" {
		t.Errorf("ran zfs while locked out: %s", zfsLog)
	}
	// A sync resolves with the peer's ssh_options: here its port.
	held.Release()
	name, _, _ = peerLock(context.Background(), "b.example:2222", "tank/bk", nil)
	if held, err = lock.TryAcquire(dir, name); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "[[peer]]\nname = \"backup\"\nhost = \"b\"\ndest = \"tank/bk\"\ndirection = \"push\"\nssh_options = [\"-o\", \"Port=2222\"]\n")
	out, _, status = run(t, "0", "--config", cfg, "sync", "--lock-dir", dir)
	if status != exitLocked {
		t.Errorf("sync of host b on port 2222 while b.example:2222 is locked: status %d, want %d\n%s", status, exitLocked, out)
	}
}
