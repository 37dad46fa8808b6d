// Package systemd holds the unit files the packages install; its tests check them.
package systemd

import (
	"os"
	"path/filepath"
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
