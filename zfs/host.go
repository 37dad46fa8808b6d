package zfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/sirupsen/logrus"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
)

// Host runs commands on this machine or, over OpenSSH, on a remote one. The zero value is
// not usable; use Local or Dial.
type Host struct {
	// Name is "local" or the [user@]host the user gave.
	Name string
	ssh  *sshConn
	sudo bool
	log  logrus.FieldLogger
}

// Local returns the Host for this machine.
func Local(log logrus.FieldLogger) *Host { return &Host{Name: "local", log: log} }

// IsLocal reports whether the host is this machine.
func (h *Host) IsLocal() bool { return h.ssh == nil }

// IsLocal reports whether spec names this machine: empty or "local".
func IsLocal(spec string) bool { return spec == "" || spec == "local" }

// remoteSearchPath is put in front of a remote zfs when not using sudo: a non-root ssh
// session on Debian has no /sbin in its PATH, and zfs lives there.
const remoteSearchPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// RunAll runs several commands on the host, one after the other whatever each returns; on a
// remote host in one ssh session (one remote shell), so that bookkeeping such as holds costs
// one round trip. The error is the first failure's.
func (h *Host) RunAll(ctx context.Context, cmds ...[]string) error {
	if h.ssh == nil {
		var first error
		for _, argv := range cmds {
			if err := h.Run(ctx, argv...); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	cmd := h.command(ctx, h.allScript(cmds))
	stderr := &untrusted.Buffer{Max: maxStderr}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return h.commandError(cmds[0], stderr.String(), err)
	}
	return nil
}

// Unconnected returns a remote Host for spec that has no ssh connection: its commands can be
// built (the last argument of each ssh argv is the remote line, as zfs-vm serve reads it)
// but not run. It is for tests that check what a peer receives.
func Unconnected(spec string, sudo bool) *Host {
	target, port, _ := ParseHostSpec(spec)
	return &Host{Name: spec, ssh: &sshConn{target: target, port: port, dir: os.TempDir()}, sudo: sudo}
}

// SequenceLine returns the remote command line that RunAll sends for cmds.
func (h *Host) SequenceLine(cmds ...[]string) string { return h.allScript(cmds) }

// allScript is RunAll's remote command line: each command quoted, all run, the status that of
// the last failing one; a POSIX sh script, run through sh -c (see underSh).
func (h *Host) allScript(cmds [][]string) string {
	lines := make([]string, len(cmds))
	for i, argv := range cmds {
		lines[i] = QuoteCommand(h.remoteWords(argv))
	}
	return underSh("s=0; " + strings.Join(lines, " || s=$?; ") + " || s=$?; exit $s")
}

// underSh returns the remote command line that runs script with sh. sshd hands a command line
// to the user's login shell, which may not be a POSIX shell (csh or tcsh on older FreeBSD):
// a line of several commands (`;`, `||`, `$?`, pipes) is therefore one quoted word given to
// `sh -c`, and the login shell only has to run a simple command.
func underSh(script string) string {
	return QuoteCommand([]string{"sh", "-c", script})
}

// remoteWords prefixes argv as every remote command is: through sudo, or with a PATH that
// has zfs.
func (h *Host) remoteWords(argv []string) []string {
	if h.sudo {
		return append([]string{"sudo", "-n"}, argv...)
	}
	return append([]string{"env", remoteSearchPath}, argv...)
}

// Command returns a command that runs argv on the host. For a remote host every word is
// shell-quoted, so names are passed as data and never interpreted by the remote shell.
func (h *Host) Command(ctx context.Context, argv ...string) *exec.Cmd {
	if h.ssh != nil {
		return h.command(ctx, QuoteCommand(h.remoteWords(argv)))
	}
	cmd := stopGently(exec.CommandContext(ctx, localPath(argv[0]), argv[1:]...))
	if h.log != nil {
		h.log.WithField("host", h.Name).Debugf("exec: %s", QuoteCommand(cmd.Args))
	}
	return cmd
}

// sbinDirs are searched for a local command that is not in PATH: a user without root (zfs
// allow) on Debian has no sbin directory in PATH, and zfs lives there.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// SetSbinDirs replaces the directories LocalPath searches after PATH and returns the old
// ones; for tests.
func SetSbinDirs(dirs []string) []string {
	old := sbinDirs
	sbinDirs = dirs
	return old
}

// LocalPath returns name as this machine's commands are run: looked up in PATH, then in the
// sbin directories (see sbinDirs).
func LocalPath(name string) string { return localPath(name) }

// localPath returns name as exec should run it: unchanged when PATH has it (or it is a path),
// else its place in an sbin directory if there is one.
func localPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	if _, err := exec.LookPath(name); err == nil {
		return name
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return name
}

// QuoteCommand joins words into one POSIX shell command line, quoting each word as needed.
func QuoteCommand(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellescape.Quote(w)
	}
	return strings.Join(q, " ")
}

