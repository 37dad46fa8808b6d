package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/config"
	"github.com/zfs-vm/zfs-vm/internal/metrics"
	"github.com/zfs-vm/zfs-vm/replicate"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// Check levels and exit statuses of `status`, as Nagios plugins have them.
const (
	levelOK       = 0
	levelWarning  = 1
	levelCritical = 2
)

var levelNames = [...]string{"OK", "WARNING", "CRITICAL"}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show how far each peer is behind, as a monitoring check (exit 0 OK, 1 WARNING, 2 CRITICAL)",
		ArgsUsage: "[peer...]",
		Description: "For each peer of the configuration (or each one named), per streamline: the newest\n" +
			"version here and there, how many versions the receiving side lacks, and the time\n" +
			"since the peer's last successful sync (from the metrics file). The first line is\n" +
			"the verdict, as monitoring plugins print it; the exit status is 0 (OK), 1 (WARNING)\n" +
			"or 2 (CRITICAL, also for a peer that cannot be reached) against warn_behind,\n" +
			"crit_behind, warn_age and crit_age of the configuration. Nothing is changed but\n" +
			"the hints kept in the runtime directory for the next read of each host.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "metrics-file", Usage: "read the last successes from `FILE` (default: metrics_file of the config)"},
			&cli.IntFlag{Name: "jobs", Value: 4, Usage: "peers asked at the same time"},
			runtimeDirFlag(),
		},
		Action: runStatus,
	}
}

// statusRow is one line of `status`: a peer's streamline, or a peer that could not be asked.
type statusRow struct {
	peer   config.Peer
	state  replicate.StreamlineState
	here   uint64 // newest version on this host
	there  uint64 // newest version on the peer
	last   string // age of the last success, as shown
	level  int
	reason string // why level is not OK
}

func runStatus(c *cli.Context) error {
	cfg, err := config.Load(configPath(c), false)
	if err != nil {
		return err
	}
	peers, err := selectPeers(cfg, c.Args().Slice())
	if err != nil {
		return usageError("status: %v", err)
	}
	if c.Int("jobs") < 1 {
		return usageError("status: --jobs must be at least 1")
	}
	metricsFile := c.String("metrics-file")
	if metricsFile == "" {
		metricsFile = cfg.MetricsFile
	}
	var last map[string]time.Time
	if metricsFile != "" {
		last = metrics.LastSuccess(metricsFile)
	}
	outcomes := forEachPeer(peers, c.Int("jobs"), func(p config.Peer) peerOutcome { return comparePeer(c, p) })
	var rows []statusRow
	for _, o := range outcomes {
		rows = append(rows, statusRows(o, last, metricsFile, time.Now())...)
	}
	level := printStatus(c.App.Writer, rows, len(peers))
	if level != levelOK {
		return cli.Exit("", level)
	}
	return nil
}

// comparePeer lists both sides of a peer and compares them; the states go in the outcome.
func comparePeer(c *cli.Context, p config.Peer) peerOutcome {
	plog := log.WithField("peer", p.Name)
	remote, err := dialPeer(c, p, nil, plog)
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	defer remote.Close()
	var here, there *zfs.Inventory
	var hereErr error
	done := make(chan struct{})
	go func() { // both listings at once: the remote one is a round trip
		defer close(done)
		here, hereErr = readWithHints(c, zfs.Local(plog), thisHostHintsKey)
	}()
	there, err = readWithHints(c, remote, peerHintsKey(p.Host, *p.Sudo, p.SSHOptions))
	<-done
	if err == nil {
		err = hereErr
	}
	if err != nil {
		return peerOutcome{peer: p, err: err}
	}
	sender, receiver := here, there
	if p.Direction == "pull" {
		sender, receiver = there, here
	}
	return peerOutcome{peer: p, states: replicate.Compare(sender, receiver, p.Streamlines, p.Dest)}
}

