package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// rec is a DRR_BEGIN record to write, field by field as in struct drr_begin.
type rec struct {
	order      binary.ByteOrder
	hdrType    uint64
	features   uint64
	objset     ObjsetType
	flags      uint32
	payloadLen uint32
	name       string
}

// Record writes r as zfs send would: dmu_replay_record_t in the sender's byte order.
func (r rec) bytes() []byte {
	b := make([]byte, RecordSize)
	o := r.order
	o.PutUint32(b[0:], drrBegin)
	o.PutUint32(b[4:], r.payloadLen)
	o.PutUint64(b[8:], backupMagic)
	o.PutUint64(b[16:], r.hdrType|r.features<<2)
	o.PutUint64(b[24:], 1764322800)
	o.PutUint32(b[32:], uint32(r.objset))
	o.PutUint32(b[36:], r.flags)
	o.PutUint64(b[40:], 0x1122334455667788)
	o.PutUint64(b[48:], 0x99)
	copy(b[56:], r.name)
	return b
}

func good(o binary.ByteOrder) rec {
	return rec{order: o, hdrType: Substream, objset: Filesystem, name: "tank/img/t@zfs-vm:d:1"}
}

var orders = []binary.ByteOrder{binary.LittleEndian, binary.BigEndian}

func TestParseBothByteOrders(t *testing.T) {
	for _, o := range orders {
		r := good(o)
		r.objset, r.flags, r.features = Volume, FlagClone, FeatureRaw|1<<17
		h, err := Parse(r.bytes())
		if err != nil {
			t.Fatalf("%v: %v", o, err)
		}
		if h.Order != o || h.Type != Volume || !h.Clone() || h.Compound() || h.Features != FeatureRaw|1<<17 ||
			h.ToGUID != 0x1122334455667788 || h.FromGUID != 0x99 || h.CreationTime != 1764322800 || h.ToName != "tank/img/t@zfs-vm:d:1" {
			t.Errorf("%v: parsed %+v", o, h)
		}
	}
}

