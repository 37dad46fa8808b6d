package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/tagging"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
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
		{"remote listing: a clone of its own snapshot", filepath.Join(abs, "cyclic") + ":/usr/bin:/bin", "",
			"b: dataset pool/ct: origin pool/ct@base is one of its own snapshots"},
		{"ssh authentication fails", "", "root@b: Permission denied (publickey).", "cannot connect to b: root@b: Permission denied (publickey)."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setupFakeZFS(t, "0")
			withFakeSSH(t, c.remotePath)
			t.Setenv("FAKE_SSH_FAIL", c.sshFail)
			var out string
			var status int
			done := make(chan struct{})
			go func() { defer close(done); out, _, status = runKeepPath(t, "list", "b") }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("zfs-vm list b did not return within 20 s")
			}
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
	name, _, _ := peerLock(context.Background(), "b", "", nil)
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

func TestTagWaitsForTheTagLock(t *testing.T) {
	setupFakeZFS(t, "0")
	l, err := tagging.Lock(context.Background(), os.Getenv("ZFS_VM_LOCK_DIR"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	out, zfsLog, status := runKeepPath(t, "tag", "--wait", "200ms", "pool/ct")
	if status != exitFailure || !strings.Contains(out, "tag: another zfs-vm tag (pid ") {
		t.Errorf("status %d output %q", status, out)
	}
	if zfsLog != "" {
		t.Errorf("listed or tagged without the lock: %s", zfsLog)
	}
}

// A dry run lists the interrupted receive it would resume and runs nothing: no zfs send -t,
// no receive, no receive -A.
func TestDryRunResumesNothing(t *testing.T) {
	abs, _ := filepath.Abs("testdata")
	setupFakeZFS(t, "0")
	withFakeSSH(t, filepath.Join(abs, "fakeremote")+":/usr/bin:/bin")
	dir := t.TempDir()
	remote := "pool\tfilesystem\t1\t1\t-\t0\t0\t0\t/pool\t-\t1\t-\n" +
		"pool/img\tfilesystem\t2\t2\t-\t0\t0\t0\t/pool/img\t-\t1\t-\n" +
		"pool/img@zfs-vm:img:1\tsnapshot\t11\t3\t-\t0\t0\t-\t-\t0\t1\t-\n"
	token := zfstest.ResumeToken("pool/img@zfs-vm:img:1", 11, 0, 1<<20)
	local := "bk\tfilesystem\t5\t1\t-\t0\t0\t0\t/bk\t-\t1\t-\n" +
		"bk/img\tfilesystem\t6\t2\t-\t0\t0\t0\t/bk/img\t-\t1\t" + token + "\n"
	for name, text := range map[string]string{"remote": remote, "local": local} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FAKE_REMOTE_LIST", filepath.Join(dir, "remote"))
	t.Setenv("FAKE_ZFS_LIST", filepath.Join(dir, "local"))
	out, zfsLog, _ := runKeepPath(t, "pull", "--dry-run", "-d", "bk", "b")
	if !strings.Contains(out, "resume    interrupted receive of pool/img@zfs-vm:img:1 into bk/img (1.0MiB received so far)") {
		t.Errorf("the dry run does not show the resume:\n%s", out)
	}
	for _, l := range strings.Split(zfsLog, "\n") {
		if strings.HasPrefix(l, "zfs receive") || strings.HasPrefix(l, "zfs send") && strings.Contains(l, " -t ") {
			t.Errorf("the dry run ran %q", l)
		}
	}
}

// push and sync list this host while the peer's ssh master connects (the fake master fails
// unless a listing ran meanwhile), and ask `ssh -G` once per peer: the lock's name and the
// master's timeouts come from that one answer.
func TestReplicationListsWhileConnecting(t *testing.T) {
	abs, _ := filepath.Abs("testdata")
	cfg := writeConfig(t, "[[peer]]\nname = \"b\"\nhost = \"b\"\ndirection = \"push\"\n")
	locks := t.TempDir()
	for name, args := range map[string][]string{
		"push": {"push", "--lock-dir", locks, "b"},
		"sync": {"--config", cfg, "sync", "--lock-dir", locks},
	} {
		t.Run(name, func(t *testing.T) {
			setupFakeZFS(t, "0")
			withFakeSSH(t, filepath.Join(abs, "fakebin")+":/usr/bin:/bin")
			sshLog := filepath.Join(t.TempDir(), "ssh.log")
			t.Setenv("FAKE_SSH_LOG", sshLog)
			t.Setenv("FAKE_SSH_MASTER_AFTER", os.Getenv("FAKE_ZFS_LOG"))
			out, _, status := runKeepPath(t, args...)
			if status != 0 || !strings.Contains(out, "0 stream(s) received") {
				t.Fatalf("status %d: %s", status, out)
			}
			b, _ := os.ReadFile(sshLog)
			if n := strings.Count("\n"+string(b), "\n-G "); n != 1 {
				t.Errorf("ssh -G ran %d times, want 1:\n%s", n, b)
			}
		})
	}
}
