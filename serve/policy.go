package serve

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Policy is what a forced command lets a peer do.
type Policy struct {
	// Send are the datasets (with everything below them) the peer may send from: pull
	// from this host.
	Send []string
	// Receive are the datasets below which the peer may receive: push to this host.
	Receive []string
	// Rollback lets the peer roll back datasets below Receive (zfs-vm --rollback).
	Rollback bool
	// HoldPeers, when set, are the client host names whose base holds the peer may move:
	// tags "zfs-vm-base:NAME:..." (the tags a client NAME puts on this host) and the release
	// of its legacy tag "zfs-vm-base:NAME". Without them any zfs-vm-base: tag is accepted, so
	// one key could release the bases another client holds.
	HoldPeers []string
	// LockDir holds the locks that keep two receives of a run into one target apart (see
	// receiveWant); "" is the user's own directory under the system's temporary directory.
	LockDir string
}

// Check validates the policy's dataset names.
func (p Policy) Check() error {
	if len(p.Send) == 0 && len(p.Receive) == 0 {
		return fmt.Errorf("nothing allowed: give --allow-send or --allow-receive")
	}
	for _, d := range append(slices.Clone(p.Send), p.Receive...) {
		if err := zfs.ValidateDatasetName(d); err != nil {
			return err
		}
	}
	for _, n := range p.HoldPeers {
		// The name ends at the tag's first colon: one with a colon would take in other
		// clients' tags ("a" would match "zfs-vm-base:a:b:...", a client named "a:b").
		if n == "" || strings.ContainsAny(n, ": \t\n") {
			return fmt.Errorf("hold peer %q: want a host name without colons or blanks", n)
		}
	}
	return nil
}

// within reports whether dataset is one of roots or below one.
func within(dataset string, roots []string) bool {
	for _, r := range roots {
		if dataset == r || strings.HasPrefix(dataset, r+"/") {
			return true
		}
	}
	return false
}

// Listed reports whether a listed dataset or snapshot may be shown to the peer.
func (p Policy) Listed(name string) bool {
	ds, _, _ := strings.Cut(name, "@")
	return within(ds, p.Send) || within(ds, p.Receive)
}

// kind is an accepted command.
type kind int

const (
	kList kind = iota
	kSend
	kEstimate
	kReceive
	kAbort
	kRollback
	kHold
	kRelease
	kHolds
	kCompress
	kDecompress
	kZstdVersion
)

// HoldTagPrefix starts every hold tag zfs-vm moves on a peer.
const HoldTagPrefix = "zfs-vm-base:"

// command is one accepted command: what to run and what it is.
type command struct {
	kind kind
	argv []string
}

// unwrap drops the prefix zfs-vm puts before every remote command ("env PATH=..." or
// "sudo -n"): serve runs the command itself, with its own privileges.
func unwrap(argv []string) []string {
	switch {
	case len(argv) > 2 && argv[0] == "env" && strings.HasPrefix(argv[1], "PATH="):
		return argv[2:]
	case len(argv) > 2 && argv[0] == "sudo" && argv[1] == "-n":
		return argv[2:]
	}
	return argv
}

// check accepts argv if it is a command zfs-vm sends and the policy allows it.
func (p Policy) check(argv []string) (command, error) {
	argv = unwrap(argv)
	if len(argv) == 0 {
		return command{}, fmt.Errorf("empty command")
	}
	var k kind
	var err error
	switch argv[0] {
	case "zfs":
		k, err = p.checkZFS(argv[1:])
	case "zstd":
		k, err = checkZstd(argv[1:])
	default:
		err = fmt.Errorf("%q is not a command zfs-vm runs", short(argv[0]))
	}
	return command{kind: k, argv: argv}, err
}

func checkZstd(args []string) (kind, error) {
	switch strings.Join(args, " ") {
	case "-q -c -T0":
		return kCompress, nil
	case "-q -d -c":
		return kDecompress, nil
	case "--version":
		return kZstdVersion, nil
	}
	return 0, fmt.Errorf("zstd with arguments zfs-vm does not use")
}

