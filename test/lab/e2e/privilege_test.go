//go:build lab

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// addLabUser creates the unprivileged user zv on v (if missing), with its own key pair, and
// removes what it owns in /run when the test ends.
func addLabUser(t *testing.T, v *vm) {
	t.Helper()
	v.must(t, `id zv >/dev/null 2>&1 || useradd -m -s /bin/bash zv
install -d -o zv -g zv -m 700 ~zv/.ssh
[ -e ~zv/.ssh/id_ed25519 ] || su zv -c "ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519"`)
}

// letIn lets from's user zv log in to to as zv, with an ssh config on from naming to by its
// VM name (the lab's root config has the address and port).
func letIn(t *testing.T, from, to *vm) {
	t.Helper()
	pub := from.must(t, "cat ~zv/.ssh/id_ed25519.pub")
	if out, err := to.run("cat >> ~zv/.ssh/authorized_keys && chown zv:zv ~zv/.ssh/authorized_keys && chmod 600 ~zv/.ssh/authorized_keys", pub); err != nil {
		t.Fatalf("authorized_keys on %s: %v %s", to.name, err, out)
	}
	from.must(t, `sed -e 's/^  User root/  User zv/' -e 's|^  IdentityFile .*|  IdentityFile ~/.ssh/id_ed25519|' /root/.ssh/config > ~zv/.ssh/config
chown zv:zv ~zv/.ssh/config && chmod 600 ~zv/.ssh/config`)
}

// TestNonRootDelegatedPush: a user without root on both ends, with only the `zfs allow`
// permissions packaging/zfs-allow.md lists, pushes a template and a clone (received as a
// clone). Without /run/zfs-vm and without XDG_RUNTIME_DIR it says what to set; with
// XDG_RUNTIME_DIR its lock and ssh control socket go there.
func TestNonRootDelegatedPush(t *testing.T) {
	vmA.pool(t, "npa")
	vmB.pool(t, "npb")
	addLabUser(t, vmA)
	addLabUser(t, vmB)
	letIn(t, vmA, vmB)
	vmA.must(t, `zfs create npa/tmpl && echo v1 > /npa/tmpl/f && zfs-vm tag -n np:1 npa/tmpl
zfs clone npa/tmpl@zfs-vm:np:1 npa/c1 && echo c > /npa/c1/g && zfs-vm tag npa/c1
zfs allow -u zv send,snapshot,hold,release npa`)
	vmB.must(t, "zfs create npb/bk && zfs allow -u zv receive,create,mount,hold,release npb/bk")

	// /run/zfs-vm may exist from root's runs; it is root's and not writable for zv.
	out := vmA.fails(t, "mkdir -p /run/zfs-vm && cd /tmp && su zv -c 'unset XDG_RUNTIME_DIR; zfs-vm push -d npb/bk b'")
	if !strings.Contains(out, "XDG_RUNTIME_DIR is not set (set ZFS_VM_RUNTIME_DIR)") {
		t.Errorf("without a runtime directory: %s", out)
	}
	out = vmA.must(t, "cd /tmp && su zv -c 'install -d -m 700 /tmp/zv-run && XDG_RUNTIME_DIR=/tmp/zv-run zfs-vm push -d npb/bk b && ls /tmp/zv-run/zfs-vm'")
	if streamsReceived(t, out) != 2 || !strings.Contains(out, ".lock") {
		t.Errorf("push as zv:\n%s", out)
	}
	if o := prop(t, vmB, "origin", "npb/bk/c1"); o != "npb/bk/tmpl@zfs-vm:np:1" {
		t.Errorf("npb/bk/c1 origin %q, want the received template's version", o)
	}
	holds := vmB.must(t, "zfs holds -H npb/bk/c1@zfs-vm:np:2")
	if !strings.Contains(holds, "zfs-vm-base:") {
		t.Errorf("no base hold as zv on the receiver: %q", holds)
	}
	// Channel programs need root: the first push learned that they fail for zv on both hosts
	// and kept it in its hints, so that no later run tries them (these hosts are small: the
	// next reads each with one full listing, and keeps what was learned).
	out = vmA.must(t, "cd /tmp && su zv -c 'XDG_RUNTIME_DIR=/tmp/zv-run zfs-vm -d push -d npb/bk b 2>&1; cat /tmp/zv-run/zfs-vm/hints/*.json'")
	if streamsReceived(t, out) != 0 || strings.Count(out, `"no_program":true`) != 2 {
		t.Errorf("second push as zv: not a no-op, or the hints lost that the names program fails on each side:\n%s", out)
	}
}

