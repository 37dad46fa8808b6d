// Package packaging holds the nfpm configuration and maintainer scripts; its test runs the
// scripts as dpkg and rpm would, against a fake systemctl.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scriptRoot is a scratch root with systemd running, a peer's timer enabled with its
// schedule drop-in, and a lock directory.
func scriptRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	wants := filepath.Join(root, "etc/systemd/system/timers.target.wants")
	dropin := filepath.Join(root, "etc/systemd/system/zfs-vm-sync@b.timer.d")
	for _, d := range []string{wants, dropin, filepath.Join(root, "run/systemd/system"), filepath.Join(root, "run/zfs-vm")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, unit := range []string{"zfs-vm-sync@b.timer", "zfs-vm-tag-templates.timer"} {
		if err := os.Symlink("/usr/lib/systemd/system/"+unit, filepath.Join(wants, unit)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dropin, "zfs-vm-schedule.conf"), []byte("[Timer]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// runScript runs a maintainer script with args, its absolute paths moved under root and a
// fake systemctl first in PATH, and returns the systemctl calls, one per line.
func runScript(t *testing.T, root, script string, args ...string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("scripts", script))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("/etc/systemd/", root+"/etc/systemd/", "/run/", root+"/run/").Replace(string(text))
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	fake := "#!/bin/sh\necho \"$*\" >> " + calls + "\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{"-c", s, script}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", script, args, err, out)
	}
	b, _ := os.ReadFile(calls)
	return strings.TrimSpace(string(b))
}

const (
	reload  = "daemon-reload"
	restart = "restart zfs-vm-sync@b.timer"
	stop    = "stop zfs-vm-sync@*.timer zfs-vm-sync@*.service zfs-vm-tag-templates.timer zfs-vm-tag-templates.service"
)

func TestMaintainerScripts(t *testing.T) {
	cases := []struct {
		name, script string
		args         []string
		calls        []string
		linksKept    bool // the timer link and schedule drop-in are still there
	}{
		{"deb install", "postinstall.sh", []string{"configure", ""}, []string{reload}, true},
		{"deb upgrade: postinst restarts enabled timers", "postinstall.sh", []string{"configure", "0.1.0"}, []string{reload, restart}, true},
		{"deb upgrade: prerm keeps timers running", "preremove.sh", []string{"upgrade", "0.2.0"}, nil, true},
		{"deb upgrade: postrm", "postremove.sh", []string{"upgrade", "0.2.0"}, []string{reload}, true},
		{"deb failed upgrade: prerm", "preremove.sh", []string{"failed-upgrade", "0.1.0"}, nil, true},
		{"deb abort-upgrade: postinst starts them again", "postinstall.sh", []string{"abort-upgrade", "0.2.0"}, []string{reload, restart}, true},
		{"deb remove: prerm stops", "preremove.sh", []string{"remove"}, []string{stop}, true},
		{"deb remove: postrm keeps the operator's links", "postremove.sh", []string{"remove"}, []string{reload}, true},
		{"deb purge", "postremove.sh", []string{"purge"}, []string{reload}, false},
		{"rpm install: %post", "postinstall.sh", []string{"1"}, []string{reload}, true},
		{"rpm upgrade: %post", "postinstall.sh", []string{"2"}, []string{reload}, true},
		{"rpm upgrade: %preun keeps timers running", "preremove.sh", []string{"1"}, nil, true},
		{"rpm upgrade: %postun", "postremove.sh", []string{"1"}, []string{reload}, true},
		{"rpm upgrade: %posttrans restarts enabled timers", "posttrans.sh", []string{"0"}, []string{reload, restart}, true},
		{"rpm erase: %preun stops", "preremove.sh", []string{"0"}, []string{stop}, true},
		{"rpm erase: %postun removes what zfs-vm wrote", "postremove.sh", []string{"0"}, []string{reload}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := scriptRoot(t)
			got := runScript(t, root, c.script, c.args...)
			if want := strings.Join(c.calls, "\n"); got != want {
				t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, want)
			}
			link := filepath.Join(root, "etc/systemd/system/timers.target.wants/zfs-vm-sync@b.timer")
			templates := filepath.Join(root, "etc/systemd/system/timers.target.wants/zfs-vm-tag-templates.timer")
			dropin := filepath.Join(root, "etc/systemd/system/zfs-vm-sync@b.timer.d")
			_, linkErr := os.Lstat(link)
			_, dropinErr := os.Stat(dropin)
			if _, err := os.Lstat(templates); (err == nil) != c.linksKept {
				t.Errorf("template timer link kept: %v, want %v", err == nil, c.linksKept)
			}
			if kept := linkErr == nil && dropinErr == nil; kept != c.linksKept {
				t.Errorf("timer link and drop-in kept: %v, want %v (link: %v, drop-in dir: %v)", kept, c.linksKept, linkErr, dropinErr)
			}
			if !c.linksKept && dropinErr == nil {
				t.Errorf("drop-in directory left behind")
			}
		})
	}
}
