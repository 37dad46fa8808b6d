//go:build lab

package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestTemplatesTimerTagsWrittenTemplate: a template written to in place, with no container
// stopping, is tagged by one run of zfs-vm-tag-templates.service (the repository's unit, with
// a drop-in pointing it at a test configuration); a run with nothing written tags nothing;
// the next push sends exactly that version.
func TestTemplatesTimerTagsWrittenTemplate(t *testing.T) {
	vmA.pool(t, "ttsrc")
	vmB.pool(t, "ttdst")
	unit, err := os.ReadFile("../../../systemd/zfs-vm-tag-templates.service")
	if err != nil {
		t.Fatal(err)
	}
	timer, err := os.ReadFile("../../../systemd/zfs-vm-tag-templates.timer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		vmA.run("rm -rf /run/systemd/system/zfs-vm-tag-templates.* /tmp/tt.toml; systemctl daemon-reload")
	})
	vmA.must(t, "cat > /run/systemd/system/zfs-vm-tag-templates.service <<'END'\n"+string(unit)+"END\n"+
		"cat > /run/systemd/system/zfs-vm-tag-templates.timer <<'END'\n"+string(timer)+"END\n"+`
mkdir -p /run/systemd/system/zfs-vm-tag-templates.service.d
printf '[Unit]\nConditionPathExists=\n[Service]\nExecStart=\nExecStart=/usr/bin/zfs-vm --config /tmp/tt.toml hook templates\n' \
  > /run/systemd/system/zfs-vm-tag-templates.service.d/test.conf
printf '[hooks]\ntemplates = ["ttsrc/tmpl"]\n' > /tmp/tt.toml
systemctl daemon-reload
systemd-analyze verify --man=no zfs-vm-tag-templates.service zfs-vm-tag-templates.timer
test "$(systemctl is-enabled zfs-vm-tag-templates.timer)" != enabled
zfs create ttsrc/tmpl && echo one > /ttsrc/tmpl/f && zfs-vm tag -n tt:1 ttsrc/tmpl
zfs-vm push -d ttdst b`)
	snaps := func() string { return vmA.must(t, "zfs list -H -t snapshot -o name -r ttsrc") }
	run := "systemctl start zfs-vm-tag-templates.service && systemctl show -p Result --value zfs-vm-tag-templates.service"

	if out := vmA.must(t, run); strings.TrimSpace(out) != "success" {
		t.Errorf("unchanged run: %s", out)
	}
	if s := snaps(); strings.TrimSpace(s) != "ttsrc/tmpl@zfs-vm:tt:1" {
		t.Errorf("a run with nothing written tagged:\n%s", s)
	}

	vmA.must(t, "echo two >> /ttsrc/tmpl/f")
	if out := vmA.must(t, run); strings.TrimSpace(out) != "success" {
		t.Errorf("changed run: %s", out)
	}
	if s := snaps(); !strings.Contains(s, "ttsrc/tmpl@zfs-vm:tt:2") || strings.Contains(s, "tt:3") {
		t.Fatalf("one run after a write did not tag exactly tt:2:\n%s", s)
	}
	journal := vmA.must(t, "journalctl -t zfs-vm --no-pager -o cat -n 20")
	if !strings.Contains(journal, "template ttsrc/tmpl: tagged ttsrc/tmpl@zfs-vm:tt:2") {
		t.Errorf("the journal lacks the tagging:\n%s", journal)
	}

	plan := vmA.must(t, "zfs-vm push --dry-run -d ttdst b")
	if !strings.Contains(plan, "plan: 1 stream(s)") || !strings.Contains(plan, "incremental  ttsrc/tmpl@zfs-vm:tt:1 → ttsrc/tmpl@zfs-vm:tt:2") {
		t.Errorf("the next push is not exactly tt:1 → tt:2:\n%s", plan)
	}
	expectStreams(t, vmA.must(t, "zfs-vm push -d ttdst b"), 1, "push after the timer")
	sameGUID(t, vmA, "ttsrc/tmpl@zfs-vm:tt:2", vmB, "ttdst/tmpl@zfs-vm:tt:2")
}