// CommandError is a failed command with what it printed on stderr.
type CommandError struct {
	Host   string
	Argv   []string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] + " ..."
	}
	// What a (remote) command printed is the peer's text: short, and escaped.
	msg = untrusted.Printable(untrusted.Line(msg, maxMessageLine))
	if msg == "" {
		msg = e.Err.Error()
	}
	where := ""
	if e.Host != "local" {
		where = " on " + e.Host
	}
	return fmt.Sprintf("%s%s: %s", strings.Join(e.Argv, " "), where, msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// Limits on what zfs-vm keeps of a command's output, whatever a peer sends. Listings are
// parsed as they arrive (eachLine) and bounded by what they hold (maxPeerListing); the other
// outputs zfs-vm reads (holds, send estimates, written) are a line per snapshot of a run or
// of a chunk of names, or per dataset of a tree (tag -r); no zfs command says more than a
// few lines on stderr.
const (
	maxStdout      = 4 << 20
	maxStderr      = 64 << 10
	maxMessageLine = 512 // bytes of stderr quoted in an error message
)

// OutputTooLargeError is a command whose stdout went past the limit; it was stopped.
type OutputTooLargeError struct {
	Host  string
	Argv  []string
	Limit int
	// Line is set for a line longer than MaxLine bytes, rather than more than Limit in all.
	Line    bool
	MaxLine int
}

func (e *OutputTooLargeError) Error() string {
	if e.Line {
		return fmt.Sprintf("%s on %s: printed a line longer than %d bytes; stopped it", strings.Join(e.Argv, " "), e.Host, e.MaxLine)
	}
	return fmt.Sprintf("%s on %s: printed more than %d MiB; stopped it", strings.Join(e.Argv, " "), e.Host, e.Limit>>20)
}

// Output runs argv on the host and returns its stdout; a failure is a *CommandError. A
// command whose stdout passes maxStdout is stopped (*OutputTooLargeError), and stderr past
// maxStderr is dropped, so that a peer cannot grow zfs-vm's memory.
func (h *Host) Output(ctx context.Context, argv ...string) ([]byte, error) {
	return h.output(ctx, maxStdout, argv...)
}

func (h *Host) output(ctx context.Context, limit int, argv ...string) ([]byte, error) {
	return h.capture(ctx, func(stop func()) sink { return &stopWriter{max: limit, stop: stop} }, argv)
}

// sink keeps a command's stdout, bounded: past its bound it calls stop (which kills the
// command, whose pipe would otherwise fill and block it forever) and fails the write.
type sink interface {
	io.Writer
	// end returns what was kept once the command has ended (ran: exit status 0), or the
	// *OutputTooLargeError or other error that stopped it.
	end(host string, argv []string, ran bool) ([]byte, error)
}

// capture runs argv with its stdout in the sink newSink makes and its stderr bounded.
func (h *Host) capture(ctx context.Context, newSink func(stop func()) sink, argv []string) ([]byte, error) {
	return h.captureIn(ctx, nil, newSink, argv)
}

// captureIn is capture with stdin as the command's standard input (nil: none).
func (h *Host) captureIn(ctx context.Context, stdin io.Reader, newSink func(stop func()) sink, argv []string) ([]byte, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := h.Command(ctx, argv...)
	cmd.Stdin = stdin
	stdout := newSink(stop)
	stderr := &untrusted.Buffer{Max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	// The sink's error first: a bound passed or a line refused stopped the command, whose
	// failure then says only that it was killed.
	out, sinkErr := stdout.end(h.Name, argv, err == nil)
	if sinkErr != nil {
		return nil, sinkErr
	}
	if err != nil {
		return nil, h.commandError(argv, stderr.String(), err)
	}
	return out, nil
}

// TagNamesOutput runs a names-only snapshot listing (TagNamesArgs, TagNamesOfArgs) and returns
// the lines that name a zfs-vm snapshot, dropping the others as they arrive: a pool's
// foreign snapshots (hourlies, a million of them on a big host) then cost zfs-vm no memory,
// and what it keeps is bounded by maxTagNames of zfs-vm's own names. It reads this host
// only (tag and the hooks), whose zfs is trusted. A line longer than
// maxNameLine, which no zfs prints (names end at 255 bytes), stops the command.
func (h *Host) TagNamesOutput(ctx context.Context, argv ...string) ([]byte, error) {
	return h.capture(ctx, func(stop func()) sink {
		return newLineFilter(isTagNameLine, maxTagNames, maxNameLine, stop)
	}, argv)
}

// maxNameLine bounds a line of a names-only listing (ZFS_MAX_DATASET_NAME_LEN is 256).
const maxNameLine = 4 << 10

// maxTagNames bounds the zfs-vm snapshot names TagNamesOutput keeps of this host: about a
// million.
const maxTagNames = 64 << 20

// isTagNameLine reports whether a line of a names-only listing names a zfs-vm snapshot.
func isTagNameLine(line []byte) bool {
	return bytes.Contains(line, []byte("@"+TagPrefix))
}

var (
	errLongLine = errors.New("line limit reached")
	errFull     = errors.New("output limit reached")
)

// lineFilter keeps the lines of a stream that keep accepts, up to max bytes of them, and
// drops the rest as they arrive (see lineSink for the rest of its bounds).
type lineFilter struct {
	lineSink
	keep func(line []byte) bool
	kept bytes.Buffer
	max  int
}

func newLineFilter(keep func(line []byte) bool, max, maxLine int, stop func()) *lineFilter {
	w := &lineFilter{keep: keep, max: max}
	w.lineSink = lineSink{each: w.add, maxLine: maxLine, limit: max, stop: stop}
	return w
}

// add keeps line, with its newline, if keep accepts it.
func (w *lineFilter) add(line []byte) error {
	if !w.keep(line) {
		return nil
	}
	if w.kept.Len()+len(line)+1 > w.max {
		return errFull
	}
	w.kept.Write(line)
	w.kept.WriteByte('\n')
	return nil
}

func (w *lineFilter) end(host string, argv []string, ran bool) ([]byte, error) {
	if _, err := w.lineSink.end(host, argv, ran); err != nil {
		return nil, err
	}
	return w.kept.Bytes(), nil
}

// lineSink passes each line of a stream, without its newline, to each as it arrives, and
// keeps nothing else: a listing is parsed while the command runs, never held as text. At a
// line longer than maxLine or an error from each, it calls stop (which kills the command,
// whose pipe would otherwise fill and block it) and fails.
type lineSink struct {
	each    func(line []byte) error
	line    []byte // the line being read, up to its newline
	maxLine int
	limit   int // what each's errFull means, for the message
	stop    func()
	failed  error
}

func (w *lineSink) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && w.failed == nil {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if len(w.line)+len(chunk) > w.maxLine {
			w.fail(errLongLine)
			break
		}
		w.line = append(w.line, chunk...)
		p = p[len(chunk):]
		if i >= 0 {
			p = p[1:]
			w.flush()
		}
	}
	if w.failed != nil {
		return 0, w.failed
	}
	return n, nil
}

// flush ends the line being read.
func (w *lineSink) flush() {
	if err := w.each(w.line); err != nil {
		w.fail(err)
	}
	w.line = w.line[:0]
}

// end passes on a last line without a newline, as a line, if the command ran to its end (a
// command that failed mid-line explains itself), and reports a bound passed or each's error.
func (w *lineSink) end(host string, argv []string, ran bool) ([]byte, error) {
	if w.failed == nil && len(w.line) > 0 && ran {
		w.flush()
	}
	switch w.failed {
	case nil:
		return nil, nil
	case errLongLine:
		return nil, &OutputTooLargeError{Host: host, Argv: argv, Line: true, MaxLine: w.maxLine}
	case errFull:
		return nil, &OutputTooLargeError{Host: host, Argv: argv, Limit: w.limit}
	}
	return nil, w.failed
}

func (w *lineSink) fail(err error) {
	w.failed = err
	w.stop()
}

// eachLine runs argv on the host and passes each line of its stdout, without its newline, to
// each as it arrives (see lineSink); a line longer than maxLine, or each's error, stops the
// command and is returned.
func (h *Host) eachLine(ctx context.Context, argv []string, maxLine int, each func(line []byte) error) error {
	_, err := h.capture(ctx, func(stop func()) sink {
		return &lineSink{each: each, maxLine: maxLine, stop: stop}
	}, argv)
	return err
}

// maxRowLine bounds a line of a listing: 12 columns, of which a resume token is the longest
// (a few hundred bytes to a few KiB).
const maxRowLine = 1 << 20

// stopWriter keeps up to max bytes; past that it calls stop (which kills the command, whose
// pipe would otherwise fill and block it forever) and fails the write.
type stopWriter struct {
	buf  bytes.Buffer
	max  int
	stop func()
	full bool
}

func (w *stopWriter) end(host string, argv []string, _ bool) ([]byte, error) {
	if w.full {
		return nil, &OutputTooLargeError{Host: host, Argv: argv, Limit: w.max}
	}
	return w.buf.Bytes(), nil
}

func (w *stopWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		w.full = true
		w.stop()
		return 0, errors.New("output limit reached")
	}
	return w.buf.Write(p)
}

