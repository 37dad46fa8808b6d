package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// interrupted is the cause of the run's context when SIGINT or SIGTERM reached zfs-vm.
type interrupted struct{ sig syscall.Signal }

func (e *interrupted) Error() string {
	name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[e.sig]
	return "interrupted by " + name
}

// status is the exit status of a run a signal stopped: 128 + the signal, as a shell reports
// a process the signal killed (130 for SIGINT, 143 for SIGTERM).
func (e *interrupted) status() int { return 128 + int(e.sig) }

// withSignals returns a context that SIGINT or SIGTERM cancels, with an *interrupted as its
// cause. The run then stops its children (SIGTERM, see zfs.StopDelay), moves the holds of what
// it received, closes its ssh connections and releases its lock, whether the signal came to
// the whole process group (a terminal's Ctrl-C) or to zfs-vm alone (kill PID, a supervisor).
// A second signal ends zfs-vm at once.
func withSignals(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			signal.Reset(syscall.SIGINT, syscall.SIGTERM)
			cancel(&interrupted{sig: s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// signalled returns the signal that cancelled ctx, if one did.
func signalled(ctx context.Context) *interrupted {
	var in *interrupted
	if errors.As(context.Cause(ctx), &in) {
		return in
	}
	return nil
}

// timeoutFlag bounds a whole push, pull or sync.
var timeoutFlag = &cli.DurationFlag{Name: "timeout", Usage: "stop the run after `DURATION` (e.g. 6h; 0 for no limit): children are stopped, partial receives kept for the next run; exit status 1"}

// timeoutReached is the cause of the run's context when --timeout expired.
type timeoutReached struct{ d time.Duration }

func (e *timeoutReached) Error() string { return fmt.Sprintf("--timeout %s reached", e.d) }

// runContext returns the command's context, bounded by --timeout when it is set.
func runContext(c *cli.Context) (context.Context, context.CancelFunc) {
	if d := c.Duration("timeout"); d > 0 {
		return context.WithTimeoutCause(c.Context, d, &timeoutReached{d: d})
	}
	return context.WithCancel(c.Context)
}