func (p Policy) checkZFS(args []string) (kind, error) {
	if len(args) == 0 {
		return 0, fmt.Errorf("zfs without a subcommand")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return p.checkList(args)
	case "send":
		return p.checkSend(rest)
	case "receive":
		return p.checkReceive(rest)
	case "rollback":
		return p.checkRollback(rest)
	case "hold", "release":
		if len(rest) < 2 || !strings.HasPrefix(rest[0], HoldTagPrefix) {
			return 0, fmt.Errorf("zfs %s of a tag that is not zfs-vm's", sub)
		}
		// zfs holds -H prints a tag as it is: a newline or tab in one would forge a line of
		// its output, another peer's hold among them (see filterHolds).
		if strings.ContainsFunc(rest[0], unicode.IsControl) {
			return 0, fmt.Errorf("zfs %s of a tag with a control character: %q", sub, short(rest[0]))
		}
		if !p.holdTagAllowed(sub, rest[0]) {
			return 0, fmt.Errorf("zfs %s of %q: not a tag of this key's peers (serve --hold-peer)", sub, short(rest[0]))
		}
		if err := p.snapshots(rest[1:], p.roots()); err != nil {
			return 0, err
		}
		if sub == "hold" {
			return kHold, nil
		}
		return kRelease, nil
	case "holds":
		if len(rest) < 2 || rest[0] != "-H" {
			return 0, fmt.Errorf("zfs holds with other options than zfs-vm's")
		}
		return kHolds, p.snapshots(rest[1:], p.roots())
	}
	return 0, fmt.Errorf("zfs %s is not allowed", short(sub))
}

// holdTagAllowed reports whether the peer may hold or release (sub) tag, a zfs-vm-base: tag.
// Each client tags its bases here "zfs-vm-base:ME:PEER:DEST" (ME its host name); the first
// run after an upgrade releases (never holds) the legacy "zfs-vm-base:ME", which only that
// client's runs ever placed.
func (p Policy) holdTagAllowed(sub, tag string) bool {
	if len(p.HoldPeers) == 0 {
		return true
	}
	for _, n := range p.HoldPeers {
		own := HoldTagPrefix + n
		if strings.HasPrefix(tag, own+":") && len(tag) > len(own)+1 || sub == "release" && tag == own {
			return true
		}
	}
	return false
}

// checkList accepts zfs-vm's listings (whose output runOne filters to the allowed
// datasets): the whole listing, the datasets alone, every snapshot's name, and the snapshots
// of named datasets, each of which must be allowed.
func (p Policy) checkList(args []string) (kind, error) {
	for _, l := range [][]string{zfs.ListArgs(), zfs.DatasetListArgs(), zfs.TagNamesArgs()} {
		if slices.Equal(args, l[1:]) {
			return kList, nil
		}
	}
	prefix := zfs.SnapshotListArgs()[1:]
	if len(args) > len(prefix) && slices.Equal(args[:len(prefix)], prefix) {
		for _, ds := range args[len(prefix):] {
			if err := zfs.ValidateDatasetName(ds); err != nil {
				return 0, err
			}
			if !p.Listed(ds) {
				return 0, fmt.Errorf("%s is outside the allowed datasets", ds)
			}
		}
		return kList, nil
	}
	return 0, fmt.Errorf("zfs list with other options than zfs-vm's listings")
}

// roots are all the datasets the policy names.
func (p Policy) roots() []string { return append(slices.Clone(p.Send), p.Receive...) }

// snapshots checks that each name is a snapshot below roots.
func (p Policy) snapshots(names []string, roots []string) error {
	for _, n := range names {
		if err := zfs.ValidateSnapshotName(n); err != nil {
			return err
		}
		if ds, _, _ := strings.Cut(n, "@"); !within(ds, roots) {
			return fmt.Errorf("%s is outside the allowed datasets", n)
		}
	}
	return nil
}

