package stream

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
)

// A compound stream is a package (lib/libzfs/libzfs_sendrecv.c: zfs_send writes it, and
// zfs_receive_package reads it, in OpenZFS 2.1 and 2.3 alike):
//
//	BEGIN (DMU_COMPOUNDSTREAM) [header nvlist: drr_payloadlen bytes]
//	END (drr_checksum: the checksum of the BEGIN record and header)
//	substream: BEGIN (DMU_SUBSTREAM) [payload] records… END    (one per snapshot)
//	…
//	END (all zero: where zfs_receive_impl reads the next BEGIN, it ends the package)
//
// zfs_receive_package hands each substream to zfs_receive_impl, which takes a nested
// compound BEGIN as another package (with its header's properties) and a substream of any
// dataset, and the kernel reads a substream's records until its END (module/zfs/dmu_recv.c,
// dmu_recv_stream). So Walk reads the package as they do, record by record, and refuses a
// substream that zfs send -I of one filesystem does not write before its first byte passes.

// Record types (dmu_replay_record_t.drr_type, include/sys/zfs_ioctl.h, the same in 2.1 and
// 2.3).
const (
	drrObject      = 1
	drrFreeObjects = 2
	drrWrite       = 3
	drrFree        = 4
	drrEnd         = 5
	drrWriteByRef  = 6
	drrSpill       = 7
	drrWriteEmbed  = 8
	drrObjectRange = 9
	drrRedact      = 10
)

// Offsets, in the record, of the fields the kernel sizes a payload by: the union drr_u
// starts at byte 8 (after drr_type and drr_payloadlen); the structs are those of
// include/sys/zfs_ioctl.h, whose layout 2.1 and 2.3 share.
const (
	offObjectBonusLen    = 28 // drr_object.drr_bonuslen, uint32 (after object, type, bonustype, blksz)
	offObjectRawBonusLen = 36 // drr_object.drr_raw_bonuslen, uint32 (after 4 uint8s)
	offWriteLogicalSize  = 32 // drr_write.drr_logical_size, uint64 (after object, type, pad, offset)
	offWriteCompression  = 50 // drr_write.drr_compressiontype, uint8 (after toguid, cksumtype, flags)
	offWriteCompressed   = 96 // drr_write.drr_compressed_size, uint64 (after pad2[5], 40-byte ddt_key_t)
	offSpillLength       = 16 // drr_spill.drr_length, uint64 (after object)
	offSpillCompressed   = 40 // drr_spill.drr_compressed_size, uint64 (after toguid, flags, compressiontype, pad[6])
	offEmbedPSize        = 52 // drr_write_embedded.drr_psize, uint32 (after 4 uint64s, 8 bytes, lsize)
)

// MaxPayload bounds a record's payload: SPA_MAXBLOCKSIZE (16 MiB), the largest block zfs
// send writes. The kernel only asserts it (receive_read_payload_and_next_header, and it
// keeps a DRR_WRITE's size in an int), and libzfs's recv_skip reads a payload into a buffer
// of that size: a larger one is no stream zfs send wrote.
const MaxPayload = 16 << 20

// maxBeginPayload bounds a substream's BEGIN payload, an nvlist: a raw send's
// crypt_keydata is about 1 KiB.
const maxBeginPayload = 1 << 20

// bufSize is the walker's read and write buffers: large, for throughput, and fixed (a
// variable only so that FuzzWalk can make it small: 2 MiB a walk left the fuzzer at a few
// executions a second).
var bufSize = 1 << 20

// ErrTruncated is a compound stream that ends inside a record or before its final END: the
// sender died or the connection broke. What was read of it has been passed on, as a plain
// copy would, so that zfs receive -s keeps what arrived; the sender's error says why.
var ErrTruncated = errors.New("the stream ends before its end")