// serveOnB lets A's root log in to B's root as "bserve" with a key of its own that B's
// authorized_keys forces to `zfs-vm serve ARGS`, until the test ends.
func serveOnB(t *testing.T, args string) {
	t.Helper()
	vmA.must(t, `[ -e /root/.ssh/serve_key ] || ssh-keygen -q -t ed25519 -N '' -C zfs-vm-serve-lab -f /root/.ssh/serve_key
cp /root/.ssh/config /root/.ssh/config.before-serve
sed -e 's/^Host b$/Host bserve/' -e 's|^  IdentityFile .*|  IdentityFile /root/.ssh/serve_key\n  IdentitiesOnly yes|' /root/.ssh/config.before-serve > /tmp/bserve.conf
cat /tmp/bserve.conf >> /root/.ssh/config`)
	t.Cleanup(func() {
		vmA.run("mv /root/.ssh/config.before-serve /root/.ssh/config")
		vmB.run("sed -i '/zfs-vm-serve-lab/d' /root/.ssh/authorized_keys")
	})
	pub := strings.TrimSpace(vmA.must(t, "cat /root/.ssh/serve_key.pub"))
	line := `command="/usr/bin/zfs-vm serve ` + args + `",restrict ` + pub + "\n"
	if out, err := vmB.run("cat >> /root/.ssh/authorized_keys", line); err != nil {
		t.Fatalf("authorized_keys: %v %s", err, out)
	}
}

// TestForcedCommandPushPull: b lets a new key of a's root in only through
// `zfs-vm serve` (receive below svb/in, send below svb/src). A push of a template and its
// clone (zstd on the wire) and a pull run through it unchanged; a command zfs-vm does not
// send is refused with one line, logged in b's journal, and changes nothing. A volume's
// incremental (a receive without property options) goes through; the same receive of a
// filesystem stream (with -p: its mountpoint) is refused, and so is a compound stream
// (zfs send -R -p) into a receive with zfs-vm's options.
func TestForcedCommandPushPull(t *testing.T) {
	vmA.pool(t, "sva")
	vmB.pool(t, "svb")
	serveOnB(t, "--allow-receive svb/in --allow-send svb/src")
	vmA.must(t, `zfs create sva/tmpl && echo v1 > /sva/tmpl/f && zfs-vm tag -n sv:1 sva/tmpl
zfs clone sva/tmpl@zfs-vm:sv:1 sva/c1 && echo c > /sva/c1/g && zfs-vm tag sva/c1
zfs create sva/back`)
	vmB.must(t, "zfs create svb/in && zfs create -p svb/src/t && echo p > /svb/src/t/f && zfs-vm tag -n pl:1 svb/src/t")

	out := vmA.must(t, "zfs-vm push --compress zstd -d svb/in bserve")
	if streamsReceived(t, out) != 2 {
		t.Errorf("push through the forced command:\n%s", out)
	}
	if o := prop(t, vmB, "origin", "svb/in/c1"); o != "svb/in/tmpl@zfs-vm:sv:1" {
		t.Errorf("svb/in/c1 origin %q", o)
	}
	if h := vmB.must(t, "zfs holds -H svb/in/c1@zfs-vm:sv:2"); !strings.Contains(h, "zfs-vm-base:") {
		t.Errorf("no base hold moved through the forced command: %q", h)
	}
	out = vmA.must(t, "zfs-vm pull -n pl -d sva/back bserve")
	if streamsReceived(t, out) != 1 {
		t.Errorf("pull through the forced command:\n%s", out)
	}
	vmA.must(t, "zfs list sva/back/t@zfs-vm:pl:1")

	out = vmA.fails(t, "ssh bserve zfs destroy -r svb/in")
	if !strings.Contains(out, "zfs-vm serve: refused: zfs destroy is not allowed") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("destroy through the forced command: %q", out)
	}
	vmB.must(t, "zfs list svb/in/tmpl && journalctl -t zfs-vm --no-pager -n 20 | grep -q 'refused: zfs destroy is not allowed'")

	// A volume's incremental is zfs-vm's one receive without property options: serve lets it
	// into an existing volume, and nowhere else (a filesystem would take the stream's
	// mountpoint).
	vmA.must(t, "zfs create -s -V 4M sva/vol && zfs-vm tag -n svv:1 sva/vol && zfs-vm push -n svv -d svb/in bserve")
	vmA.must(t, "udevadm settle && dd if=/dev/urandom of=/dev/zvol/sva/vol bs=64k count=1 conv=fsync status=none && zfs-vm tag sva/vol")
	if out := vmA.must(t, "zfs-vm push -n svv -d svb/in bserve"); streamsReceived(t, out) != 1 {
		t.Errorf("a volume's incremental through the forced command:\n%s", out)
	}
	vmA.must(t, "zfs create -o mountpoint=/srv/serve-victim sva/evil && zfs snapshot sva/evil@x")
	for ds, why := range map[string]string{"svb/in/evil": "which is not an existing volume", "svb/in/tmpl": "which is a filesystem, not a volume"} {
		out = vmA.fails(t, "zfs send -p sva/evil@x | ssh bserve zfs receive -s -u "+ds)
		if !strings.Contains(out, "zfs-vm serve: refused: zfs receive without property options into "+ds+", "+why) {
			t.Errorf("a receive without property options into %s: %q", ds, out)
		}
	}
	// A compound stream (zfs send -R -p) into a volume's receive is refused before zfs
	// receive starts: libzfs would skip -o volmode= for a filesystem in it.
	out = vmA.fails(t, "zfs send -R -p sva/evil@x | ssh bserve zfs receive -s -u -o volmode=default svb/in/evil")
	if !strings.Contains(out, "zfs-vm serve: refused: the stream: a compound stream") {
		t.Errorf("a compound stream through the forced command: %q", out)
	}
	vmB.fails(t, "zfs list svb/in/evil")
	// Into a filesystem only a compound stream with an empty header passes (what zfs send -I
	// writes for a run of versions); -R -p's header is read and the stream refused.
	fsNew := "-x mountpoint -x sharenfs -x sharesmb -o canmount=noauto svb/in/evil"
	out = vmA.fails(t, "zfs send -R -p sva/evil@x | ssh bserve zfs receive -s -u "+fsNew)
	if !strings.Contains(out, "zfs-vm serve: refused: the stream: a replication stream (zfs send -R, 1 filesystems)") {
		t.Errorf("a replication stream into a filesystem through the forced command: %q", out)
	}
	vmB.fails(t, "zfs list svb/in/evil")
}

