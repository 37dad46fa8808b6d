package serve

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs"
)

const (
	// A resume token of tk/src@b (zfs/token_test.go).
	tokenSrc = "1-dafd370be-e0-789c636064000310a501c49c50360710a715e5e7a69766a6304041bff67669f38306390a40363b92bafca4acd4e412068606a83a0cf9b4b4e2d412908c0c5c9e0d493ea9b224b518487fb094c3aabf241fe20a832f9d93ebf85e316a20c97382e5f31273538174b67e7151b243120312000030201c79"
)

var policy = Policy{Send: []string{"tank/img", "tk/src"}, Receive: []string{"tank/backup"}}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// lines builds remote command lines exactly as zfs-vm does for a peer (with and without sudo).
type lines struct{ h *zfs.Host }

func (l lines) one(argv ...string) string {
	args := l.h.Command(context.Background(), argv...).Args
	return args[len(args)-1]
}

func (l lines) pipe(stages ...zfs.Stage) string {
	args := l.h.Pipeline(context.Background(), stages...)[0].Args
	return args[len(args)-1]
}

var (
	zstdC = zfs.Stage{Argv: []string{"zstd", "-q", "-c", "-T0"}, Helper: true}
	zstdD = zfs.Stage{Argv: []string{"zstd", "-q", "-d", "-c"}, Helper: true}
)

// What zfs-vm sends is accepted, built by zfs-vm's own code.
func TestAcceptsWhatZFSVMSends(t *testing.T) {
	full := must(zfs.NewFullSend("tank/img/tmpl@zfs-vm:d:1"))
	incr := must(zfs.NewIncrementalSend("tank/img/tmpl@zfs-vm:d:1", "tank/img/tmpl@zfs-vm:d:3", true)).WithOptions([]string{"-c", "-L", "-e", "-w"})
	clone := must(zfs.NewCloneSend("tank/img/tmpl@zfs-vm:d:1", "tank/img/my clone@zfs-vm:d:2"))
	resume := must(zfs.NewResumeSend(tokenSrc))
	recv := must(zfs.NewReceive("tank/backup/tmpl", ""))
	recvClone := must(zfs.NewReceive("tank/backup/my clone", "tank/backup/tmpl@zfs-vm:d:1"))
	abort := must(zfs.AbortArgv("tank/backup/tmpl"))
	for _, sudo := range []bool{false, true} {
		l := lines{zfs.Unconnected("zfs-vm@b", sudo)}
		accepted := map[string]string{
			"listing":            l.one(zfs.ListArgs()...),
			"dataset listing":    l.one(zfs.DatasetListArgs()...),
			"version names":      l.one(zfs.TagNamesArgs()...),
			"snapshot listing":   l.one(zfs.SnapshotListArgs("tank/img/tmpl", "tank/backup/my clone")...),
			"full send":          l.pipe(zfs.Stage{Argv: full.ReportingArgv()}),
			"incremental -I":     l.pipe(zfs.Stage{Argv: incr.ReportingArgv()}, zstdC),
			"clone send":         l.pipe(zfs.Stage{Argv: clone.ReportingArgv()}),
			"resume send":        l.pipe(zfs.Stage{Argv: resume.ReportingArgv()}),
			"estimate":           l.one(incr.EstimateArgv()...),
			"estimate of resume": l.one(resume.EstimateArgv()...),
			"receive":            l.pipe(zfs.Stage{Argv: recv.Argv()}),
			"receive a clone":    l.pipe(zstdD, zfs.Stage{Argv: recvClone.Argv()}),
			"abort":              l.one(abort...),
			"zstd check":         l.one("zstd", "--version"),
			"holds":              l.one("zfs", "holds", "-H", "tank/img/tmpl@zfs-vm:d:1", "tank/backup/tmpl@zfs-vm:d:1"),
			"move holds": l.h.SequenceLine(
				[]string{"zfs", "hold", "zfs-vm-base:b:tank/backup", "tank/img/tmpl@zfs-vm:d:3"},
				[]string{"zfs", "release", "zfs-vm-base:b:tank/backup", "tank/img/tmpl@zfs-vm:d:1"},
				[]string{"zfs", "release", "zfs-vm-base:b", "tank/img/tmpl@zfs-vm:d:1"}),
		}
		for _, props := range allReceiveProps() {
			accepted[fmt.Sprintf("receive %+v", props)] = l.pipe(zfs.Stage{Argv: recv.WithProps(props).Argv()})
			if props.New {
				accepted[fmt.Sprintf("receive a clone %+v", props)] = l.pipe(zstdD, zfs.Stage{Argv: recvClone.WithProps(props).Argv()})
			}
		}
		for name, line := range accepted {
			if _, err := policy.Parse(line); err != nil {
				t.Errorf("sudo=%v %s: refused %q: %v", sudo, name, line, err)
			}
		}
	}
}

