package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/replicate"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func replicateFlags(destUsage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "only this streamline (and the versions it descends from)"},
		&cli.StringFlag{Name: "dest", Aliases: []string{"d"}, Usage: destUsage},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (each stream with its estimated size) and change nothing"},
		&cli.StringSliceFlag{Name: "send-option", Usage: "zfs send option: compressed (-c), large-blocks (-L), embedded (-e), raw (-w); repeatable"},
		&cli.StringFlag{Name: "compress", Usage: "compressor `NAME` on the wire: zstd (used when both hosts have it; else streams go uncompressed, with a warning) or none"},
		&cli.StringFlag{Name: "bwlimit", Usage: "limit the wire to `RATE` bytes per second: 500K, 10M (1000-based), 10MiB (1024-based)"},
		&cli.BoolFlag{Name: "rollback", Usage: "roll back receiver datasets that diverged from the common version (destroys what came after it there; never clones)"},
		&cli.IntFlag{Name: "streams", Value: 1, Usage: fmt.Sprintf("run up to `N` streams at once (1 to %d), each after those it needs (the one that brings its base or origin, those into its dataset or one above or below it): a template's clones go side by side; with --bwlimit one at a time", replicate.MaxStreams)},
		&cli.BoolFlag{Name: "mountable", Usage: "let new received filesystems mount with zfs mount -a where they inherit on the receiver (never the sender's mountpoint; use with -d); default canmount=noauto"},
		outputFlag,
		waitFlag,
		timeoutFlag,
		runtimeDirFlag(),
	}
}