// Run runs argv on the host, discarding its stdout.
func (h *Host) Run(ctx context.Context, argv ...string) error {
	_, err := h.Output(ctx, argv...)
	return err
}

func (h *Host) commandError(argv []string, stderr string, err error) error {
	var connect *ConnectError
	if errors.As(err, &connect) {
		return connect // the command never ran: the host was out of reach
	}
	var exitErr *exec.ExitError
	if h.ssh != nil && errors.As(err, &exitErr) && exitErr.ExitCode() == 255 {
		// ssh itself failed (connection, authentication) rather than the remote command.
		return &CommandError{Host: h.Name, Argv: []string{"ssh"}, Stderr: stderr, Err: err}
	}
	if h.ssh != nil && errors.As(err, &exitErr) && exitErr.ExitCode() == 127 {
		return &MissingCommandError{Host: h.Name, Command: argv[0]}
	}
	if h.ssh == nil && errors.Is(err, exec.ErrNotFound) {
		return &MissingCommandError{Host: h.Name, Command: argv[0]}
	}
	return &CommandError{Host: h.Name, Argv: argv, Stderr: stderr, Err: err}
}

// MissingCommandError is a host without the command: not in this machine's PATH, or exit
// status 127 from a remote shell.
type MissingCommandError struct {
	Host    string
	Command string
}

