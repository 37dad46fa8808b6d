//go:build lab

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	packagesOnce     sync.Once
	debPath, rpmPath string
	packagesErr      string
)

// buildPackages runs `make package` once and returns the .deb and .rpm.
func buildPackages(t *testing.T) (deb, rpm string) {
	t.Helper()
	packagesOnce.Do(func() {
		root := filepath.Join(labDir, "..", "..")
		os.RemoveAll(filepath.Join(root, "dist"))
		if out, err := exec.Command("make", "-C", root, "package").CombinedOutput(); err != nil {
			packagesErr = "make package: " + err.Error() + "\n" + string(out)
			return
		}
		debs, _ := filepath.Glob(filepath.Join(root, "dist", "*.deb"))
		rpms, _ := filepath.Glob(filepath.Join(root, "dist", "*.rpm"))
		if len(debs) != 1 || len(rpms) != 1 {
			packagesErr = "dist/ holds " + strings.Join(append(debs, rpms...), " ")
			return
		}
		debPath, rpmPath = debs[0], rpms[0]
	})
	if packagesErr != "" {
		t.Fatal(packagesErr)
	}
	return debPath, rpmPath
}

// TestRPMContents: the .rpm installs the same files to the same places as the .deb.
func TestRPMContents(t *testing.T) {
	_, rpm := buildPackages(t)
	list, err := exec.Command("rpm", "-qpl", rpm).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/usr/bin/zfs-vm", "/usr/libexec/zfs-vm/vzctl-umount", "/usr/libexec/zfs-vm/lxc-hook",
		"/usr/lib/systemd/system/zfs-vm-sync@.service", "/usr/lib/systemd/system/zfs-vm-sync@.timer",
		"/usr/lib/systemd/system/zfs-vm-tag-templates.service", "/usr/lib/systemd/system/zfs-vm-tag-templates.timer",
		"/etc/zfs-vm/zfs-vm.toml", "/usr/share/man/man8/zfs-vm.8.gz", "/usr/share/man/man5/zfs-vm.toml.5.gz",
		"/usr/share/bash-completion/completions/zfs-vm", "/usr/share/zsh/site-functions/_zfs-vm",
		"/usr/share/fish/vendor_completions.d/zfs-vm.fish", "/usr/share/zfs-vm/lxc/zfs-vm.conf",
		"/usr/share/doc/zfs-vm/examples/sudoers",
		// Directories the rpm owns, so that rpm -e removes them.
		"/usr/libexec/zfs-vm", "/usr/share/doc/zfs-vm", "/usr/share/zfs-vm", "/etc/zfs-vm"} {
		if !strings.Contains(string(list), f+"\n") {
			t.Errorf("rpm lacks %s", f)
		}
	}
	if strings.Contains(string(list), "common.conf.d") {
		t.Errorf("rpm hooks every LXC container: %s", list)
	}
	scripts, _ := exec.Command("rpm", "-qp", "--scripts", rpm).Output()
	for _, want := range []string{"preuninstall scriptlet", "postuninstall scriptlet", "posttrans scriptlet", "remove|deconfigure|0)"} {
		if !strings.Contains(string(scripts), want) {
			t.Errorf("rpm scripts lack %q:\n%s", want, scripts)
		}
	}
	if rec, _ := exec.Command("rpm", "-qp", "--recommends", rpm).Output(); !strings.Contains(string(rec), "zstd") {
		t.Errorf("rpm does not recommend zstd: %q", rec)
	}
	conf, _ := exec.Command("rpm", "-qpc", rpm).Output()
	if strings.TrimSpace(string(conf)) != "/etc/zfs-vm/zfs-vm.toml" {
		t.Errorf("rpm config files: %q", conf)
	}
	root := t.TempDir()
	out, err := exec.Command("rpm", "--root", root, "--dbpath", filepath.Join(root, "rpmdb"),
		"-i", "--nodeps", "--noscripts", rpm).CombinedOutput()
	if err != nil {
		t.Fatalf("rpm -i into a scratch root: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/zfs-vm")); err != nil {
		t.Errorf("rpm -i did not install the binary: %v", err)
	}
}

