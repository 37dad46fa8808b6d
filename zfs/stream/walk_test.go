package stream

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs/stream/streamtest"
)

// rb builds the records of a synthetic send stream in one byte order.
type rb struct{ o binary.ByteOrder }

// record is a record of type t with the fields set (offset: value; a uint8 for a byte, else
// by the value's Go type) and drr_payloadlen left 0, as zfs send leaves it.
func (b rb) record(t uint32, fields map[int]any) []byte {
	r := make([]byte, RecordSize)
	b.o.PutUint32(r, t)
	for off, v := range fields {
		switch v := v.(type) {
		case uint8:
			r[off] = v
		case uint32:
			b.o.PutUint32(r[off:], v)
		case uint64:
			b.o.PutUint64(r[off:], v)
		}
	}
	return r
}

// payload is n bytes that are no records.
func payload(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }

func (b rb) compound(ds string) []byte {
	return (&Header{Order: b.o, HeaderType: CompoundStream, ToName: ds + "@c"}).Record()
}

func (b rb) begin(name string, from, to uint64) []byte {
	return (&Header{Order: b.o, HeaderType: Substream, Type: Filesystem, Features: 1, FromGUID: from, ToGUID: to, ToName: name}).Record()
}

func (b rb) end() []byte { return b.record(drrEnd, nil) }

// object is a DRR_OBJECT record with its bonus buffer.
func (b rb) object(bonusLen, rawBonusLen uint32) []byte {
	r := b.record(drrObject, map[int]any{offObjectBonusLen: bonusLen, offObjectRawBonusLen: rawBonusLen})
	size := int(rawBonusLen)
	if size == 0 {
		size = int(roundUp8(uint64(bonusLen)))
	}
	return append(r, payload(size)...)
}

// write is a DRR_WRITE record with its block: compressed when compressed > 0.
func (b rb) write(logical, compressed uint64) []byte {
	f := map[int]any{offWriteLogicalSize: logical}
	size := logical
	if compressed > 0 {
		f[offWriteCompression], f[offWriteCompressed], size = uint8(15), compressed, compressed
	}
	return append(b.record(drrWrite, f), payload(int(size))...)
}

func (b rb) spill(length, compressed uint64) []byte {
	r := b.record(drrSpill, map[int]any{offSpillLength: length, offSpillCompressed: compressed})
	size := compressed
	if size == 0 {
		size = length
	}
	return append(r, payload(int(size))...)
}

func (b rb) embedded(psize uint32) []byte {
	r := b.record(drrWriteEmbed, map[int]any{offEmbedPSize: psize})
	return append(r, payload(int(roundUp8(uint64(psize))))...)
}

// body is a substream's records after its BEGIN, every kind with a payload among them.
func (b rb) body() []byte {
	return cat(b.record(drrObjectRange, nil), b.object(0, 0), b.record(drrFree, nil), b.object(168, 0),
		b.write(4096, 0), b.write(131072, 1000), b.object(168, 320), b.spill(512, 0), b.spill(512, 200),
		b.embedded(13), b.record(drrFreeObjects, nil), b.end())
}

