package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Streams are the standard streams of the commands: the ssh channel.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run runs the request and returns the exit status a shell would have returned for the line:
// a pipeline's last stage's, a sequence's last failure's, 127 for a command not installed.
func (r *Request) Run(ctx context.Context, p Policy, s Streams) int {
	switch r.shape {
	case pipeline:
		return runPipeline(ctx, r.cmds, s)
	case sequence:
		status := 0
		for _, c := range r.cmds {
			if st := runOne(ctx, c, p, s); st != 0 {
				status = st
			}
		}
		return status
	}
	return runOne(ctx, r.cmds[0], p, s)
}

func newCmd(ctx context.Context, c command, s Streams) *exec.Cmd {
	cmd := exec.CommandContext(ctx, zfs.LocalPath(c.argv[0]), c.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.Stdin, s.Stdout, s.Stderr
	return cmd
}

// runOne runs one command; the listing's lines outside the policy's datasets are dropped.
func runOne(ctx context.Context, c command, p Policy, s Streams) int {
	cmd := newCmd(ctx, c, s)
	if c.kind != kList {
		return status(cmd.Run(), c, s)
	}
	cmd.Stdout = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return status(err, c, s)
	}
	if err := cmd.Start(); err != nil {
		return status(err, c, s)
	}
	filterListing(out, s.Stdout, p)
	return status(cmd.Wait(), c, s)
}

// filterListing copies the lines of zfs list whose name (the first column) the policy
// shows.
func filterListing(r io.Reader, w io.Writer, p Policy) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := cutTab(line)
		if p.Listed(name) {
			bw.WriteString(line)
			bw.WriteByte('\n')
		}
	}
	io.Copy(io.Discard, r) // a line too long: let zfs finish rather than die of SIGPIPE
}

func cutTab(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\t' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// runPipeline runs two stages connected by an OS pipe; the status is the last stage's.
func runPipeline(ctx context.Context, cmds []command, s Streams) int {
	first, last := newCmd(ctx, cmds[0], s), newCmd(ctx, cmds[1], s)
	pr, pw, err := os.Pipe()
	if err != nil {
		return status(err, cmds[0], s)
	}
	first.Stdout, last.Stdin = pw, pr
	if err := first.Start(); err != nil {
		pr.Close()
		pw.Close()
		return status(err, cmds[0], s)
	}
	if err := last.Start(); err != nil {
		pr.Close()
		pw.Close()
		first.Wait()
		return status(err, cmds[1], s)
	}
	// Only the children hold the pipe now, so each sees the other's end close.
	pr.Close()
	pw.Close()
	first.Wait()
	return status(last.Wait(), cmds[1], s)
}

// status turns a command's error into a shell's exit status.
func status(err error, c command, s Streams) int {
	if err == nil {
		return 0
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return xe.ExitCode()
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(s.Stderr, "%s: command not found\n", c.argv[0])
		return 127
	}
	fmt.Fprintf(s.Stderr, "%s: %v\n", c.argv[0], err)
	return 126
}
