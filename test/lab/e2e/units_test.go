//go:build lab

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// installUnits copies the repository's unit files into vm's /etc/systemd/system (the lab
// installs the binary, not the package) and removes them, the peer's drop-ins and the
// configuration when the test ends.
func installUnits(t *testing.T, v *vm) {
	t.Helper()
	for _, name := range []string{"zfs-vm-sync@.service", "zfs-vm-sync@.timer"} {
		b, err := os.ReadFile(filepath.Join(labDir, "..", "..", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := v.run("cat > /etc/systemd/system/"+name, string(b)); err != nil {
			t.Fatalf("installing %s: %v %s", name, err, out)
		}
	}
	t.Cleanup(func() {
		v.run(`systemctl disable --now 'zfs-vm-sync@backup-1.timer' >/dev/null 2>&1
rm -rf /etc/systemd/system/zfs-vm-sync@.service /etc/systemd/system/zfs-vm-sync@.timer \
  /etc/systemd/system/zfs-vm-sync@backup-1.timer.d /etc/zfs-vm/zfs-vm.toml /var/lib/prometheus/node-exporter/zfs-vm.prom
systemctl daemon-reload`)
	})
	v.must(t, "systemctl daemon-reload")
}

// TestUnitSyncsHyphenatedPeer: a peer named backup-1 (which %I would have turned into
// backup/1) is synced by its own hardened unit, which writes its metrics through
// ReadWritePaths= and scores at most 4.0 in `systemd-analyze security` on a real systemd.
func TestUnitSyncsHyphenatedPeer(t *testing.T) {
	vmA.pool(t, "unita")
	vmB.pool(t, "unitb")
	installUnits(t, vmA)
	vmA.must(t, "zfs create unita/tmpl && echo v1 > /unita/tmpl/f && zfs-vm tag -n un:1 unita/tmpl")
	vmB.must(t, "zfs create unitb/images")
	config := "metrics_file = \"/var/lib/prometheus/node-exporter/zfs-vm.prom\"\n" +
		"[[peer]]\nname = \"backup-1\"\nhost = \"b\"\ndirection = \"push\"\nstreamlines = [\"un\"]\n" +
		"dest = \"unitb/images\"\nschedule = \"daily\"\n"
	vmA.must(t, "mkdir -p /etc/zfs-vm /var/lib/prometheus/node-exporter && cat > /etc/zfs-vm/zfs-vm.toml <<'END'\n"+config+"END\n"+
		"zfs-vm systemd enable backup-1\n"+
		"systemctl start zfs-vm-sync@backup-1.service || { journalctl -u zfs-vm-sync@backup-1.service --no-pager -n 30; exit 1; }")
	vmB.must(t, "zfs list unitb/images/tmpl@zfs-vm:un:1")
	journal := vmA.must(t, "journalctl -u zfs-vm-sync@backup-1.service --no-pager -o cat")
	if !strings.Contains(journal, "peer backup-1: push b: 1 stream(s) received") {
		t.Errorf("journal of zfs-vm-sync@backup-1.service:\n%s", journal)
	}
	if m := vmA.must(t, "cat /var/lib/prometheus/node-exporter/zfs-vm.prom"); !strings.Contains(m, `zfs_vm_sync_streams{peer="backup-1"} 1`) {
		t.Errorf("metrics written from the sandbox:\n%s", m)
	}
	out := vmA.must(t, "systemd-analyze security --no-pager zfs-vm-sync@backup-1.service | tail -1")
	m := regexp.MustCompile(`: ([0-9.]+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %s", out)
	}
	if score, _ := strconv.ParseFloat(m[1], 64); score > 4.0 {
		t.Errorf("exposure on the VM: %s", out)
	}
}