func TestCheck(t *testing.T) {
	fs := Expect{Type: Filesystem}
	cases := []struct {
		name string
		edit func(*rec)
		want Expect
		err  string // "" to accept
	}{
		{"a filesystem's stream", func(*rec) {}, fs, ""},
		{"a volume's stream", func(r *rec) { r.objset = Volume }, Expect{Type: Volume}, ""},
		{"zfs send -R -p", func(r *rec) { r.hdrType, r.payloadLen, r.objset = CompoundStream, 1234, 0 }, fs, "a compound stream"},
		{"zfs send -p of one dataset (compound too)", func(r *rec) { r.hdrType, r.payloadLen = CompoundStream, 200 }, fs, "a compound stream"},
		{"zfs send -I into a filesystem (a run: compound)", func(r *rec) { r.hdrType, r.payloadLen = CompoundStream, 200 }, Expect{Type: Filesystem, Range: true}, ""},
		{"a compound stream into a volume, even for a run", func(r *rec) { r.hdrType, r.payloadLen = CompoundStream, 200 }, Expect{Type: Volume, Range: true}, "a compound stream"},
		{"an unknown header type", func(r *rec) { r.hdrType = 3 }, fs, "unknown header type 3"},
		{"a payload nothing explains", func(r *rec) { r.payloadLen = 64 }, fs, "64-byte payload"},
		{"a resumed send's payload", func(r *rec) { r.payloadLen, r.features = 64, FeatureResuming }, fs, ""},
		{"a raw send's payload", func(r *rec) { r.payloadLen, r.features = 900, FeatureRaw }, fs, ""},
		{"a redacted send's payload", func(r *rec) { r.payloadLen, r.features = 64, FeatureRedacted }, fs, "payload"},
		{"a volume where a filesystem was expected", func(r *rec) { r.objset = Volume }, fs, "a volume stream where a filesystem stream was expected"},
		{"a filesystem where a volume was expected", func(*rec) {}, Expect{Type: Volume}, "a filesystem stream where a volume"},
		{"a clone stream without an origin", func(r *rec) { r.flags = FlagClone }, fs, "a clone stream where no origin"},
		{"a clone stream with an origin", func(r *rec) { r.flags = FlagClone }, Expect{Type: Filesystem, Clone: true}, ""},
		{"the resume of a clone stream", func(r *rec) { r.flags, r.features, r.payloadLen = FlagClone, FeatureResuming, 48 }, fs, ""},
	}
	for _, o := range orders {
		for _, c := range cases {
			r := good(o)
			c.edit(&r)
			h, err := Parse(r.bytes())
			if err == nil {
				err = h.Check(c.want)
			}
			switch {
			case c.err == "" && err != nil:
				t.Errorf("%v %s: refused: %v", o, c.name, err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("%v %s: got %v, want an error with %q", o, c.name, err, c.err)
			}
		}
	}
}

func TestParseRefusesWhatIsNotAStream(t *testing.T) {
	b := good(binary.LittleEndian).bytes()
	b[9] ^= 0xff
	if _, err := Parse(b); err == nil || !strings.Contains(err.Error(), "not a zfs send stream") {
		t.Errorf("a wrong magic: %v", err)
	}
	b = good(binary.BigEndian).bytes()
	b[3] = 5 // DRR_END
	if _, err := Parse(b); err == nil || !strings.Contains(err.Error(), "not DRR_BEGIN") {
		t.Errorf("a record other than DRR_BEGIN: %v", err)
	}
	b = good(binary.LittleEndian).bytes()
	for i := offToName; i < RecordSize; i++ {
		b[i] = 'x' // a name of 256 bytes, without the NUL that ends every name zfs writes
	}
	if _, err := Parse(b); err == nil || !strings.Contains(err.Error(), "snapshot name has no end") {
		t.Errorf("a name without its end: %v", err)
	}
}

// A good stream passes byte for byte; a refused one writes nothing.
func TestCopy(t *testing.T) {
	body := bytes.Repeat([]byte("DRR_OBJECT and DRR_WRITE records "), 5000)
	in := append(good(binary.BigEndian).bytes(), body...)
	var out bytes.Buffer
	n, err := Copy(&out, bytes.NewReader(in), Expect{Type: Filesystem})
	if err != nil || n != int64(len(in)) || !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("copied %d of %d bytes, equal %v, err %v", n, len(in), bytes.Equal(out.Bytes(), in), err)
	}
	r := good(binary.LittleEndian)
	r.hdrType, r.payloadLen = CompoundStream, 100
	out.Reset()
	_, err = Copy(&out, bytes.NewReader(append(r.bytes(), body...)), Expect{Type: Filesystem})
	var refused *RefusedError
	if !errors.As(err, &refused) || out.Len() != 0 {
		t.Errorf("a compound stream: err %v, %d bytes passed on", err, out.Len())
	}
	for _, short := range [][]byte{[]byte("garbage"), in[:RecordSize-1]} {
		if _, err := Copy(io.Discard, bytes.NewReader(short), Expect{Type: Filesystem}); !errors.As(err, &refused) || !strings.Contains(err.Error(), "ends after") {
			t.Errorf("%d bytes: %v", len(short), err)
		}
	}
	if _, err := Copy(io.Discard, bytes.NewReader(nil), Expect{Type: Filesystem}); err != ErrEmpty {
		t.Errorf("an empty stream: %v", err)
	}
}

func TestRecordIsTheInverseOfParse(t *testing.T) {
	for _, o := range orders {
		r := good(o)
		r.objset, r.flags, r.features, r.payloadLen = Volume, FlagClone, FeatureResuming, 48
		h, err := Parse(r.bytes())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.Record(), r.bytes()) {
			t.Errorf("%v: Record differs from the record parsed", o)
		}
	}
}
