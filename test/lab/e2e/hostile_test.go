//go:build lab

package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Hostile or broken peers (issue 13): a peer's zfs is wrapped to misbehave, and zfs-vm on the
// other VM must neither hang nor let the peer choose what happens on this host.

// wrapZFS puts a zfs in front of the real one on v, in /usr/local/sbin, which comes first in
// the PATH zfs-vm gives remote commands (and in root's own). body is a shell script fragment
// that sees the arguments and $real, the real zfs; it falls through to the real zfs. The
// wrapper is removed when the test ends.
func wrapZFS(t *testing.T, v *vm, body string) {
	t.Helper()
	real := strings.TrimSpace(v.must(t, "PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v zfs"))
	script := fmt.Sprintf("#!/bin/sh\nreal=%s\n%s\nexec \"$real\" \"$@\"\n", real, body)
	v.must(t, fmt.Sprintf("cat > /usr/local/sbin/zfs <<'EOF'\n%sEOF\nchmod 755 /usr/local/sbin/zfs", script))
	t.Cleanup(func() { v.run("rm -f /usr/local/sbin/zfs") })
}

// TestHostilePropertiesDoNotMount: a peer whose zfs send adds -p, or -R -p, carrying
// mountpoint=/srv/victim and canmount=on: a compound stream, which libzfs would receive past
// zfs-vm's property options. The pull refuses it with one line before zfs receive gets a
// byte; nothing is received, and after `zfs mount -a` this host's /srv/victim is untouched.
func TestHostilePropertiesDoNotMount(t *testing.T) {
	vmB.pool(t, "hsrc")
	vmA.pool(t, "hdst")
	vmB.must(t, "zfs create -o mountpoint=/srv/victim -o canmount=on hsrc/t && echo evil > /srv/victim/planted && zfs-vm tag -n hp:1 hsrc/t")
	t.Cleanup(func() { vmA.run("rm -rf /srv/victim") })
	vmA.must(t, "mkdir -p /srv/victim && echo mine > /srv/victim/marker")
	for _, flags := range []string{"-p", "-R -p"} {
		wrapZFS(t, vmB, fmt.Sprintf(`if [ "$1" = send ]; then shift; exec "$real" send %s "$@"; fi`, flags))
		out := vmA.fails(t, "zfs-vm pull -d hdst b")
		if !strings.Contains(out, "refused the stream from b: a compound stream") || strings.Count(out, "refused the stream") != 1 {
			t.Errorf("send %s: the pull did not refuse the stream in one line:\n%s", flags, out)
		}
		vmA.must(t, "zfs mount -a")
		if out := vmA.must(t, "ls /srv/victim; findmnt -n /srv/victim || true"); strings.TrimSpace(out) != "marker" {
			t.Errorf("send %s: /srv/victim changed after the pull and zfs mount -a:\n%s", flags, out)
		}
		if got := vmA.must(t, "zfs list -H -o name -r hdst"); strings.TrimSpace(got) != "hdst" {
			t.Errorf("send %s: something was received:\n%s", flags, got)
		}
	}
}

// TestGarbageListingReturns: a peer whose listing says a dataset is a clone of its own
// snapshot; list and pull end at once with one line naming the dataset, changing nothing.
func TestGarbageListingReturns(t *testing.T) {
	vmB.pool(t, "gsrc")
	vmA.pool(t, "gdst")
	vmB.must(t, "zfs create gsrc/t && zfs snapshot gsrc/t@base && zfs-vm tag --force -n gl:1 gsrc/t")
	wrapZFS(t, vmB, `if [ "$1" = list ]; then
  "$real" "$@" | awk -F '\t' -v OFS='\t' '$1 == "gsrc/t" { $5 = "gsrc/t@base" } { print }'
  exit
fi`)
	for _, cmd := range []string{"zfs-vm list b", "zfs-vm pull -d gdst b"} {
		out := vmA.fails(t, "set +e; timeout 60 "+cmd+"; rc=$?; [ $rc -ne 124 ] || echo TIMEOUT; exit $rc")
		if strings.Contains(out, "TIMEOUT") {
			t.Fatalf("%s did not return within 60 s:\n%s", cmd, out)
		}
		if !strings.Contains(out, "dataset gsrc/t: origin gsrc/t@base is one of its own snapshots") {
			t.Errorf("%s: the cycle is not named:\n%s", cmd, out)
		}
	}
	if got := vmA.must(t, "zfs list -H -o name -r gdst"); strings.TrimSpace(got) != "gdst" {
		t.Errorf("the pull changed the receiver:\n%s", got)
	}
}

