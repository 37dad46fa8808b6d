package zfs

import (
	"os/exec"
	"syscall"
	"time"
)

// StopDelay is how long a command has to end after SIGTERM before it is killed.
const StopDelay = 5 * time.Second

// stopGently makes the cancellation of cmd's context end it with SIGTERM rather than
// exec's default SIGKILL: ssh then closes its session so that the remote command sees its
// stream end (and a resumable receive keeps its partial state), and zstd or zfs exit as they
// do on Ctrl-C. A command still running StopDelay later is killed.
func stopGently(cmd *exec.Cmd) *exec.Cmd {
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = StopDelay
	return cmd
}
