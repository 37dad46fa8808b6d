package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/zfs-vm/zfs-vm/config"
	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/internal/metrics"
	"github.com/zfs-vm/zfs-vm/replicate"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// exitLocked is sync's status when a peer was skipped because another run holds its lock
// (EX_TEMPFAIL: try again later).
const exitLocked = 75

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "push to or pull from the peers in the configuration",
		Description: "Each peer of the configuration (or each --peer) is replicated as push or pull\n" +
			"would, several at a time (--jobs). One summary line is printed per peer; on a\n" +
			"terminal each running peer has a progress line (--no-progress: none). --dry-run\n" +
			"prints every peer's plan and changes nothing. The exit status is 1 if any peer\n" +
			"failed (the others are still done), 75 if a peer was skipped because another run\n" +
			"of it holds its lock, 0 otherwise.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "peer", Usage: "only this peer (repeatable)"},
			&cli.IntFlag{Name: "jobs", Value: 2, Usage: "peers replicated at the same time"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print each peer's plan (streams with estimated sizes) and change nothing"},
			&cli.BoolFlag{Name: "no-progress", Usage: "draw no progress lines, even on a terminal"},
			outputFlag,
			&cli.StringFlag{Name: "metrics-file", Usage: "write Prometheus textfile metrics here after the run (default: metrics_file of the config)"},
			waitFlag,
			timeoutFlag,
			runtimeDirFlag(),
		},
		Action:       runSync,
		BashComplete: completePeers(false),
	}
}

type peerOutcome struct {
	peer    config.Peer
	summary *replicate.Summary
	err     error
	locked  bool
	plan    []byte                      // --dry-run: the plan as printed
	states  []replicate.StreamlineState // status
}

func runSync(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cfg, err := config.Load(configPath(c), false)
	if err != nil {
		return err
	}
	peers, err := selectPeers(cfg, c.StringSlice("peer"))
	if err != nil {
		return usageError("sync: %v", err)
	}
	jobs := c.Int("jobs")
	if jobs < 1 {
		return usageError("sync: --jobs must be at least 1")
	}
	if len(peers) == 0 {
		fmt.Fprintf(c.App.Writer, "sync: no peers in %s\n", configPath(c))
		return nil
	}
	// --timeout bounds the whole sync, every peer's run included.
	runCtx, cancel := runContext(c)
	defer cancel()
	c.Context = runCtx
	if c.Bool("dry-run") {
		return reportPlans(c, forEachPeer(peers, jobs, func(p config.Peer) peerOutcome { return planPeer(c, p) }))
	}
	var b *board
	if stderrIsTerminal && !c.Bool("no-progress") {
		b = newBoard(c.App.ErrWriter, terminalWidth())
		defer log.SetOutput(log.Out)
		log.SetOutput(b)
	}
	outcomes := forEachPeer(peers, jobs, func(p config.Peer) peerOutcome { return syncPeer(c, p, b) })
	status := reportOutcomes(outcomes)
	if format == "json" {
		if err := writeJSON(c.App.Writer, syncReport(outcomes)); err != nil {
			return err
		}
	}
	metricsFile := c.String("metrics-file")
	if metricsFile == "" {
		metricsFile = cfg.MetricsFile
	}
	if metricsFile != "" {
		if err := metrics.Update(metricsFile, peerRuns(outcomes)); err != nil {
			log.Errorf("writing metrics to %s: %v", metricsFile, err)
			status = exitFailure
		}
	}
	if status != 0 {
		return cli.Exit("", status)
	}
	return nil
}

// forEachPeer runs do for each peer, jobs at a time, and returns the outcomes in the
// peers' order.
func forEachPeer(peers []config.Peer, jobs int, do func(config.Peer) peerOutcome) []peerOutcome {
	outcomes := make([]peerOutcome, len(peers))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func(i int, p config.Peer) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			outcomes[i] = do(p)
		}(i, p)
	}
	wg.Wait()
	return outcomes
}

// reportOutcomes logs one line per peer and returns the exit status: 1 if a peer failed,
// else 75 if one was skipped for its lock, else 0.
func reportOutcomes(outcomes []peerOutcome) int {
	status := 0
	for _, o := range outcomes {
		l := log.WithField("peer", o.peer.Name)
		switch {
		case o.locked:
			l.Warnf("peer %s: skipped: %v", o.peer.Name, o.err)
			if status == 0 {
				status = exitLocked
			}
		case o.err != nil:
			l.Errorf("peer %s: failed: %v", o.peer.Name, o.err)
			status = exitFailure
		default:
			if logProblems(l, o.summary.Errors) > 0 {
				status = exitFailure
			}
			l.WithField("bytes", o.summary.Bytes).WithField("streams", o.summary.Done).
				Infof("peer %s: %s %s: %s", o.peer.Name, o.peer.Direction, o.peer.Host, summaryText(o.summary))
		}
	}
	return status
}

// syncReport is the JSON form of the outcomes.
func syncReport(outcomes []peerOutcome) SyncReport {
	rep := SyncReport{Peers: []RunReport{}}
	for _, o := range outcomes {
		r := newRunReport(o.peer.Direction, o.peer.Host, o.summary, o.err)
		r.Peer = o.peer.Name
		if o.locked {
			r.Status = statusLocked
		}
		rep.Peers = append(rep.Peers, r)
	}
	return rep
}