var waitFlag = &cli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` (30s, 10m) for another run with the same peer to finish (else exit 75)"}

// runtimeDirFlag is made afresh for each command: urfave/cli stores a value read from the
// environment in the flag itself, which a shared flag would then show as every command's
// default.
func runtimeDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "runtime-dir", Aliases: []string{"lock-dir"}, EnvVars: []string{"ZFS_VM_RUNTIME_DIR", "ZFS_VM_LOCK_DIR"},
		Usage: "`DIR` for per-peer lock files, ssh control sockets and the hints of the last run: per pair (push, pull, sync), per host (list, status) (default: " + lock.DefaultDir + ", else $XDG_RUNTIME_DIR/zfs-vm when that is not writable)"}
}

// replicateDescription is push's and pull's: what is sent, and what is refused.
const replicateDescription = "The versions the receiver lacks are sent, identified by guid, not by name: one full\n" +
	"stream of a lineage's oldest version where the receiver has none of it, one zfs send -I\n" +
	"for a run of consecutive versions, and for a clone an incremental from its origin version,\n" +
	"received with -o origin= so that it stays a clone. Received datasets are not mounted\n" +
	"and get no properties from the sender. A streamline whose receiver copy diverged (written\n" +
	"to, or with snapshots the sender lacks) or has a version of the same name with another\n" +
	"guid is refused, naming what is in the way; the others go on. --rollback rolls diverged\n" +
	"receiver datasets back to the common version (destroying what came after it there; never\n" +
	"clones); without it nothing is rolled back, zfs destroy and zfs receive -F are never run.\n" +
	"An interrupted receive is resumed (zfs send -t) by the next run."

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:        "push",
		Usage:       "send this host's zfs-vm versions that [user@]host lacks",
		ArgsUsage:   "[user@]host",
		Description: replicateDescription,
		Flags:       replicateFlags("receive under this parent dataset on the remote host (`FS`/LAST-COMPONENT-OF-NAME)"),
		Action:      func(c *cli.Context) error { return runReplicate(c, true) },
	}
}

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:        "pull",
		Usage:       "fetch the zfs-vm versions of [user@]host that this host lacks",
		ArgsUsage:   "[user@]host",
		Description: replicateDescription,
		Flags:       replicateFlags("receive under this parent dataset here (`FS`/LAST-COMPONENT-OF-NAME)"),
		Action:      func(c *cli.Context) error { return runReplicate(c, false) },
	}
}

func runReplicate(c *cli.Context, push bool) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	opt, transport, err := replicateOptions(c)
	if err != nil {
		return err
	}
	streams := c.Int("streams")
	if streams < 1 || streams > replicate.MaxStreams {
		return usageError("%s: --streams %d: use 1 to %d", c.Command.Name, streams, replicate.MaxStreams)
	}
	spec, err := hostArg(c, true)
	if err != nil {
		return err
	}
	var lockName string // held from here on, except for a dry run
	var sshConfig *zfs.SSHConfig
	if !c.Bool("dry-run") {
		name, cfg, err := replicateLock(ctx(c), spec, opt.DestParent)
		if err != nil {
			return err
		}
		l, err := lockPeer(c, name, spec, opt.DestParent)
		var busy *errPeerLocked
		if errors.As(err, &busy) {
			return cli.Exit(fmt.Sprintf("%s: %v", c.Command.Name, err), exitLocked)
		}
		if err != nil {
			return err
		}
		defer l.Release()
		lockName, sshConfig = name, cfg
	}
	// From here on every command runs under --timeout (counted once the lock is held).
	runCtx, cancel := runContext(c)
	defer cancel()
	c.Context = runCtx
	remote, err := openHost(c, spec, sshConfig)
	if err != nil {
		return err
	}
	defer remote.Close()
	job := newJob(zfs.Local(log), remote, push, opt, spec)
	job.Log = log
	job.Progress = newProgress(c.App.ErrWriter, debugOn(c))
	job.Transport = transport
	job.Streams = streams
	if c.Bool("dry-run") {
		refusals, err := printPlan(ctx(c), c.App.Writer, job)
		if err != nil {
			return fmt.Errorf("%s: %v", c.Command.Name, err)
		}
		return reportRefusals(refusals)
	}
	sum, err := runWithHints(c, job, lockName)
	if format == "json" {
		if err := writeJSON(c.App.Writer, newRunReport(c.Command.Name, spec, sum, err)); err != nil {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %v", c.Command.Name, err)
	}
	if format == "text" {
		fmt.Fprintf(c.App.Writer, "%s %s: %s\n", c.Command.Name, spec, summaryText(sum))
	}
	return reportRefusals(sum.Errors)
}

// replicateOptions reads push's and pull's flags, refusing bad values before anything is
// locked or listed.
func replicateOptions(c *cli.Context) (replicate.Options, replicate.Transport, error) {
	var opt replicate.Options
	var transport replicate.Transport
	name, dest := c.String("name"), c.String("dest")
	flags, err := zfs.SendOptions(c.StringSlice("send-option"))
	if err != nil {
		return opt, transport, usageError("%s: %v", c.Command.Name, err)
	}
	opt = replicate.Options{DestParent: dest, Rollback: c.Bool("rollback"), SendFlags: flags, Mountable: c.Bool("mountable")}
	if opt.Mountable && dest == "" {
		// Without -d the sender names the received datasets, and so what they inherit.
		return opt, transport, usageError("%s: --mountable needs -d: without it the sender chooses the names, and so the mountpoints", c.Command.Name)
	}
	if transport.Compress, err = replicate.ParseCompress(c.String("compress")); err != nil {
		return opt, transport, usageError("%s: --compress: %v", c.Command.Name, err)
	}
	if transport.RateLimit, err = replicate.ParseRate(c.String("bwlimit")); err != nil {
		return opt, transport, usageError("%s: --bwlimit: %v", c.Command.Name, err)
	}
	if name != "" {
		if err := zfs.ValidateStreamline(name); err != nil {
			return opt, transport, usageError("%s: -n: %v", c.Command.Name, err)
		}
		opt.Streamlines = []string{name}
	}
	if dest != "" {
		if err := zfs.ValidateDatasetName(dest); err != nil {
			return opt, transport, usageError("%s: -d: %v", c.Command.Name, err)
		}
	}
	return opt, transport, nil
}

// printPlan prints what job would do (--dry-run): the interrupted receives it would resume
// or discard, and each stream with its estimated size. It returns the plan's refusals.
func printPlan(ctx context.Context, w io.Writer, job *replicate.Job) ([]error, error) {
	plan, resumes, err := job.Plan(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range resumes {
		if r.Stale() {
			fmt.Fprintf(w, "discard   interrupted receive of %s into %s (the sender no longer has it)\n", r.Info.SafeName(), r.Target)
		} else {
			fmt.Fprintf(w, "resume    interrupted receive of %s into %s (%s received so far)\n", r.Info.SafeName(), r.Target, humanBytes(r.Info.Bytes))
		}
	}
	for _, n := range plan.Notices {
		job.Log.Warn(n)
	}
	ex := &replicate.Executor{Sender: job.Sender, Receiver: job.Receiver, Log: job.Log}
	fmt.Fprintf(w, "plan: %d stream(s) from %s to %s\n", len(plan.Streams), job.Sender.Name, job.Receiver.Name)
	for _, st := range plan.Streams {
		est := "?"
		if n, err := ex.Estimate(ctx, st); err == nil {
			est = humanBytes(n)
		} else {
			job.Log.WithError(err).Debug("estimate failed")
		}
		if rb := st.Rollback; rb != nil {
			fmt.Fprintf(w, "  rollback     %s to %s, destroying %s\n", rb.Dataset, rb.To, rollbackWhat(rb))
		}
		fmt.Fprintf(w, "  %-11s  %s  (est. %s)\n", st.Kind, replicate.Describe(st), est)
	}
	return plan.Errors(), nil
}

// newJob returns the job that pushes local's versions to remote, or pulls remote's. peer
// names the pair: the peer's name under sync, the host as given to push and pull.
func newJob(local, remote *zfs.Host, push bool, opt replicate.Options, peer string) *replicate.Job {
	me, _ := os.Hostname()
	if me == "" {
		me = "local"
	}
	tags := pairHoldTags(me, peer, remote.Name, opt.DestParent)
	if push {
		return &replicate.Job{Sender: local, Receiver: remote, Options: opt, HoldTags: &tags}
	}
	tags.Sender, tags.Receiver = tags.Receiver, tags.Sender
	tags.LegacySender, tags.LegacyReceiver = tags.LegacyReceiver, tags.LegacySender
	return &replicate.Job{Sender: remote, Receiver: local, Options: opt, HoldTags: &tags}
}

// pairHoldTags are the base hold tags of a push from this host (me) to peer, which is
// reached as host and receives under dest: here "zfs-vm-base:PEER:DEST", there
// "zfs-vm-base:ME:PEER:DEST", so that two peers on one host, or two destinations of one
// peer, never release each other's bases. The legacy tags named only the other host.
func pairHoldTags(me, peer, host, dest string) replicate.HoldTags {
	return replicate.HoldTags{
		Sender:         holdTag("zfs-vm-base:" + peer + ":" + dest),
		Receiver:       holdTag("zfs-vm-base:" + me + ":" + peer + ":" + dest),
		LegacySender:   "zfs-vm-base:" + host,
		LegacyReceiver: "zfs-vm-base:" + me,
	}
}

// holdTag bounds a tag to what zfs hold accepts (255 bytes), keeping it unique with a hash.
func holdTag(tag string) string {
	const max = 255
	if len(tag) <= max {
		return tag
	}
	sum := sha256.Sum256([]byte(tag))
	return tag[:max-17] + "-" + hex.EncodeToString(sum[:8])
}

func rollbackWhat(rb *replicate.Rollback) string {
	if len(rb.Destroys) > 0 {
		return strings.Join(rb.Destroys, ", ")
	}
	return fmt.Sprintf("%d bytes written since its newest snapshot", rb.Written)
}

func summaryText(s *replicate.Summary) string {
	return fmt.Sprintf("%d stream(s) received (%s in %.1fs), %d failed, %d refused",
		s.Done, humanBytes(s.Bytes), s.Duration.Seconds(), s.Failed, len(s.Plan.Errors()))
}

// reportRefusals prints each refusal on its own line. Gaps (a version that can no longer be
// placed) are warnings; anything else makes the command fail.
func reportRefusals(errs []error) error {
	if n := logProblems(log, errs); n > 0 {
		return cli.Exit(fmt.Sprintf("%d problem(s), see above", n), exitFailure)
	}
	return nil
}

// logProblems logs errs and returns how many are failures rather than warnings.
func logProblems(l interface {
	Warn(...any)
	Error(...any)
}, errs []error) int {
	failed := 0
	for _, err := range errs {
		var gap *replicate.GapError
		if errors.As(err, &gap) {
			l.Warn(err)
			continue
		}
		l.Error(err)
		failed++
	}
	return failed
}