// TestRacingTagsGetDistinctVersions: six `zfs-vm tag` at once on clones of one streamline
// (container hooks at host shutdown) make six distinct versions.
func TestRacingTagsGetDistinctVersions(t *testing.T) {
	vmA.pool(t, "race")
	logs := vmA.must(t, `zfs create race/t && zfs-vm tag -n race:1 race/t
for i in 1 2 3 4 5 6; do zfs clone race/t@zfs-vm:race:1 race/c$i && echo $i > /race/c$i/f; done
for i in 1 2 3 4 5 6; do (zfs-vm tag race/c$i; echo "rc=$?") > /tmp/race-$i.log 2>&1 & done
wait
cat /tmp/race-*.log`)
	if strings.Count(logs, "rc=0") != 6 {
		t.Errorf("not every tag succeeded:\n%s", logs)
	}
	out := vmA.must(t, "zfs list -H -t snapshot -o name -r race | grep '^race/c'")
	versions := map[string]string{}
	for _, l := range strings.Fields(out) {
		ds, snap, _ := strings.Cut(l, "@")
		if prev, ok := versions[snap]; ok {
			t.Errorf("%s and %s got the same version %s", prev, ds, snap)
		}
		versions[snap] = ds
	}
	var names []string
	for v := range versions {
		names = append(names, v)
	}
	sort.Strings(names)
	if len(names) != 6 {
		t.Errorf("want six distinct versions, got %v:\n%s\n%s", names, out, logs)
	}
}

// TestFaultResumeInterruptedAgainKeepsProgress (issue 13.7): the link drops during the
// transfer and again during its resume; the partial state survives the second drop (the
// token moves on, never discarded), and the third run finishes with identical data.
func TestFaultResumeInterruptedAgainKeepsProgress(t *testing.T) {
	vmA.pool(t, "rsrc")
	vmB.pool(t, "rdst")
	vmA.must(t, fmt.Sprintf("zfs create rsrc/img && dd if=/dev/urandom of=/rsrc/img/big bs=1M count=%d status=none && zfs-vm tag -n again:1 rsrc/img", streamMiB))
	out := vmA.must(t, interruptScript("push -d rdst b", "rsrc/img@", streamMiB<<18, "^ssh .*zfs receive"))
	if !strings.Contains(out, "killed=yes") {
		t.Fatalf("the first transfer was not interrupted:\n%s", out)
	}
	first := prop(t, vmB, "receive_resume_token", "rdst/img")
	out = vmA.must(t, interruptScript("push -d rdst b", "rsrc/img@", streamMiB<<18, "^ssh .*zfs receive"))
	// (The message names `zfs receive -A` as the operator's way to discard; that the run did
	// not is shown by the token below.)
	if !strings.Contains(out, "killed=yes") || strings.Contains(out, "discarding") {
		t.Fatalf("the resume was not interrupted, or discarded the partial state:\n%s", out)
	}
	if !strings.Contains(out, "what arrived is kept for the next run") {
		t.Errorf("the failed resume does not say the partial state is kept:\n%s", out)
	}
	second := prop(t, vmB, "receive_resume_token", "rdst/img")
	if second == "-" || second == first {
		t.Fatalf("after the second drop the token is %q (was %.40q): progress lost", second, first)
	}
	out = resumeCompletes(t, vmA, "zfs-vm push -d rdst b", replica{vmA, "rsrc/img"}, replica{vmB, "rdst/img"}, "zfs-vm:again:1")
	if sent := receivedBytes(t, out); sent > 0.75*float64(streamMiB<<20) {
		t.Errorf("third run sent %.0f bytes of %d: progress was lost", sent, streamMiB<<20)
	}
}

