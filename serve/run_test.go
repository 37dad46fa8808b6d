package serve

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/stream"
	"github.com/zfs-vm/zfs-vm/zfs/stream/streamtest"
)

// fakeZFS puts testdata/fakebin first in PATH and returns the zfs log and receive file.
func fakeZFS(t *testing.T) (logFile, recvOut string) {
	abs, _ := filepath.Abs("testdata/fakebin")
	t.Setenv("PATH", abs+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	logFile, recvOut = filepath.Join(dir, "log"), filepath.Join(dir, "recv")
	t.Setenv("FAKE_ZFS_LOG", logFile)
	t.Setenv("FAKE_RECV_OUT", recvOut)
	return logFile, recvOut
}

func runLine(t *testing.T, line, stdin string) (status int, stdout, stderr string) {
	t.Helper()
	r, err := policy.Parse(line)
	if err != nil {
		t.Fatalf("refused %q: %v", line, err)
	}
	var out, errb bytes.Buffer
	status = r.Run(context.Background(), policy, Streams{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return status, out.String(), errb.String()
}

// Accepted lines run as the shell would have run them: pipelines connected, a sequence runs
// every command and fails with the last failure's status, a missing command is 127.
func TestRun(t *testing.T) {
	logFile, recvOut := fakeZFS(t)
	l := lines{zfs.Unconnected("b", false)}
	send := must(zfs.NewFullSend("tank/img/t@zfs-vm:d:1"))
	if st, out, _ := runLine(t, l.pipe(zfs.Stage{Argv: send.ReportingArgv()}, zstdC), ""); st != 0 || out != "C:STREAM\n" {
		t.Errorf("send | zstd: %d %q", st, out)
	}
	recv := must(zfs.NewReceive("tank/backup/t", ""))
	fs := string(header(stream.Filesystem, 0))
	if st, _, _ := runLine(t, l.pipe(zstdD, zfs.Stage{Argv: recv.Argv()}), fs+"bytes"); st != 0 {
		t.Errorf("zstd -d | receive: %d", st)
	}
	if b, _ := os.ReadFile(recvOut); string(b) != fs+"bytes:D" {
		t.Errorf("received %q", b)
	}
	seq := l.h.SequenceLine(
		[]string{"zfs", "release", "zfs-vm-base:fail", "tank/img/t@zfs-vm:d:1"},
		[]string{"zfs", "hold", "zfs-vm-base:x", "tank/img/t@zfs-vm:d:2"})
	if st, _, errs := runLine(t, seq, ""); st != 3 || !strings.Contains(errs, "no such tag") {
		t.Errorf("sequence: status %d stderr %q, want 3", st, errs)
	}
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), "zfs hold zfs-vm-base:x tank/img/t@zfs-vm:d:2") {
		t.Errorf("the sequence stopped at its first failure:\n%s", b)
	}
	t.Setenv("PATH", t.TempDir())
	saved := zfs.SetSbinDirs(nil)
	defer zfs.SetSbinDirs(saved)
	if st, _, errs := runLine(t, l.one("zstd", "--version"), ""); st != 127 || !strings.Contains(errs, "zstd: command not found") {
		t.Errorf("missing zstd: %d %q", st, errs)
	}
}

// The listing shows the peer only the allowed datasets.
func TestFilterListing(t *testing.T) {
	in := strings.Join([]string{"tank\tfilesystem", "tank/img\tfilesystem", "tank/img/t@zfs-vm:d:1\tsnapshot",
		"tank/imgs\tfilesystem", "tank/secret@x\tsnapshot", "tank/backup/t\tfilesystem", ""}, "\n")
	var out bytes.Buffer
	filterListing(strings.NewReader(in), &out, policy, -1)
	want := "tank/img\tfilesystem\ntank/img/t@zfs-vm:d:1\tsnapshot\ntank/backup/t\tfilesystem\n"
	if out.String() != want {
		t.Errorf("listing shown:\n%s\nwant:\n%s", out.String(), want)
	}
}

// A clone whose origin is outside the allowed datasets is listed with origin "-", as zfs
// lists a dataset that is not a clone; every other byte of every line stays, and the peer
// reads the result as a consistent inventory in which that clone has no origin.
func TestFilterListingHidesOriginsOutside(t *testing.T) {
	in, err := os.ReadFile("testdata/clone-listing.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	filterListing(bytes.NewReader(in), &out, policy, originColumn(zfs.ListArgs()))
	var want []string
	for _, line := range strings.Split(strings.TrimSuffix(string(in), "\n"), "\n") {
		name, _, _ := strings.Cut(line, "\t")
		switch {
		case !policy.Listed(name):
		case name == "tank/img/clone":
			want = append(want, strings.Replace(line, "\ttank/secret@zfs-vm:tmpl:1\t", "\t-\t", 1))
		case name == "tank/img/c3": // the look-alike tank/imgs is not tank/img
			want = append(want, strings.Replace(line, "\ttank/imgs@x\t", "\t-\t", 1))
		default:
			want = append(want, line)
		}
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("listing shown:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
	inv, err := zfs.ParseList(&out)
	if err != nil {
		t.Fatalf("the peer refuses the listing: %v", err)
	}
	if d := inv.Dataset("tank/img/clone"); d == nil || d.OriginName != "" {
		t.Errorf("clone of a hidden origin: %+v", d)
	}
	if d := inv.Dataset("tank/img/c2"); d == nil || d.OriginName != "tank/img/t@zfs-vm:d:1" {
		t.Errorf("clone of a shown origin: %+v", d)
	}
}

// The origin column is found by position in the listing asked for: the column lists' own,
// none in the names-only listing.
func TestOriginColumn(t *testing.T) {
	for name, c := range map[string]struct {
		argv []string
		want int
	}{
		"listing":          {zfs.ListArgs(), 4},
		"dataset listing":  {zfs.DatasetListArgs(), 4},
		"snapshot listing": {zfs.SnapshotListArgs("tank/img/t"), 4},
		"names only":       {zfs.TagNamesArgs(), -1},
		"no -o":            {[]string{"zfs", "list"}, -1},
		"origin first":     {[]string{"zfs", "list", "-o", "origin,name"}, 0},
	} {
		if got := originColumn(c.argv); got != c.want {
			t.Errorf("%s: column %d, want %d", name, got, c.want)
		}
	}
	line := "tank/img/x\tsnapshot" // no origin column: untouched
	if got := hideOrigin(line, 4, policy); got != line {
		t.Errorf("short line rewritten: %q", got)
	}
	if got := hideOrigin("tank/secret@a\ttank/img/x", 0, policy); got != "-\ttank/img/x" {
		t.Errorf("first column: %q", got)
	}
	if got := hideOrigin("tank/img/x\ttank/secret@a", 1, policy); got != "tank/img/x\t-" {
		t.Errorf("last column: %q", got)
	}
}

// serve's listing goes through the filter with the columns of the listing the peer asked for.
func TestRunListingHidesOriginsOutside(t *testing.T) {
	fakeZFS(t)
	abs, _ := filepath.Abs("testdata/clone-listing.txt")
	t.Setenv("FAKE_LIST", abs)
	l := lines{zfs.Unconnected("b", false)}
	for _, args := range [][]string{zfs.ListArgs(), zfs.DatasetListArgs()} {
		st, out, errs := runLine(t, l.one(args...), "")
		if st != 0 || strings.Contains(out, "tank/secret") || !strings.Contains(out, "tank/img/clone\tfilesystem\t5\t5\t-\t0\t0\t0\t/srv/my mountpoint\t") {
			t.Errorf("%v: status %d stderr %q, shown:\n%s", args, st, errs, out)
		}
	}
}

// A receive without property options is accepted into an existing volume only: zfs-vm sends
// it for nothing else, and into anything else it would take the stream's mountpoint.
func TestAcceptBareReceive(t *testing.T) {
	logFile, _ := fakeZFS(t)
	t.Setenv("FAKE_VOLUMES", "tank/backup/vol")
	t.Setenv("FAKE_FILESYSTEMS", "tank/backup/fs")
	l := lines{zfs.Unconnected("b", false)}
	bare := func(ds string) string {
		return l.pipe(zstdD, zfs.Stage{Argv: must(zfs.NewReceive(ds, "")).WithProps(zfs.ReceiveProps{Volume: true}).Argv()})
	}
	ctx := context.Background()
	if _, err := policy.Accept(ctx, bare("tank/backup/vol")); err != nil {
		t.Errorf("into a volume: %v", err)
	}
	for ds, why := range map[string]string{
		"tank/backup/fs":  "zfs receive without property options into tank/backup/fs, which is a filesystem, not a volume",
		"tank/backup/new": "zfs receive without property options into tank/backup/new, which is not an existing volume (zfs get",
	} {
		if _, err := policy.Accept(ctx, bare(ds)); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("into %s: got %v, want refusal with %q", ds, err, why)
		}
	}
	os.Remove(logFile)
	withProps := l.one(must(zfs.NewReceive("tank/backup/new", "")).WithProps(zfs.ReceiveProps{New: true}).Argv()...)
	if _, err := policy.Accept(ctx, withProps); err != nil {
		t.Errorf("a new filesystem: %v", err)
	}
	if b, _ := os.ReadFile(logFile); len(b) != 0 {
		t.Errorf("asked zfs about a receive with property options: %s", b)
	}
}

// header is the first record of a stream of a dataset of type typ.
func header(typ stream.ObjsetType, flags uint32) []byte {
	h := stream.Header{HeaderType: stream.Substream, Type: typ, Flags: flags, ToGUID: 7, ToName: "tank/img/t@zfs-vm:d:1"}
	return h.Record()
}

// A receive checks the (decompressed) stream before zfs receive runs: a compound stream
// into a volume, another dataset type than the options were chosen for, or a clone stream
// without -o origin= is refused with one line, and zfs receive never starts.
func TestRunRefusesAStreamNotAskedFor(t *testing.T) {
	l := lines{zfs.Unconnected("b", false)}
	recv := must(zfs.NewReceive("tank/backup/t", ""))
	fsNew := recv.WithProps(zfs.ReceiveProps{New: true})
	volNew := recv.WithProps(zfs.ReceiveProps{Volume: true, New: true})
	compound := stream.Header{HeaderType: stream.CompoundStream, PayloadLen: 900, ToName: "tank/img/t@zfs-vm:d:1"}
	cases := []struct {
		name   string
		recv   zfs.ReceiveArgs
		header []byte
		want   string // "" to accept
	}{
		{"a filesystem's stream", fsNew, header(stream.Filesystem, 0), ""},
		{"a volume's stream", volNew, header(stream.Volume, 0), ""},
		{"zfs send -R -p for a volume", volNew, compound.Record(), "a compound stream"},
		{"a filesystem for a volume", volNew, header(stream.Filesystem, 0), "a filesystem stream where a volume stream was expected"},
		{"a clone stream without an origin", fsNew, header(stream.Filesystem, stream.FlagClone), "a clone stream where no origin was given"},
	}
	// A pushing zfs-vm sends runs of versions with -I, which zfs send writes as a compound
	// stream: into a filesystem it is received, under the -x options serve checked, when its
	// header lists one filesystem without properties; a replication stream (-R) is refused.
	for _, verdict := range []string{"accept", "refuse"} {
		files, _ := filepath.Glob(filepath.Join("..", "zfs", "stream", "testdata", "compound", verdict, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || len(files) < 4 {
				t.Fatalf("%d fixtures in %s: %v", len(files), verdict, err)
			}
			want := map[string]string{"accept": "", "refuse": "a "}[verdict]
			cases = append(cases, struct {
				name   string
				recv   zfs.ReceiveArgs
				header []byte
				want   string
			}{filepath.Base(f) + " for a filesystem", fsNew, b, want})
		}
	}
	for _, c := range cases {
		for _, pipe := range []bool{false, true} {
			logFile, recvOut := fakeZFS(t)
			line := l.pipe(zfs.Stage{Argv: c.recv.Argv()})
			if pipe {
				line = l.pipe(zstdD, zfs.Stage{Argv: c.recv.Argv()})
			}
			// The head of a run's compound stream is cut inside a record: it goes alone, and
			// its walk passes all but the cut record on (stream.Walk).
			rest, whole := "the rest", c.header
			if h, err := stream.Parse(c.header); err == nil && h.Compound() {
				rest, whole = "", c.header[:len(c.header)-stream.RecordSize]
			}
			st, _, errs := runLine(t, line, string(c.header)+rest)
			got, _ := os.ReadFile(recvOut)
			zlog, _ := os.ReadFile(logFile)
			switch {
			case c.want == "" && (st != 0 || !bytes.HasPrefix(got, whole)):
				t.Errorf("%s (zstd %v): status %d, %q, received %d bytes", c.name, pipe, st, errs, len(got))
			case c.want != "" && (st != 1 || !strings.HasPrefix(errs, "zfs-vm serve: refused the stream: "+c.want)):
				t.Errorf("%s (zstd %v): status %d, stderr %q", c.name, pipe, st, errs)
			case c.want != "" && (strings.Contains(string(zlog), "zfs receive") || got != nil || strings.Count(errs, "\n") != 1):
				t.Errorf("%s (zstd %v): zfs receive ran (log %q, received %d bytes) or not one line: %q", c.name, pipe, zlog, len(got), errs)
			}
		}
	}
}

// A pushed run of versions (zfs send -I) is walked substream by substream: a whole run
// passes byte for byte; one with a nested compound stream after its second substream is
// refused there, with one line on stderr and status 1, zfs receive having got the two whole
// substreams before it and seen its input end; one that brings a snapshot the target has
// (by guid) is refused too. The run is zfs/stream's synthetic fixture.
func TestRunWalksAPushedRun(t *testing.T) {
	l := lines{zfs.Unconnected("b", false)}
	recv := must(zfs.NewReceive("tank/backup/t", "")).WithProps(zfs.ReceiveProps{New: true})
	run := streamtest.Gunzip(t, filepath.Join("..", "zfs", "stream", "testdata", "run", "synthetic-BigEndian-3subs.zstream.gz"))
	third := bytes.Index(run, []byte("tank/img/t@v3")) - 56 // where the third substream's BEGIN starts
	nested := slices.Concat(run[:third], (&stream.Header{HeaderType: stream.CompoundStream, ToName: "tank/img/t@x"}).Record(), run[len(run)-stream.RecordSize:])
	for _, pipe := range []bool{false, true} {
		line := l.pipe(zfs.Stage{Argv: recv.Argv()})
		if pipe {
			line = l.pipe(zstdD, zfs.Stage{Argv: recv.Argv()})
		}
		_, recvOut := fakeZFS(t)
		if st, _, errs := runLine(t, line, string(run)); st != 0 || errs != "" {
			t.Errorf("a whole run (zstd %v): status %d, %q", pipe, st, errs)
		}
		if got, _ := os.ReadFile(recvOut); !bytes.Equal(got, run) {
			t.Errorf("a whole run (zstd %v): received %d of %d bytes, or others", pipe, len(got), len(run))
		}
		// The target has the run's second snapshot (guid 0x1002) already.
		list := filepath.Join(t.TempDir(), "guids")
		os.WriteFile(list, []byte("4096\n4098\n"), 0o644)
		t.Setenv("FAKE_LIST", list)
		st, _, errs := runLine(t, line, string(run))
		if want := "zfs-vm serve: refused the stream: substream 2 (\"tank/img/t@v2\") is of guid 0x1002, a snapshot the target has already\n"; st != 1 || errs != want {
			t.Errorf("a snapshot the target has (zstd %v): status %d, stderr %q", pipe, st, errs)
		}
		t.Setenv("FAKE_LIST", "")
		st, _, errs = runLine(t, line, string(nested))
		if want := "zfs-vm serve: refused the stream: a compound stream nested in a run of snapshots (substream 3, \"tank/img/t@x\")\n"; st != 1 || errs != want {
			t.Errorf("a nested compound stream (zstd %v): status %d, stderr %q", pipe, st, errs)
		}
		if got, _ := os.ReadFile(recvOut); !bytes.Equal(got, run[:third]) {
			t.Errorf("a nested compound stream (zstd %v): received %d bytes, want the %d of two whole substreams", pipe, len(got), third)
		}
		// Without the target's snapshots a run cannot be checked: the receive is refused.
		os.Remove(recvOut)
		t.Setenv("FAKE_LIST", filepath.Join(t.TempDir(), "unreadable"))
		st, _, errs = runLine(t, line, string(run))
		if want := "cannot list the snapshots of the target tank/backup/t"; st != 1 || !strings.Contains(errs, want) {
			t.Errorf("a listing that fails (zstd %v): status %d, stderr %q", pipe, st, errs)
		}
		if _, err := os.Stat(recvOut); err == nil {
			t.Errorf("a listing that fails (zstd %v): zfs receive ran", pipe)
		}
		t.Setenv("FAKE_LIST", "")
	}
}

// serve expects of a receive line exactly what zfs-vm expects of the receive it built.
func TestReceiveExpectMatchesTheReceive(t *testing.T) {
	for _, origin := range []string{"", "tank/backup/t@zfs-vm:d:1"} {
		recv := must(zfs.NewReceive("tank/backup/c", origin))
		for _, p := range allReceiveProps() {
			r := recv.WithProps(p)
			// Range is the sender's choice, which serve cannot see: it allows a run into
			// every filesystem.
			got, want := receiveExpect(r.Argv()), r.Expects()
			want.Range = want.Type == stream.Filesystem
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%v: serve expects %+v, zfs-vm %+v", r.Argv(), got, want)
			}
		}
	}
}

// A zfs send -t (a stream or an estimate) is accepted only if the snapshot the token names,
// below --allow-send, has the token's guid: libzfs sends the snapshot with that guid, looked
// up from the named one up to the pool's root, and a forged token could name an allowed
// snapshot with the guid of another outside.
func TestAcceptResumeOnlyOfItsOwnSnapshot(t *testing.T) {
	logFile, _ := fakeZFS(t)
	tok := must(zfs.ParseResumeToken(tokenSrc)) // tk/src@b
	guid := fmt.Sprint(tok.ToGUID)
	resume := must(zfs.NewResumeSend(tokenSrc))
	l := lines{zfs.Unconnected("b", true)}
	send, estimate := l.pipe(zfs.Stage{Argv: resume.ReportingArgv()}, zstdC), l.one(resume.EstimateArgv()...)
	listing := filepath.Join(t.TempDir(), "list")
	t.Setenv("FAKE_LIST", listing)
	ctx := context.Background()
	for name, c := range map[string]struct {
		list string
		want string // "" to accept
	}{
		"honest":                 {"tk/src@a\t5\ntk/src@b\t" + guid + "\ntank/img/t@x\t6\n", ""},
		"the guid twice, inside": {"tank/img/copy@b\t" + guid + "\ntk/src@b\t" + guid + "\n", ""},
		// The fake lists the whole pool: serve believes no line outside the roots.
		"the guid outside": {"tank/secret@x\t" + guid + "\ntk/src@b\t5\n", "no snapshot below --allow-send has the resume token's guid"},
		"an unknown guid":  {"tk/src@a\t5\ntk/src@b\t6\n", "no snapshot below --allow-send has the resume token's guid"},
		"another's guid":   {"tk/src@a\t" + guid + "\ntk/src@b\t6\n", "the resume token's guid is not its snapshot tk/src@b's"},
		"its name gone":    {"tk/src@renamed\t" + guid + "\n", "the resume token's guid is not its snapshot tk/src@b's"},
		"a name too long":  {strings.Repeat("x", 70*1024) + "\t" + guid + "\n", "no snapshot below --allow-send"},
	} {
		if err := os.WriteFile(listing, []byte(c.list), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{send, estimate} {
			os.Remove(logFile)
			_, err := policy.Accept(ctx, line)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s: refused: %v", name, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n")):
				t.Errorf("%s: got %v, want one line with %q", name, err, c.want)
			}
			want := "zfs list -H -p -t snapshot -o name,guid -r tank/img tk/src\n"
			if b, _ := os.ReadFile(logFile); string(b) != want {
				t.Errorf("%s: zfs ran %q, want the one listing %q", name, b, want)
			}
		}
	}
	t.Setenv("FAKE_LIST", filepath.Join(t.TempDir(), "missing"))
	if _, err := policy.Accept(ctx, send); err == nil || !strings.Contains(err.Error(), "(zfs list: exit status 1)") {
		t.Errorf("a failed listing: %v", err)
	}
}

// holdsOutput is what `zfs holds -H` of two snapshots prints on a host that several clients
// replicate with, with lines no zfs prints mixed in.
const holdsOutput = "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:backup:tank/bk\tSat Nov 28 16:40 2026\n" +
	"tank/img/t@zfs-vm:d:1\tzfs-vm-base:build3:mirror:tank/m\tSat Nov 28 16:41 2026\n" +
	"tank/img/t@zfs-vm:d:1\tzfs-vm\tSat Nov 28 16:42 2026\n" +
	"tank/img/t@zfs-vm:d:1\tkeep\tSat Nov 28 16:43 2026\n" +
	"tank/img/t@zfs-vm:d:2\tzfs-vm-base:build1\tSat Nov 28 16:44 2026\n" +
	"tank/img/t@zfs-vm:d:2\tzfs-vm-base:build3\tSat Nov 28 16:45 2026\n" +
	"tank/img/t@zfs-vm:d:2\tzfs-vm-base:build10:x:tank/bk\tSat Nov 28 16:46 2026\n"

// With --hold-peer, `zfs holds` shows the client only the holds it may move: its own
// "zfs-vm-base:NAME:…" tags and its legacy "zfs-vm-base:NAME", which is all zfs-vm reads
// there (replicate's MigrateHolds). Other clients' tags, which name their hosts and peers,
// and lines not of zfs's form are dropped.
func TestFilterHolds(t *testing.T) {
	restricted := Policy{Send: []string{"tank/img"}, HoldPeers: []string{"build1"}}
	asked := []string{"zfs", "holds", "-H", "tank/img/t@zfs-vm:d:1", "tank/img/t@zfs-vm:d:2"}
	cases := []struct{ name, in, want string }{
		{"mixed", holdsOutput,
			"tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:backup:tank/bk\tSat Nov 28 16:40 2026\n" +
				"tank/img/t@zfs-vm:d:2\tzfs-vm-base:build1\tSat Nov 28 16:44 2026\n"},
		{"no holds", "", ""},
		{"two columns", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:b:\n", ""},
		{"four columns", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:b:\tx\ty\n", ""},
		{"a tab in the tag", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:b\tc\tSat\n", ""},
		{"empty timestamp", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:b:\t\n", ""},
		{"a snapshot not asked for", "tank/img/t@zfs-vm:d:3\tzfs-vm-base:build1:b:\tSat\n", ""},
		{"a dataset", "tank/img/t\tzfs-vm-base:build1:b:\tSat\n", ""},
		{"no newline at the end", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:b:\tSat", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:b:\tSat\n"},
		{"a carriage return", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:b:\tSat\r\n", ""},
		{"a line too long", "tank/img/t@zfs-vm:d:1\tzfs-vm-base:build1:" + strings.Repeat("x", 2<<20) + "\tSat\n" +
			"tank/img/t@zfs-vm:d:2\tzfs-vm-base:build1:b:\tSat\n", ""},
	}
	for _, c := range cases {
		var out bytes.Buffer
		filterHolds(strings.NewReader(c.in), &out, restricted, asked)
		if out.String() != c.want {
			t.Errorf("%s: shown\n%q\nwant\n%q", c.name, out.String(), c.want)
		}
	}
}

// serve runs `zfs holds` through that filter with --hold-peer, and passes it as it is
// without (the key may move every zfs-vm-base: tag then).
func TestRunHoldsFiltered(t *testing.T) {
	fakeZFS(t)
	f := filepath.Join(t.TempDir(), "holds")
	if err := os.WriteFile(f, []byte(holdsOutput), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_HOLDS", f)
	l := lines{zfs.Unconnected("b", false)}
	line := l.one("zfs", "holds", "-H", "tank/img/t@zfs-vm:d:1", "tank/img/t@zfs-vm:d:2")
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{Send: []string{"tank/img"}, HoldPeers: []string{"build3"}},
			"tank/img/t@zfs-vm:d:1\tzfs-vm-base:build3:mirror:tank/m\tSat Nov 28 16:41 2026\n" +
				"tank/img/t@zfs-vm:d:2\tzfs-vm-base:build3\tSat Nov 28 16:45 2026\n"},
		{Policy{Send: []string{"tank/img"}}, holdsOutput},
	} {
		r, err := c.p.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		st := r.Run(context.Background(), c.p, Streams{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
		if st != 0 || out.String() != c.want {
			t.Errorf("hold peers %v: status %d stderr %q, shown\n%s\nwant\n%s", c.p.HoldPeers, st, errb.String(), out.String(), c.want)
		}
	}
}

// A run's receive holds its target's lock until it ends: a second connection receiving a run
// into the same target meanwhile (which could bring a snapshot the first one's list of the
// target's snapshots does not have) is refused before zfs receive starts; once the first
// ends, the target is free.
func TestRunLocksItsTarget(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	l := lines{zfs.Unconnected("b", false)}
	recv := must(zfs.NewReceive("tank/backup/t", "")).WithProps(zfs.ReceiveProps{New: true})
	run := streamtest.Gunzip(t, filepath.Join("..", "zfs", "stream", "testdata", "run", "synthetic-BigEndian-3subs.zstream.gz"))
	dir, err := lock.PrivateDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, pipe := range []bool{false, true} {
		line := l.pipe(zfs.Stage{Argv: recv.Argv()})
		if pipe {
			line = l.pipe(zstdD, zfs.Stage{Argv: recv.Argv()})
		}
		_, recvOut := fakeZFS(t)
		other, err := lock.TryAcquire(dir, receiveLockName("tank/backup/t"))
		if err != nil {
			t.Fatal(err)
		}
		st, _, errs := runLine(t, line, string(run))
		if want := "zfs-vm serve: refused the stream: another receive into tank/backup/t is running\n"; st != 1 || errs != want {
			t.Errorf("while another receive runs (zstd %v): status %d, stderr %q; want %q", pipe, st, errs, want)
		}
		if _, err := os.Stat(recvOut); err == nil {
			t.Errorf("while another receive runs (zstd %v): zfs receive ran", pipe)
		}
		other.Release()
		if st, _, errs := runLine(t, line, string(run)); st != 0 || errs != "" {
			t.Errorf("once it ended (zstd %v): status %d, %q", pipe, st, errs)
		}
	}
	if receiveLockName("tank/a_b") == receiveLockName("tank/a/b") {
		t.Error("two targets share a lock")
	}
}