// Walk passes on the rest of the compound stream whose first record Admit read (h) and
// passed on, record by record, and refuses (a *RefusedError) what zfs send -I of one
// filesystem's snapshots does not write, before its first byte is written: a nested
// compound stream, a substream of another dataset or type, a clone stream, a broken guid
// chain (and, as want asks, another base or last snapshot, a snapshot not planned or one the
// target has), a record type zfs send -I does not write, a BEGIN record inside a substream.
// A substream refused at its BEGIN is not begun: each one passed before it is whole (its END
// was written), so zfs receive has received whole snapshots when it fails at the missing
// next one. A bad record inside a substream is refused where it starts: what passed of that
// substream is whole records, which the kernel, as with a stream cut there, does not
// complete into a snapshot (zfs receive -s keeps it as partial state). Walk stops after
// the package's final END: libzfs reads no further (zfs_receive_package returns when zfs_receive_impl reads
// it), so bytes after it reach nothing. It returns the bytes written.
func Walk(dst io.Writer, src io.Reader, h *Header, want Expect) (int64, error) {
	w, err := walk(dst, src, h, want)
	return w.n, err
}

// walk is Walk; the walker tells what it passed on.
func walk(dst io.Writer, src io.Reader, h *Header, want Expect) (*walker, error) {
	w := &walker{
		r:     bufio.NewReaderSize(src, bufSize),
		w:     bufio.NewWriterSize(dst, bufSize),
		rec:   make([]byte, RecordSize),
		order: h.Order,
		fs:    datasetOf(h.ToName),
		want:  want,
		seen:  map[uint64]bool{},
		names: map[string]bool{},
		// As sets: a target may hold many thousands of snapshots.
		planned:  setOf(want.Planned),
		existing: setOf(want.Existing),
	}
	err := w.walk()
	if ferr := w.w.Flush(); err == nil {
		err = ferr
	}
	return w, err
}

type walker struct {
	r     *bufio.Reader
	w     *bufio.Writer
	rec   []byte // the record being read
	order binary.ByteOrder
	fs    string // the dataset the package's BEGIN names
	want  Expect
	n     int64   // bytes written
	subs  int     // substreams passed on
	last  *Header // the last substream's BEGIN
	// seen and names are the guids (the run's base's too) and snapshot names the run has
	// brought: a substream of one again would find its snapshot on the target, which libzfs
	// answers by skipping the substream with its own reader (recv_skip, see payloadSize),
	// past what Walk checked.
	seen              map[uint64]bool
	names             map[string]bool
	planned, existing map[uint64]bool
}

// setOf returns the guids as a set; nil for nil (nothing to check).
func setOf(guids []uint64) map[uint64]bool {
	if guids == nil {
		return nil
	}
	set := make(map[uint64]bool, len(guids))
	for _, g := range guids {
		set[g] = true
	}
	return set
}

func (w *walker) walk() error {
	if err := w.read("the package's header END"); err != nil {
		return err
	}
	if t := w.order.Uint32(w.rec); t != drrEnd {
		return refused("a compound stream whose header is followed by a record of type %d, not END", t)
	}
	if err := w.write(); err != nil {
		return err
	}
	for {
		if err := w.read("the package's final END"); err != nil {
			return err
		}
		// zfs_receive_impl takes an END in either byte order as the package's end.
		if t := binary.LittleEndian.Uint32(w.rec); t == drrEnd || t == drrEnd<<24 {
			if err := w.checkEnd(); err != nil {
				return err
			}
			return w.write()
		}
		if err := w.substream(); err != nil {
			return err
		}
	}
}

// substream checks the BEGIN record read and passes the substream on, to its END.
func (w *walker) substream() error {
	sub, err := w.checkBegin()
	if err != nil {
		return err
	}
	if err := w.write(); err != nil {
		return err
	}
	if err := w.copyPayload(uint64(sub.PayloadLen), "a substream's BEGIN payload"); err != nil {
		return err
	}
	w.subs++
	w.last = sub
	for {
		if err := w.read("a substream's END"); err != nil {
			return err
		}
		size, err := w.payloadSize(sub.Order)
		if err != nil {
			return refused("substream %d (%s): %v", w.subs, quote(sub.ToName), err)
		}
		if err := w.write(); err != nil {
			return err
		}
		// The kernel reads no further than the END (dmu_recv_stream); libzfs then reads
		// the next BEGIN.
		if sub.Order.Uint32(w.rec) == drrEnd {
			return nil
		}
		if err := w.copyPayload(size, "a record's payload"); err != nil {
			return err
		}
	}
}