// short is a run of n small substreams, for the fuzzer.
func (b rb) short(n int) []byte {
	out := b.head()
	for i := 1; i <= n; i++ {
		out = append(out, cat(b.begin(fmt.Sprintf("%s@v%d", ds, i), base+uint64(i-1), base+uint64(i)),
			b.object(13, 0), b.write(64, 0), b.embedded(5), b.end())...)
	}
	return append(out, b.end()...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

const (
	ds   = "tank/img/t"
	base = 0x1000 // the guid of the run's base; snapshot i's is base+i
)

// sub is the i-th substream (from 1) of the run on ds.
func (b rb) sub(i int) []byte {
	return cat(b.begin(fmt.Sprintf("%s@v%d", ds, i), base+uint64(i-1), base+uint64(i)), b.body())
}

// head is the package's BEGIN and header END, as zfs send -I writes them (an empty header).
func (b rb) head() []byte { return cat(b.compound(ds), b.end()) }

// run is zfs send -I of n snapshots of ds: the package's head, n substreams, the final END.
func (b rb) run(n int) []byte {
	out := b.head()
	for i := 1; i <= n; i++ {
		out = append(out, b.sub(i)...)
	}
	return append(out, b.end()...)
}

var wantRun = Expect{Type: Filesystem, Range: true}

// A whole run passes byte for byte, in both byte orders, with or without the plan's guids;
// nothing after the final END passes.
func TestWalkPassesARun(t *testing.T) {
	for _, o := range orders {
		b := rb{o}
		in := b.run(3)
		for _, want := range []Expect{wantRun, {Type: Filesystem, Range: true, FromGUID: base, ToGUID: base + 3, Planned: []uint64{base + 3, base + 2, base + 1}}} {
			var out bytes.Buffer
			n, err := Copy(&out, bytes.NewReader(append(in, "trailing bytes"...)), want)
			if err != nil || n != int64(len(in)) || !bytes.Equal(out.Bytes(), in) {
				t.Errorf("%v %+v: err %v, %d bytes of %d passed, equal %v", o, want, err, n, len(in), bytes.Equal(out.Bytes(), in))
			}
		}
	}
}

// The walker sizes payloads as the kernel does, whatever drr_payloadlen says.
func TestWalkFollowsTheKernelsPayloadSize(t *testing.T) {
	for _, o := range orders {
		b := rb{o}
		// A block whose data looks like a nested package is data: drr_payloadlen (0, as
		// zfs send leaves it) is not its size, drr_logical_size is.
		nested := cat(b.compound("tank/other"), b.end())
		w := b.record(drrWrite, map[int]any{offWriteLogicalSize: uint64(len(nested))})
		in := cat(b.head(), b.begin(ds+"@v1", base, base+1), w, nested, b.end(), b.end())
		if _, err := Copy(io.Discard, bytes.NewReader(in), wantRun); err != nil {
			t.Errorf("%v: a block that looks like a package: %v", o, err)
		}
		// A record whose drr_payloadlen claims the BEGIN after it as payload: the kernel reads
		// no payload for it (no bonus buffer), so the BEGIN is the next record.
		obj := b.object(0, 0)
		o.PutUint32(obj[offPayloadLen:], RecordSize)
		in = cat(b.head(), b.begin(ds+"@v1", base, base+1), obj, b.compound("tank/other"), b.end(), b.end())
		var refused *RefusedError
		if _, err := Copy(io.Discard, bytes.NewReader(in), wantRun); !errors.As(err, &refused) || !strings.Contains(err.Error(), "BEGIN record inside") {
			t.Errorf("%v: a BEGIN hidden by drr_payloadlen: %v", o, err)
		}
	}
}

// Each refused stream passes on exactly its good prefix (whole records: whole substreams
// where the bad one is a substream) and not a byte of the bad part.
func TestWalkRefuses(t *testing.T) {
	for _, o := range orders {
		b := rb{o}
		other := binary.ByteOrder(binary.BigEndian)
		if o == binary.BigEndian {
			other = binary.LittleEndian
		}
		sub2 := func(edit func(*Header)) []byte {
			h := &Header{Order: o, HeaderType: Substream, Type: Filesystem, FromGUID: base + 1, ToGUID: base + 2, ToName: ds + "@v2"}
			edit(h)
			return cat(h.Record(), b.body())
		}
		one := cat(b.head(), b.sub(1))
		sub2Begin := b.begin(ds+"@v2", base+1, base+2)
		cases := []struct {
			name      string
			good, bad []byte
			want      Expect
			err       string
		}{
			{"a nested compound stream after the header", b.head(), cat(b.compound(ds), b.end(), b.sub(1), b.end(), b.end()), wantRun, "a compound stream nested"},
			{"a nested compound stream after a substream", one, cat(b.compound(ds), b.end(), b.end()), wantRun, "a compound stream nested"},
			{"a substream of another dataset", one, cat(sub2(func(h *Header) { h.ToName = "tank/other@v2" }), b.end()), wantRun, `"tank/other@v2", not a snapshot of the package's dataset "tank/img/t"`},
			{"a substream of a child dataset", one, cat(sub2(func(h *Header) { h.ToName = ds + "/child@v2" }), b.end()), wantRun, "not a snapshot of the package's dataset"},
			{"a substream without a snapshot name", one, cat(sub2(func(h *Header) { h.ToName = ds }), b.end()), wantRun, "not a snapshot of the package's dataset"},
			{"a broken guid chain", one, cat(sub2(func(h *Header) { h.FromGUID = 0x77 }), b.end()), wantRun, "starts from guid 0x77, not from the previous snapshot's 0x1001"},
			{"a volume substream", one, cat(sub2(func(h *Header) { h.Type = Volume }), b.end()), wantRun, "a volume stream where a filesystem stream was expected"},
			{"a clone substream", one, cat(sub2(func(h *Header) { h.Flags = FlagClone }), b.end()), wantRun, "a clone stream"},
			{"a full substream", one, cat(sub2(func(h *Header) { h.FromGUID = 0 }), b.end()), wantRun, "a full stream"},
			{"a resumed substream", one, cat(sub2(func(h *Header) { h.Features |= FeatureResuming }), b.end()), wantRun, "a resumed stream"},
			{"a BEGIN payload nothing explains", one, cat(sub2(func(h *Header) { h.PayloadLen = 16 }), b.end()), wantRun, "16-byte payload that neither"},
			{"a huge raw BEGIN payload", one, cat(sub2(func(h *Header) { h.PayloadLen, h.Features = 1<<30, FeatureRaw }), b.end()), wantRun, "BEGIN payload (zfs-vm takes at most"},
			{"a substream in the other byte order", one, cat(sub2(func(h *Header) { h.Order = other }), b.end()), wantRun, "other byte order"},
			{"not a BEGIN where a substream starts", one, cat(b.object(0, 0), b.end()), wantRun, "substream 2: not a zfs send stream"},
			{"a BEGIN inside a substream", cat(one, sub2Begin, b.object(168, 0)), cat(sub2Begin, b.end(), b.end()), wantRun, "substream 2 (\"tank/img/t@v2\"): a BEGIN record inside the substream"},
			{"an unknown record type", cat(one, sub2Begin), cat(b.record(42, nil), b.end(), b.end()), wantRun, "a record of unknown type 42"},
			{"a record type past the known ones", cat(one, sub2Begin), cat(b.record(drrRedact+1, nil), b.end(), b.end()), wantRun, "unknown type 11"},
			{"a deduplicated stream's record", cat(one, sub2Begin), cat(b.record(drrWriteByRef, nil), b.end(), b.end()), wantRun, "DRR_WRITE_BYREF"},
			{"a redacted send's record", cat(one, sub2Begin), cat(b.record(drrRedact, nil), b.end(), b.end()), wantRun, "DRR_REDACT"},
			{"a block larger than any", cat(one, sub2Begin), cat(b.record(drrWrite, map[int]any{offWriteLogicalSize: uint64(MaxPayload + 1)}), b.end()), wantRun, "16777217-byte payload"},
			{"a compressed block larger than any", cat(one, sub2Begin), cat(b.record(drrWrite, map[int]any{offWriteCompression: uint8(1), offWriteCompressed: uint64(1 << 40)}), b.end()), wantRun, "payload (at most"},
			{"a bonus buffer whose rounding wraps", cat(one, sub2Begin), cat(b.record(drrObject, map[int]any{offObjectBonusLen: uint32(0xfffffffd)}), b.end()), wantRun, "4294967296-byte payload"},
			{"a spill block larger than any", cat(one, sub2Begin), cat(b.record(drrSpill, map[int]any{offSpillLength: uint64(1 << 32)}), b.end()), wantRun, "payload (at most"},
			{"a header END that is not one", b.compound(ds), cat(b.sub(1), b.end()), wantRun, "not END"},
			{"a package without a snapshot", b.head(), b.end(), wantRun, "without a snapshot"},
			{"another base than the plan's", b.head(), cat(b.sub(1), b.end()), Expect{Type: Filesystem, Range: true, FromGUID: 0x99}, "starts from guid 0x1000, not from the base 0x99"},
			{"a run that ends short of the plan's last", cat(b.head(), b.sub(1), b.sub(2)), b.end(), Expect{Type: Filesystem, Range: true, ToGUID: base + 3}, "ends at \"tank/img/t@v2\""},
			{"a snapshot the plan does not send", one, cat(b.sub(2), b.end()), Expect{Type: Filesystem, Range: true, Planned: []uint64{base + 1, base + 3}}, "is of guid 0x1002, not one of the snapshots asked for"},
			{"a snapshot the target has", one, cat(b.sub(2), b.end()), Expect{Type: Filesystem, Range: true, Existing: []uint64{base, base + 2}}, "is of guid 0x1002, a snapshot the target has already"},
			{"a run past the plan's last", one, cat(b.sub(2), b.end()), Expect{Type: Filesystem, Range: true, ToGUID: base + 1}, "follows the last snapshot asked for"},
			// Each of these would find its snapshot on the target, where libzfs skips it
			// with its own reader (recv_skip), past what Walk checks.
			{"a snapshot of the previous one's guid again", one, cat(sub2(func(h *Header) { h.ToGUID = base + 1 }), b.end()), wantRun, "is of guid 0x1001, a snapshot this run has already brought"},
			{"back to an earlier snapshot of the run", cat(one, b.sub(2)), cat(sub2(func(h *Header) { h.FromGUID, h.ToGUID, h.ToName = base+2, base+1, ds+"@v3" }), b.end()), wantRun, "a snapshot this run has already brought"},
			{"back to the run's base", one, cat(sub2(func(h *Header) { h.ToGUID = base }), b.end()), wantRun, "is of guid 0x1000, a snapshot this run has already brought"},
			{"a name the run brought, with a new guid", one, cat(sub2(func(h *Header) { h.ToName = ds + "@v1" }), b.end()), wantRun, "names a snapshot this run has already brought"},
			{"a peer's name with escapes", one, cat(sub2(func(h *Header) { h.ToName = "tank/\x1b[2Jx@v2" }), b.end()), wantRun, `"tank/\x1b[2Jx@v2"`},
		}
		for _, c := range cases {
			var out bytes.Buffer
			_, err := Copy(&out, bytes.NewReader(cat(c.good, c.bad)), c.want)
			var refused *RefusedError
			switch {
			case !errors.As(err, &refused) || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "\n"):
				t.Errorf("%v %s: got %v, want a refusal with %q", o, c.name, err, c.err)
			case !bytes.Equal(out.Bytes(), c.good):
				t.Errorf("%v %s: passed %d bytes on, want the %d of the good part", o, c.name, out.Len(), len(c.good))
			default:
				t.Logf("%v %s: %v", o, c.name, err)
			}
		}
	}
}

// A stream cut anywhere is passed on up to its last whole record header (and into a payload
// where it ends inside one), and is truncated, not refused: the sender's failure explains it.
func TestWalkTruncated(t *testing.T) {
	for _, o := range orders {
		in := rb{o}.run(2)
		for cut := RecordSize + 1; cut < len(in); cut += 97 {
			var out bytes.Buffer
			_, err := Copy(&out, bytes.NewReader(in[:cut]), wantRun)
			got := out.Len()
			switch {
			case !errors.Is(err, ErrTruncated) || errors.As(err, new(*RefusedError)):
				t.Errorf("%v cut at %d: %v", o, cut, err)
			case got > cut || got <= cut-RecordSize || !bytes.Equal(out.Bytes(), in[:got]):
				t.Errorf("%v cut at %d: passed %d bytes on", o, cut, got)
			}
		}
	}
}

// The heads of real streams in testdata/compound/accept (8 KiB of zfs send -I and -w -I on
// OpenZFS 2.1 and 2.3) are walked without a refusal: the payload sizes find their records.
func TestWalkRealHeads(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "compound", "accept", "openzfs-*-I.zstream"))
	if len(files) < 4 {
		t.Fatalf("%d real heads", len(files))
	}
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, err := Copy(&out, bytes.NewReader(in), wantRun)
		if !errors.Is(err, ErrTruncated) || n < int64(len(in))-RecordSize || !bytes.Equal(out.Bytes(), in[:n]) {
			t.Errorf("%s: %d of %d bytes passed, %v", f, n, len(in), err)
		}
	}
}