// allReceiveProps are every property handling a receive can have.
func allReceiveProps() []zfs.ReceiveProps {
	var all []zfs.ReceiveProps
	for i := 0; i < 8; i++ {
		all = append(all, zfs.ReceiveProps{Volume: i&1 != 0, New: i&2 != 0, Mountable: i&4 != 0})
	}
	return all
}

// Everything else is refused, with a reason.
func TestRefuses(t *testing.T) {
	l := lines{zfs.Unconnected("zfs-vm@b", false)}
	q := func(argv ...string) string { return l.one(argv...) }
	shc := func(script string) string { return zfs.QuoteCommand([]string{"sh", "-c", script}) }
	sendPipe := l.pipe(zfs.Stage{Argv: must(zfs.NewFullSend("tank/img@a")).ReportingArgv()}, zstdC)
	xfs := []string{"-x", "mountpoint", "-x", "sharenfs", "-x", "sharesmb"}
	recvArgs := func(opts []string, more ...string) []string {
		argv := append([]string{"zfs", "receive", "-s", "-u"}, opts...)
		return append(append(argv, more...), "tank/backup/x")
	}
	cases := []struct{ name, line, why string }{
		{"destroy", q("zfs", "destroy", "-r", "tank/img"), "zfs destroy is not allowed"},
		{"set mountpoint", q("zfs", "set", "mountpoint=/etc", "tank/backup/x"), "zfs set is not allowed"},
		{"program", q("zfs", "program", "tank", "/tmp/x.lua"), "zfs program is not allowed"},
		{"a hold tag that forges a line of zfs holds", q("zfs", "hold", "zfs-vm-base:a\ntank/img@a\tzfs-vm-base:b", "tank/img@a"), "a tag with a control character"},
		{"shell", "sh -c id", "not a command zfs-vm runs"},
		{"other command", q("cat", "/etc/shadow"), `"cat" is not a command zfs-vm runs`},
		{"command substitution", "env PATH=/bin zfs list $(id)", "unexpected word"},
		{"semicolon", q("zfs", "list") + "; id", "unexpected word"},
		{"and", q("zfs", "holds", "-H", "tank/img@a") + " && id", "unexpected word"},
		{"redirection", q("zfs", "holds", "-H", "tank/img@a") + " > /etc/passwd", "unexpected word"},
		{"backquote", "zfs holds -H `id`", "unexpected word"},
		{"double spaces", "zfs  list", "unexpected"},
		{"newline", "zfs holds -H tank/img@a\nid", "unexpected word"},
		{"unterminated quote", "zfs holds -H 'tank/img@a", "unterminated quote"},
		{"double quotes", `zfs holds -H "tank/img@a"`, "unexpected word"},
		{"empty", "", "empty command"},
		{"other listing", q("zfs", "list", "-H", "-o", "name"), "zfs list with other options"},
		{"snapshots of no dataset", q(zfs.SnapshotListArgs()...), "zfs list with other options"},
		{"snapshots outside", q(zfs.SnapshotListArgs("tank/img/t", "rpool/secret")...), "rpool/secret is outside"},
		{"snapshots of an option", q(zfs.SnapshotListArgs("-r")...), ""},
		{"send outside", q(must(zfs.NewFullSend("tank/secret@x")).ReportingArgv()...), "tank/secret@x is outside the allowed datasets"},
		{"send of a look-alike", q(must(zfs.NewFullSend("tank/imgs@x")).ReportingArgv()...), "outside the allowed datasets"},
		{"send without -P -v", q("zfs", "send", "tank/img@x"), "without zfs-vm's -P -v"},
		{"send -R", q("zfs", "send", "-P", "-v", "-R", "tank/img@x"), "arguments zfs-vm does not use"},
		{"send twice -c", q("zfs", "send", "-P", "-v", "-c", "-c", "tank/img@x"), "arguments zfs-vm does not use"},
		{"incremental from outside", q(must(zfs.NewCloneSend("tank/secret@a", "tank/img/c@b")).ReportingArgv()...), "tank/secret@a is outside"},
		{"resume of outside", q("zfs", "send", "-P", "-v", "-t", tokenSrc), ""},
		{"bad token", q("zfs", "send", "-P", "-v", "-t", "1-2-3-zz"), "resume token"},
		{"receive -F", q("zfs", "receive", "-F", "tank/backup/x"), "options other than zfs-vm's"},
		{"receive outside", q(must(zfs.NewReceive("tank/img/x", "")).Argv()...), "tank/img/x is outside"},
		{"receive the parent of the root", q("zfs", "receive", "-s", "-u", "tank"), "tank is outside"},
		{"receive mountpoint", q("zfs", "receive", "-s", "-u", "-o", "mountpoint=/etc", "tank/backup/x"), "property options other than zfs-vm's: -o mountpoint=/etc"},
		{"receive mountpoint too", q(recvArgs(xfs, "-o", "canmount=noauto", "-o", "mountpoint=/etc")...), "property options other than zfs-vm's"},
		{"receive canmount=on", q(recvArgs(xfs, "-o", "canmount=on")...), "property options other than zfs-vm's"},
		{"receive -x twice", q(recvArgs(xfs, "-x", "canmount", "-x", "canmount")...), "property options other than zfs-vm's"},
		{"receive -x mountpoint twice", q(recvArgs([]string{"-x", "mountpoint", "-x", "mountpoint", "-x", "sharesmb", "-x", "canmount"})...), "property options other than zfs-vm's"},
		{"receive without -x sharenfs", q(recvArgs([]string{"-x", "mountpoint", "-x", "sharesmb", "-x", "canmount"})...), "property options other than zfs-vm's"},
		{"receive -x readonly", q(recvArgs(xfs, "-x", "canmount", "-x", "readonly")...), "property options other than zfs-vm's"},
		{"receive volmode=dev", q(recvArgs(nil, "-o", "volmode=dev")...), "property options other than zfs-vm's"},
		{"receive both canmounts", q(recvArgs(xfs, "-o", "canmount=noauto", "-x", "canmount")...), "property options other than zfs-vm's"},
		{"receive origin first", q(recvArgs(nil, "-o", "origin=tank/backup/t@a", "-o", "volmode=default")...), "property options other than zfs-vm's"},
		{"receive origin twice", q(recvArgs(nil, "-o", "volmode=default", "-o", "origin=tank/backup/t@a", "-o", "origin=tank/backup/t@a")...), "property options other than zfs-vm's"},
		{"receive a clone without options", q(recvArgs(nil, "-o", "origin=tank/backup/t@a")...), "-o origin= without the property options of a new dataset"},
		{"receive without a target", q(slices.Concat([]string{"zfs", "receive", "-s", "-u"}, xfs, []string{"-x", "canmount"})...), "property options other than zfs-vm's"},
		{"receive an option as the target", q("zfs", "receive", "-s", "-u", "-o", "volmode=default", "-x"), `dataset "-x": a pool name starts with a letter`},
		{"clone of outside", q(must(zfs.NewReceive("tank/backup/c", "tank/img@a")).Argv()...), "tank/img@a is outside"},
		{"abort outside", q("zfs", "receive", "-A", "tank/img/x"), "outside"},
		{"rollback", q("zfs", "rollback", "-r", "tank/backup/x@a"), "not allowed (serve --allow-rollback)"},
		{"hold other tag", q("zfs", "hold", "keep", "tank/backup/x@a"), "not zfs-vm's"},
		{"release the tagging hold", q("zfs", "release", "zfs-vm", "tank/img@a"), "not zfs-vm's"},
		{"hold -r", q("zfs", "hold", "-r", "zfs-vm-base:x", "tank/img@a"), "not zfs-vm's"},
		{"release outside", q("zfs", "release", "zfs-vm-base:x", "tank/secret@a"), "outside"},
		{"holds -r", q("zfs", "holds", "-r", "tank/img@a"), "other options"},
		{"zstd to a file", q("zstd", "-q", "-d", "-c", "-o", "/etc/passwd"), "zstd with arguments"},
		{"zstd alone", q("zstd", "-q", "-d", "-c"), "zstd outside a stream"},
		{"pipe into sh", l.pipe(zfs.Stage{Argv: must(zfs.NewFullSend("tank/img@a")).ReportingArgv()}, zfs.Stage{Argv: []string{"sh"}}), "not a command zfs-vm runs"},
		{"receive into send", l.pipe(zfs.Stage{Argv: []string{"zfs", "holds", "-H", "tank/img@a"}}, zstdD), "a pipeline zfs-vm does not make"},
		{"sequence with a receive", l.h.SequenceLine([]string{"zfs", "receive", "-A", "tank/backup/x"}), "other commands than zfs hold and release"},
		{"sequence without exit", shc("s=0; zfs hold zfs-vm-base:x tank/img@a || s=$?;"), "not a command sequence"},
		{"sequence with more", shc("s=0; zfs hold zfs-vm-base:x tank/img@a || s=$?; exit $s; id"), "unexpected word"},
		{"sh -c with more words", sendPipe + " x", "sh with other arguments than -c and one script"},
		{"sh -c before more words", "sh -c x " + sendPipe, "sh with other arguments than -c and one script"},
		{"sh without -c", "sh " + strings.TrimPrefix(sendPipe, "sh -c "), "sh with other arguments than -c and one script"},
		{"bash -c", "ba" + sendPipe, `"bash" is not a command zfs-vm runs`},
		{"sh -c in sh -c", shc(sendPipe), `"sh" is not a command zfs-vm runs`},
		{"sh -c of one command", shc(q("zfs", "holds", "-H", "tank/img@a")), "sh -c of a single command"},
		{"pipeline outside sh -c", "zfs send -P -v tank/img@a | zstd -q -c -T0", "a pipeline or sequence outside sh -c"},
		{"sequence outside sh -c", "s=0; zfs hold zfs-vm-base:x tank/img@a || s=$?; exit $s", "a pipeline or sequence outside sh -c"},
		{"sudo another user", q("sudo", "-u", "bob", "zfs", "list"), "not a command zfs-vm runs"},
	}
	for _, c := range cases {
		_, err := policy.Parse(c.line)
		if c.name == "resume of outside" {
			_, err = Policy{Send: []string{"tank/img"}}.Parse(c.line)
			c.why = "tk/src@b is outside"
		}
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %q: got %v, want refusal with %q", c.name, c.line, err, c.why)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: refusal is not one line: %q", c.name, err)
		}
	}
}

