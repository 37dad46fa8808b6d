package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfs-vm/zfs-vm/internal/lock"
)

// TestMain makes the test binary zfs-vm itself when ZFS_VM_TEST_BE_MAIN=1: the tests below
// run it as a separate process (to signal it alone, and to count what it leaves behind), and
// so does zfs-vm when it re-runs itself (the hook's worker).
func TestMain(m *testing.M) {
	if os.Getenv("ZFS_VM_TEST_BE_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Setenv("ZFS_VM_TEST_BE_MAIN", "1")
	os.Exit(m.Run())
}

// child is zfs-vm started as its own process, in the test's environment (fakes in PATH)
// plus a mark that every process it starts inherits.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    bytes.Buffer
	mark   string
	tmp    string // its TMPDIR, where ssh control directories go
	start  time.Time
	waited chan error
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startChildEnv(t, os.Environ(), args...)
}

// startChildEnv starts zfs-vm with only env (and the mark, and its own TMPDIR).
func startChildEnv(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	return newChild(t, env, args...).run()
}

// newChild prepares zfs-vm with only env (and the mark, and its own TMPDIR), for run.
func newChild(t *testing.T, env []string, args ...string) *child {
	c := &child{t: t, mark: fmt.Sprintf("ZFS_VM_TEST_MARK=%s-%d", t.Name(), time.Now().UnixNano()), tmp: t.TempDir()}
	c.cmd = exec.Command(os.Args[0], args...)
	c.cmd.Env = append(env, c.mark, "TMPDIR="+c.tmp)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	return c
}

func (c *child) run() *child {
	t := c.t
	t.Helper()
	c.start = time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.waited = make(chan error, 1)
	go func() { c.waited <- c.cmd.Wait() }()
	t.Cleanup(c.killLeftovers)
	return c
}

// wait waits up to limit for the child to exit and returns its exit status (-1 if a signal
// ended it) and how long it ran.
func (c *child) wait(limit time.Duration) (int, time.Duration) {
	c.t.Helper()
	select {
	case <-c.waited:
	case <-time.After(limit):
		c.cmd.Process.Kill()
		<-c.waited
		c.t.Fatalf("zfs-vm still running after %v; output:\n%s", limit, c.out.String())
	}
	return c.cmd.ProcessState.ExitCode(), time.Since(c.start)
}

// processes returns the command lines of the running processes that carry the child's mark
// (the child itself, and everything it started, however detached).
func (c *child) processes() map[int]string {
	found := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, []byte(c.mark+"\x00")) {
			continue
		}
		if st, _ := os.ReadFile(filepath.Join(d, "stat")); bytes.Contains(st, []byte(") Z ")) {
			continue // a zombie is gone, only not reaped yet
		}
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		var pid int
		fmt.Sscan(filepath.Base(d), &pid)
		found[pid] = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return found
}

// waitFor waits until one of the child's processes runs a command line containing s.
func (c *child) waitFor(s string) {
	c.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, cmdline := range c.processes() {
			if strings.Contains(cmdline, s) {
				return
			}
		}
	}
	c.t.Fatalf("no process %q; output:\n%s", s, c.out.String())
}