// TestHoldsPerPeerOnOneHost: two peers on one host (two pools) hold the sender's base each
// under its own tag, so moving one peer on does not release the other's base; a legacy
// host-named hold on the receiver is taken over on the next run. A version one destination
// already has is still sent to the other.
func TestHoldsPerPeerOnOneHost(t *testing.T) {
	vmA.pool(t, "hpa")
	vmB.pool(t, "hpx")
	vmB.pool(t, "hpy")
	vmA.must(t, "zfs create hpa/t && echo 1 > /hpa/t/f && zfs-vm tag -n hp:1 hpa/t")
	vmB.must(t, "zfs create hpx/bk && zfs create hpy/bk")
	config := "[[peer]]\nname = \"px\"\nhost = \"b\"\ndirection = \"push\"\nstreamlines = [\"hp\"]\ndest = \"hpx/bk\"\n" +
		"[[peer]]\nname = \"py\"\nhost = \"b\"\ndirection = \"push\"\nstreamlines = [\"hp\"]\ndest = \"hpy/bk\"\n"
	// py first, then both: px must get its own copy although b has py's, with the same guid.
	// (Both at once, px once planned nothing and exited 0 when py's receive had finished
	// before px listed b: the planner took py's copy for px's.)
	vmA.must(t, "cat > /tmp/hp.toml <<'END'\n"+config+"END\nzfs-vm --config /tmp/hp.toml sync --peer py")
	vmA.must(t, "zfs-vm --config /tmp/hp.toml sync")
	if out, err := vmB.run("zfs list -H -o name hpx/bk/t@zfs-vm:hp:1 hpy/bk/t@zfs-vm:hp:1"); err != nil {
		t.Fatalf("each destination has its own copy after py's sync and then both: %v\n%s", err, out)
	}
	me := strings.TrimSpace(vmA.must(t, "hostname"))
	// What an older zfs-vm would have left: holds named after the other host.
	vmB.must(t, "zfs hold zfs-vm-base:"+me+" hpx/bk/t@zfs-vm:hp:1")
	vmA.must(t, "zfs hold zfs-vm-base:b hpa/t@zfs-vm:hp:1")
	vmA.must(t, "zfs-vm --config /tmp/hp.toml sync --peer px")
	if h := vmB.must(t, "zfs holds -H hpx/bk/t@zfs-vm:hp:1"); strings.Contains(h, "zfs-vm-base:"+me+"\t") || !strings.Contains(h, "zfs-vm-base:"+me+":px:hpx/bk") {
		t.Errorf("receiver holds after the first run of this version:\n%s", h)
	}

	vmA.must(t, "echo 2 > /hpa/t/f && zfs-vm tag hpa/t && zfs-vm --config /tmp/hp.toml sync --peer px")
	h := vmA.must(t, "zfs holds -H hpa/t@zfs-vm:hp:1")
	if !strings.Contains(h, "zfs-vm-base:py:hpy/bk") {
		t.Errorf("moving peer px on released peer py's base:\n%s", h)
	}
	if strings.Contains(h, "zfs-vm-base:px:") || strings.Contains(h, "zfs-vm-base:b\t") {
		t.Errorf("px's old base still held by px or the legacy tag:\n%s", h)
	}
	if h := vmA.must(t, "zfs holds -H hpa/t@zfs-vm:hp:2"); !strings.Contains(h, "zfs-vm-base:px:hpx/bk") {
		t.Errorf("px's new base not held:\n%s", h)
	}
}