// Direction: a send-only key cannot receive, a receive-only key cannot send.
func TestDirections(t *testing.T) {
	l := lines{zfs.Unconnected("b", false)}
	send := l.pipe(zfs.Stage{Argv: must(zfs.NewFullSend("tank/backup/x@a")).ReportingArgv()})
	recv := l.pipe(zfs.Stage{Argv: must(zfs.NewReceive("tank/img/x", "")).Argv()})
	if _, err := (Policy{Receive: []string{"tank/backup"}}).Parse(send); err == nil || !strings.Contains(err.Error(), "may not send") {
		t.Errorf("receive-only key sent: %v", err)
	}
	if _, err := (Policy{Send: []string{"tank/img"}}).Parse(recv); err == nil || !strings.Contains(err.Error(), "may not receive") {
		t.Errorf("send-only key received: %v", err)
	}
	if _, err := (Policy{Receive: []string{"tank/backup"}, Rollback: true}).Parse(l.one("zfs", "rollback", "-r", "tank/backup/x@a")); err != nil {
		t.Errorf("--allow-rollback: %v", err)
	}
}

// Names with spaces, quotes and shell characters arrive as the words they were.
func TestQuotedNames(t *testing.T) {
	l := lines{zfs.Unconnected("b", false)}
	snap := "tank/img/it's a $(name) `x`; y@zfs-vm:d:1"
	// ZFS itself refuses such names; the parser must still read them back exactly.
	toks, err := tokenize(l.one("zfs", "holds", "-H", snap, "it's"))
	if err != nil {
		t.Fatal(err)
	}
	if got := toks[len(toks)-2].text; got != snap || toks[len(toks)-1].text != "it's" {
		t.Errorf("read back %q", got)
	}
	if _, err := policy.Parse(l.one("zfs", "holds", "-H", "tank/img/a b@zfs-vm:d:1")); err != nil {
		t.Errorf("a name with a space: %v", err)
	}
}