// reportPlans prints each peer's plan (--dry-run) under a header naming the peer, in the
// configuration's order, and returns 1 if a peer could not be planned or was refused
// something.
func reportPlans(c *cli.Context, outcomes []peerOutcome) error {
	failed := false
	for _, o := range outcomes {
		fmt.Fprintf(c.App.Writer, "peer %s (%s %s):\n", o.peer.Name, o.peer.Direction, o.peer.Host)
		if o.err != nil {
			log.WithField("peer", o.peer.Name).Errorf("peer %s: cannot plan: %v", o.peer.Name, o.err)
			failed = true
			continue
		}
		c.App.Writer.Write(o.plan)
		if logProblems(log.WithField("peer", o.peer.Name), o.summary.Errors) > 0 {
			failed = true
		}
	}
	if failed {
		return cli.Exit("", exitFailure)
	}
	return nil
}

// peerRuns turns the outcomes into metrics; a peer skipped for its lock is left out.
func peerRuns(outcomes []peerOutcome) []metrics.PeerRun {
	var runs []metrics.PeerRun
	now := time.Now()
	for _, o := range outcomes {
		if o.locked {
			continue
		}
		r := metrics.PeerRun{Peer: o.peer.Name, Time: now, Failures: 1}
		if o.summary != nil {
			r.Bytes, r.Streams, r.Duration = o.summary.Bytes, o.summary.Done, o.summary.Duration
			r.Streamlines = o.summary.ByStreamline
			r.Failures = o.summary.Failed + len(o.summary.Plan.Errors())
			r.Behind, r.Newest = map[string]int{}, map[string]time.Time{}
			for _, st := range o.summary.States() {
				r.Behind[st.Streamline] = st.Behind
				if !st.ReceiverNewestTime.IsZero() {
					r.Newest[st.Streamline] = st.ReceiverNewestTime
				}
			}
		}
		r.OK = o.err == nil && r.Failures == 0
		runs = append(runs, r)
	}
	return runs
}

func selectPeers(cfg *config.Config, names []string) ([]config.Peer, error) {
	if len(names) == 0 {
		var all []config.Peer
		for _, p := range cfg.Peers {
			all = append(all, p.Resolved(cfg.Defaults))
		}
		return all, nil
	}
	var out []config.Peer
	for _, n := range names {
		p, ok := cfg.Peer(n)
		if !ok {
			var known []string
			for _, k := range cfg.Peers {
				known = append(known, k.Name)
			}
			return nil, fmt.Errorf("no peer %q in the configuration (peers: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// dialPeer opens the ssh connection to a peer, with the peer's own options, in the background
// (zfs.DialInBackground): the job lists this machine meanwhile, and a connection that fails
// is reported by the peer's listing. cfg is what ssh said of the peer for its lock (nil:
// none read).
func dialPeer(c *cli.Context, p config.Peer, cfg *zfs.SSHConfig, plog logrus.FieldLogger) (*zfs.Host, error) {
	dir, _ := lock.RuntimeDir(c.String("runtime-dir")) // a dry run needs none; lockPeer checks it
	return zfs.DialInBackground(ctx(c), p.Host, zfs.DialOptions{
		Sudo:       *p.Sudo,
		Batch:      !term.IsTerminal(int(os.Stdin.Fd())),
		ExtraArgs:  p.SSHOptions,
		ControlDir: dir,
		Config:     cfg,
	}, plog)
}

// peerJob is the replication a peer's configuration asks for.
func peerJob(p config.Peer, remote *zfs.Host, plog *logrus.Entry) *replicate.Job {
	flags, _ := zfs.SendOptions(p.SendOptions) // validated with the config
	job := newJob(zfs.Local(plog), remote, p.Direction == "push",
		replicate.Options{Streamlines: p.Streamlines, DestParent: p.Dest, SendFlags: flags, Mountable: *p.Mountable}, p.Name)
	job.Log = plog
	job.Transport = p.Transport()
	job.Streams = p.Streams
	return job
}

// planPeer computes a peer's plan (--dry-run) without taking its lock.
func planPeer(c *cli.Context, p config.Peer) peerOutcome {
	plog := log.WithField("peer", p.Name)
	remote, err := dialPeer(c, p, nil, plog)
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	defer remote.Close()
	var buf bytes.Buffer
	refusals, err := printPlan(ctx(c), &buf, peerJob(p, remote, plog))
	return peerOutcome{peer: p, err: err, plan: buf.Bytes(), summary: &replicate.Summary{Errors: refusals}}
}

// syncPeer replicates with one peer under its lock; b, when not nil, shows its progress.
func syncPeer(c *cli.Context, p config.Peer, b *board) peerOutcome {
	if ctx(c).Err() != nil { // a signal or --timeout stopped the sync before this peer's turn
		return peerOutcome{peer: p, err: &replicate.StoppedError{Cause: context.Cause(ctx(c))}}
	}
	name, sshConfig, err := peerLock(ctx(c), p.Host, p.Dest, p.SSHOptions)
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	l, err := lockPeer(c, name, p.Host, p.Dest)
	var busy *errPeerLocked
	if errors.As(err, &busy) {
		return peerOutcome{peer: p, locked: true, err: err}
	}
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	defer l.Release()
	plog := log.WithField("peer", p.Name)
	if b != nil {
		// One state: the connection opens while this host is listed (dialPeer).
		b.set(p.Name, fmt.Sprintf("%s %s: connecting, listing and planning", p.Direction, p.Host))
		defer b.done(p.Name)
	}
	remote, err := dialPeer(c, p, sshConfig, plog)
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	defer remote.Close()
	job := peerJob(p, remote, plog)
	if b != nil {
		job.Progress = b.progress(p.Name)
	} else if debugOn(c) {
		job.Progress = newProgress(c.App.ErrWriter, true) // debug log lines
	}
	sum, err := runWithHints(c, job, name)
	return peerOutcome{peer: p, summary: sum, err: err}
}

// terminalWidth is stderr's width in columns, 80 when unknown.
func terminalWidth() int {
	if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && w > 0 {
		return w
	}
	return 80
}
