package stream

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The heads of streams in testdata/compound: accept/ holds streams a pull of a run of
// snapshots (zfs send -I) must take, refuse/ those it must refuse. Each file is the start
// of a stream (its first record and, for a compound stream, the whole header after it; the
// rest may be cut), so that a capture from real ZFS is a file drop:
//
//	zfs send -I @a pool/fs@c | head -c 1048576 > accept/openzfs-2.3-I.zstream
//	zfs send -R -I @a pool/fs@c | head -c 1048576 > refuse/openzfs-2.3-R-I.zstream
//
// The synthetic-* files are written by TestWriteCompoundFixtures from the test encoder.
func TestAdmitCompoundFixtures(t *testing.T) {
	want := Expect{Type: Filesystem, Range: true}
	for _, verdict := range []string{"accept", "refuse"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "compound", verdict, "*"))
		if len(files) < 4 {
			t.Fatalf("%d fixtures in testdata/compound/%s", len(files), verdict)
		}
		for _, f := range files {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, err = Admit(&out, bytes.NewReader(in), want)
			var refused *RefusedError
			switch {
			case verdict == "accept" && (err != nil || !bytes.Equal(out.Bytes(), in[:RecordSize])):
				t.Errorf("%s: err %v, passed %d bytes on", f, err, out.Len())
			case verdict == "refuse" && (!errors.As(err, &refused) || out.Len() != 0 || strings.Contains(err.Error(), "\n")):
				t.Errorf("%s: err %v, passed %d bytes on", f, err, out.Len())
			default:
				t.Logf("%s: %v", f, err)
			}
		}
	}
}

// A compound stream's header arrives whole or not at all; its size is bounded before it is
// read.
func TestAdmitCompoundHeaderBounds(t *testing.T) {
	payload := header{fsCount: 1}.pack()
	for _, o := range orders {
		r := good(o)
		r.hdrType = CompoundStream
		cases := map[string]struct {
			size uint32
			body []byte
			want string
		}{
			"cut short":    {uint32(len(payload)), payload[:40], "ends 40 bytes into its"},
			"a huge one":   {MaxCompoundHeader + 1, payload, "zfs-vm reads at most"},
			"size too big": {uint32(len(payload)) + 4, append(payload, 0, 0, 0, 0), "cannot read: 4 bytes after the nvlist"},
			"not XDR":      {8, make([]byte, 8), "cannot read: nvlist encoding 0 is not XDR"},
		}
		for name, c := range cases {
			r.payloadLen = c.size
			var out bytes.Buffer
			_, err := Admit(&out, bytes.NewReader(append(r.bytes(), c.body...)), Expect{Type: Filesystem, Range: true})
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), c.want) || out.Len() != 0 {
				t.Errorf("%v %s: err %v, %d bytes passed on; want %q", o, name, err, out.Len(), c.want)
			}
		}
	}
}

// TestWriteCompoundFixtures writes the synthetic fixtures and the fuzz seed corpus, when
// ZFSVM_WRITE_FIXTURES is set.
func TestWriteCompoundFixtures(t *testing.T) {
	if os.Getenv("ZFSVM_WRITE_FIXTURES") == "" {
		t.Skip("set ZFSVM_WRITE_FIXTURES=1 to rewrite testdata/compound and the fuzz seeds")
	}
	heads := map[string]header{
		// A header CheckRange passes is refused all the same: zfs send -I writes none.
		"refuse/synthetic-I-header": {fsCount: 1},
		// Larger than a pipe's buffer: a refusal must not wait on zfs receive to read.
		"refuse/synthetic-I-header-600-snapshots": {fsCount: 1, snaps: 600},
		"refuse/synthetic-R":                      {fsCount: 3, recursive: true, props: true},
		"refuse/synthetic-R-one-filesystem":       {fsCount: 1, recursive: true, props: true},
		"refuse/synthetic-I-p":                    {fsCount: 1, props: true},
		"refuse/synthetic-I-h":                    {fsCount: 1, holds: true},
	}
	for name, h := range heads {
		payload := h.pack()
		for _, o := range orders {
			r := good(o)
			r.hdrType, r.payloadLen = CompoundStream, uint32(len(payload))
			b := append(append(r.bytes(), payload...), good(o).bytes()...) // then a substream
			write(t, filepath.Join("testdata", "compound", fmt.Sprintf("%s-%s.zstream", name, o)), b)
		}
		if h.snaps > 0 {
			continue // too large a seed
		}
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", payload)
		write(t, filepath.Join("testdata", "fuzz", "FuzzDecodeNVList", filepath.Base(name)), []byte(seed))
	}
	for _, o := range orders { // a plain incremental (zfs send -i) is taken too
		write(t, filepath.Join("testdata", "compound", "accept", fmt.Sprintf("synthetic-i-%s.zstream", o)), good(o).bytes())
		r := good(o) // and zfs send -I's compound stream with its empty header, its END, a substream
		r.hdrType = CompoundStream
		b := cat(r.bytes(), rb{o}.end(), good(o).bytes())
		write(t, filepath.Join("testdata", "compound", "accept", fmt.Sprintf("synthetic-I-empty-header-%s.zstream", o)), b)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
