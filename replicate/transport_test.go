package replicate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/stream"
	"github.com/zfs-vm/zfs-vm/zfs/stream/streamtest"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

func TestParseRate(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"", 0}, {"0", 0}, {"500K", 500000}, {"10M", 10000000}, {"10MiB", 10 << 20},
		{"1.5M", 1500000}, {"2G", 2000000000}, {"10MB/s", 10000000}, {"4096", 4096},
	}
	for _, c := range cases {
		got, err := ParseRate(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"fast", "10X", "-1M", "100"} {
		if _, err := ParseRate(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseRate(%q) = %v; want an error naming it", bad, err)
		}
	}
}

func TestParseCompress(t *testing.T) {
	for in, want := range map[string]string{"": "", "none": "", "zstd": "zstd"} {
		if got, err := ParseCompress(in); err != nil || got != want {
			t.Errorf("ParseCompress(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseCompress("gzip"); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("ParseCompress(gzip) = %v", err)
	}
}

// pipeLab is a sender and a receiver for the executor's pipe: local commands from
// testdata/fakebin, and a "remote" host reached through testdata/fakessh.
type pipeLab struct {
	t            *testing.T
	data, out    string
	sshLog       string
	log          *logrus.Logger
	logs         *test.Hook
	local        *zfs.Host
	remotePath   string
	remoteNoZstd string
}

func newPipeLab(t *testing.T, payload []byte) *pipeLab {
	zstd, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("zstd is not installed (make deps installs it)")
	}
	dir := t.TempDir()
	l := &pipeLab{t: t, data: filepath.Join(dir, "data"), out: filepath.Join(dir, "received"), sshLog: filepath.Join(dir, "ssh.log")}
	if err := os.WriteFile(l.data, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	// zfs send writes a filesystem's first record, which a pull checks, then the payload.
	header := filepath.Join(dir, "header")
	if err := os.WriteFile(header, sendHeader(stream.Filesystem, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_SEND_HEADER", header)
	fakebin, _ := filepath.Abs("testdata/fakebin")
	fakessh, _ := filepath.Abs("testdata/fakessh")
	// The remote side's PATH: zfs, zstd and what the fake zfs runs; remoteNoZstd lacks zstd.
	l.remotePath, l.remoteNoZstd = filepath.Join(dir, "remote-bin"), filepath.Join(dir, "remote-nozstd")
	for _, d := range []string{l.remotePath, l.remoteNoZstd} {
		tools := map[string]string{"zfs": filepath.Join(fakebin, "zfs"), "zstd": zstd}
		if d == l.remoteNoZstd {
			delete(tools, "zstd")
		}
		for _, name := range []string{"cat", "wc", "sleep", "readlink"} {
			if tools[name], err = exec.LookPath(name); err != nil {
				t.Fatal(err)
			}
		}
		os.Mkdir(d, 0o755)
		for name, target := range tools {
			if err := os.Symlink(target, filepath.Join(d, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("PATH", fakessh+":"+fakebin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_SEND_DATA", l.data)
	t.Setenv("FAKE_RECV_OUT", l.out)
	t.Setenv("FAKE_SSH_LOG", l.sshLog)
	t.Setenv("FAKE_REMOTE_PATH", l.remotePath)
	l.log, l.logs = test.NewNullLogger()
	l.log.SetLevel(logrus.DebugLevel)
	l.local = zfs.Local(l.log)
	return l
}

func (l *pipeLab) remote() *zfs.Host {
	h, err := zfs.Dial(l.t.Context(), "peer", zfs.DialOptions{Batch: true}, l.log)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { h.Close() })
	return h
}

func (l *pipeLab) run(ex *Executor) (uint64, error) {
	ex.Log = l.log
	send, err := zfs.NewFullSend("tank/a@zfs-vm:a:1")
	if err != nil {
		l.t.Fatal(err)
	}
	recv, err := zfs.NewReceive("backup/a", "")
	if err != nil {
		l.t.Fatal(err)
	}
	return ex.pipe(l.t.Context(), send, recv, nil)
}

// received returns what zfs receive got after the stream's first record, which must be the
// one zfs send wrote.
func (l *pipeLab) received() []byte {
	l.t.Helper()
	b, err := os.ReadFile(l.out)
	if err != nil {
		l.t.Fatal(err)
	}
	header, _ := os.ReadFile(os.Getenv("FAKE_SEND_HEADER"))
	if !bytes.HasPrefix(b, header) {
		l.t.Fatalf("zfs receive got %d bytes, not starting with the stream's first record", len(b))
	}
	return b[len(header):]
}

// sendHeader is the first record of a stream of a dataset of type typ.
func sendHeader(typ stream.ObjsetType, flags uint32) []byte {
	h := stream.Header{HeaderType: stream.Substream, Type: typ, Flags: flags, ToGUID: 7, ToName: "tank/a@zfs-vm:a:1"}
	return h.Record()
}

func (l *pipeLab) remoteLines() string {
	b, _ := os.ReadFile(l.sshLog)
	return string(b)
}

func compressible(n int) []byte {
	return bytes.Repeat([]byte("zfs-vm streams a template and its clones. "), n/42+1)[:n]
}

func TestPipeCompressesOnTheWire(t *testing.T) {
	payload := compressible(1 << 20)
	for _, push := range []bool{true, false} {
		l := newPipeLab(t, payload)
		ex := &Executor{Sender: l.local, Receiver: l.remote(), Transport: Transport{Compress: "zstd"}}
		if !push {
			ex.Sender, ex.Receiver = ex.Receiver, ex.Sender
		}
		size, err := l.run(ex)
		if err != nil {
			t.Fatalf("push=%v: %v", push, err)
		}
		if !bytes.Equal(l.received(), payload) || size != uint64(len(payload)) {
			t.Errorf("push=%v: received %d bytes (size %d), want the %d sent", push, len(l.received()), size, len(payload))
		}
		lines := l.remoteLines()
		want := "zstd -q -d -c | env PATH="
		if !push {
			want = "zfs send -P -v tank/a@zfs-vm:a:1 | env PATH="
		}
		if !strings.Contains(lines, want) || !strings.Contains(lines, "zstd --version") {
			t.Errorf("push=%v: the remote ran\n%s\nwant a probe for zstd and a line with %q", push, lines, want)
		}
	}
}

// A pull of one dataset's stream hands the pipe from the sending side to zfs receive once
// the stream's first record passed (gate): zfs receive reads the very pipe zfs send (or,
// with compression, the local zstd -d) writes, as in a bare `ssh PEER zfs send | zfs
// receive`, and gets the whole stream. At a rate limit without compression, or where a pipe
// cannot be peeked into, a copy of ours is between them.
func TestPullHandsThePipeToZfsReceive(t *testing.T) {
	payload := compressible(1 << 20)
	for _, tr := range []Transport{{}, {Compress: "zstd"}, {RateLimit: 64 << 20}} {
		l := newPipeLab(t, payload)
		if tr.Compress != "" {
			wrapLocalZstd(t)
		}
		ex := &Executor{Sender: l.remote(), Receiver: l.local, Transport: tr}
		if _, err := l.run(ex); err != nil {
			t.Fatalf("%+v: %v", tr, err)
		}
		if !bytes.Equal(l.received(), payload) {
			t.Errorf("%+v: received %d bytes, want the %d sent", tr, len(l.received()), len(payload))
		}
		writer := ".send-stdout"
		if tr.Compress != "" {
			writer = ".zstd-stdout"
		}
		sent, _ := os.ReadFile(l.out + writer)
		read, _ := os.ReadFile(l.out + ".recv-stdin")
		if !strings.HasPrefix(string(sent), "pipe:") || !strings.HasPrefix(string(read), "pipe:") {
			t.Fatalf("%+v: the last before zfs receive wrote to %q, zfs receive read %q: want pipes", tr, sent, read)
		}
		direct := tr.RateLimit == 0 && stream.CanPeek
		if got := bytes.Equal(sent, read); got != direct {
			t.Errorf("%+v: the last before zfs receive wrote to %s, zfs receive read %s: want the same pipe %v", tr, sent, read, direct)
		}
	}
}

// wrapLocalZstd puts in front of PATH a zstd that notes the pipe it writes to in
// $FAKE_RECV_OUT.zstd-stdout, then runs the real one (the peer's zstd is not affected: the
// fake ssh gives remote commands their own PATH).
func wrapLocalZstd(t *testing.T) {
	real, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := "#!/bin/sh\nfd=$(readlink /proc/$$/fd/1); echo \"$fd\" > \"$FAKE_RECV_OUT.zstd-stdout\"\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "zstd"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

func TestPipeWithoutRemoteZstdSendsUncompressed(t *testing.T) {
	payload := compressible(200 << 10)
	l := newPipeLab(t, payload)
	t.Setenv("FAKE_REMOTE_PATH", l.remoteNoZstd)
	ex := &Executor{Sender: l.local, Receiver: l.remote(), Transport: Transport{Compress: "zstd"}}
	if _, err := l.run(ex); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l.received(), payload) {
		t.Error("the stream did not arrive intact")
	}
	if strings.Contains(l.remoteLines(), "zstd -q -d") {
		t.Errorf("decompressed on a host without zstd:\n%s", l.remoteLines())
	}
	warned := false
	for _, e := range l.logs.AllEntries() {
		warned = warned || e.Level == logrus.WarnLevel && strings.Contains(e.Message, "sending uncompressed: cannot use zstd on peer")
	}
	if !warned {
		t.Error("no warning that the stream goes uncompressed")
	}
}

func TestPipeRateLimitedCopyKeepsTheStream(t *testing.T) {
	payload := make([]byte, 3<<20+12345)
	for i := range payload {
		payload[i] = byte(i * 7919 >> 3)
	}
	// Pushed, and pulled (where the check of the stream shares the rate-limited copy).
	for _, tr := range []Transport{{Compress: "zstd", RateLimit: 64 << 20}, {RateLimit: 64 << 20}} {
		for _, push := range []bool{true, false} {
			l := newPipeLab(t, payload)
			ex := &Executor{Sender: l.local, Receiver: l.remote(), Transport: tr}
			if !push {
				ex.Sender, ex.Receiver = ex.Receiver, ex.Sender
			}
			if _, err := l.run(ex); err != nil {
				t.Fatalf("%+v push=%v: %v", tr, push, err)
			}
			if !bytes.Equal(l.received(), payload) {
				t.Errorf("%+v push=%v: the stream changed", tr, push)
			}
		}
	}
}

func TestPipeReportsWhatARemoteSendSaid(t *testing.T) {
	l := newPipeLab(t, []byte("x"))
	t.Setenv("FAKE_SEND_FAIL", "cannot open 'tank/a@zfs-vm:a:1': dataset does not exist")
	ex := &Executor{Sender: l.remote(), Receiver: l.local, Transport: Transport{Compress: "zstd"}}
	// The remote `zfs send | zstd` exits 0 (zstd's status); the receive fails on the empty
	// stream, and the error must still say why.
	_, err := l.run(ex)
	if err == nil || !strings.Contains(err.Error(), "dataset does not exist") || !strings.Contains(err.Error(), "receive failed") {
		t.Errorf("error %q does not say what zfs send said", err)
	}
}

// The limit is a behaviour, so it is checked, but only from below: a slow machine can take
// longer, never less.
func TestRateLimitedCopyHoldsTheRate(t *testing.T) {
	const rate = 1 << 20
	payload := make([]byte, 3*rate/2)
	var out bytes.Buffer
	start := time.Now()
	n, err := rateLimitedCopy(t.Context(), &out, bytes.NewReader(payload), rate)
	if err != nil || n != int64(len(payload)) || out.Len() != len(payload) {
		t.Fatalf("copied %d, %v", n, err)
	}
	// The first chunk (the burst) goes at once, the rest at the rate.
	if min := time.Duration(float64(len(payload)-rate/8) / rate * float64(time.Second)); time.Since(start) < min*9/10 {
		t.Errorf("1.5 MiB at 1 MiB/s took %v, less than %v", time.Since(start), min)
	}
}

func TestPipeNamesALostConnection(t *testing.T) {
	l := newPipeLab(t, compressible(64<<10))
	t.Setenv("FAKE_SSH_LOSE", "zfs receive")
	ex := &Executor{Sender: l.local, Receiver: l.remote()}
	_, err := l.run(ex)
	if err == nil || err.Error() != "receive on peer failed: lost the ssh connection to peer (ssh exit status 255)" {
		t.Errorf("error %v", err)
	}
}

// A pull whose zfs receive cannot start (held back until the stream passed, see gate) says
// so, and its sender, whom nobody reads, ends.
func TestPullWhoseReceiveCannotStart(t *testing.T) {
	l := newPipeLab(t, compressible(1<<20))
	fakessh, _ := filepath.Abs("testdata/fakessh")
	t.Setenv("PATH", fakessh+":/usr/bin:/bin") // zfs only on the remote side
	saved := zfs.SetSbinDirs(nil)
	defer zfs.SetSbinDirs(saved)
	ex := &Executor{Sender: l.remote(), Receiver: l.local}
	_, err := l.run(ex)
	if err == nil || !strings.HasPrefix(err.Error(), "receive on local failed: ") || !strings.Contains(err.Error(), "zfs") {
		t.Errorf("error %v", err)
	}
}

// A stopped stream stops its sender and lets the receiver see the stream end by itself, as
// when a link drops: a resumable receive then keeps what it got. It is not signalled with it.
func TestStoppedPipeLetsTheReceiverEnd(t *testing.T) {
	for _, remote := range []string{"", "receiver", "sender"} {
		l := newPipeLab(t, compressible(64<<10))
		t.Setenv("FAKE_SEND_HANG", "1")
		ex := &Executor{Sender: l.local, Receiver: l.local, Log: l.log}
		switch remote {
		case "receiver":
			ex.Receiver = l.remote()
		case "sender":
			ex.Sender = l.remote()
		}
		send, _ := zfs.NewFullSend("tank/a@zfs-vm:a:1")
		recv, _ := zfs.NewReceive("backup/a", "")
		ctx, cancel := context.WithTimeoutCause(t.Context(), 500*time.Millisecond, errors.New("test over"))
		start := time.Now()
		_, err := ex.pipe(ctx, send, recv, nil)
		cancel()
		var stopped *StoppedError
		if !errors.As(err, &stopped) || !strings.Contains(err.Error(), "stopped: test over") {
			t.Errorf("remote %s: error %v", remote, err)
		}
		if took := time.Since(start); took > ReceiverGrace {
			t.Errorf("remote %s: took %v", remote, took)
		}
		if end, _ := os.ReadFile(l.out + ".end"); string(end) != "stream ended\n" {
			t.Errorf("remote %s: the receiver did not see its stream end (it was signalled)", remote)
		}
		if got := l.received(); !bytes.Equal(got, compressible(64<<10)) {
			t.Errorf("remote %s: the receiver kept %d bytes, not the %d sent before the stop", remote, len(got), 64<<10)
		}
	}
}

// A pull refuses a stream that is not the one dataset's stream its receive options were
// chosen for, before zfs receive gets a byte, and stops the sender (which would hang here).
func TestPullRefusesAStreamNotAskedFor(t *testing.T) {
	compound := stream.Header{HeaderType: stream.CompoundStream, PayloadLen: 900, ToName: "tank/a@zfs-vm:a:1"}
	cases := []struct {
		name      string
		header    []byte
		transport Transport
		want      string
	}{
		{"zfs send -R -p", compound.Record(), Transport{}, "a compound stream"},
		{"zfs send -R -p, compressed and rate-limited", compound.Record(), Transport{Compress: "zstd", RateLimit: 8 << 20}, "a compound stream"},
		{"zfs send -R -p, rate-limited", compound.Record(), Transport{RateLimit: 8 << 20}, "a compound stream"},
		{"a volume for a filesystem", sendHeader(stream.Volume, 0), Transport{}, "a volume stream where a filesystem stream was expected"},
		{"a clone stream without an origin", sendHeader(stream.Filesystem, stream.FlagClone), Transport{}, "a clone stream where no origin was given"},
		{"a filesystem for a volume", sendHeader(stream.Filesystem, 0), Transport{}, "a filesystem stream where a volume stream was expected"},
		{"not a stream", []byte(strings.Repeat("#!/bin/sh\n", 40)), Transport{}, "not a zfs send stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newPipeLab(t, compressible(64<<10))
			os.WriteFile(os.Getenv("FAKE_SEND_HEADER"), c.header, 0o644)
			if c.transport.Compress == "" {
				t.Setenv("FAKE_SEND_HANG", "1") // zstd would hold a hanging sender's bytes back
			}
			ex := &Executor{Sender: l.remote(), Receiver: l.local, Transport: c.transport}
			start := time.Now()
			ex.Log = l.log
			send, _ := zfs.NewFullSend("tank/a@zfs-vm:a:1")
			recv, _ := zfs.NewReceive("backup/a", "")
			if strings.Contains(c.name, "for a volume") {
				recv = recv.WithProps(zfs.ReceiveProps{Volume: true, New: true})
			}
			err := within(t, 2*zfs.StopDelay+5*time.Second, func() error {
				_, err := ex.pipe(t.Context(), send, recv, nil)
				return err
			})
			var refused *StreamRefusedError
			if !errors.As(err, &refused) || !strings.HasPrefix(err.Error(), "refused the stream from peer: "+c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v", err)
			}
			if got, _ := os.ReadFile(l.out); len(got) != 0 {
				t.Errorf("zfs receive got %d bytes", len(got))
			}
			// Held back by the gate, zfs receive is not even started.
			gated := c.transport.RateLimit == 0 || c.transport.Compress != ""
			if _, err := os.Stat(l.out); gated && stream.CanPeek && err == nil {
				t.Errorf("zfs receive ran")
			}
			if took := time.Since(start); took > zfs.StopDelay {
				t.Errorf("took %v: the sender was not stopped", took)
			}
		})
	}
}

// A pull of a run of versions (zfs send -I, which writes a compound stream) takes the
// stream when its header lists the one filesystem asked for, and refuses a replication
// stream (-R), or one with the sender's properties or holds, before zfs receive gets a byte.
// The heads of streams are zfs/stream's fixtures, real captures among them: of a compound
// one, the head alone is sent (it is cut inside a record, which the walk of its records
// finds, and passes on without a refusal).
func TestPullOfARunChecksTheCompoundHeader(t *testing.T) {
	for _, verdict := range []string{"accept", "refuse"} {
		files, _ := filepath.Glob(filepath.Join("..", "zfs", "stream", "testdata", "compound", verdict, "*"))
		if len(files) < 4 {
			t.Fatalf("%d fixtures in %s", len(files), verdict)
		}
		for _, f := range files {
			t.Run(verdict+"/"+filepath.Base(f), func(t *testing.T) {
				head, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				h, err := stream.Parse(head)
				if err != nil {
					t.Fatal(err)
				}
				body := compressible(64 << 10)
				if h.Compound() {
					body = nil
				}
				l := newPipeLab(t, body)
				os.WriteFile(os.Getenv("FAKE_SEND_HEADER"), head, 0o644)
				ex := &Executor{Sender: l.remote(), Receiver: l.local, Log: l.log}
				send, _ := zfs.NewIncrementalSend("tank/a@zfs-vm:a:1", "tank/a@zfs-vm:a:3", true)
				recv, _ := zfs.NewReceive("backup/a", "")
				_, err = ex.pipe(t.Context(), send, recv, nil)
				var refused *StreamRefusedError
				got, _ := os.ReadFile(l.out)
				switch {
				case verdict == "accept" && !h.Compound() && (err != nil || !bytes.Equal(l.received(), body)):
					t.Errorf("error %v, or the stream changed on its way", err)
				case verdict == "accept" && h.Compound() && (errors.As(err, &refused) || len(got) <= len(head)-stream.RecordSize || !bytes.HasPrefix(head, got)):
					t.Errorf("error %v, zfs receive got %d of %d bytes", err, len(got), len(head))
				case verdict == "refuse" && (!errors.As(err, &refused) || strings.Contains(err.Error(), "\n")):
					t.Errorf("error %v", err)
				case verdict == "refuse" && len(got) != 0:
					t.Errorf("zfs receive got %d bytes", len(got))
				}
			})
		}
	}
}

// A pull of a run of versions walks the compound stream: a whole run passes byte for byte;
// one with a nested compound stream after its second snapshot's substream is refused there,
// zfs receive gets the two whole substreams before it (and sees its input end), and the
// sender is stopped. A run that does not start or end at the planned snapshots' guids is
// refused. The run is zfs/stream's synthetic fixture (guids 0x1000 to 0x1003).
func TestPullOfARunWalksItsSubstreams(t *testing.T) {
	run := streamtest.Gunzip(t, filepath.Join("..", "zfs", "stream", "testdata", "run", "synthetic-LittleEndian-3subs.zstream.gz"))
	// The end of the second substream: the third starts with a BEGIN naming @v3.
	third := bytes.Index(run, []byte("tank/img/t@v3")) - 56
	nested := append(append(append([]byte(nil), run[:third]...),
		(&stream.Header{HeaderType: stream.CompoundStream, ToName: "tank/img/t@x"}).Record()...), run[len(run)-stream.RecordSize:]...)
	inv := zfstest.Inventory(t, "tank/img/t", "tank/img/t@v0 #4096", "tank/img/t@v1 #4097", "tank/img/t@v2 #4098", "tank/img/t@v3 #4099")
	planned := &Stream{Kind: Incremental, Intermediates: true, From: inv.Snapshot("tank/img/t@v0"), To: inv.Snapshot("tank/img/t@v3")}
	if got := plannedGUIDs(planned); !slices.Equal(got, []uint64{0x1003, 0x1002, 0x1001}) {
		t.Fatalf("planned guids %#x", got)
	}
	// The peer listed a snapshot between v1 and v2 that the stream does not bring.
	inv = zfstest.Inventory(t, "tank/img/t", "tank/img/t@v0 #4096", "tank/img/t@v1 #4097", "tank/img/t@x #9", "tank/img/t@v3 #4099")
	other := &Stream{Kind: Incremental, Intermediates: true, From: inv.Snapshot("tank/img/t@v0"), To: inv.Snapshot("tank/img/t@v3")}
	cases := []struct {
		name    string
		in      []byte
		st      *Stream
		hang    bool
		want    []byte // what zfs receive gets
		refusal string // "" for none
	}{
		{"a whole run", run, planned, false, run, ""},
		{"a nested compound stream", nested, nil, true, run[:third], "a compound stream nested in a run of snapshots (substream 3"},
		{"another base", run, &Stream{Kind: Incremental, Intermediates: true, From: &zfs.Snapshot{GUID: 0x999}, To: &zfs.Snapshot{GUID: 0x1003}}, true, run[:2*stream.RecordSize], "not from the base 0x999"},
		{"a snapshot the plan does not send", run, other, true, run[:bytes.Index(run, []byte("tank/img/t@v2"))-56], "substream 2 (\"tank/img/t@v2\") is of guid 0x1002, not one of the snapshots asked for"},
		{"another last snapshot", run, &Stream{Kind: Incremental, Intermediates: true, From: &zfs.Snapshot{GUID: 0x1000}, To: &zfs.Snapshot{GUID: 0x1002}}, true, run[:third], "follows the last snapshot asked for"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newPipeLab(t, nil)
			os.WriteFile(os.Getenv("FAKE_SEND_HEADER"), c.in, 0o644)
			if c.hang {
				t.Setenv("FAKE_SEND_HANG", "1") // a refusal must stop the sender
			}
			ex := &Executor{Sender: l.remote(), Receiver: l.local, Log: l.log}
			send, _ := zfs.NewIncrementalSend("tank/img/t@v0", "tank/img/t@v3", true)
			recv, _ := zfs.NewReceive("backup/t", "")
			start := time.Now()
			// A sender that hangs unrefused is stopped at the deadline: the case fails, not the run.
			ctx, cancel := context.WithTimeout(t.Context(), 2*zfs.StopDelay)
			defer cancel()
			_, err := ex.pipe(ctx, send, recv, c.st)
			var refused *StreamRefusedError
			switch {
			case c.refusal == "" && err != nil:
				t.Errorf("error %v", err)
			case c.refusal != "" && (!errors.As(err, &refused) || !strings.Contains(err.Error(), c.refusal) || strings.Contains(err.Error(), "\n")):
				t.Errorf("error %v, want a refusal with %q", err, c.refusal)
			}
			if got, _ := os.ReadFile(l.out); !bytes.Equal(got, c.want) {
				t.Errorf("zfs receive got %d bytes, want %d", len(got), len(c.want))
			}
			if took := time.Since(start); took > zfs.StopDelay {
				t.Errorf("took %v: the sender was not stopped", took)
			}
		})
	}
}

// A run walked by the copy that also holds the rate limit (no compression: one pipe) keeps
// to the rate, and passes byte for byte.
func TestPullOfARunAtARateLimit(t *testing.T) {
	run := streamtest.Gunzip(t, filepath.Join("..", "zfs", "stream", "testdata", "run", "synthetic-LittleEndian-3subs.zstream.gz"))
	l := newPipeLab(t, nil)
	os.WriteFile(os.Getenv("FAKE_SEND_HEADER"), run, 0o644)
	const rate = 32 << 10 // a 4 KiB burst, then 32 KiB a second: about 0.85 s for the run
	ex := &Executor{Sender: l.remote(), Receiver: l.local, Log: l.log, Transport: Transport{RateLimit: rate}}
	send, _ := zfs.NewIncrementalSend("tank/img/t@v0", "tank/img/t@v3", true)
	recv, _ := zfs.NewReceive("backup/t", "")
	start := time.Now()
	if _, err := ex.pipe(t.Context(), send, recv, nil); err != nil {
		t.Fatal(err)
	}
	if took, least := time.Since(start), time.Duration(float64(len(run)-4<<10)/rate*float64(time.Second)); took < least {
		t.Errorf("took %v, under the %v the rate allows", took, least)
	}
	if got, _ := os.ReadFile(l.out); !bytes.Equal(got, run) {
		t.Errorf("zfs receive got %d bytes, want the run's %d", len(got), len(run))
	}
}

// within returns f's error, failing the test at once if f has not returned after d (a
// sender that was not stopped would keep it until go test's own timeout).
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
		return nil
	}
}