// TestDebTimerSyncsAndPurge: the .deb installs on a VM with dpkg; a config pointing at the
// other VM plus `zfs-vm systemd enable` replicates on schedule, the journal has the
// structured summary, a peer with a conflict fails alone, remove keeps the operator's
// config and purge removes it.
func TestDebTimerSyncsAndPurge(t *testing.T) {
	deb, _ := buildPackages(t)
	t.Cleanup(func() {
		// Put back what the other tests use (vm.sh install).
		vmA.run("dpkg -P zfs-vm >/dev/null 2>&1 || true")
		exec.Command(filepath.Join(labDir, "vm.sh"), "install", "a", labBinary(), "b").Run()
	})
	f, err := os.Open(deb)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cp := exec.Command("ssh", append(vmA.sshArgs(), "root@127.0.0.1", "cat > /tmp/zfs-vm.deb")...)
	cp.Stdin = f
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy deb: %v %s", err, out)
	}
	vmA.must(t, "rm -rf /usr/bin/zfs-vm /usr/libexec/zfs-vm && dpkg -i /tmp/zfs-vm.deb && zfs-vm version")
	// The image has no man-db: check the Documentation= page exists instead of running man.
	vmA.must(t, "systemd-analyze verify --man=no zfs-vm-sync@b.service zfs-vm-sync@b.timer && test -s /usr/share/man/man8/zfs-vm.8.gz && test -s /usr/share/man/man5/zfs-vm.toml.5.gz && test ! -e /usr/share/lxc/config/common.conf.d/zfs-vm.conf")
	if out := vmA.must(t, "systemctl list-timers --all --no-legend 'zfs-vm-sync@*'"); strings.TrimSpace(out) != "" {
		t.Errorf("installing enabled a timer: %s", out)
	}

	vmA.pool(t, "fleet")
	vmB.pool(t, "fleetdst")
	vmA.must(t, "zfs create fleet/tmpl && dd if=/dev/urandom of=/fleet/tmpl/f bs=64k count=4 status=none && zfs-vm tag -n fl:1 fleet/tmpl")
	vmA.must(t, "zfs create fleet/o && zfs-vm tag -n other:1 fleet/o")
	vmB.must(t, "zfs create fleetdst/images && zfs create -p fleetdst/other/o && zfs snapshot fleetdst/other/o@zfs-vm:other:1")
	config := "# edited by the operator\n" +
		"[[peer]]\nname = \"b\"\nhost = \"b\"\ndirection = \"push\"\nstreamlines = [\"fl\"]\n" +
		"dest = \"fleetdst/images\"\nschedule = \"*:*:0/10\"\n"
	vmA.must(t, "cat > /etc/zfs-vm/zfs-vm.toml <<'END'\n"+config+"END\n"+`
zfs-vm config check
zfs-vm systemd enable
mkdir -p /etc/systemd/system/zfs-vm-sync@b.timer.d
printf '[Timer]\nRandomizedDelaySec=0\nAccuracySec=1s\n' > /etc/systemd/system/zfs-vm-sync@b.timer.d/test.conf
systemctl daemon-reload
systemctl restart zfs-vm-sync@b.timer`)

	waitFor := func(what, script string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if _, err := vmB.run(script); err == nil {
				return
			}
			time.Sleep(5 * time.Second)
		}
		t.Fatalf("%s did not happen on schedule; journal:\n%s", what,
			vmA.must(t, "journalctl -u 'zfs-vm-sync@*' --no-pager -n 30"))
	}
	waitFor("the first sync", "zfs list fleetdst/images/tmpl@zfs-vm:fl:1")
	vmA.must(t, "echo v2 > /fleet/tmpl/v2 && zfs-vm tag fleet/tmpl")
	waitFor("the sync of a new version", "zfs list fleetdst/images/tmpl@zfs-vm:fl:2")

	journal := vmA.must(t, "journalctl -u zfs-vm-sync@b.service -o verbose --no-pager")
	for _, want := range []string{"PEER=b", "BYTES=", "STREAMLINE=fl", "DATASET=fleetdst/images/tmpl",
		"MESSAGE=peer b: push b: 1 stream(s) received"} {
		if !strings.Contains(journal, want) {
			t.Errorf("journal lacks %q", want)
		}
	}

	// A second peer, whose receiver has other:1 under another guid, fails alone.
	// The timer may have started a run just before it stopped, which holds the peer's lock:
	// stop that too (a oneshot run is "activating", not "active", while it runs).
	vmA.must(t, "systemctl stop zfs-vm-sync@b.timer zfs-vm-sync@b.service && cat >> /etc/zfs-vm/zfs-vm.toml <<'END'\n"+
		"\n[[peer]]\nname = \"bconflict\"\nhost = \"b\"\ndirection = \"push\"\nstreamlines = [\"other\"]\ndest = \"fleetdst/other\"\nEND")
	out, err := vmA.run("zfs-vm sync")
	if err == nil || !strings.Contains(out, "streamline other conflicts") || !strings.Contains(out, "peer b: push b: 0 stream(s) received") {
		t.Errorf("sync with a conflicting peer: err=%v\n%s", err, out)
	}

	vmA.must(t, "dpkg -r zfs-vm")
	out = vmA.must(t, "head -1 /etc/zfs-vm/zfs-vm.toml; test ! -e /usr/bin/zfs-vm && test ! -e /usr/lib/systemd/system/zfs-vm-sync@.service && echo removed")
	if !strings.Contains(out, "# edited by the operator") || !strings.Contains(out, "removed") {
		t.Errorf("dpkg -r: %s", out)
	}
	vmA.must(t, "dpkg -P zfs-vm")
	out, _ = vmA.run("ls -d /etc/zfs-vm /etc/systemd/system/zfs-vm-sync@b.timer.d/zfs-vm-schedule.conf /usr/libexec/zfs-vm /etc/systemd/system/timers.target.wants/zfs-vm-sync@b.timer 2>&1")
	if strings.Count(out, "No such file or directory") != 4 {
		t.Errorf("purge left files behind:\n%s", out)
	}
}

