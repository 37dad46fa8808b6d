package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/serve"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func remoteLine(argv ...string) string {
	args := zfs.Unconnected("b", false).Command(context.Background(), argv...).Args
	return args[len(args)-1]
}

// serve runs the listing it accepts (showing only the allowed datasets) and refuses anything
// else with one line and status 1, without running zfs.
func TestServe(t *testing.T) {
	setupFakeZFS(t, "0")
	t.Setenv("SSH_ORIGINAL_COMMAND", remoteLine(zfs.ListArgs()...))
	// stdout apart from stderr, as ssh keeps them: a stderr copied by os/exec into the same
	// buffer would race with the listing.
	app := newApp()
	var stdout, stderr bytes.Buffer
	app.Writer, app.ErrWriter = &stdout, &stderr
	log.SetOutput(&stderr)
	if err := app.Run([]string{"zfs-vm", "serve", "--allow-send", "pool/tmpl"}); err != nil {
		t.Fatalf("listing: %v %s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "pool/tmpl@zfs-vm:debian:1\t") || strings.Contains(out, "pool/ct") || strings.Contains(out, "pool\t") {
		t.Errorf("listing shown:\n%s", out)
	}

	setupFakeZFS(t, "0")
	t.Setenv("SSH_ORIGINAL_COMMAND", remoteLine("zfs", "destroy", "-r", "pool/tmpl"))
	out, zfsLog, status := runKeepPath(t, "serve", "--allow-send", "pool/tmpl")
	if status != exitFailure || strings.TrimSpace(out) != "error: zfs-vm serve: refused: zfs destroy is not allowed" {
		t.Errorf("destroy: status %d output %q", status, out)
	}
	if zfsLog != "" {
		t.Errorf("ran zfs for a refused line: %s", zfsLog)
	}

	// A receive without property options goes only into an existing volume: serve asks zfs
	// (whose fake answers the type with "0").
	setupFakeZFS(t, "0")
	t.Setenv("SSH_ORIGINAL_COMMAND", remoteLine("zfs", "receive", "-s", "-u", "pool/in/x"))
	out, zfsLog, status = runKeepPath(t, "serve", "--allow-receive", "pool/in")
	if status != exitFailure || !strings.Contains(out, "refused: zfs receive without property options into pool/in/x, which is a 0, not a volume") {
		t.Errorf("receive without options: status %d output %q", status, out)
	}
	if strings.Contains(zfsLog, "receive") {
		t.Errorf("received without options into a dataset that is not a volume: %s", zfsLog)
	}

	_, _, status = runKeepPath(t, "serve")
	if status != exitUsage {
		t.Errorf("serve allowing nothing: status %d, want %d", status, exitUsage)
	}
}

// --hold-peer reaches the policy: another client's base hold is not released.
func TestServeHoldPeer(t *testing.T) {
	setupFakeZFS(t, "0")
	t.Setenv("SSH_ORIGINAL_COMMAND", remoteLine("zfs", "release", "zfs-vm-base:other:b:pool/bk", "pool/tmpl@zfs-vm:debian:1"))
	out, zfsLog, status := runKeepPath(t, "serve", "--allow-send", "pool/tmpl", "--hold-peer", "build1")
	if status != exitFailure || !strings.Contains(out, `refused: zfs release of "zfs-vm-base:other:b:pool/bk": not a tag of this key's peers`) {
		t.Errorf("release of another client's hold: status %d output %q", status, out)
	}
	if zfsLog != "" {
		t.Errorf("ran zfs for a refused line: %s", zfsLog)
	}
	_, _, status = runKeepPath(t, "serve", "--allow-send", "pool/tmpl", "--hold-peer", "a:b")
	if status != exitUsage {
		t.Errorf("--hold-peer with a colon: status %d, want %d", status, exitUsage)
	}
}

// The tags zfs-vm moves on a peer (pairHoldTags' Receiver, in a push; the Sender of a pull
// is the same tag) are those serve --hold-peer ME lets through, a hashed long one too, and
// the legacy tag only to release.
func TestServeHoldPeerTakesZFSVMsTags(t *testing.T) {
	p := serve.Policy{Send: []string{"tank/img"}, HoldPeers: []string{"build1"}}
	snap := "tank/img/t@zfs-vm:d:1"
	for _, dest := range []string{"", "tank/bk", strings.Repeat("d/", 150) + "x"} {
		tags := pairHoldTags("build1", "backup", "b", dest)
		for _, sub := range []string{"hold", "release"} {
			if _, err := p.Parse(remoteLine("zfs", sub, tags.Receiver, snap)); err != nil {
				t.Errorf("zfs %s %s: %v", sub, tags.Receiver, err)
			}
		}
		if _, err := p.Parse(remoteLine("zfs", "release", tags.LegacyReceiver, snap)); err != nil {
			t.Errorf("zfs release %s: %v", tags.LegacyReceiver, err)
		}
		if _, err := p.Parse(remoteLine("zfs", "release", pairHoldTags("build2", "backup", "b", dest).Receiver, snap)); err == nil {
			t.Errorf("another client's tag accepted (dest %q)", dest)
		}
	}
}