// forcedCommandAlias gives a's root a new key (comment zfs-vm-ALIAS-lab) that b lets in only
// through `zfs-vm serve SERVEARGS`, and the ssh host ALIAS on a that reaches b with it. Both
// are undone when the test ends.
func forcedCommandAlias(t *testing.T, alias, serveArgs string) {
	t.Helper()
	key, comment := "/root/.ssh/"+alias+"_key", "zfs-vm-"+alias+"-lab"
	vmA.must(t, `[ -e `+key+` ] || ssh-keygen -q -t ed25519 -N '' -C `+comment+` -f `+key+`
cp /root/.ssh/config /root/.ssh/config.before-`+alias+`
sed -e 's/^Host b$/Host `+alias+`/' -e 's|^  IdentityFile .*|  IdentityFile `+key+`\n  IdentitiesOnly yes|' /root/.ssh/config.before-`+alias+` >> /root/.ssh/config`)
	t.Cleanup(func() {
		vmA.run("mv /root/.ssh/config.before-" + alias + " /root/.ssh/config")
		vmB.run("sed -i '/" + comment + "/d' /root/.ssh/authorized_keys")
	})
	pub := strings.TrimSpace(vmA.must(t, "cat "+key+".pub"))
	line := `command="/usr/bin/zfs-vm serve ` + serveArgs + `",restrict ` + pub + "\n"
	if out, err := vmB.run("cat >> /root/.ssh/authorized_keys", line); err != nil {
		t.Fatalf("authorized_keys: %v %s", err, out)
	}
}

// TestForcedCommandCloneOfOutside: b's template sco/tmpl is outside --allow-send, its clone
// sco/pub/c1 inside. serve lists the clone with origin "-", so a pull through it takes the
// clone as a dataset of its own: received in full, with no origin, and its version; the
// template stays hidden. The base hold on b goes through --hold-peer (a's hostname), and
// zfs holds through the key shows that hold only.
func TestForcedCommandCloneOfOutside(t *testing.T) {
	vmB.pool(t, "sco")
	vmA.pool(t, "scp")
	me := strings.TrimSpace(vmA.must(t, "hostname"))
	forcedCommandAlias(t, "bclone", "--allow-send sco/pub --hold-peer "+me)
	vmB.must(t, `zfs create sco/tmpl && echo v1 > /sco/tmpl/f && zfs-vm tag -n sc:1 sco/tmpl
zfs create sco/pub && zfs clone sco/tmpl@zfs-vm:sc:1 sco/pub/c1 && echo c > /sco/pub/c1/g && zfs-vm tag sco/pub/c1`)
	vmA.must(t, "zfs create scp/back")

	out := vmA.must(t, "zfs-vm pull -n sc -d scp/back bclone")
	if streamsReceived(t, out) != 1 {
		t.Errorf("pull of a clone of a hidden template through the forced command:\n%s", out)
	}
	if o := prop(t, vmA, "origin", "scp/back/c1"); o != "-" {
		t.Errorf("scp/back/c1 origin %q, want - (received in full)", o)
	}
	vmA.must(t, "zfs list scp/back/c1@zfs-vm:sc:2")
	vmA.fails(t, "zfs list scp/back/tmpl")
	if h := vmB.must(t, "zfs holds -H sco/pub/c1@zfs-vm:sc:2"); !strings.Contains(h, "zfs-vm-base:"+me+":bclone:scp/back") {
		t.Errorf("no base hold through --hold-peer on b:\n%s", h)
	}
	// zfs holds through the key shows only this client's base holds, as real zfs prints
	// them: not another client's tag (its host and peer) nor another tool's hold.
	vmB.must(t, "zfs hold zfs-vm-base:other:mirror:tank/m sco/pub/c1@zfs-vm:sc:2 && zfs hold keep sco/pub/c1@zfs-vm:sc:2")
	h := vmA.must(t, "ssh bclone zfs holds -H sco/pub/c1@zfs-vm:sc:2")
	if !strings.Contains(h, "sco/pub/c1@zfs-vm:sc:2\tzfs-vm-base:"+me+":bclone:scp/back\t") ||
		strings.Contains(h, "zfs-vm-base:other:") || strings.Contains(h, "\tkeep\t") {
		t.Errorf("zfs holds through --hold-peer shows:\n%s", h)
	}
}