// checkSend accepts zfs send -P -v (a stream) or -n -P (an estimate), zfs-vm's send flags,
// then -t TOKEN, or [-i|-I FROM] TO; every snapshot below the send roots.
func (p Policy) checkSend(args []string) (kind, error) {
	if len(p.Send) == 0 {
		return 0, fmt.Errorf("zfs send: this key may not send")
	}
	k := kSend
	switch {
	case len(args) >= 2 && args[0] == "-P" && args[1] == "-v":
	case len(args) >= 2 && args[0] == "-n" && args[1] == "-P":
		k = kEstimate
	default:
		return 0, fmt.Errorf("zfs send without zfs-vm's -P -v or -n -P")
	}
	args = args[2:]
	seen := map[string]bool{}
	for len(args) > 0 && slices.Contains([]string{"-c", "-L", "-e", "-w"}, args[0]) && !seen[args[0]] {
		seen[args[0]] = true
		args = args[1:]
	}
	switch {
	case len(args) == 2 && args[0] == "-t":
		tok, err := zfs.ParseResumeToken(args[1])
		if err != nil {
			return 0, err
		}
		return k, p.snapshots([]string{tok.ToName}, p.Send)
	case len(args) == 3 && (args[0] == "-i" || args[0] == "-I"):
		return k, p.snapshots(args[1:], p.Send)
	case len(args) == 1:
		return k, p.snapshots(args, p.Send)
	}
	return 0, fmt.Errorf("zfs send with arguments zfs-vm does not use")
}

// fsExcluded are the -x options of every receive of a filesystem: the receiver, not the
// sender's stream, decides where and whether it mounts and shares.
var fsExcluded = []string{"-x", "mountpoint", "-x", "sharenfs", "-x", "sharesmb"}

// receiveProps are the property options of zfs-vm's receives (zfs.ReceiveProps), each exactly
// as zfs-vm writes it: a new volume's volmode, a filesystem's excluded properties with a new
// one unmountable or canmount excluded too; an existing volume has none. Anything else could
// set a property of the received dataset (a mountpoint over /etc, a share): a takeover.
var receiveProps = [][]string{
	{"-o", "volmode=default"},
	append(slices.Clone(fsExcluded), "-o", "canmount=noauto"),
	append(slices.Clone(fsExcluded), "-x", "canmount"),
}

// checkReceive accepts zfs receive -s -u [PROPS] [-o origin=SNAP] TARGET, with PROPS one of
// receiveProps (and not empty for a clone), and zfs receive -A TARGET, below the receive
// roots.
func (p Policy) checkReceive(args []string) (kind, error) {
	if len(p.Receive) == 0 {
		return 0, fmt.Errorf("zfs receive: this key may not receive")
	}
	switch {
	case len(args) == 2 && args[0] == "-A":
		return kAbort, p.receiveTarget(args[1])
	case len(args) < 3 || args[0] != "-s" || args[1] != "-u":
		return 0, fmt.Errorf("zfs receive with options other than zfs-vm's -s -u or -A")
	}
	opts, target := args[2:len(args)-1], args[len(args)-1]
	origin := ""
	if n := len(opts); n >= 2 && opts[n-2] == "-o" && strings.HasPrefix(opts[n-1], "origin=") {
		origin, opts = strings.TrimPrefix(opts[n-1], "origin="), opts[:n-2]
	}
	switch {
	case len(opts) == 0 && origin != "":
		return 0, fmt.Errorf("zfs receive -o origin= without the property options of a new dataset")
	case len(opts) > 0 && !slices.ContainsFunc(receiveProps, func(a []string) bool { return slices.Equal(a, opts) }):
		return 0, fmt.Errorf("zfs receive with property options other than zfs-vm's: %s", short(strings.Join(opts, " ")))
	}
	if origin != "" {
		if err := p.snapshots([]string{origin}, p.Receive); err != nil {
			return 0, err
		}
	}
	return kReceive, p.receiveTarget(target)
}

// receiveTarget checks that ds is a dataset below the receive roots.
func (p Policy) receiveTarget(ds string) error {
	if err := zfs.ValidateDatasetName(ds); err != nil {
		return err
	}
	if !within(ds, p.Receive) {
		return fmt.Errorf("%s is outside the allowed datasets", ds)
	}
	return nil
}

