//go:build lab

package e2e

import (
	"strings"
	"testing"
)

// TestStatusAfterPushAndNewTag: `zfs-vm status` on real ZFS is OK once a push brought the
// peer up to date, and WARNING (exit 1) with warn_behind = 1 after a new version that was
// not pushed. Not yet run in the lab.
func TestStatusAfterPushAndNewTag(t *testing.T) {
	vmA.pool(t, "ssrc")
	vmB.pool(t, "sdst")
	t.Cleanup(func() { vmA.run("rm -f /tmp/status.toml") })
	vmA.must(t, `zfs create ssrc/img && echo one > /ssrc/img/f && zfs-vm tag -n st:1 ssrc/img
printf '[[peer]]\nname = "b"\nhost = "b"\ndirection = "push"\ndest = "sdst"\nwarn_behind = 1\ncrit_behind = 3\n' > /tmp/status.toml
zfs-vm push -d sdst b`)
	out := vmA.must(t, "set +e; zfs-vm --config /tmp/status.toml status; echo rc=$?")
	if !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, "rc=0") {
		t.Errorf("status after the push:\n%s", out)
	}
	vmA.must(t, "echo two > /ssrc/img/f && zfs-vm tag ssrc/img")
	out = vmA.must(t, "set +e; zfs-vm --config /tmp/status.toml status b; echo rc=$?")
	if !strings.HasPrefix(out, "WARNING: b st: 1 version(s) behind (warn_behind 1)") || !strings.Contains(out, "rc=1") {
		t.Errorf("status after a new version:\n%s", out)
	}
}