// TestHostileReplicationStreamForARun: zfs send -I writes a compound stream, which a pull of
// a run of versions must take; a peer that answers it with -R -I (a replication stream) or
// -p -I (the sender's properties) is refused in one line, nothing is received; the same run
// sent as asked passes (real zfs send -I headers of the lab's OpenZFS).
func TestHostileReplicationStreamForARun(t *testing.T) {
	vmB.pool(t, "rsrc")
	vmA.pool(t, "rdst")
	vmB.must(t, "zfs create -o lab:note=sender rsrc/t && zfs-vm tag -n rr:1 rsrc/t")
	vmA.must(t, "zfs-vm pull -d rdst b")
	vmB.must(t, "zfs-vm tag -n rr:2 rsrc/t && zfs-vm tag -n rr:3 rsrc/t")
	for flags, want := range map[string]string{
		"-R": "a replication stream (zfs send -R, 1 filesystems) where a run of one filesystem's snapshots (zfs send -I) was asked",
		"-p": "a stream with the sender's properties (zfs send -p) where a run",
	} {
		wrapZFS(t, vmB, fmt.Sprintf(`if [ "$1" = send ] && case " $* " in *" -I "*) true;; *) false;; esac; then shift; exec "$real" send %s "$@"; fi`, flags))
		out := vmA.fails(t, "zfs-vm pull -d rdst b")
		if !strings.Contains(out, "refused the stream from b: "+want) || strings.Count(out, "refused the stream") != 1 {
			t.Errorf("send %s -I: the pull did not refuse the stream in one line:\n%s", flags, out)
		}
		if got := vmA.must(t, "zfs list -H -t snapshot -o name -r rdst | grep -c rr: || true"); strings.TrimSpace(got) != "1" {
			t.Errorf("send %s -I: something was received:\n%s", flags, got)
		}
		vmB.must(t, "rm -f /usr/local/sbin/zfs")
	}
	out := vmA.must(t, "zfs-vm pull -d rdst b")
	if strings.Contains(out, "refused the stream") {
		t.Errorf("the run as zfs send -I writes it was refused:\n%s", out)
	}
	if got := vmA.must(t, "zfs list -H -t snapshot -o name -r rdst | grep -c rr: || true"); strings.TrimSpace(got) != "3" {
		t.Errorf("the run was not received: %s snapshots\n%s", got, out)
	}
}

// TestHostileNestedCompoundInARun: a peer answers a run of versions (zfs send -I) with the
// run's package, its final END cut off, followed by a nested compound stream of another
// filesystem sent with -p (mountpoint=/srv/nvictim, canmount=on), which libzfs would take as
// a package of its own. The pull walks the run's substreams and refuses the nested one in one
// line before a byte of it passes: the run's two whole snapshots are received, nothing of
// the other filesystem is, and after zfs mount -a this host's /srv/nvictim is untouched.
func TestHostileNestedCompoundInARun(t *testing.T) {
	vmB.pool(t, "nsrc")
	vmA.pool(t, "ndst")
	vmB.must(t, "zfs create nsrc/t && zfs-vm tag -n nr:1 nsrc/t")
	vmA.must(t, "zfs-vm pull -n nr -d ndst b")
	vmB.must(t, "zfs-vm tag -n nr:2 nsrc/t && zfs-vm tag -n nr:3 nsrc/t")
	vmB.must(t, "zfs create -o mountpoint=/srv/nvictim -o canmount=on nsrc/evil && echo evil > /srv/nvictim/planted && zfs snapshot nsrc/evil@e")
	t.Cleanup(func() { vmA.run("rm -rf /srv/nvictim"); vmB.run("rm -rf /srv/nvictim") })
	vmA.must(t, "mkdir -p /srv/nvictim && echo mine > /srv/nvictim/marker")
	// Only the stream of a run: zfs-vm's estimates (zfs send -n -P) go to the real zfs.
	wrapZFS(t, vmB, nestWrapper("nsrc/evil@e"))
	out := vmA.fails(t, "zfs-vm pull -n nr -d ndst b")
	if !strings.Contains(out, `refused the stream from b: a compound stream nested in a run of snapshots (substream 3, "nsrc/evil@e")`) || strings.Count(out, "refused the stream") != 1 {
		t.Errorf("the pull did not refuse the nested stream in one line:\n%s", out)
	}
	got := vmA.must(t, "zfs list -H -t all -o name -r ndst")
	if strings.Contains(got, "evil") || strings.Count(got, "nr:") != 3 {
		t.Errorf("want the run's snapshots and nothing of nsrc/evil on ndst:\n%s", got)
	}
	vmA.must(t, "zfs mount -a")
	if out := vmA.must(t, "ls /srv/nvictim; findmnt -n /srv/nvictim || true"); strings.TrimSpace(out) != "marker" {
		t.Errorf("/srv/nvictim changed:\n%s", out)
	}
}