// checkBegin refuses a substream's BEGIN that zfs send -I of the package's filesystem does
// not write after the previous one.
func (w *walker) checkBegin() (*Header, error) {
	i := w.subs + 1
	sub, err := Parse(w.rec)
	if err != nil {
		return nil, refused("substream %d: %v", i, err)
	}
	name := quote(sub.ToName)
	switch {
	case sub.Compound():
		return nil, refused("a compound stream nested in a run of snapshots (substream %d, %s)", i, name)
	case sub.Order != w.order:
		return nil, refused("substream %d (%s) in the other byte order than the package's", i, name)
	case !strings.Contains(sub.ToName, "@") || datasetOf(sub.ToName) != w.fs:
		return nil, refused("substream %d is %s, not a snapshot of the package's dataset %s", i, name, quote(w.fs))
	case sub.Resumed():
		return nil, refused("substream %d (%s) is a resumed stream: zfs send -I writes none", i, name)
	case sub.PayloadLen > maxBeginPayload:
		return nil, refused("substream %d (%s) has a %d-byte BEGIN payload (zfs-vm takes at most %d)", i, name, sub.PayloadLen, maxBeginPayload)
	case sub.FromGUID == 0:
		return nil, refused("substream %d (%s) is a full stream where a run of incrementals was asked", i, name)
	case w.last == nil && w.want.FromGUID != 0 && sub.FromGUID != w.want.FromGUID:
		return nil, refused("substream 1 (%s) starts from guid %#x, not from the base %#x", name, sub.FromGUID, w.want.FromGUID)
	case w.last != nil && sub.FromGUID != w.last.ToGUID:
		return nil, refused("substream %d (%s) starts from guid %#x, not from the previous snapshot's %#x", i, name, sub.FromGUID, w.last.ToGUID)
	case w.last != nil && w.want.ToGUID != 0 && w.last.ToGUID == w.want.ToGUID:
		return nil, refused("substream %d (%s) follows the last snapshot asked for", i, name)
	case w.seen[sub.ToGUID] || sub.ToGUID == sub.FromGUID:
		return nil, refused("substream %d (%s) is of guid %#x, a snapshot this run has already brought", i, name, sub.ToGUID)
	case w.names[snapshotOf(sub.ToName)]:
		return nil, refused("substream %d (%s) names a snapshot this run has already brought", i, name)
	case w.existing[sub.ToGUID]:
		return nil, refused("substream %d (%s) is of guid %#x, a snapshot the target has already", i, name, sub.ToGUID)
	case w.planned != nil && !w.planned[sub.ToGUID]:
		return nil, refused("substream %d (%s) is of guid %#x, not one of the snapshots asked for", i, name, sub.ToGUID)
	}
	if err := sub.Check(Expect{Type: Filesystem}); err != nil {
		return nil, refused("substream %d (%s): %v", i, name, err)
	}
	w.seen[sub.FromGUID], w.seen[sub.ToGUID], w.names[snapshotOf(sub.ToName)] = true, true, true
	return sub, nil
}

// checkEnd refuses the package's final END where the run is empty or ends short of the
// snapshot asked for: nothing more comes.
func (w *walker) checkEnd() error {
	switch {
	case w.last == nil:
		return refused("a compound stream without a snapshot where a run of snapshots was asked")
	case w.want.ToGUID != 0 && w.last.ToGUID != w.want.ToGUID:
		return refused("a run of snapshots that ends at %s (guid %#x), not at the snapshot asked for (guid %#x)", quote(w.last.ToName), w.last.ToGUID, w.want.ToGUID)
	}
	return nil
}