func (e *MissingCommandError) Error() string {
	if e.Host != "local" {
		return fmt.Sprintf("%s: command not found on %s (is ZFS installed there?)", e.Command, e.Host)
	}
	if e.Command == "zfs" || e.Command == "zpool" {
		return e.Command + " not found — install zfsutils-linux or run on a ZFS host"
	}
	return e.Command + " not found in PATH"
}

// List reads the host's datasets and snapshots with one `zfs list`.
func (h *Host) List(ctx context.Context) (*Inventory, error) {
	return h.listAtMost(ctx, 0)
}

// listAtMost is List, stopped with errNotSmall past maxLines lines (0: no bound).
func (h *Host) listAtMost(ctx context.Context, maxLines int) (*Inventory, error) {
	p := rowParser{budget: h.rowBudget()}
	n := 0
	each := func(line []byte) error {
		if n++; maxLines > 0 && n > maxLines {
			return errNotSmall
		}
		return p.add(line)
	}
	if err := h.eachLine(ctx, ListArgs(), maxRowLine, each); err != nil {
		return nil, h.listError(err)
	}
	inv, err := p.checkedInventory()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	return inv, nil
}

// rowBudget returns the bound on the rows kept of one read of the host's listings: a peer's
// are bounded (maxPeerListing), this host's are not (and raise the memory limit instead).
func (h *Host) rowBudget() *rowBudget {
	if h.IsLocal() {
		return &rowBudget{own: true}
	}
	return &rowBudget{max: maxPeerListing}
}

// listError names the host in an error of reading a listing, unless it already does (an
// error of the command itself).
func (h *Host) listError(err error) error {
	var ce *CommandError
	var tl *OutputTooLargeError
	var mc *MissingCommandError
	var connect *ConnectError
	if errors.As(err, &ce) || errors.As(err, &tl) || errors.As(err, &mc) || errors.As(err, &connect) {
		return err
	}
	return fmt.Errorf("%s: %w", h.Name, err)
}