// nestWrapper is a zfs wrapper body whose zfs send of a run (-I; not an estimate, -n) writes
// the run's package without its final END, then zfs send -p of snap: a nested compound
// stream.
func nestWrapper(snap string) string {
	return `if [ "$1" = send ] && case " $* " in *" -n "*) false;; *" -I "*) true;; *) false;; esac; then
  "$real" "$@" | head -c -312
  exec "$real" send -p ` + snap + `
fi`
}

// TestHostileNestedCompoundInAPush: the same nested stream, pushed by a peer (a, its zfs
// wrapped) through b's forced command: zfs-vm serve walks the run and refuses the nested
// stream in one line (the push reports it), b has the run's two whole snapshots and nothing
// of npa/evil, and b's /srv/pvictim is untouched after zfs mount -a.
func TestHostileNestedCompoundInAPush(t *testing.T) {
	vmA.pool(t, "npa")
	vmB.pool(t, "npb")
	forcedCommandAlias(t, "bnest", "--allow-receive npb/in")
	vmB.must(t, "zfs create npb/in")
	vmA.must(t, "zfs create npa/t && zfs-vm tag -n np:1 npa/t && zfs-vm push -n np -d npb/in bnest")
	vmA.must(t, "zfs-vm tag -n np:2 npa/t && zfs-vm tag -n np:3 npa/t && zfs create -o mountpoint=/srv/pvictim -o canmount=on npa/evil && echo evil > /srv/pvictim/planted && zfs snapshot npa/evil@e")
	t.Cleanup(func() { vmA.run("rm -rf /srv/pvictim"); vmB.run("rm -rf /srv/pvictim") })
	vmB.must(t, "mkdir -p /srv/pvictim && echo mine > /srv/pvictim/marker")
	wrapZFS(t, vmA, nestWrapper("npa/evil@e"))
	out := vmA.fails(t, "zfs-vm push -n np -d npb/in bnest")
	if !strings.Contains(out, `a compound stream nested in a run of snapshots (substream 3, "npa/evil@e")`) {
		t.Errorf("the push did not report serve's refusal:\n%s", out)
	}
	got := vmB.must(t, "zfs list -H -t all -o name -r npb")
	if strings.Contains(got, "evil") || strings.Count(got, "np:") != 3 {
		t.Errorf("want the run's snapshots and nothing of npa/evil on npb:\n%s", got)
	}
	vmB.must(t, "zfs mount -a")
	if out := vmB.must(t, "ls /srv/pvictim; findmnt -n /srv/pvictim || true"); strings.TrimSpace(out) != "marker" {
		t.Errorf("/srv/pvictim changed:\n%s", out)
	}
}

// TestHostileResumeTokenWithoutRawok: zfs send -t takes raw from the receiver's token. A
// push of an encrypted dataset interrupted without raw leaves a token without rawok on the
// peer (as a peer that stripped it would); a push with --send-option raw refuses to resume
// it in one line naming the dataset, sends nothing, and leaves the peer's partial state.
func TestHostileResumeTokenWithoutRawok(t *testing.T) {
	vmA.pool(t, "esrc")
	vmB.pool(t, "edst")
	vmA.must(t, fmt.Sprintf("echo 'zfs-vm lab passphrase' > /root/esrc.key && zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///root/esrc.key esrc/enc && dd if=/dev/urandom of=/esrc/enc/big bs=1M count=%d status=none && zfs-vm tag -n enc:1 esrc/enc", streamMiB))
	t.Cleanup(func() { vmA.run("rm -f /root/esrc.key") })
	out := vmA.must(t, interruptScript("push -d edst b", "esrc/enc@", streamMiB<<19, "^zfs send -P"))
	if !strings.Contains(out, "killed=yes") {
		t.Fatalf("the transfer was not interrupted:\n%s", out)
	}
	token := prop(t, vmB, "receive_resume_token", "edst/enc")
	if token == "-" || token == "" {
		t.Fatalf("no resume token on the peer after the interruption")
	}
	out = vmA.fails(t, "zfs-vm push --send-option raw -d edst b")
	if !strings.Contains(out, "into edst/enc: the resume token does not match the send options") || strings.Contains(out, "resumed the interrupted receive") {
		t.Errorf("the push did not refuse the token:\n%s", out)
	}
	if got := prop(t, vmB, "receive_resume_token", "edst/enc"); got != token {
		t.Errorf("the peer's partial state changed: token %q, was %q", got, token)
	}
}
