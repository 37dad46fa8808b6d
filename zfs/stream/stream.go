// Package stream reads the first record of a zfs send stream, so that a receiver can refuse a
// stream that is not the one dataset's stream it asked for before zfs receive sees a byte;
// of the compound stream zfs send -I writes, it reads the header after that record too (an
// XDR nvlist, see compound.go), then every record after it, to refuse a substream that is
// not the next snapshot of that one filesystem (see walk.go).
//
// The layout is OpenZFS's dmu_replay_record_t with its drr_begin member
// (include/sys/zfs_ioctl.h): the record is 312 bytes, written in the sender's byte order,
// which the magic number tells.
package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
)

// RecordSize is the size of a dmu_replay_record_t, the first record of every send stream.
const RecordSize = 312

// Offsets in the record: drr_type and drr_payloadlen, then struct drr_begin.
const (
	offType         = 0  // enum: DRR_BEGIN is 0
	offPayloadLen   = 4  // uint32
	offMagic        = 8  // uint64 DMU_BACKUP_MAGIC
	offVersionInfo  = 16 // uint64: header type (bits 0-1), feature flags (bits 2-31)
	offCreationTime = 24 // uint64
	offObjsetType   = 32 // dmu_objset_type_t (an enum, 4 bytes)
	offFlags        = 36 // uint32
	offToGUID       = 40 // uint64
	offFromGUID     = 48 // uint64
	offToName       = 56 // char[MAXNAMELEN], 256 bytes, to the record's end
)

const (
	backupMagic = 0x2F5bacbac // DMU_BACKUP_MAGIC
	drrBegin    = 0
)

// Header types (DMU_GET_STREAM_HDRTYPE), in Header.HeaderType.
const (
	Substream      = 1 // DMU_SUBSTREAM: one dataset's stream, written by the kernel
	CompoundStream = 2 // DMU_COMPOUNDSTREAM: libzfs's package of streams and properties
)

// Feature flags (DMU_GET_FEATUREFLAGS) that explain a payload after a substream's first
// record: the kernel writes one only for a resumed send (resume_object, resume_offset), a
// raw send (crypt_keydata) or a redacted one (dmu_send.c, dmu_send_impl).
const (
	FeatureResuming = 1 << 20 // DMU_BACKUP_FEATURE_RESUMING
	FeatureRedacted = 1 << 21 // DMU_BACKUP_FEATURE_REDACTED
	FeatureRaw      = 1 << 24 // DMU_BACKUP_FEATURE_RAW
)

// FlagClone is DRR_FLAG_CLONE: the stream is received as a clone of its incremental source.
const FlagClone = 1

// ObjsetType is the stream's dmu_objset_type_t.
type ObjsetType uint32

// The objset types a stream can carry (dmu_objset_type_t in include/sys/fs/zfs.h).
const (
	Filesystem ObjsetType = 2 // DMU_OST_ZFS
	Volume     ObjsetType = 3 // DMU_OST_ZVOL
)

func (t ObjsetType) String() string {
	switch t {
	case Filesystem:
		return "filesystem"
	case Volume:
		return "volume"
	}
	return fmt.Sprintf("objset type %d", uint32(t))
}

// Header is the first record of a send stream, decoded.
type Header struct {
	// Order is the sender's byte order, which the magic tells.
	Order        binary.ByteOrder
	PayloadLen   uint32
	HeaderType   uint64 // substream (1) or compound (2)
	Features     uint64 // DMU_BACKUP_FEATURE_* flags
	CreationTime uint64
	Type         ObjsetType
	Flags        uint32 // DRR_FLAG_* flags
	ToGUID       uint64
	FromGUID     uint64
	ToName       string
}

// Compound reports whether the stream is a package of several streams with properties
// (zfs send -R, -p, -h or -b) rather than one dataset's stream.
func (h *Header) Compound() bool { return h.HeaderType == CompoundStream }

// Clone reports whether the stream is received as a clone of its incremental source.
func (h *Header) Clone() bool { return h.Flags&FlagClone != 0 }

// Resumed reports whether the stream continues an interrupted one (zfs send -t).
func (h *Header) Resumed() bool { return h.Features&FeatureResuming != 0 }

// ErrEmpty is a stream that ended before its first byte: the sender failed, which its own
// error explains better than the receiver can.
var ErrEmpty = errors.New("the stream is empty")

