package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/internal/lock"
)

// withFakeSSH puts testdata/fakessh first in PATH; the "remote" zfs is looked up in
// remotePath.
func withFakeSSH(t *testing.T, remotePath string) {
	abs, _ := filepath.Abs("testdata")
	t.Setenv("PATH", filepath.Join(abs, "fakessh")+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_REMOTE_PATH", remotePath)
}

func TestRemoteErrors(t *testing.T) {
	abs, _ := filepath.Abs("testdata")
	cases := []struct {
		name       string
		remotePath string
		sshFail    string
		want       string
	}{
		{"remote without zfs", "/nonexistent", "", "zfs: command not found on b (is ZFS installed there?)"},
		{"remote zfs prints garbage", filepath.Join(abs, "garbage") + ":/usr/bin:/bin", "", "b: unexpected zfs list output at line 1 (1 fields, want 12)"},
		{"ssh authentication fails", "", "root@b: Permission denied (publickey).", "cannot connect to b: root@b: Permission denied (publickey)."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setupFakeZFS(t, "0")
			withFakeSSH(t, c.remotePath)
			t.Setenv("FAKE_SSH_FAIL", c.sshFail)
			out, _, status := runKeepPath(t, "list", "b")
			if status != exitFailure || !strings.Contains(out, c.want) {
				t.Errorf("status %d, output %q; want %q", status, out, c.want)
			}
			if n := strings.Count(strings.TrimSpace(out), "\n"); n > 0 {
				t.Errorf("not one line: %q", out)
			}
		})
	}
}

func TestPushLockedPeer(t *testing.T) {
	dir := t.TempDir()
	name, _ := peerLockName("b", "")
	l, err := lock.TryAcquire(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	out, zfsLog, status := run(t, "0", "push", "--lock-dir", dir, "b")
	if status != exitLocked || !strings.Contains(out, "another zfs-vm run with b is going on") {
		t.Errorf("status %d output %q", status, out)
	}
	if zfsLog != "" {
		t.Errorf("ran zfs while locked out: %s", zfsLog)
	}
}
