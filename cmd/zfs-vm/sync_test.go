package main

import (
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
	name, _ := peerLockName("busy.invalid", "")
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
	if zfsLog != "" {
		t.Errorf("ran zfs: %s", zfsLog)
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

// A manual push and a timer's sync of the same peer take the same lock, whatever the spelling
// of the host (user, port 22).
func TestPushAndSyncShareThePeerLock(t *testing.T) {
	cfg := writeConfig(t, "[[peer]]\nname = \"backup\"\nhost = \"root@b.invalid:22\"\ndest = \"tank/bk\"\ndirection = \"push\"\n")
	lockDir := t.TempDir()
	name, err := peerLockName("zfs-vm@b.invalid", "tank/bk")
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
	other, _ := peerLockName("b.invalid", "tank/other")
	held, _ = lock.TryAcquire(lockDir, other)
	defer held.Release()
	out, _, status = run(t, "0", "--config", cfg, "sync", "--lock-dir", lockDir)
	if status == exitLocked {
		t.Errorf("another destination on the same host blocked the peer:\n%s", out)
	}
}
