package zfs

import (
	"context"
	"errors"
	"os/exec"
	"strings"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
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
// to connect; on a remote host one ssh running the stages as one pipeline of sh (every word
// quoted, see underSh), whose exit status is its last stage's.
func (h *Host) Pipeline(ctx context.Context, stages ...Stage) []*exec.Cmd {
	if h.ssh == nil {
		cmds := make([]*exec.Cmd, len(stages))
		for i, s := range stages {
			cmds[i] = h.Command(ctx, s.Argv...)
		}
		return cmds
	}
	lines := make([]string, len(stages))
	for i, s := range stages {
		words := h.remoteWords(s.Argv)
		if s.Helper {
			words = h.helperWords(s.Argv)
		}
		lines[i] = QuoteCommand(words)
	}
	line := lines[0]
	if len(lines) > 1 {
		line = underSh(strings.Join(lines, " | "))
	}
	return []*exec.Cmd{h.command(ctx, line)}
}

// helperWords prefixes an unprivileged remote command: never sudo, the same PATH as zfs.
func (h *Host) helperWords(argv []string) []string {
	return append([]string{"env", remoteSearchPath}, argv...)
}

// command runs one remote shell line over the host's ssh master, once the master is up (see
// DialInBackground). When it could not be opened the command's Start returns why.
func (h *Host) command(ctx context.Context, line string) *exec.Cmd {
	if err := h.ssh.wait(ctx); err != nil {
		cmd := exec.CommandContext(ctx, "ssh")
		cmd.Err = err
		return cmd
	}
	cmd := stopGently(exec.CommandContext(ctx, "ssh", h.ssh.args(line)...))
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
	argv := append([]string{name}, args...)
	cmd := h.command(ctx, QuoteCommand(h.helperWords(argv)))
	stderr := &untrusted.Buffer{Max: maxStderr}
	cmd.Stderr = stderr
	err := cmd.Run()
	var xe *exec.ExitError
	if errors.As(err, &xe) && xe.ExitCode() == 127 {
		return false, nil
	}
	if err != nil {
		return false, h.commandError(argv, stderr.String(), err)
	}
	return true, nil
}