// checkRollback accepts zfs rollback [-r] SNAP below the receive roots, if allowed at all.
func (p Policy) checkRollback(args []string) (kind, error) {
	if !p.Rollback || len(p.Receive) == 0 {
		return 0, fmt.Errorf("zfs rollback: not allowed (serve --allow-rollback)")
	}
	if len(args) == 2 && args[0] == "-r" {
		args = args[1:]
	}
	if len(args) != 1 {
		return 0, fmt.Errorf("zfs rollback with options other than zfs-vm's -r")
	}
	return kRollback, p.snapshots(args, p.Receive)
}

// bareReceive returns the target of a receive without property options, which zfs-vm sends
// only into an existing volume. Into a filesystem, or creating a dataset, such a receive
// would take the stream's properties (a mountpoint of /etc, mounted at the next boot), and
// the line cannot tell the two apart: Accept asks zfs.
func bareReceive(c command) string {
	if c.kind == kReceive && len(c.argv) == len([]string{"zfs", "receive", "-s", "-u", "TARGET"}) {
		return c.argv[4]
	}
	return ""
}

// Accept is Parse, and then the checks that the line alone cannot make: a receive without
// property options must go into an existing volume, and a zfs send -t must send the
// snapshot its resume token names (see checkResume). zfs runs with this process's rights.
func (p Policy) Accept(ctx context.Context, line string) (*Request, error) {
	r, err := p.Parse(line)
	if err != nil {
		return nil, err
	}
	for _, c := range r.cmds {
		if ds := bareReceive(c); ds != "" {
			if err := existingVolume(ctx, ds); err != nil {
				return nil, err
			}
		}
		if tok, ok := resumeToken(c); ok {
			if err := p.checkResume(ctx, tok); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// existingVolume checks that ds exists and is a volume.
func existingVolume(ctx context.Context, ds string) error {
	out, err := zfs.Local(nil).Output(ctx, "zfs", "get", "-H", "-p", "-o", "value", "type", ds)
	if err != nil {
		return fmt.Errorf("zfs receive without property options into %s, which is not an existing volume (%v)", ds, err)
	}
	if t := strings.TrimSpace(string(out)); t != "volume" {
		return fmt.Errorf("zfs receive without property options into %s, which is a %s, not a volume", ds, short(t))
	}
	return nil
}

// Request is an accepted line: its commands and how they are joined.
type Request struct {
	shape shape
	cmds  []command
}

// Parse reads a line zfs-vm sent and checks it against the policy, without running anything;
// a forced command calls Accept, which adds the checks that need zfs. The error, one
// line, says why the line is refused.
func (p Policy) Parse(line string) (*Request, error) {
	toks, err := tokenize(line)
	if err != nil {
		return nil, err
	}
	toks, wrapped, err := unwrapSh(toks)
	if err != nil {
		return nil, err
	}
	sh, argvs, err := structure(toks)
	if err != nil {
		return nil, err
	}
	r := &Request{shape: sh}
	for _, argv := range argvs {
		c, err := p.check(argv)
		if err != nil {
			return nil, err
		}
		r.cmds = append(r.cmds, c)
	}
	return r, r.checkShape(wrapped)
}

// checkShape accepts the joins zfs-vm makes: a send into a compressor, a decompressor into a
// receive, a sequence of holds and releases, each the script of `sh -c`; anything else runs
// alone, outside sh -c.
func (r *Request) checkShape(wrapped bool) error {
	kinds := make([]kind, len(r.cmds))
	for i, c := range r.cmds {
		kinds[i] = c.kind
	}
	switch {
	case r.shape == single && wrapped:
		return fmt.Errorf("sh -c of a single command")
	case r.shape != single && !wrapped:
		return fmt.Errorf("a pipeline or sequence outside sh -c")
	}
	switch r.shape {
	case pipeline:
		if slices.Equal(kinds, []kind{kSend, kCompress}) || slices.Equal(kinds, []kind{kDecompress, kReceive}) {
			return nil
		}
		return fmt.Errorf("a pipeline zfs-vm does not make")
	case sequence:
		for _, k := range kinds {
			if k != kHold && k != kRelease {
				return fmt.Errorf("a sequence of other commands than zfs hold and release")
			}
		}
		return nil
	}
	if kinds[0] == kCompress || kinds[0] == kDecompress {
		return fmt.Errorf("zstd outside a stream")
	}
	return nil
}
