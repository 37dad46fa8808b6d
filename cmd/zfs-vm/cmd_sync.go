package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

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
			"would, several at a time (--jobs). One summary line is printed per peer. The exit\n" +
			"status is 1 if any peer failed (the others are still done), 75 if a peer was\n" +
			"skipped because another run of it holds its lock, 0 otherwise.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "peer", Usage: "only this peer (repeatable)"},
			&cli.IntFlag{Name: "jobs", Value: 2, Usage: "peers replicated at the same time"},
			&cli.StringFlag{Name: "metrics-file", Usage: "write Prometheus textfile metrics here after the run (default: metrics_file of the config)"},
			waitFlag,
			lockDirFlag,
		},
		Action: runSync,
	}
}

type peerOutcome struct {
	peer    config.Peer
	summary *replicate.Summary
	err     error
	locked  bool
}

func runSync(c *cli.Context) error {
	cfg, err := config.Load(c.String("config"), false)
	if err != nil {
		return err
	}
	peers, err := selectPeers(cfg, c.StringSlice("peer"))
	if err != nil {
		return usageError("sync: %v", err)
	}
	if len(peers) == 0 {
		fmt.Fprintf(c.App.Writer, "sync: no peers in %s\n", c.String("config"))
		return nil
	}
	jobs := c.Int("jobs")
	if jobs < 1 {
		return usageError("sync: --jobs must be at least 1")
	}
	outcomes := make([]peerOutcome, len(peers))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func(i int, p config.Peer) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			outcomes[i] = syncPeer(c, p)
		}(i, p)
	}
	wg.Wait()

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

func syncPeer(c *cli.Context, p config.Peer) peerOutcome {
	l, err := lockPeer(c, p.Host, p.Dest)
	var busy *errPeerLocked
	if errors.As(err, &busy) {
		return peerOutcome{peer: p, locked: true, err: err}
	}
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	defer l.Release()
	plog := log.WithField("peer", p.Name)
	dir, _ := lock.RuntimeDir(c.String("runtime-dir")) // lockPeer checked it
	remote, err := zfs.Dial(ctx(c), p.Host, zfs.DialOptions{
		Sudo:       *p.Sudo,
		Batch:      !term.IsTerminal(int(os.Stdin.Fd())),
		ExtraArgs:  p.SSHOptions,
		ControlDir: dir,
	}, plog)
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	defer remote.Close()
	flags, _ := zfs.SendOptions(p.SendOptions) // validated with the config
	job := newJob(zfs.Local(plog), remote, p.Direction == "push",
		replicate.Options{Streamlines: p.Streamlines, DestParent: p.Dest, SendFlags: flags}, p.Name)
	job.Log = plog
	job.Transport = p.Transport()
	if c.Int("jobs") == 1 {
		job.Progress = newProgress(c.App.ErrWriter, c.Bool("debug"))
	}
	sum, err := job.Run(ctx(c))
	return peerOutcome{peer: p, summary: sum, err: err}
}