// copyToVM copies a local file to path on the VM.
func copyToVM(t *testing.T, v *vm, local, path string) {
	t.Helper()
	f, err := os.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cp := exec.Command("ssh", append(v.sshArgs(), "root@127.0.0.1", "cat > "+path)...)
	cp.Stdin = f
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v %s", local, err, out)
	}
}

// TestDebUpgradeKeepsTimers: with the current .deb installed and a peer's timer enabled,
// upgrading to a rebuilt .deb with a higher version leaves the timer enabled and active
// (the maintainer scripts look at $1: prerm's `upgrade` stops nothing, postinst restarts it).
func TestDebUpgradeKeepsTimers(t *testing.T) {
	deb, _ := buildPackages(t)
	// The same tree packaged as a higher version, moved out of dist/ so that the other tests
	// keep finding one .deb there.
	root := filepath.Join(labDir, "..", "..")
	if out, err := exec.Command("make", "-C", root, "package", "PKG_VERSION=99.0.0").CombinedOutput(); err != nil {
		t.Fatalf("make package PKG_VERSION=99.0.0: %v\n%s", err, out)
	}
	newer := filepath.Join(t.TempDir(), "zfs-vm-upgrade.deb")
	built, _ := filepath.Glob(filepath.Join(root, "dist", "zfs-vm_99.0.0_*.deb"))
	if len(built) != 1 {
		t.Fatalf("dist/ has %v", built)
	}
	if err := os.Rename(built[0], newer); err != nil {
		t.Fatal(err)
	}
	rpms, _ := filepath.Glob(filepath.Join(root, "dist", "zfs-vm-99.0.0*.rpm"))
	for _, r := range rpms {
		os.Remove(r)
	}
	t.Cleanup(func() {
		vmA.run("systemctl disable --now zfs-vm-sync@up.timer; dpkg -P zfs-vm >/dev/null 2>&1 || true")
		exec.Command(filepath.Join(labDir, "vm.sh"), "install", "a", labBinary(), "b").Run()
	})
	copyToVM(t, vmA, deb, "/tmp/zfs-vm.deb")
	copyToVM(t, vmA, newer, "/tmp/zfs-vm-upgrade.deb")
	vmA.must(t, `rm -rf /usr/bin/zfs-vm /usr/libexec/zfs-vm && dpkg -i /tmp/zfs-vm.deb
cat > /etc/zfs-vm/zfs-vm.toml <<'END'
[[peer]]
name = "up"
host = "b"
direction = "push"
streamlines = ["upgrade-test-none"]
schedule = "daily"
END
zfs-vm systemd enable up`)
	state := "systemctl is-enabled zfs-vm-sync@up.timer; systemctl is-active zfs-vm-sync@up.timer; systemctl show -P ActiveEnterTimestampMonotonic zfs-vm-sync@up.timer"
	before := strings.Fields(vmA.must(t, state))
	if len(before) != 3 || before[0] != "enabled" || before[1] != "active" {
		t.Fatalf("after systemd enable: %q", before)
	}
	out := vmA.must(t, "dpkg -i /tmp/zfs-vm-upgrade.deb && dpkg-query -W -f '${Version}\\n' zfs-vm")
	if !strings.Contains(out, "99.0.0") {
		t.Fatalf("upgrade did not install 99.0.0:\n%s", out)
	}
	after := strings.Fields(vmA.must(t, state))
	if len(after) != 3 || after[0] != "enabled" || after[1] != "active" {
		t.Errorf("after the upgrade the timer is %q, want enabled and active", after)
	}
	if len(after) == 3 && after[2] == before[2] {
		t.Errorf("the timer was not restarted onto the new units (active since %s)", after[2])
	}
	if out := vmA.must(t, "head -1 /etc/zfs-vm/zfs-vm.toml"); !strings.Contains(out, "[[peer]]") {
		t.Errorf("upgrade replaced the edited configuration: %s", out)
	}
}