var subsInName = regexp.MustCompile(`-(\d+)subs\.zstream\.gz$`)

// Whole zfs send -I streams in testdata/run (gzipped; the number of substreams in the
// name: …-3subs.zstream.gz) pass byte for byte, with that many substreams:
//
//	zfs send -I @a pool/fs@d | gzip > testdata/run/openzfs-2.3-I-3subs.zstream.gz
func TestWalkRuns(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "run", "*.zstream.gz"))
	if len(files) == 0 {
		t.Log("no streams in testdata/run: nothing walked")
		t.Skip("no streams in testdata/run")
	}
	for _, f := range files {
		m := subsInName.FindStringSubmatch(f)
		if m == nil {
			t.Errorf("%s: no -Nsubs in the name", f)
			continue
		}
		subs, _ := strconv.Atoi(m[1])
		in := streamtest.Gunzip(t, f)
		var out bytes.Buffer
		h, err := Admit(&out, bytes.NewReader(in), wantRun)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		w, err := walk(&out, bytes.NewReader(in[RecordSize:]), h, wantRun)
		if err != nil || !bytes.Equal(out.Bytes(), in) || w.subs != subs {
			t.Errorf("%s: err %v, %d of %d bytes passed, equal %v, %d substreams, want %d", f, err, out.Len(), len(in), bytes.Equal(out.Bytes(), in), w.subs, subs)
		}
		t.Logf("%s: %d bytes, %d substreams", f, len(in), w.subs)
	}
}