// Close ends the host's ssh master connection, if any.
func (h *Host) Close() error {
	if h.ssh == nil {
		return nil
	}
	return h.ssh.close()
}

// sshConn is one OpenSSH master connection that every command to the host reuses.
type sshConn struct {
	spec   string // the host as the user gave it
	target string // [user@]host
	port   string
	dir    string // private directory holding the control socket
	batch  bool
	// extra are the configuration's ssh options. Every ssh run gets them, not only the
	// master: a command that finds the master gone opens its own connection, which must go
	// through the same ProxyJump, identity and known_hosts.
	extra []string
	// config is ssh -G's answer when the dialer had it (DialOptions.Config).
	config *SSHConfig
	// timeouts are the -o options of zfs-vm's default timeouts that the user did not set
	// (see timeoutArgs); every ssh invocation gets them.
	timeouts []string
	log      logrus.FieldLogger
	// up is closed once the master connection is up or failed (upErr); nil for a host that
	// is never connected (Unconnected). timeouts are set before it closes.
	up    chan struct{}
	upErr error
}

var hostPattern = regexp.MustCompile(`^(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?([A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$`)

// ParseHostSpec splits "[user@]host[:port]" and rejects anything that ssh could take as an
// option or that is not a host name.
func ParseHostSpec(spec string) (target, port string, err error) {
	m := hostPattern.FindStringSubmatch(spec)
	if m == nil {
		return "", "", fmt.Errorf("host %q: not of the form [user@]host[:port]", spec)
	}
	host := strings.Trim(m[2], "[]")
	target = host
	if m[1] != "" {
		target = m[1] + "@" + host
	}
	return target, m[3], nil
}

// DialOptions tune how Dial connects.
type DialOptions struct {
	Sudo bool // run remote commands through `sudo -n`
	// Batch forbids ssh from prompting (BatchMode=yes); set it when stdin is not a terminal.
	Batch bool
	// ControlDir is where the private directory of the control socket is made; "" for the
	// system's temporary directory.
	ControlDir string
	// ExtraArgs are passed to every ssh run before the host (e.g. -o options from the
	// config).
	ExtraArgs []string
	// Config, when set, is what `ssh -G` said for the same spec and ExtraArgs (read for the
	// peer's lock); nil to ask it again.
	Config *SSHConfig
}

