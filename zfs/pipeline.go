package zfs

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
)

// Stage is one command of a pipeline that runs on one host.
type Stage struct {
	Argv []string
	// Helper marks a command that needs no privileges (a compressor): on a remote host it
	// never runs through sudo, so a sudoers entry for zfs alone is enough.
	Helper bool
}

// Pipeline returns the processes that run stages on the host, each stage's stdout meant to
// feed the next one's stdin. On this machine that is one process per stage, for the caller
// to connect; on a remote host one ssh running the stages as one shell pipeline (every word
// quoted), whose exit status is its last stage's.
func (h *Host) Pipeline(ctx context.Context, stages ...Stage) []*exec.Cmd {
	if h.ssh == nil || len(stages) == 1 {
		cmds := make([]*exec.Cmd, len(stages))
		for i, s := range stages {
			if s.Helper && h.ssh != nil {
				cmds[i] = h.command(ctx, QuoteCommand(h.helperWords(s.Argv)))
			} else {
				cmds[i] = h.Command(ctx, s.Argv...)
			}
		}
		return cmds
	}
	lines := make([]string, len(stages))
	for i, s := range stages {
		if s.Helper {
			lines[i] = QuoteCommand(h.helperWords(s.Argv))
		} else {
			lines[i] = QuoteCommand(h.remoteWords(s.Argv))
		}
	}
	return []*exec.Cmd{h.command(ctx, strings.Join(lines, " | "))}
}

// helperWords prefixes an unprivileged remote command: never sudo, the same PATH as zfs.
func (h *Host) helperWords(argv []string) []string {
	return append([]string{"env", remoteSearchPath}, argv...)
}

// command runs one remote shell line over the host's ssh master.
func (h *Host) command(ctx context.Context, line string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ssh", h.ssh.args(line)...)
	if h.log != nil {
		h.log.WithField("host", h.Name).Debugf("exec: %s", QuoteCommand(cmd.Args))
	}
	return cmd
}

// Has reports whether the host can run the unprivileged command name (looked up in PATH
// here, in zfs's search path there). On a remote host it costs one round trip: name is run
// with args (e.g. --version), and only "not found" (exit status 127) counts as absent;
// another failure is returned.
func (h *Host) Has(ctx context.Context, name string, args ...string) (bool, error) {
	if h.ssh == nil {
		_, err := exec.LookPath(name)
		return err == nil, nil
	}
	cmd := h.command(ctx, QuoteCommand(h.helperWords(append([]string{name}, args...))))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var xe *exec.ExitError
	if errors.As(err, &xe) && xe.ExitCode() == 127 {
		return false, nil
	}
	if err != nil {
		return false, h.commandError(append([]string{name}, args...), stderr.String(), err)
	}
	return true, nil
}