// TestForcedCommandResumedPull: a pull through the forced command is cut mid-stream (the
// ssh carrying it dies); the rerun resumes it through serve, whose zfs send -t check finds
// the token's snapshot below --allow-send on real ZFS, and completes it.
func TestForcedCommandResumedPull(t *testing.T) {
	vmB.pool(t, "srs")
	vmA.pool(t, "srp")
	forcedCommandAlias(t, "bres", "--allow-send srs/pub")
	vmB.must(t, fmt.Sprintf("zfs create -p srs/pub/img && dd if=/dev/urandom of=/srs/pub/img/big bs=1M count=%d status=none && zfs-vm tag -n rs:1 srs/pub/img", streamMiB))
	vmA.must(t, "zfs create srp/back")
	since := strings.TrimSpace(vmB.must(t, "date +%s"))
	out := vmA.must(t, interruptScript("pull --bwlimit 2M -d srp/back bres", "srs/pub/img@", streamMiB<<18, "^ssh .*zfs send"))
	if !strings.Contains(out, "killed=yes") {
		t.Fatalf("the pull was not interrupted:\n%s", out)
	}
	if token := prop(t, vmA, "receive_resume_token", "srp/back/img"); token == "-" || token == "" {
		t.Fatalf("no resume token after the interrupted pull:\n%s", out)
	}
	resumeCompletes(t, vmA, "zfs-vm pull -d srp/back bres", replica{vmB, "srs/pub/img"}, replica{vmA, "srp/back/img"}, "zfs-vm:rs:1")
	if j := vmB.must(t, "journalctl -t zfs-vm --no-pager --since @"+since+" | grep refused || echo none"); !strings.Contains(j, "none") {
		t.Errorf("serve refused something:\n%s", j)
	}
}

// TestForcedCommandResumeTokenOfAnother: zfs send -t sends the snapshot with the token's
// guid, searched from the token's name up to the pool's root. A token cut from a stream of
// stk/pub/x@s, whose dataset then moved out of --allow-send (stk/secret) and was replaced by
// a new stk/pub/x@s, names an allowed snapshot with the guid of one outside: zfs itself
// would send stk/secret@s, serve refuses it. A token whose snapshot is its own is accepted.
func TestForcedCommandResumeTokenOfAnother(t *testing.T) {
	vmB.pool(t, "stk")
	forcedCommandAlias(t, "btok", "--allow-send stk/pub")
	token := func(partial string) string {
		return strings.TrimSpace(vmB.must(t, `zfs create stk/pub/x && dd if=/dev/urandom of=/stk/pub/x/f bs=1M count=4 status=none
zfs snapshot stk/pub/x@s
{ zfs send stk/pub/x@s | head -c 2000000 | zfs receive -s stk/`+partial+`; } >/dev/null 2>&1 || true
zfs get -H -o value receive_resume_token stk/`+partial))
	}
	vmB.must(t, "zfs create stk/pub")
	forged := token("partial1")
	vmB.must(t, "zfs rename stk/pub/x stk/secret")
	honest := token("partial2")

	if out := vmB.must(t, "zfs send -n -P -t "+forged); !strings.Contains(out, "stk/secret@s") {
		t.Errorf("zfs send -t of the token did not resolve to stk/secret@s (the premise):\n%s", out)
	}
	out := vmA.fails(t, "ssh btok zfs send -n -P -t "+forged)
	if !strings.Contains(out, "zfs-vm serve: refused: zfs send -t: no snapshot below --allow-send has the resume token's guid") {
		t.Errorf("a token of stk/pub/x@s with stk/secret@s's guid:\n%s", out)
	}
	if out := vmA.must(t, "ssh btok zfs send -n -P -t "+honest); !strings.Contains(out, "stk/pub/x@s") {
		t.Errorf("the estimate of an honest resume:\n%s", out)
	}
}
