package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A compound stream's header is an nvlist packed with NV_ENCODE_XDR (OpenZFS
// module/nvpair/nvpair.c, nvs_xdr_*): always big-endian, every item a multiple of 4 bytes.
// After a 4-byte header (encoding, endian, two reserved bytes) comes the list: its version
// and flags, then each pair as its encoded size, decoded size, name (length and bytes),
// type, element count and value, and two zero words at the end of the list. An embedded
// nvlist is a list without the 4-byte header. The decoder below is for a peer's bytes: every
// size is checked against what is left and against the pair's stated size, and nesting is
// bounded.

// nvType is an nvpair's data_type_t (include/sys/nvpair.h).
type nvType uint32

const (
	nvBoolean      nvType = 1
	nvByte         nvType = 2
	nvInt16        nvType = 3
	nvUint16       nvType = 4
	nvInt32        nvType = 5
	nvUint32       nvType = 6
	nvInt64        nvType = 7
	nvUint64       nvType = 8
	nvString       nvType = 9
	nvByteArray    nvType = 10
	nvInt16Array   nvType = 11
	nvUint16Array  nvType = 12
	nvInt32Array   nvType = 13
	nvUint32Array  nvType = 14
	nvInt64Array   nvType = 15
	nvUint64Array  nvType = 16
	nvStringArray  nvType = 17
	nvHrtime       nvType = 18
	nvNVList       nvType = 19
	nvNVListArray  nvType = 20
	nvBooleanValue nvType = 21
	nvInt8         nvType = 22
	nvUint8        nvType = 23
	nvBooleanArray nvType = 24
	nvInt8Array    nvType = 25
	nvUint8Array   nvType = 26
	nvDouble       nvType = 27
)

const (
	nvEncodeXDR = 1 // NV_ENCODE_XDR
	nvVersion   = 0 // NV_VERSION
	// maxNVDepth bounds nesting; a compound header nests five deep (fss, a filesystem,
	// snapprops, a snapshot's properties).
	maxNVDepth = 16
	// maxNVElems bounds an array's element count before any is read.
	maxNVElems = 1 << 20
)

// nvList is a decoded nvlist, its pairs in order.
type nvList []nvPair

// nvPair is one decoded pair. Value is true for a boolean flag, a uint64 for the unsigned
// integers, a string, an nvList or []nvList; nil for the types a header does not use,
// which are checked for size and skipped.
type nvPair struct {
	Name  string
	Type  nvType
	Value any
}

// lookup returns the first pair called name.
func (l nvList) lookup(name string) (nvPair, bool) {
	for _, p := range l {
		if p.Name == name {
			return p, true
		}
	}
	return nvPair{}, false
}

// decodeNVList decodes a packed XDR nvlist, all of b.
func decodeNVList(b []byte) (nvList, error) {
	if len(b) < 4 {
		return nil, errors.New("nvlist too short")
	}
	if b[0] != nvEncodeXDR {
		return nil, fmt.Errorf("nvlist encoding %d is not XDR", b[0])
	}
	d := &xdrDecoder{b: b[4:]}
	l, err := d.list(0)
	if err == nil && len(d.b) != 0 {
		err = fmt.Errorf("%d bytes after the nvlist", len(d.b))
	}
	return l, err
}

// xdrDecoder reads XDR items from the front of b.
type xdrDecoder struct{ b []byte }

var errShort = errors.New("nvlist truncated")