// TestWriteRunFixtures writes synthetic runs into testdata/run and the walker's fuzz
// seeds, when ZFSVM_WRITE_FIXTURES is set.
func TestWriteRunFixtures(t *testing.T) {
	if os.Getenv("ZFSVM_WRITE_FIXTURES") == "" {
		t.Skip("set ZFSVM_WRITE_FIXTURES=1 to rewrite testdata/run and the walker's fuzz seeds")
	}
	for _, o := range orders {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(rb{o}.run(3))
		w.Close()
		write(t, filepath.Join("testdata", "run", fmt.Sprintf("synthetic-%s-3subs.zstream.gz", o)), z.Bytes())
		b := rb{o}
		seeds := map[string][]byte{
			"run":    b.short(2),
			"nested": cat(b.short(1)[:len(b.short(1))-RecordSize], b.compound(ds), b.end(), b.end()),
			"lie":    cat(b.head(), b.begin(ds+"@v1", base, base+1), b.record(drrWrite, map[int]any{offWriteLogicalSize: uint64(2 * RecordSize)}), b.compound(ds), b.end(), b.end(), b.end()),
		}
		for name, s := range seeds {
			seed := fmt.Sprintf("go test fuzz v1\nbool(%v)\n[]byte(%q)\n", o == binary.BigEndian, s[RecordSize:])
			write(t, filepath.Join("testdata", "fuzz", "FuzzWalk", fmt.Sprintf("%s-%s", name, o)), []byte(seed))
		}
	}
}

