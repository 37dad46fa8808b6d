// Package systemd holds the unit files the packages install; its tests check them.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The instance is a peer name as written: %I would unescape "backup-1" into "backup/1", a
// peer that does not exist.
func TestUnitsUseTheInstanceAsWritten(t *testing.T) {
	units, _ := filepath.Glob("zfs-vm-sync@.*")
	if len(units) < 2 {
		t.Fatalf("units: %v", units)
	}
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "%I") {
			t.Errorf("%s uses %%I, which unescapes the peer name", u)
		}
	}
	b, _ := os.ReadFile("zfs-vm-sync@.service")
	if !strings.Contains(string(b), "ExecStart=/usr/bin/zfs-vm sync --peer %i\n") {
		t.Errorf("zfs-vm-sync@.service does not sync --peer %%i")
	}
}

// maxExposure is the highest `systemd-analyze security` score the sync service may have
// (0 is fully sandboxed, 10 not at all; an unsandboxed root service scores 9.6).
const maxExposure = 4.0

var exposurePattern = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// The sync service keeps its sandbox: a directive dropped or loosened raises the score.
func TestServiceExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", "zfs-vm-sync@.service").CombinedOutput()
	m := exposurePattern.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	if score > maxExposure {
		t.Errorf("zfs-vm-sync@.service exposure %.1f, above %.1f:\n%s", score, maxExposure, out)
	}
	t.Logf("exposure %.1f", score)
}

// Sandboxing must leave zfs its device and the sync its lock and metrics directories.
func TestServiceKeepsWhatZFSNeeds(t *testing.T) {
	b, err := os.ReadFile("zfs-vm-sync@.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ProtectSystem=strict\n", "DeviceAllow=/dev/zfs rw\n", "RuntimeDirectory=zfs-vm\n",
		"RuntimeDirectoryPreserve=yes\n", "ReadWritePaths=-/var/lib/prometheus/node-exporter\n", "CAP_SYS_ADMIN"} {
		if !strings.Contains(unit, want) {
			t.Errorf("zfs-vm-sync@.service lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(unit, "PrivateDevices=yes") {
		t.Error("PrivateDevices=yes hides /dev/zfs")
	}
}