// Dial opens one ssh master connection to spec ([user@]host[:port]) using the user's own ssh
// configuration, agent and known_hosts. Every later command to the host reuses it.
func Dial(ctx context.Context, spec string, opt DialOptions, log logrus.FieldLogger) (*Host, error) {
	h, err := DialInBackground(ctx, spec, opt, log)
	if err != nil {
		return nil, err
	}
	if err := h.ssh.wait(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// DialInBackground is Dial returning at once: the master connection is opened while the
// caller reads this machine (a push lists its own pool meanwhile), and the host's commands
// wait for it. When it cannot be opened, every command fails with its *ConnectError. Only a
// bad spec or no room for the control socket is returned here.
func DialInBackground(ctx context.Context, spec string, opt DialOptions, log logrus.FieldLogger) (*Host, error) {
	c, err := newSSHConn(spec, opt, log)
	if err != nil {
		return nil, err
	}
	c.up = make(chan struct{})
	go func() {
		defer close(c.up)
		c.upErr = c.openMaster(ctx)
	}()
	return &Host{Name: spec, ssh: c, sudo: opt.Sudo, log: log}, nil
}

// ConnectError is a host whose ssh master connection could not be opened.
type ConnectError struct {
	Host string
	Msg  string // the first line worth showing of what ssh said
}

func (e *ConnectError) Error() string { return fmt.Sprintf("cannot connect to %s: %s", e.Host, e.Msg) }

// openMaster starts the master connection (ssh -f returns once it is up) and returns a
// *ConnectError when it is not; the control directory is then removed.
func (c *sshConn) openMaster(ctx context.Context) error {
	c.timeouts = timeoutArgs(ctx, c.config, c.extra, c.port, c.target)
	cmd := stopGently(exec.CommandContext(ctx, "ssh", c.masterArgs()...))
	if c.log != nil {
		c.log.WithField("host", c.spec).Debugf("exec: %s", QuoteCommand(cmd.Args))
	}
	// ssh -f keeps running in the background; its stderr must be a file, not a pipe that
	// Wait would wait on.
	errFile, err := os.CreateTemp(c.dir, "stderr")
	if err != nil {
		os.RemoveAll(c.dir)
		return &ConnectError{Host: c.spec, Msg: err.Error()}
	}
	defer errFile.Close()
	cmd.Stderr = errFile
	if err := cmd.Run(); err != nil {
		// The server's banner lands here too: read a bounded amount of it.
		msg := make([]byte, maxStderr)
		n, _ := io.ReadFull(io.NewSectionReader(errFile, 0, maxStderr), msg)
		os.RemoveAll(c.dir)
		return &ConnectError{Host: c.spec, Msg: FirstLine(string(msg[:n]), err)}
	}
	return nil
}

// wait returns once the master connection is up (nil) or could not be opened (its
// *ConnectError), or ctx ends (a *ConnectError saying why). A host made by Unconnected has
// nothing to wait for.
func (c *sshConn) wait(ctx context.Context) error {
	if c.up == nil {
		return nil
	}
	select {
	case <-c.up:
		return c.upErr
	case <-ctx.Done():
		// Stopped while connecting (a signal, --timeout): what stopped it, not a command
		// that never ran.
		return &ConnectError{Host: c.spec, Msg: context.Cause(ctx).Error()}
	}
}

// newSSHConn makes the private directory of spec's control socket, in opt.ControlDir.
func newSSHConn(spec string, opt DialOptions, log logrus.FieldLogger) (*sshConn, error) {
	target, port, err := ParseHostSpec(spec)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opt.ControlDir, "zfs-vm-ssh-")
	if err != nil {
		return nil, err
	}
	return &sshConn{spec: spec, target: target, port: port, dir: dir, batch: opt.Batch, extra: opt.ExtraArgs, config: opt.Config, log: log}, nil
}

// FirstLine returns the first line of a command's output worth showing in a one-line error:
// not blank, not ssh's "Warning: Permanently added" notice, not one of zfs send -P -v's size
// reports. Without one it returns fallback's text ("" for a nil fallback).
func FirstLine(output string, fallback error) string {
	for _, l := range strings.Split(strings.TrimSpace(output), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "Warning: Permanently added") && !IsSizeReport(l) {
			return untrusted.Printable(untrusted.Line(l, maxMessageLine))
		}
	}
	if fallback == nil {
		return ""
	}
	return fallback.Error()
}

// masterArgs returns ssh's argv (without "ssh") that starts the master connection.
func (c *sshConn) masterArgs() []string {
	a := []string{"-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-N", "-f"}
	return append(append(a, c.baseArgs()...), c.target)
}

// baseArgs are the options of every ssh run to the host. ssh keeps the first value given for
// an option, so the configuration's come before zfs-vm's default timeouts (which leave out
// what the user set anyway, see timeoutArgs).
func (c *sshConn) baseArgs() []string {
	a := []string{"-o", "ControlPath=" + filepath.Join(c.dir, "control")}
	if c.batch {
		a = append(a, "-o", "BatchMode=yes")
	}
	a = append(a, c.extra...)
	a = append(a, c.timeouts...)
	if c.port != "" {
		a = append(a, "-p", c.port)
	}
	return a
}

// args returns ssh's argv (without "ssh") to run one remote command line over the master.
func (c *sshConn) args(remote string) []string {
	a := append(c.baseArgs(), "-o", "ControlMaster=no", c.target, "--", remote)
	return a
}

// exitArgs returns ssh's argv (without "ssh") that ends the master connection.
func (c *sshConn) exitArgs() []string {
	return append(c.baseArgs(), "-O", "exit", c.target)
}

// close ends the master and removes its directory, once the master is up (a failed master
// left nothing to end). It runs after the run's context may have been cancelled (a signal,
// --timeout), so it has its own bound; the dial, under that context, ends with it.
func (c *sshConn) close() error {
	if c.up != nil {
		<-c.up
		if c.upErr != nil {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*StopDelay)
	defer cancel()
	cmd := stopGently(exec.CommandContext(ctx, "ssh", c.exitArgs()...))
	err := cmd.Run()
	os.RemoveAll(c.dir)
	if err != nil {
		return fmt.Errorf("closing ssh connection to %s: %w", c.target, err)
	}
	return nil
}