// FuzzWalk walks what follows a compound stream's first record: never a panic, never more
// bytes out than in, and what passes is a prefix of the input.
func FuzzWalk(f *testing.F) {
	defer func(n int) { bufSize = n }(bufSize)
	bufSize = 4096 // the smallest bufio allows is 16; 4 KiB still splits records and payloads
	for _, o := range orders {
		f.Add(o == binary.BigEndian, rb{o}.short(2)[RecordSize:])
	}
	f.Fuzz(func(t *testing.T, bigEndian bool, rest []byte) {
		o := binary.ByteOrder(binary.LittleEndian)
		if bigEndian {
			o = binary.BigEndian
		}
		h, err := Parse(rb{o}.compound(ds))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []Expect{wantRun, {Type: Filesystem, Range: true, FromGUID: base, ToGUID: base + 2}} {
			var out bytes.Buffer
			n, _ := Walk(&out, bytes.NewReader(rest), h, want)
			if n != int64(out.Len()) || n > int64(len(rest)) || !bytes.Equal(out.Bytes(), rest[:n]) {
				t.Fatalf("%d bytes passed of %d, not a prefix", n, len(rest))
			}
		}
	})
}

// BenchmarkWalk walks a run of 128 KiB blocks (4 substreams of 16 MiB) into io.Discard.
func BenchmarkWalk(b *testing.B) {
	r := rb{binary.LittleEndian}
	block := r.write(128<<10, 0)
	sub := bytes.Repeat(block, 128)
	in := r.head()
	for i := 1; i <= 4; i++ {
		in = append(in, cat(r.begin(fmt.Sprintf("%s@v%d", ds, i), base+uint64(i-1), base+uint64(i)), sub, r.end())...)
	}
	in = append(in, r.end()...)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Copy(io.Discard, bytes.NewReader(in), wantRun); err != nil {
			b.Fatal(err)
		}
	}
}