func (c *child) killLeftovers() {
	for pid := range c.processes() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// checkClean fails the test if the child left processes, ssh control directories or its
// lock behind.
func (c *child) checkClean(lockDir, lockName string) {
	c.t.Helper()
	// Processes whose parent just died may need a moment to be reaped.
	var left map[int]string
	for i := 0; i < 50; i++ {
		if left = c.processes(); len(left) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(left) > 0 {
		c.t.Errorf("processes left behind: %v", left)
	}
	if dirs, _ := filepath.Glob(filepath.Join(c.tmp, "zfs-vm-ssh-*")); len(dirs) > 0 {
		c.t.Errorf("ssh control directories left behind: %v", dirs)
	}
	l, err := lock.TryAcquire(lockDir, lockName)
	if err != nil {
		c.t.Errorf("lock %s still held: %v", lockName, err)
	} else {
		l.Release()
	}
}

// hangingPush sets up a push to the fake peer b whose first stream hangs in zfs send.
func hangingPush(t *testing.T) (lockDir string) {
	setupFakeZFS(t, "0")
	abs, _ := filepath.Abs("testdata")
	withFakeSSH(t, filepath.Join(abs, "fakebin")+":/usr/bin:/bin")
	remoteList := filepath.Join(t.TempDir(), "remote.txt")
	os.WriteFile(remoteList, []byte("backup\tfilesystem\t1\t1\t-\t0\t0\t0\t/backup\t-\t1\t-\n"), 0o644)
	t.Setenv("FAKE_REMOTE_LIST", remoteList)
	t.Setenv("FAKE_ZFS_HANG", "send")
	return t.TempDir()
}

func TestSignalToZfsVMAloneStopsCleanly(t *testing.T) {
	for _, c := range []struct {
		sig    syscall.Signal
		status int
		said   string
	}{{syscall.SIGTERM, 143, "interrupted by SIGTERM"}, {syscall.SIGINT, 130, "interrupted by SIGINT"}} {
		t.Run(c.said, func(t *testing.T) {
			lockDir := hangingPush(t)
			ch := startChild(t, "push", "-d", "backup", "--lock-dir", lockDir, "b")
			ch.waitFor("sleep 86400") // zfs send is hanging mid-stream
			ch.cmd.Process.Signal(c.sig)
			status, took := ch.wait(30 * time.Second)
			out := ch.out.String()
			if status != c.status || !strings.Contains(out, c.said) {
				t.Errorf("exit status %d after %v, output:\n%s\nwant %d and %q", status, took, out, c.status, c.said)
			}
			t.Logf("%v, output:\n%s", took, out)
			ch.checkClean(lockDir, lock.Name("host", "b"))
		})
	}
}

func TestTimeoutStopsAHangingRun(t *testing.T) {
	lockDir := hangingPush(t)
	ch := startChild(t, "push", "-d", "backup", "--timeout", "1s", "--lock-dir", lockDir, "b")
	status, took := ch.wait(30 * time.Second)
	out := ch.out.String()
	if status != exitFailure || !strings.Contains(out, "stopped: --timeout 1s reached") {
		t.Errorf("exit status %d after %v, output:\n%s", status, took, out)
	}
	if took > 1*time.Second+10*time.Second {
		t.Errorf("took %v to stop after a 1s --timeout", took)
	}
	t.Logf("%v, output:\n%s", took, out)
	ch.checkClean(lockDir, lock.Name("host", "b"))
}

// hookEnv is the environment vzctl gives its action scripts (see /work/shared/FACTS.md), plus
// what the fakes need.
func hookEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "FAKE_ZFS_LIST", "FAKE_ZFS_LOG", "FAKE_ZFS_WRITTEN", "FAKE_ZFS_HANG", "ZFS_VM_ROOT", "ZFS_VM_TEST_BE_MAIN"} {
		env = append(env, k+"="+os.Getenv(k))
	}
	return append(env, "VEID=1007", "VE_CONFFILE=/etc/vz/conf/1007.conf")
}

func TestHookWithHungZFSAnswersInTime(t *testing.T) {
	setupFakeZFS(t, "4096")
	t.Setenv("FAKE_ZFS_HANG", "all")
	cfg := writeConfig(t, "[hooks]\ntimeout = \"1s\"\n")
	// Like a manager that reads what the hook writes on a descriptor until EOF (stdout and
	// stderr are such pipes already: Wait returns only once they are closed).
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ch := newChild(t, hookEnv(), "--config", cfg, "hook", "vzctl")
	ch.cmd.ExtraFiles = []*os.File{pw}
	ch.run()
	pw.Close()
	status, took := ch.wait(20 * time.Second)
	out := ch.out.String()
	if status != 0 || took > 6*time.Second || !strings.Contains(out, "hook vzctl 1007: tagging still running after 1s") {
		t.Errorf("hook with zfs hung: exit status %d after %v, output:\n%s", status, took, out)
	}
	pr.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := pr.Read(make([]byte, 1)); n != 0 || err == nil || !errors.Is(err, io.EOF) {
		t.Errorf("the manager's descriptor stayed open after the hook returned: %d, %v", n, err)
	}
	// The tagging was handed off, not abandoned: the worker is still there, waiting on zfs.
	worker := false
	for _, cmdline := range ch.processes() {
		worker = worker || strings.Contains(cmdline, "hook vzctl")
	}
	if !worker {
		t.Errorf("no worker left to finish the tagging: %v", ch.processes())
	}
}

func TestHookPassesOnTheWorkersOutcome(t *testing.T) {
	setupFakeZFS(t, "4096")
	cfg := writeConfig(t, "[hooks]\ntimeout = \"20s\"\n")
	ch := startChildEnv(t, hookEnv(), "--config", cfg, "hook", "vzctl")
	status, took := ch.wait(20 * time.Second)
	out := ch.out.String()
	if status != 0 || !strings.Contains(out, "openvz 1007: tagged pool/ct@zfs-vm:debian:3") {
		t.Errorf("exit status %d after %v, output:\n%s", status, took, out)
	}
	if left := ch.processes(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestSignalWhileWaitingForTheLock(t *testing.T) {
	lockDir := hangingPush(t)
	held, err := lock.TryAcquire(lockDir, lock.Name("host", "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	ch := startChild(t, "push", "-d", "backup", "--wait", "10m", "--lock-dir", lockDir, "b")
	time.Sleep(300 * time.Millisecond) // waiting for the lock by now
	ch.cmd.Process.Signal(syscall.SIGTERM)
	status, took := ch.wait(30 * time.Second)
	if out := ch.out.String(); status != 143 || took > 5*time.Second || !strings.Contains(out, "interrupted by SIGTERM") {
		t.Errorf("exit status %d after %v, output:\n%s", status, took, out)
	}
}
