package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/stream"
)

// Streams are the standard streams of the commands: the ssh channel.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Refused, when set, reports a refused stream (on stderr and in the journal) in place of
	// the line written to Stderr.
	Refused func(error)
}

// Run runs the request and returns the exit status a shell would have returned for the line:
// a pipeline's last stage's, a sequence's last failure's, 127 for a command not installed.
func (r *Request) Run(ctx context.Context, p Policy, s Streams) int {
	s.Stderr = syncWriter(s.Stderr)
	switch r.shape {
	case pipeline:
		return runPipeline(ctx, r.cmds, p.LockDir, s)
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

// syncWriter returns w fit for the writes of several goroutines: a file as it is (each
// write is the kernel's), else w behind a lock, for exec's copies of the commands' stderr
// and the report of a refusal made while zfs receive runs (see checkedStdin).
func syncWriter(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok || w == nil {
		return w
	}
	return &lockedWriter{w: w}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newCmd(ctx context.Context, c command, s Streams) *exec.Cmd {
	cmd := exec.CommandContext(ctx, zfs.LocalPath(c.argv[0]), c.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.Stdin, s.Stdout, s.Stderr
	return cmd
}

// runOne runs one command; the listing's lines outside the policy's datasets are dropped,
// and with hold peers the holds that are not theirs.
func runOne(ctx context.Context, c command, p Policy, s Streams) int {
	cmd := newCmd(ctx, c, s)
	if c.kind == kReceive {
		want, release, err := receiveWant(ctx, c.argv, p.LockDir)
		if err != nil {
			return refused(err, s)
		}
		defer release()
		in, refusal, err := checkedStdin(s.Stdin, want, s)
		if err != nil {
			return refused(err, s)
		}
		defer in.Close()
		cmd.Stdin = in
		return receiveStatus(status(cmd.Run(), c, s), refusal)
	}
	var filter func(io.Reader, io.Writer)
	switch {
	case c.kind == kList:
		filter = func(r io.Reader, w io.Writer) { filterListing(r, w, p, originColumn(c.argv)) }
	case c.kind == kHolds && len(p.HoldPeers) > 0:
		filter = func(r io.Reader, w io.Writer) { filterHolds(r, w, p, c.argv) }
	default:
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
	filter(out, s.Stdout)
	return status(cmd.Wait(), c, s)
}

// originColumn is the index of the origin column in the lines of the listing argv asks for
// (its -o list), or -1 when it has none.
func originColumn(argv []string) int {
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "-o" {
			return slices.Index(strings.Split(argv[i+1], ","), "origin")
		}
	}
	return -1
}

// filterListing copies the lines of zfs list whose name (the first column) the policy
// shows. A clone's origin column (origin, an index; -1 for none) that names a snapshot the
// policy does not show reads "-", as zfs prints for a dataset that is not a clone: the peer
// would otherwise see an origin it may not list (and refuse the listing as dangling) where
// it can take the clone as a dataset of its own, sent in full.
func filterListing(r io.Reader, w io.Writer, p Policy, origin int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := cutTab(line)
		if p.Listed(name) {
			bw.WriteString(hideOrigin(line, origin, p))
			bw.WriteByte('\n')
		}
	}
	io.Copy(io.Discard, r) // a line too long: let zfs finish rather than die of SIGPIPE
}

// hideOrigin returns line with its column col replaced by "-" if that column is an origin the
// policy does not show; every other byte of the line is kept.
func hideOrigin(line string, col int, p Policy) string {
	if col < 0 {
		return line
	}
	start := 0
	for i := 0; i < col; i++ {
		j := strings.IndexByte(line[start:], '\t')
		if j < 0 {
			return line // fewer columns than asked for: the peer's parser refuses it
		}
		start += j + 1
	}
	end := len(line)
	if j := strings.IndexByte(line[start:], '\t'); j >= 0 {
		end = start + j
	}
	if o := line[start:end]; o == "-" || o == "" || p.Listed(o) {
		return line
	}
	return line[:start] + "-" + line[end:]
}

func cutTab(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\t' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// runPipeline runs two stages connected by an OS pipe; the status is the last stage's. The
// stream into a receive (decompressed) is checked before zfs receive starts.
func runPipeline(ctx context.Context, cmds []command, lockDir string, s Streams) int {
	first, last := newCmd(ctx, cmds[0], s), newCmd(ctx, cmds[1], s)
	pr, pw, err := os.Pipe()
	if err != nil {
		return status(err, cmds[0], s)
	}
	first.Stdout = pw
	if err := first.Start(); err != nil {
		pr.Close()
		pw.Close()
		return status(err, cmds[0], s)
	}
	// Only the child holds the write end now, so that its end is seen.
	pw.Close()
	in, refusal := pr, (<-chan struct{})(nil)
	if cmds[1].kind == kReceive {
		want, release, err := receiveWant(ctx, cmds[1].argv, lockDir)
		defer release()
		if err == nil {
			in, refusal, err = checkedStdin(pr, want, s)
		}
		if err != nil {
			first.Process.Kill()
			pr.Close()
			first.Wait()
			return refused(err, s)
		}
	}
	last.Stdin = in
	if err := last.Start(); err != nil {
		closeBoth(in, pr)
		first.Wait()
		return status(err, cmds[1], s)
	}
	in.Close()
	st := receiveStatus(status(last.Wait(), cmds[1], s), refusal)
	// The first stage sees its reader gone if the last ended early.
	pr.Close()
	first.Wait()
	return st
}

func closeBoth(a, b *os.File) {
	a.Close()
	if b != a {
		b.Close()
	}
}

// receiveExpect is what a receive line's options were chosen for (see zfs.ReceiveProps):
// -x options are a filesystem's, none or -o volmode= a volume's; only -o origin= allows a
// clone stream; a filesystem's receive may take a run of snapshots (-I).
func receiveExpect(argv []string) stream.Expect {
	want := stream.Expect{Type: stream.Volume}
	for _, a := range argv {
		switch {
		case a == "-x":
			// A pushing zfs-vm sends runs of a filesystem's versions with -I.
			want.Type, want.Range = stream.Filesystem, true
		case strings.HasPrefix(a, "origin="):
			want.Clone = true
		}
	}
	return want
}

// receiveWant is receiveExpect, with, where a run of snapshots may come, the guids of the
// snapshots the target (the line's last word) has: a pushed run must not bring one again,
// which libzfs would skip by reading the substream its own way (see stream.Expect.Existing).
// That list must stay true until the receive ends, so a run's receive holds a lock on its
// target (release ends it): a second connection of the client receiving into the same
// target meanwhile, which could bring a snapshot the list does not have, is refused.
func receiveWant(ctx context.Context, argv []string, lockDir string) (want stream.Expect, release func(), err error) {
	want, release = receiveExpect(argv), func() {}
	if !want.Range {
		return want, release, nil
	}
	target := argv[len(argv)-1]
	l, err := lockTarget(lockDir, target)
	if err != nil {
		return want, release, err
	}
	guids, err := snapshotGUIDs(ctx, target)
	if err != nil {
		l.Release()
		return want, release, err
	}
	want.Existing = guids
	return want, func() { l.Release() }, nil
}

// receiveLockName is the lock file name of a receive target: a hash, since lock.Name would
// make tank/a_b and tank/a/b one name, and a dataset name may be longer than a file's.
func receiveLockName(target string) string {
	sum := sha256.Sum256([]byte(target))
	return "receive-" + hex.EncodeToString(sum[:16])
}

// lockTarget takes the receive lock of target in dir ("": lock.PrivateDir) without waiting.
func lockTarget(dir, target string) (*lock.Lock, error) {
	if dir == "" {
		d, err := lock.PrivateDir()
		if err != nil {
			return nil, fmt.Errorf("cannot lock the target %s: %v", short(target), err)
		}
		dir = d
	}
	l, err := lock.TryAcquire(dir, receiveLockName(target))
	switch {
	case errors.Is(err, lock.ErrBusy):
		return nil, fmt.Errorf("another receive into %s is running", short(target))
	case err != nil:
		return nil, fmt.Errorf("cannot lock the target %s: %v", short(target), err)
	}
	return l, nil
}

// snapshotGUIDs are the guids of dataset's snapshots, none where it has none or does not
// exist (a new dataset's stream is no run). Any other failure is an error: without the
// list a pushed run could not be checked (the receive is refused, not let through).
func snapshotGUIDs(ctx context.Context, dataset string) ([]uint64, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, zfs.LocalPath("zfs"), "list", "-H", "-p", "-o", "guid", "-t", "snapshot", "-d", "1", dataset)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	switch {
	case err != nil && strings.Contains(stderr.String(), "dataset does not exist"):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cannot list the snapshots of the target %s to check a run against: %v", short(dataset), err)
	}
	guids := []uint64{}
	for _, f := range strings.Fields(string(out)) {
		if g, err := strconv.ParseUint(f, 10, 64); err == nil {
			guids = append(guids, g)
		}
	}
	return guids, nil
}

// checkedStdin reads the first record of the stream in src and checks it against want
// (see stream.Check): a peer may send a compound stream (zfs send -R -p), whose
// properties and children zfs receive would apply past the options the policy checked. It
// returns the read end of a pipe that yields the whole stream, the rest passed on by a
// goroutine, for zfs receive's stdin: copied as it is, or, for the compound stream of a run
// of snapshots (zfs send -I), walked record by record (see stream.Walk). A substream the
// walk refuses is reported (as refused does, to s) and ends the pipe where it would start,
// so that zfs receive fails there, with the whole snapshots before it received: the report
// comes first on stderr, and the channel returned is closed before zfs receive can fail
// (see receiveStatus). An empty stream is passed on for zfs receive to report.
func checkedStdin(src io.Reader, want stream.Expect, s Streams) (*os.File, <-chan struct{}, error) {
	// What Admit passes on (the first record) is held here and written by the goroutine
	// that passes the rest, so that nothing here waits on zfs receive to read.
	var head bytes.Buffer
	h, err := stream.Admit(&head, src, want)
	if err != nil && !errors.Is(err, stream.ErrEmpty) {
		return nil, nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	refusal := make(chan struct{})
	go func() {
		if _, err := pw.Write(head.Bytes()); err == nil && h != nil {
			if _, err := stream.Rest(pw, src, h, want); errors.As(err, new(*stream.RefusedError)) {
				refused(err, s)
				close(refusal)
			}
		}
		pw.Close()
	}()
	return pr, refusal, nil
}

// receiveStatus is zfs receive's exit status st, or 1 where the walk of its stream refused a
// substream (reported already): zfs receive then failed where its input ended.
func receiveStatus(st int, refusal <-chan struct{}) int {
	select {
	case <-refusal:
		return 1
	default:
		return st
	}
}

// refused reports a refused stream: zfs receive did not run, or (a run's substream) failed
// where the refused substream would have started.
func refused(err error, s Streams) int {
	if s.Refused != nil {
		s.Refused(err)
	} else {
		fmt.Fprintf(s.Stderr, "zfs-vm serve: refused the stream: %v\n", err)
	}
	return 1
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

// filterHolds copies the lines of `zfs holds -H SNAPSHOT...` (argv) that show a hold the
// policy's hold peers may move (Policy.holdTagAllowed for a release: a client's own
// "zfs-vm-base:NAME:…" tags and its legacy "zfs-vm-base:NAME"), which are the only tags
// zfs-vm reads there. Other clients' tags name their hosts, peers and destinations, and
// other tools' holds are none of the client's business. A line must be zfs's
// "SNAPSHOT<tab>TAG<tab>TIMESTAMP" for a snapshot asked for, without control characters;
// anything else is dropped, and a line too long ends the output.
func filterHolds(r io.Reader, w io.Writer, p Policy, argv []string) {
	asked := map[string]bool{}
	for _, a := range argv[3:] { // zfs holds -H SNAPSHOT...
		asked[a] = true
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	sc.Split(scanLF)
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) == 3 && asked[f[0]] && f[2] != "" && !hasControl(sc.Text()) &&
			strings.HasPrefix(f[1], HoldTagPrefix) && p.holdTagAllowed("release", f[1]) {
			bw.WriteString(sc.Text())
			bw.WriteByte('\n')
		}
	}
	io.Copy(io.Discard, r) // a line too long: let zfs finish rather than die of SIGPIPE
}

// scanLF splits at newlines only: bufio.ScanLines would drop a carriage return before one,
// and the line would pass for one zfs printed.
func scanLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// hasControl reports whether line has a control character other than its column tabs.
func hasControl(line string) bool {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