// statusRows judges one peer against its thresholds: one row per streamline, or one row
// for a peer that could not be asked (CRITICAL).
func statusRows(o peerOutcome, last map[string]time.Time, metricsFile string, now time.Time) []statusRow {
	lim := o.peer.Thresholds()
	if o.err != nil {
		return []statusRow{{peer: o.peer, last: "-", level: levelCritical, reason: fmt.Sprintf("%s: %v", o.peer.Name, o.err)}}
	}
	ageText, ageLevel, ageReason := judgeAge(o.peer.Name, lim, last, metricsFile, now)
	var rows []statusRow
	for _, st := range o.states {
		r := statusRow{peer: o.peer, state: st, here: st.SenderNewest, there: st.ReceiverNewest, last: ageText,
			level: ageLevel, reason: ageReason}
		if o.peer.Direction == "pull" {
			r.here, r.there = st.ReceiverNewest, st.SenderNewest
		}
		for _, t := range []struct {
			limit, level int
			name         string
		}{{lim.CritBehind, levelCritical, "crit_behind"}, {lim.WarnBehind, levelWarning, "warn_behind"}} {
			if t.limit > 0 && st.Behind >= t.limit && t.level > r.level {
				r.level = t.level
				r.reason = fmt.Sprintf("%s %s: %d version(s) behind (%s %d)", o.peer.Name, st.Streamline, st.Behind, t.name, t.limit)
			}
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 { // nothing to replicate yet: the age still counts
		rows = append(rows, statusRow{peer: o.peer, last: ageText, level: ageLevel, reason: ageReason})
	}
	return rows
}

// judgeAge checks the time since the peer's last successful sync against warn_age and
// crit_age. A peer with no recorded success is as old as can be.
func judgeAge(peer string, lim config.Thresholds, last map[string]time.Time, metricsFile string, now time.Time) (text string, level int, reason string) {
	t, ok := last[peer]
	switch {
	case metricsFile == "":
		text = "-"
	case !ok:
		text = "never"
	default:
		text = now.Sub(t).Round(time.Second).String() + " ago"
	}
	for _, c := range []struct {
		limit time.Duration
		level int
		name  string
	}{{lim.CritAge, levelCritical, "crit_age"}, {lim.WarnAge, levelWarning, "warn_age"}} {
		if c.limit == 0 || ok && now.Sub(t) <= c.limit {
			continue
		}
		switch {
		case metricsFile == "":
			return text, c.level, fmt.Sprintf("%s: no metrics_file to read the last success from (%s %s)", peer, c.name, c.limit)
		case !ok:
			return text, c.level, fmt.Sprintf("%s: no successful sync recorded in %s (%s %s)", peer, metricsFile, c.name, c.limit)
		}
		return text, c.level, fmt.Sprintf("%s: last successful sync %s (%s %s)", peer, text, c.name, c.limit)
	}
	return text, levelOK, ""
}

// printStatus prints the verdict line (with performance data, as monitoring plugins do)
// and the table, and returns the worst level.
func printStatus(w io.Writer, rows []statusRow, peers int) int {
	level, seen := levelOK, map[string]bool{}
	var reasons, perf []string
	for _, r := range rows {
		level = max(level, r.level)
		if r.reason != "" && !seen[r.reason] {
			seen[r.reason] = true
			reasons = append(reasons, r.reason)
		}
		if r.state.Streamline != "" {
			lim := r.peer.Thresholds()
			perf = append(perf, fmt.Sprintf("'%s %s behind'=%d;%s;%s;0;", r.peer.Name, r.state.Streamline, r.state.Behind,
				optional(lim.WarnBehind), optional(lim.CritBehind)))
		}
	}
	verdict := fmt.Sprintf("%d peer(s), %d row(s), none beyond its limits", peers, len(rows))
	if len(reasons) > 0 {
		verdict = strings.Join(reasons, "; ")
	}
	fmt.Fprintf(w, "%s: %s", levelNames[level], verdict)
	if len(perf) > 0 {
		fmt.Fprintf(w, " | %s", strings.Join(perf, " "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tDIRECTION\tSTREAMLINE\tHERE\tTHERE\tBEHIND\tLAST SUCCESS\tSTATE")
	for _, r := range rows {
		name, behind := r.state.Streamline, fmt.Sprint(r.state.Behind)
		if name == "" {
			name, behind = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.peer.Name, r.peer.Direction, name,
			orDash(optional(int(r.here))), orDash(optional(int(r.there))), behind, r.last, levelNames[r.level])
	}
	tw.Flush()
	return level
}

// optional shows 0 (none, not set) as nothing in performance data and "-" in the table.
func optional(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