// Parse decodes a stream's first record. It refuses what is not a send stream's DRR_BEGIN
// record; what the stream is (compound, its type) is for Check.
func Parse(rec []byte) (*Header, error) {
	if len(rec) < RecordSize {
		return nil, fmt.Errorf("not a zfs send stream: it ends after %d bytes", len(rec))
	}
	var order binary.ByteOrder
	switch m := binary.LittleEndian.Uint64(rec[offMagic:]); m {
	case backupMagic:
		order = binary.LittleEndian
	case bits.ReverseBytes64(backupMagic):
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a zfs send stream: no send stream magic in its first record")
	}
	if t := order.Uint32(rec[offType:]); t != drrBegin {
		return nil, fmt.Errorf("not a zfs send stream: its first record is of type %d, not DRR_BEGIN", t)
	}
	vi := order.Uint64(rec[offVersionInfo:])
	name := rec[offToName:RecordSize]
	i := bytes.IndexByte(name, 0)
	if i < 0 {
		return nil, fmt.Errorf("not a zfs send stream: its first record's snapshot name has no end")
	}
	name = name[:i]
	return &Header{
		Order:        order,
		PayloadLen:   order.Uint32(rec[offPayloadLen:]),
		HeaderType:   vi & 3,
		Features:     vi >> 2 & (1<<30 - 1),
		CreationTime: order.Uint64(rec[offCreationTime:]),
		Type:         ObjsetType(order.Uint32(rec[offObjsetType:])),
		Flags:        order.Uint32(rec[offFlags:]),
		ToGUID:       order.Uint64(rec[offToGUID:]),
		FromGUID:     order.Uint64(rec[offFromGUID:]),
		ToName:       string(name),
	}, nil
}

// Record encodes h as a stream's first record, in h.Order (little-endian when nil): the
// inverse of Parse, for tests and fakes of zfs send.
func (h *Header) Record() []byte {
	o := h.Order
	if o == nil {
		o = binary.LittleEndian
	}
	b := make([]byte, RecordSize)
	o.PutUint32(b[offType:], drrBegin)
	o.PutUint32(b[offPayloadLen:], h.PayloadLen)
	o.PutUint64(b[offMagic:], backupMagic)
	o.PutUint64(b[offVersionInfo:], h.HeaderType&3|(h.Features&(1<<30-1))<<2)
	o.PutUint64(b[offCreationTime:], h.CreationTime)
	o.PutUint32(b[offObjsetType:], uint32(h.Type))
	o.PutUint32(b[offFlags:], h.Flags)
	o.PutUint64(b[offToGUID:], h.ToGUID)
	o.PutUint64(b[offFromGUID:], h.FromGUID)
	copy(b[offToName:RecordSize-1], h.ToName)
	return b
}

// Expect is what a receiver expects of a stream, as its receive options decided.
type Expect struct {
	Type  ObjsetType // the dataset type the receive options were chosen for
	Clone bool       // the receive pins an origin (-o origin=)
	// Range allows the compound stream zfs send -I writes for a run of one filesystem's
	// snapshots (an empty header), and Admit reads that header to refuse any other compound
	// stream (see checkCompound), and Walk its substreams. Only into a filesystem: the
	// receive options that keep the sender's mountpoint, share and canmount away (-x, -o
	// canmount=noauto) apply to every dataset of such a stream, where a volume's -o
	// volmode= would be skipped for a filesystem in it.
	Range bool
	// FromGUID and ToGUID, when not 0, are the guids of a run's base and last snapshot, as
	// the plan knows them: Walk refuses a run that starts or ends elsewhere.
	FromGUID, ToGUID uint64
	// Planned, when not nil, holds the guids of the run's snapshots after its base, as the
	// plan lists them: Walk refuses a substream of any other snapshot. The receiver has none
	// of them, so libzfs never skips one of these substreams by reading it its own way
	// (see walker.payloadSize on recv_skip).
	Planned []uint64
	// Existing, when not nil, holds the guids of the receive target's snapshots: Walk
	// refuses a substream of one of them, which libzfs would skip reading it its own way.
	// For a receiver that does not know the plan (zfs-vm serve).
	Existing []uint64
}