func FuzzServeParse(f *testing.F) {
	f.Add("env PATH=/bin zfs holds -H tank/img@a")
	f.Add(`sh -c 's=0; zfs hold zfs-vm-base:x '"'"'tank/img/a b@c'"'"' || s=$?; exit $s'`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := policy.Parse(line)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line refusal %q", err)
			}
			return
		}
		for _, c := range r.cmds {
			if c.argv[0] != "zfs" && c.argv[0] != "zstd" {
				t.Fatalf("accepted %q to run %q", line, c.argv)
			}
		}
	})
}

// With --hold-peer, a key moves only its own clients' base holds: the tags a client NAME puts
// on this host ("zfs-vm-base:NAME:PEER:DEST") and the release of its legacy tag
// ("zfs-vm-base:NAME"); without it, any zfs-vm-base: tag, as before.
func TestHoldPeers(t *testing.T) {
	l := lines{zfs.Unconnected("b", false)}
	snap := "tank/img/t@zfs-vm:d:1"
	restricted := Policy{Send: []string{"tank/img"}, HoldPeers: []string{"build1", "build2"}}
	open := Policy{Send: []string{"tank/img"}}
	cases := []struct {
		name, sub, tag string
		ok             bool // accepted by restricted; open accepts them all
	}{
		{"own tag", "hold", "zfs-vm-base:build1:backup:tank/bk", true},
		{"own tag released", "release", "zfs-vm-base:build1:backup:tank/bk", true},
		{"second peer", "hold", "zfs-vm-base:build2:b:tank/img", true},
		{"own legacy released", "release", "zfs-vm-base:build1", true},
		{"own legacy held", "hold", "zfs-vm-base:build1", false},
		{"another client's tag", "release", "zfs-vm-base:build3:backup:tank/bk", false},
		{"another client's legacy", "release", "zfs-vm-base:build3", false},
		{"a longer name", "release", "zfs-vm-base:build10:backup:tank/bk", false},
		{"a longer legacy", "release", "zfs-vm-base:build10", false},
		{"nothing after the name", "hold", "zfs-vm-base:build1:", false},
		{"the bare prefix", "release", "zfs-vm-base:", false},
	}
	for _, c := range cases {
		one := l.one("zfs", c.sub, c.tag, snap)
		seq := l.h.SequenceLine([]string{"zfs", "hold", "zfs-vm-base:build1:x:tank/bk", snap}, []string{"zfs", c.sub, c.tag, snap})
		for form, line := range map[string]string{"alone": one, "in a sequence": seq} {
			_, err := restricted.Parse(line)
			if c.ok && err != nil {
				t.Errorf("%s %s: refused %q: %v", c.name, form, line, err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "not a tag of this key's peers (serve --hold-peer)")) {
				t.Errorf("%s %s: %q: got %v, want a refusal", c.name, form, line, err)
			}
			if _, err := open.Parse(line); err != nil {
				t.Errorf("%s %s without --hold-peer: refused %q: %v", c.name, form, line, err)
			}
		}
	}
	for _, bad := range []string{"", "a:b", "a b"} {
		if err := (Policy{Send: []string{"tank/img"}, HoldPeers: []string{bad}}).Check(); err == nil {
			t.Errorf("hold peer %q accepted", bad)
		}
	}
}