func (d *xdrDecoder) u32() (uint32, error) {
	if len(d.b) < 4 {
		return 0, errShort
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v, nil
}

func (d *xdrDecoder) u64() (uint64, error) {
	if len(d.b) < 8 {
		return 0, errShort
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v, nil
}

// skip drops n bytes, rounded up to XDR's 4.
func (d *xdrDecoder) skip(n uint64) error {
	n = (n + 3) &^ 3
	if n > uint64(len(d.b)) {
		return errShort
	}
	d.b = d.b[n:]
	return nil
}

func (d *xdrDecoder) string() (string, error) {
	n, err := d.u32()
	if err != nil {
		return "", err
	}
	if uint64(n) > uint64(len(d.b)) {
		return "", errShort
	}
	s := string(d.b[:n])
	return s, d.skip(uint64(n))
}

// list reads an nvlist's version and flags, then its pairs up to the two zero words.
func (d *xdrDecoder) list(depth int) (nvList, error) {
	if depth > maxNVDepth {
		return nil, fmt.Errorf("nvlists nested deeper than %d", maxNVDepth)
	}
	version, err := d.u32()
	if err == nil && version != nvVersion {
		err = fmt.Errorf("nvlist version %d", version)
	}
	if err == nil {
		_, err = d.u32() // nvflag
	}
	var l nvList
	for err == nil {
		var p nvPair
		var end bool
		if p, end, err = d.pair(depth); err == nil && end {
			return l, nil
		}
		l = append(l, p)
	}
	return nil, err
}

// pair reads one pair, or the end of the list; what the pair read must be its stated size.
func (d *xdrDecoder) pair(depth int) (p nvPair, end bool, err error) {
	start := len(d.b)
	encoded, err := d.u32()
	if err != nil {
		return p, false, err
	}
	decoded, err := d.u32()
	switch {
	case err != nil:
		return p, false, err
	case decoded == 0 && encoded == 0:
		return p, true, nil
	case decoded == 0 || encoded < 20 || uint64(encoded) > uint64(start):
		return p, false, fmt.Errorf("bad nvpair size %d", encoded)
	}
	if p.Name, err = d.string(); err != nil {
		return p, false, err
	}
	typ, err := d.u32()
	if err != nil {
		return p, false, err
	}
	nelem, err := d.u32()
	if err != nil {
		return p, false, err
	}
	p.Type = nvType(typ)
	if p.Value, err = d.value(p.Type, nelem, depth); err != nil {
		return p, false, fmt.Errorf("nvpair %q: %w", p.Name, err)
	}
	if read := start - len(d.b); read != int(encoded) {
		return p, false, fmt.Errorf("nvpair %q: %d bytes where its size says %d", p.Name, read, encoded)
	}
	return p, false, nil
}

// value reads a pair's value of type t with n elements.
func (d *xdrDecoder) value(t nvType, n uint32, depth int) (any, error) {
	if want := elems(t); want >= 0 && n != uint32(want) {
		return nil, fmt.Errorf("type %d with %d elements", t, n)
	}
	if n > maxNVElems {
		return nil, fmt.Errorf("%d elements", n)
	}
	if n == 0 && t != nvBoolean {
		return nil, nil // an empty array: nvs_xdr_nvp_op writes no value at all
	}
	switch t {
	case nvBoolean:
		return true, nil
	case nvByte, nvInt8, nvUint8, nvInt16, nvUint16, nvInt32, nvUint32, nvBooleanValue:
		v, err := d.u32()
		return uint64(v), err
	case nvInt64, nvUint64, nvHrtime, nvDouble:
		return d.u64()
	case nvString:
		return d.string()
	case nvNVList:
		return d.list(depth + 1)
	case nvNVListArray:
		return d.lists(n, depth+1)
	case nvStringArray:
		return nil, d.strings(n)
	case nvByteArray:
		return nil, d.skip(uint64(n))
	case nvBooleanArray, nvInt8Array, nvUint8Array, nvInt16Array, nvUint16Array, nvInt32Array, nvUint32Array:
		return nil, d.array(n, 4)
	case nvInt64Array, nvUint64Array:
		return nil, d.array(n, 8)
	}
	return nil, fmt.Errorf("unknown type %d", t)
}

// elems is the element count a scalar type must have (-1 for arrays, any count).
func elems(t nvType) int {
	switch t {
	case nvBoolean:
		return 0
	case nvByteArray, nvStringArray, nvNVListArray, nvBooleanArray, nvInt8Array, nvUint8Array,
		nvInt16Array, nvUint16Array, nvInt32Array, nvUint32Array, nvInt64Array, nvUint64Array:
		return -1
	}
	return 1
}

// array skips an xdr_array: its count, which must be n, then n items of size bytes.
func (d *xdrDecoder) array(n uint32, size uint64) error {
	count, err := d.u32()
	if err == nil && count != n {
		err = fmt.Errorf("array of %d elements where the pair says %d", count, n)
	}
	if err == nil {
		err = d.skip(uint64(n) * size)
	}
	return err
}

func (d *xdrDecoder) strings(n uint32) error {
	for range n {
		if _, err := d.string(); err != nil {
			return err
		}
	}
	return nil
}

func (d *xdrDecoder) lists(n uint32, depth int) ([]nvList, error) {
	var out []nvList
	for range n {
		l, err := d.list(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}
