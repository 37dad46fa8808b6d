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
	held, err := lock.TryAcquire(lockDir, lock.Name("peer", "busy"))
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
		"peer busy: skipped: another zfs-vm sync of this peer is running",
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
