package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/internal/lock"
)

// withFakeRemote makes every ssh host a fake remote whose zfs lists testdata/remote-list.txt
// (a subset of this host's versions), and returns where the remote's zfs logs.
func withFakeRemote(t *testing.T) (remoteLog string) {
	setupFakeZFS(t, "0")
	abs, _ := filepath.Abs("testdata")
	withFakeSSH(t, filepath.Join(abs, "remotebin")+":/usr/bin:/bin")
	t.Setenv("FAKE_REMOTE_LIST", filepath.Join(abs, "remote-list.txt"))
	return os.Getenv("FAKE_ZFS_LOG") + ".remote"
}

const twoFakePeers = `
[[peer]]
name = "b"
host = "b"
direction = "push"

[[peer]]
name = "c"
host = "root@c"
direction = "push"
`

func TestSyncDryRunPrintsEveryPlan(t *testing.T) {
	remoteLog := withFakeRemote(t)
	prom := filepath.Join(t.TempDir(), "zfs-vm.prom")
	cfg := writeConfig(t, "metrics_file = \""+prom+"\"\n"+twoFakePeers)
	out, zfsLog, status := runKeepPath(t, "--config", cfg, "sync", "--dry-run", "--lock-dir", t.TempDir())
	if status != 0 {
		t.Fatalf("status %d: %s", status, out)
	}
	for _, want := range []string{
		"peer b (push b):\nplan: 4 stream(s) from local to b\n  incremental  pool/tmpl@zfs-vm:debian:1 → pool/tmpl@zfs-vm:debian:2  (est. 4.0KiB)",
		"peer c (push root@c):\nplan: 4 stream(s) from local to root@c\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	remote, _ := os.ReadFile(remoteLog)
	for _, changed := range []string{"zfs receive", "zfs hold", "zfs snapshot"} {
		if strings.Contains(zfsLog+string(remote), changed) {
			t.Errorf("--dry-run ran %s:\n%s\n%s", changed, zfsLog, remote)
		}
	}
	if _, err := os.Stat(prom); err == nil {
		t.Errorf("--dry-run wrote metrics")
	}
}

func TestPushPullJSONSummary(t *testing.T) {
	for _, cmd := range []string{"push", "pull"} {
		t.Run(cmd, func(t *testing.T) {
			withFakeRemote(t)
			out, _, status := runKeepPath(t, cmd, "-o", "json", "--lock-dir", t.TempDir(), "b")
			if status != 0 {
				t.Fatalf("status %d: %s", status, out)
			}
			var rep RunReport
			if err := json.Unmarshal([]byte(jsonPart(out)), &rep); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if rep.Direction != cmd || rep.Host != "b" || rep.Status != statusOK || rep.Errors == nil {
				t.Errorf("report %+v", rep)
			}
			if cmd == "push" && (rep.Received != 4 || rep.Bytes != 4*4096 || rep.ByStreamline["debian"] != 4096) {
				t.Errorf("push report %+v", rep)
			}
		})
	}
}

func TestSyncJSONSummary(t *testing.T) {
	withFakeRemote(t)
	lockDir := t.TempDir()
	name, _, err := peerLock(context.Background(), "root@c", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := lock.TryAcquire(lockDir, name)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	cfg := writeConfig(t, twoFakePeers+"\n[[peer]]\nname = \"gone\"\nhost = \"gone\"\ndirection = \"pull\"\n")
	t.Setenv("FAKE_SSH_FAIL_HOST", "gone")
	out, _, status := runKeepPath(t, "--config", cfg, "sync", "-o", "json", "--lock-dir", lockDir)
	if status != exitFailure {
		t.Errorf("status %d, want %d", status, exitFailure)
	}
	var rep SyncReport
	if err := json.Unmarshal([]byte(jsonPart(out)), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rep.Peers) != 3 {
		t.Fatalf("%d peers: %+v", len(rep.Peers), rep)
	}
	b, c, gone := rep.Peers[0], rep.Peers[1], rep.Peers[2]
	if b.Peer != "b" || b.Status != statusOK || b.Received != 4 {
		t.Errorf("b: %+v", b)
	}
	if c.Peer != "c" || c.Status != statusLocked || len(c.Errors) != 1 {
		t.Errorf("c: %+v", c)
	}
	if gone.Peer != "gone" || gone.Status != statusError || !strings.Contains(strings.Join(gone.Errors, ""), "cannot connect to gone") {
		t.Errorf("gone: %+v", gone)
	}
}

// jsonPart is the output from its first "{" line on: the log lines come before it in tests,
// where stdout and stderr are one buffer.
func jsonPart(out string) string {
	if i := strings.Index(out, "\n{"); i >= 0 {
		return out[i+1:]
	}
	return out
}

func TestSyncProgressPerPeer(t *testing.T) {
	defer func(saved bool) { stderrIsTerminal = saved }(stderrIsTerminal)
	stderrIsTerminal = true
	withFakeRemote(t)
	cfg := writeConfig(t, twoFakePeers)
	out, _, status := runKeepPath(t, "--config", cfg, "sync", "--lock-dir", t.TempDir())
	if status != 0 {
		t.Fatalf("status %d: %s", status, out)
	}
	for _, want := range []string{
		"b: push b: connecting, listing and planning\n",
		"c: push root@c: connecting, listing and planning\n",
		"c: incremental pool/tmpl@zfs-vm:debian:2  2.0KiB / 4.0KiB  50%",
		"\r\033[1A\033[J", // a line erased before the next drawing
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	out, _, _ = runKeepPath(t, "--config", cfg, "sync", "--no-progress", "--lock-dir", t.TempDir())
	if strings.Contains(out, "connecting") || strings.Contains(out, "\033[J") {
		t.Errorf("--no-progress drew progress:\n%q", out)
	}
}

func TestBoardKeepsLogLinesAbove(t *testing.T) {
	var buf strings.Builder
	b := newBoard(&buf, 30)
	b.set("b", "connecting")
	b.set("c", "a line far too long for a terminal thirty columns wide")
	b.Write([]byte("a log line\n"))
	b.done("b")
	want := clearLine + "b: connecting\n" +
		"\r\033[1A\033[J" + clearLine + "b: connecting\n" + clearLine + "c: a line far too long for a \n" +
		"\r\033[2A\033[J" + "a log line\n" + clearLine + "b: connecting\n" + clearLine + "c: a line far too long for a \n" +
		"\r\033[2A\033[J" + clearLine + "c: a line far too long for a \n"
	if buf.String() != want {
		t.Errorf("board wrote\n%q\nwant\n%q", buf.String(), want)
	}
}