// Check refuses a stream that is not the one dataset's stream a receive with the options
// of want can take safely: a compound stream (its properties and children are applied by
// libzfs past the receive options, and its children are found by guid anywhere in the
// pool), a payload no resumed or raw send explains, another dataset type, or a clone
// stream where no origin is pinned.
func (h *Header) Check(want Expect) error {
	switch {
	case h.Compound() && want.Range && want.Type == Filesystem:
		return nil
	case h.Compound():
		return fmt.Errorf("a compound stream (zfs send -R, -p, -h or -b: several datasets or properties) where one dataset's stream was expected")
	case h.HeaderType != Substream:
		return fmt.Errorf("a send stream of unknown header type %d", h.HeaderType)
	case h.PayloadLen > 0 && h.Features&(FeatureResuming|FeatureRaw) == 0:
		return fmt.Errorf("a stream whose first record carries a %d-byte payload that neither a resumed nor a raw send explains", h.PayloadLen)
	case h.Type != want.Type:
		return fmt.Errorf("a %s stream where a %s stream was expected", h.Type, want.Type)
	// A resumed stream can only continue a partial receive, whose origin was fixed when it
	// began (the kernel checks the guids against the partial state).
	case h.Clone() && !want.Clone && !h.Resumed():
		return fmt.Errorf("a clone stream where no origin was given")
	}
	return nil
}

// RefusedError is a stream that Check refused.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }

func (e *RefusedError) Unwrap() error { return e.Err }

// Admit reads src's first record, checks it against want and writes it to dst; the caller
// passes the rest of the stream on with Rest (which walks a compound stream). Of a compound
// stream that want allows (a run of snapshots, Expect.Range), it reads and checks the header
// too (only an empty one passes). A stream
// that is refused, or not a send stream at all, is a *RefusedError, and nothing is
// written; an empty one is ErrEmpty.
func Admit(dst io.Writer, src io.Reader, want Expect) (*Header, error) {
	rec := make([]byte, RecordSize)
	n, err := io.ReadFull(src, rec)
	if err := firstRecordError(n, err); err != nil {
		return nil, err
	}
	h, err := checkFirst(rec, want)
	if err != nil {
		return nil, err
	}
	if h.Compound() {
		if err := checkCompound(src, h); err != nil {
			return nil, err
		}
	}
	if _, err := dst.Write(rec); err != nil {
		return nil, err
	}
	return h, nil
}

// AdmitInPlace checks the first record of the stream waiting in the pipe src as Admit
// does, but leaves it there (Peek): the process src is handed to next reads the whole
// stream, and no copy of ours stands between the two sides. It is for one dataset's stream
// (want.Range false), which Admit's caller passes on as it is once its first record is
// checked; a compound stream is refused as Admit refuses it. Where CanPeek is false it
// fails: such callers use Admit.
func AdmitInPlace(src *os.File, want Expect) (*Header, error) {
	if want.Range {
		return nil, errors.New("a run of snapshots is walked record by record, not admitted in place")
	}
	rec, err := Peek(src, RecordSize)
	if err := firstRecordError(len(rec), err); err != nil {
		return nil, err
	}
	return checkFirst(rec, want)
}

// firstRecordError is what reading a stream's first record (n bytes, then err, as
// io.ReadFull reports it) means: nil, ErrEmpty, a *RefusedError for a stream too short to be
// one, or the read's failure.
func firstRecordError(n int, err error) error {
	switch {
	case err == io.EOF:
		return ErrEmpty
	case err == io.ErrUnexpectedEOF:
		return &RefusedError{Err: fmt.Errorf("not a zfs send stream: it ends after %d bytes", n)}
	case err != nil:
		return fmt.Errorf("reading the stream's first record: %w", err)
	}
	return nil
}

// checkFirst parses a stream's first record and checks it against want; a refusal is a
// *RefusedError.
func checkFirst(rec []byte, want Expect) (*Header, error) {
	h, err := Parse(rec)
	if err == nil {
		err = h.Check(want)
	}
	if err != nil {
		return nil, &RefusedError{Err: err}
	}
	return h, nil
}

// Copy is Admit, then the rest of src to dst: a compound stream (a run of snapshots) is
// walked record by record (see Walk); one dataset's stream is copied as it is (io.Copy).
// It returns the bytes written.
func Copy(dst io.Writer, src io.Reader, want Expect) (int64, error) {
	h, err := Admit(dst, src, want)
	if err != nil {
		return 0, err
	}
	return Rest(dst, src, h, want)
}

// Rest passes on the rest of the stream whose first record Admit read (h), as Copy does;
// it returns the bytes written, RecordSize for the first record included.
func Rest(dst io.Writer, src io.Reader, h *Header, want Expect) (int64, error) {
	var n int64
	var err error
	if h.Compound() {
		n, err = Walk(dst, src, h, want)
	} else {
		n, err = io.Copy(dst, src)
	}
	return n + RecordSize, err
}
