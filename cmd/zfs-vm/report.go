package main

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/replicate"
)

// Run statuses in the JSON summaries.
const (
	statusOK     = "ok"     // everything was done (warnings aside)
	statusFailed = "failed" // the run happened, but some streams failed or were refused
	statusError  = "error"  // the run did not happen: connection, listing, options
	statusLocked = "locked" // skipped: another run holds the peer's lock
)

// RunReport is the JSON summary (-o json) of one push or pull, and of each peer of a sync.
// Its fields are documented in README.md; add fields, never change or remove one.
type RunReport struct {
	Peer      string `json:"peer,omitempty"` // sync only
	Direction string `json:"direction"`      // push or pull
	Host      string `json:"host"`
	// Status is ok, failed, error or locked.
	Status string `json:"status"`
	// Received, Failed and Refused count streams received, streams that failed (or were
	// skipped because one they need failed), and refusals of the planner.
	Received int `json:"streams_received"`
	Failed   int `json:"streams_failed"`
	Refused  int `json:"refused"`
	// Bytes is the size of the streams received, as zfs send estimated it.
	Bytes        uint64            `json:"bytes"`
	ByStreamline map[string]uint64 `json:"bytes_by_streamline"`
	Seconds      float64           `json:"seconds"`
	// Errors and Warnings are the one-line messages also logged on stderr.
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

// SyncReport is sync's JSON summary: one RunReport per peer, in the configuration's order.
type SyncReport struct {
	Peers []RunReport `json:"peers"`
}

// newRunReport summarises a run: sum may be nil when err says why the run did not happen.
func newRunReport(direction, host string, sum *replicate.Summary, err error) RunReport {
	r := RunReport{Direction: direction, Host: host, Status: statusOK,
		ByStreamline: map[string]uint64{}, Errors: []string{}, Warnings: []string{}}
	if err != nil {
		r.Status = statusError
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	r.Received, r.Failed, r.Refused = sum.Done, sum.Failed, len(sum.Plan.Errors())
	r.Bytes, r.Seconds = sum.Bytes, sum.Duration.Seconds()
	for s, b := range sum.ByStreamline {
		r.ByStreamline[s] = b
	}
	for _, e := range sum.Errors {
		var gap *replicate.GapError
		if errors.As(e, &gap) {
			r.Warnings = append(r.Warnings, e.Error())
			continue
		}
		r.Errors = append(r.Errors, e.Error())
		r.Status = statusFailed
	}
	return r
}

// writeJSON writes v indented, as list -o json does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// outputFlag is -o of push, pull and sync.
var outputFlag = &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "summary `FORMAT`: text or json (on stdout; log lines stay on stderr)"}

// outputFormat checks -o; json does not go with --dry-run, whose plan is text.
func outputFormat(c *cli.Context) (string, error) {
	f := c.String("output")
	if f != "text" && f != "json" {
		return "", usageError("%s: -o %q: use text or json", c.Command.Name, f)
	}
	if f == "json" && c.Bool("dry-run") {
		return "", usageError("%s: -o json summarises a run; --dry-run prints its plan as text", c.Command.Name)
	}
	return f, nil
}
