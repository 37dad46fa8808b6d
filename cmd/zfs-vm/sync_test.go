package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/internal/lock"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zfs-vm.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoPeers = `
[[peer]]
name = "gone"
host = "zfs-vm@host.invalid"
direction = "push"

[[peer]]
name = "busy"
host = "busy.invalid"
direction = "pull"
`

func TestSyncPeersFailAlone(t *testing.T) {
	cfg := writeConfig(t, twoPeers)
	lockDir := t.TempDir()
	name, _, _ := peerLock(context.Background(), "busy.invalid", "", nil)
	held, err := lock.TryAcquire(lockDir, name)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	prom := filepath.Join(t.TempDir(), "zfs-vm.prom")
	out, zfsLog, status := run(t, "0", "--config", cfg, "sync", "--lock-dir", lockDir, "--metrics-file", prom)
	if status != exitFailure {
		t.Errorf("status %d, want %d (one peer failed)", status, exitFailure)
	}
	for _, want := range []string{
		"peer gone: failed: cannot connect to zfs-vm@host.invalid",
		"peer busy: skipped: another zfs-vm run with busy.invalid is going on",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The unreachable peer's job lists this host while it connects; nothing else may run.
	for _, l := range strings.Split(strings.TrimSpace(zfsLog), "\n") {
		if l != "" && !strings.HasPrefix(l, "zfs list ") && !strings.HasPrefix(l, "zfs program -j -n ") {
			t.Errorf("ran more than listings: %s", l)
		}
	}
	m, _ := os.ReadFile(prom)
	if !strings.Contains(string(m), `zfs_vm_sync_failures{peer="gone"} 1`) || strings.Contains(string(m), `peer="busy"`) {
		t.Errorf("metrics:\n%s", m)
	}

	// Only the locked peer: the distinct status.
	_, _, status = run(t, "0", "--config", cfg, "sync", "--lock-dir", lockDir, "--peer", "busy")
	if status != exitLocked {
		t.Errorf("locked peer: status %d, want %d", status, exitLocked)
	}
}

func TestSyncConfigErrors(t *testing.T) {
	cases := []struct{ text, args, want string }{
		{twoPeers, "sync --peer nope", `no peer "nope" in the configuration (peers: gone, busy)`},
		{"[[peer]]\nname = \"x\"\nhost = \"h\"\ndirection = \"push\"\nspeed = 3\n", "sync", "zfs-vm.toml:5: peer.speed: unknown key"},
		{"not toml at all", "config check", "zfs-vm.toml:1:"},
	}
	for _, c := range cases {
		cfg := writeConfig(t, c.text)
		out, _, status := run(t, "0", append([]string{"--config", cfg}, strings.Fields(c.args)...)...)
		if status == 0 || !strings.Contains(out, c.want) {
			t.Errorf("%s: status %d output %q; want failure with %q", c.args, status, out, c.want)
		}
		if strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Errorf("%s: error is not one line: %q", c.args, out)
		}
	}
	out, _, status := run(t, "0", "--config", writeConfig(t, twoPeers), "config", "check")
	if status != 0 || !strings.Contains(out, "ok: 2 peer(s)") {
		t.Errorf("config check: %d %q", status, out)
	}
}

func TestSystemdEnableDryRun(t *testing.T) {
	cfg := writeConfig(t, twoPeers+"schedule = \"*-*-* 02:00\"\n")
	dir := t.TempDir()
	out, _, status := run(t, "0", "--config", cfg, "systemd", "enable", "--dry-run", "--unit-dir", dir)
	if status != 0 {
		t.Fatalf("status %d: %s", status, out)
	}
	for _, want := range []string{
		"zfs-vm-sync@gone.timer.d/zfs-vm-schedule.conf: OnCalendar=hourly",
		"zfs-vm-sync@busy.timer.d/zfs-vm-schedule.conf: OnCalendar=*-*-* 02:00",
		"systemctl enable --now zfs-vm-sync@gone.timer zfs-vm-sync@busy.timer",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("--dry-run wrote files: %v", entries)
	}
}

// The sync unit never runs forever, and a stop signals zfs-vm alone, which stops cleanly.
func TestSyncUnitIsBounded(t *testing.T) {
	b, err := os.ReadFile("../../systemd/zfs-vm-sync@.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nTimeoutStartSec=", "\nKillMode=mixed\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("zfs-vm-sync@.service lacks %q", strings.TrimSpace(want))
		}
	}
}

// A manual push and a timer's sync of the same peer take the same lock, whatever the spelling
// of the host (user, port 22).
func TestPushAndSyncShareThePeerLock(t *testing.T) {
	cfg := writeConfig(t, "[[peer]]\nname = \"backup\"\nhost = \"root@b.invalid:22\"\ndest = \"tank/bk\"\ndirection = \"push\"\n")
	lockDir := t.TempDir()
	name, _, err := peerLock(context.Background(), "zfs-vm@b.invalid", "tank/bk", nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := lock.TryAcquire(lockDir, name)
	if err != nil {
		t.Fatal(err)
	}
	out, _, status := run(t, "0", "--config", cfg, "sync", "--lock-dir", lockDir)
	if status != exitLocked {
		t.Errorf("sync while a push holds the peer: status %d, want %d\n%s", status, exitLocked, out)
	}
	out, _, status = run(t, "0", "push", "--lock-dir", lockDir, "-d", "tank/bk", "b.invalid")
	if status != exitLocked || !strings.Contains(out, "another zfs-vm run with b.invalid (tank/bk) is going on") {
		t.Errorf("push while the peer is locked: status %d, want %d\n%s", status, exitLocked, out)
	}
	held.Release()
	other, _, _ := peerLock(context.Background(), "b.invalid", "tank/other", nil)
	held, _ = lock.TryAcquire(lockDir, other)
	defer held.Release()
	out, _, status = run(t, "0", "--config", cfg, "sync", "--lock-dir", lockDir)
	if status == exitLocked {
		t.Errorf("another destination on the same host blocked the peer:\n%s", out)
	}
}

// setupFakeSystemd puts a fake systemctl and systemd-analyze first in PATH and returns the
// file that logs systemctl's calls.
func setupFakeSystemd(t *testing.T) string {
	abs, _ := filepath.Abs(filepath.Join("testdata", "fakesystemd"))
	t.Setenv("PATH", abs+string(os.PathListSeparator)+os.Getenv("PATH"))
	logFile := filepath.Join(t.TempDir(), "systemctl.log")
	t.Setenv("FAKE_SYSTEMCTL_LOG", logFile)
	return logFile
}

// A bad schedule stops `systemd enable` before it writes or enables anything.
func TestSystemdEnableChecksSchedulesFirst(t *testing.T) {
	setupFakeZFS(t, "0")
	calls := setupFakeSystemd(t)
	cfg := writeConfig(t, twoPeers+"schedule = \"every tuesday-ish\"\n")
	dir := t.TempDir()
	out, _, status := runKeepPath(t, "--config", cfg, "systemd", "enable", "--unit-dir", dir)
	if status == 0 || !strings.Contains(out, `peer busy: schedule "every tuesday-ish" is not a systemd calendar expression`) {
		t.Errorf("status %d output %q", status, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("wrote drop-ins despite a bad schedule: %v", entries)
	}
	if b, _ := os.ReadFile(calls); len(b) != 0 {
		t.Errorf("ran systemctl despite a bad schedule:\n%s", b)
	}
}

// The drop-in is replaced by a rename (a new inode), never rewritten in place, and nothing
// else is left in its directory.
func TestSystemdEnableWritesDropInsAtomically(t *testing.T) {
	setupFakeZFS(t, "0")
	calls := setupFakeSystemd(t)
	cfg := writeConfig(t, "[[peer]]\nname = \"backup-1\"\nhost = \"b\"\ndirection = \"push\"\nschedule = \"daily\"\n")
	dir := t.TempDir()
	dropDir := filepath.Join(dir, "zfs-vm-sync@backup-1.timer.d")
	file := filepath.Join(dropDir, "zfs-vm-schedule.conf")
	os.MkdirAll(dropDir, 0o755)
	os.WriteFile(file, []byte("[Timer]\nOnCalendar=hourly\n"), 0o644)
	before, _ := os.Stat(file)
	out, _, status := runKeepPath(t, "--config", cfg, "systemd", "enable", "--unit-dir", dir)
	if status != 0 {
		t.Fatalf("status %d: %s", status, out)
	}
	after, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Error("drop-in rewritten in place, not replaced by a rename")
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "OnCalendar=\nOnCalendar=daily\n") {
		t.Errorf("drop-in:\n%s", b)
	}
	if after.Mode().Perm() != 0o644 {
		t.Errorf("drop-in mode %v", after.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dropDir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if b, _ := os.ReadFile(calls); !strings.Contains(string(b), "systemctl enable --now zfs-vm-sync@backup-1.timer") {
		t.Errorf("systemctl calls:\n%s", b)
	}
}
