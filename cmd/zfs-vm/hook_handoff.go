package main

import (
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// hookWorkerEnv marks the zfs-vm process that does a hook's work (see handOff).
const hookWorkerEnv = "ZFS_VM_HOOK_WORKER"

// handOff runs the hook's work in a worker process (zfs-vm itself again, in its own session)
// and waits for it at most limit. Its outcome is passed on if it ends in time; otherwise the
// hook says the work goes on in the background and returns, so that a hung zfs (a suspended
// pool) never holds up a container stop.
//
// Why a detached child rather than `systemd-run --no-block`: hooks run at host shutdown, when
// systemd refuses to start new units, and on hosts without systemd (FreeBSD jails, older
// OpenVZ); a child works the same everywhere. It has its own session, so that a manager that
// kills the hook's process group leaves it alone, and no descriptor of the manager's, so that
// a manager reading the hook's output until EOF is not held up by it either. If the manager's
// service is stopped, systemd ends the worker with it; a zfs snapshot is atomic, so nothing is
// left half done, and the container is tagged at its next stop.
func handOff(c *cli.Context, manager, id string, limit time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"--config", c.String("config")}
	if c.Bool("debug") {
		args = append(args, "--debug")
	}
	worker := exec.Command(exe, append(append(args, "hook"), c.Args().Slice()...)...)
	worker.Env = append(os.Environ(), hookWorkerEnv+"=1")
	worker.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Descriptors the manager left open for the hook (e.g. a pipe it reads until EOF) must not
	// reach the worker, which may outlive the hook; Go's own are close-on-exec already.
	for fd := 3; fd < 1024; fd++ {
		syscall.CloseOnExec(fd)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	worker.Stderr = pw // stdin and stdout are /dev/null
	err = worker.Start()
	pw.Close()
	if err != nil {
		return err
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(c.App.ErrWriter, pr)
		close(copied)
	}()
	exited := make(chan struct{})
	go func() {
		worker.Wait()
		close(exited)
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-exited:
		select { // what it printed, unless a process it started still holds its stderr
		case <-copied:
		case <-timer.C:
		}
	case <-timer.C:
		log.WithField("container", id).Warnf("hook %s %s: tagging still running after %s (zfs hung?); "+
			"it goes on in the background (pid %d) and logs its outcome", manager, id, limit, worker.Process.Pid)
	}
	return nil
}

// asHookWorker prepares this process to be a hook's worker: the hook may have returned and
// closed the pipe that is our stderr, and a write there must then fail, not kill us.
func asHookWorker() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}