// payloadSize is the size of the payload after the record read, as the kernel computes it
// when it reads the stream (module/zfs/dmu_recv.c, receive_read_record, with the macros of
// include/sys/zfs_ioctl.h), from the record's fields in the substream's byte order: never
// from drr_payloadlen, which zfs send leaves 0 in these records (seen in the 2.1 and 2.3
// captures) and which the kernel does not read.
//
// libzfs's recv_skip reads a substream itself where the receive ioctl failed with EEXIST or
// ENOENT and the target has a snapshot of the substream's toguid ("already exists;
// ignoring"). For these record types it computes the same sizes, byteswapping the same
// fields; unlike the kernel it takes a BEGIN inside a substream (and reads drr_payloadlen
// after it, not byteswapped) and refuses DRR_REDACT: Walk refuses both. But recv_skip starts
// where the kernel stopped, and the kernel reads one record ahead of its checks when the
// BEGIN has a payload (and, before openzfs/zfs#14568, always): if that record has a
// payload, recv_skip reads the payload as records, where Walk cannot follow. Expect.Planned
// (the target has none of the planned snapshots) and Expect.Existing (the target's own)
// close this: recv_skip never runs.
//
// Types zfs send -I of OpenZFS 2.x never writes are refused: DRR_WRITE_BYREF (dedup
// streams, gone since 2.1) and DRR_REDACT (a redacted send).
func (w *walker) payloadSize(o binary.ByteOrder) (uint64, error) {
	r := w.rec
	var size uint64
	switch t := o.Uint32(r); t {
	case drrBegin:
		return 0, fmt.Errorf("a BEGIN record inside the substream")
	case drrEnd, drrFreeObjects, drrFree, drrObjectRange:
		return 0, nil
	case drrObject: // DRR_OBJECT_PAYLOAD_SIZE
		size = uint64(o.Uint32(r[offObjectRawBonusLen:]))
		if size == 0 {
			size = roundUp8(uint64(o.Uint32(r[offObjectBonusLen:])))
		}
	case drrWrite: // DRR_WRITE_PAYLOAD_SIZE
		size = o.Uint64(r[offWriteLogicalSize:])
		if r[offWriteCompression] != 0 {
			size = o.Uint64(r[offWriteCompressed:])
		}
	case drrSpill: // DRR_SPILL_PAYLOAD_SIZE
		size = o.Uint64(r[offSpillCompressed:])
		if size == 0 {
			size = o.Uint64(r[offSpillLength:])
		}
	case drrWriteEmbed: // P2ROUNDUP(drr_psize, 8)
		size = roundUp8(uint64(o.Uint32(r[offEmbedPSize:])))
	case drrWriteByRef:
		return 0, fmt.Errorf("a DRR_WRITE_BYREF record (a deduplicated stream)")
	case drrRedact:
		return 0, fmt.Errorf("a DRR_REDACT record (a redacted send)")
	default:
		return 0, fmt.Errorf("a record of unknown type %d", t)
	}
	if size > MaxPayload {
		return 0, fmt.Errorf("a record of type %d with a %d-byte payload (at most %d)", o.Uint32(r), size, MaxPayload)
	}
	return size, nil
}

// roundUp8 is P2ROUNDUP(n, 8) of a uint32, computed without its wrap-around: a size that
// would wrap is above MaxPayload and refused.
func roundUp8(n uint64) uint64 { return (n + 7) &^ 7 }

// read reads the next record; a stream that ends first is truncated.
func (w *walker) read(what string) error {
	if _, err := io.ReadFull(w.r, w.rec); err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: it ends %d bytes in, before %s", ErrTruncated, w.n, what)
	} else if err != nil {
		return err
	}
	return nil
}

func (w *walker) write() error {
	n, err := w.w.Write(w.rec)
	w.n += int64(n)
	return err
}

// copyPayload passes size bytes on through the buffers, never holding more than they do.
func (w *walker) copyPayload(size uint64, what string) error {
	n, err := io.CopyN(w.w, w.r, int64(size))
	w.n += n
	if err == io.EOF {
		return fmt.Errorf("%w: it ends %d bytes in, inside %s", ErrTruncated, w.n, what)
	}
	return err
}

// datasetOf is the dataset part of a snapshot's name (before '@').
func datasetOf(name string) string {
	ds, _, _ := strings.Cut(name, "@")
	return ds
}

// snapshotOf is the part of a snapshot's name after the "@".
func snapshotOf(name string) string {
	_, snap, _ := strings.Cut(name, "@")
	return snap
}

// quote is a name from the stream, the peer's text, fit for one line of a message.
func quote(s string) string {
	return `"` + untrusted.Printable(untrusted.Line(s, 200)) + `"`
}

func refused(format string, a ...any) error {
	return &RefusedError{Err: fmt.Errorf(format, a...)}
}
