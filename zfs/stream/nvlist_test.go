package stream

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// xdrList builds an XDR-packed nvlist as nvs_xdr_* writes it, for tests.
type xdrList struct{ pairs [][]byte }

func xdrU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func xdrString(b []byte, s string) []byte {
	b = xdrU32(b, uint32(len(s)))
	b = append(b, s...)
	return append(b, make([]byte, (4-len(s)%4)%4)...)
}

// add appends a pair; its encoded size is computed, its decoded size is any nonzero.
func (l *xdrList) add(name string, t nvType, nelem uint32, value []byte) *xdrList {
	rest := xdrString(nil, name)
	rest = xdrU32(rest, uint32(t))
	rest = xdrU32(rest, nelem)
	rest = append(rest, value...)
	p := xdrU32(nil, uint32(8+len(rest)))
	p = xdrU32(p, 64)
	l.pairs = append(l.pairs, append(p, rest...))
	return l
}

func (l *xdrList) boolean(name string) *xdrList { return l.add(name, nvBoolean, 0, nil) }

func (l *xdrList) u64(name string, v uint64) *xdrList {
	return l.add(name, nvUint64, 1, binary.BigEndian.AppendUint64(nil, v))
}

func (l *xdrList) str(name, v string) *xdrList { return l.add(name, nvString, 1, xdrString(nil, v)) }

func (l *xdrList) list(name string, sub *xdrList) *xdrList {
	return l.add(name, nvNVList, 1, sub.body())
}

// body is the list without the packed header: version, flags, pairs, two zero words.
func (l *xdrList) body() []byte {
	b := make([]byte, 8)
	for _, p := range l.pairs {
		b = append(b, p...)
	}
	return append(b, make([]byte, 8)...)
}

// pack is the list as nvlist_pack(NV_ENCODE_XDR) writes it.
func (l *xdrList) pack() []byte { return append([]byte{nvEncodeXDR, 1, 0, 0}, l.body()...) }

// header is a compound stream's header as libzfs's zfs_send writes it for snapshots 1 to
// 3 (or snaps) of fsCount filesystems: with -I (one, not recursive), -R (recursive, properties), -p
// (properties) or -h (holds).
type header struct {
	fsCount                 int
	recursive, props, holds bool
	snaps                   int // 3 when 0
}

func (h header) pack() []byte {
	top := (&xdrList{}).str("fromsnap", "zfs-vm:d:1").str("tosnap", "zfs-vm:d:3")
	if !h.recursive {
		top.boolean("not_recursive")
	}
	fss := &xdrList{}
	for i := range h.fsCount {
		fs := (&xdrList{}).str("name", fmt.Sprintf("tank/img/t%d", i)).u64("parentfromsnap", 0x99)
		if h.props {
			fs.list("props", (&xdrList{}).str("mountpoint", "/srv/victim").u64("canmount", 1))
		}
		snaps, snapprops, holds := &xdrList{}, &xdrList{}, &xdrList{}
		for v := 1; v <= max(h.snaps, 3); v++ {
			name := fmt.Sprintf("zfs-vm:d:%d", v)
			snaps.u64(name, uint64(0x1000+v))
			snapprops.list(name, (&xdrList{}).str("zfs-vm:note", "x"))
			holds.list(name, (&xdrList{}).u64("keep", 1764322800))
		}
		fs.list("snaps", snaps).list("snapprops", snapprops)
		if h.holds {
			fs.list("snapholds", holds)
		}
		fss.list(fmt.Sprintf("0x%x", 0x2000+i), fs)
	}
	return top.list("fss", fss).pack()
}

func TestParseCompound(t *testing.T) {
	cases := []struct {
		name string
		h    header
		want string // "" to accept
	}{
		{"zfs send -I", header{fsCount: 1}, ""},
		{"zfs send -R", header{fsCount: 3, recursive: true, props: true}, "a replication stream (zfs send -R, 3 filesystems)"},
		{"zfs send -R of a lone filesystem", header{fsCount: 1, recursive: true, props: true}, "a replication stream (zfs send -R, 1 filesystems)"},
		{"several filesystems, not recursive", header{fsCount: 2}, "a replication stream (zfs send -R, 2 filesystems)"},
		{"no filesystem", header{}, "a replication stream (zfs send -R, 0 filesystems)"},
		{"zfs send -I -p", header{fsCount: 1, props: true}, "the sender's properties (zfs send -p)"},
		{"zfs send -I -h", header{fsCount: 1, holds: true}, "the sender's holds (zfs send -h)"},
	}
	for _, c := range cases {
		got, err := ParseCompound(c.h.pack())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = got.CheckRange()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// Whatever is malformed is an error, never a panic or a guess.
func TestDecodeNVListRefusesMalformed(t *testing.T) {
	good := header{fsCount: 1}.pack()
	deep := (&xdrList{}).boolean("x")
	for range maxNVDepth + 1 {
		deep = (&xdrList{}).list("d", deep)
	}
	cases := map[string][]byte{
		"empty":              nil,
		"native encoding":    append([]byte{0}, good[1:]...),
		"truncated":          good[:len(good)-5],
		"no end":             good[:len(good)-8],
		"trailing bytes":     append(append([]byte{}, good...), 0, 0, 0, 0),
		"nested too deep":    deep.pack(),
		"a version 1 list":   append([]byte{1, 1, 0, 0, 0, 0, 0, 1}, good[8:]...),
		"a size too small":   (&xdrList{pairs: [][]byte{xdrU32(xdrU32(nil, 12), 64)}}).pack(),
		"a size too large":   sized((&xdrList{}).u64("n", 1), +4),
		"a size that lies":   sized((&xdrList{}).u64("n", 1), -4),
		"an unknown type":    (&xdrList{}).add("n", 99, 1, make([]byte, 8)).pack(),
		"a scalar of 2":      (&xdrList{}).add("n", nvUint64, 2, make([]byte, 16)).pack(),
		"a boolean value":    (&xdrList{}).add("n", nvBoolean, 1, make([]byte, 4)).pack(),
		"an array that lies": (&xdrList{}).add("n", nvUint64Array, 2, xdrU32(make([]byte, 0), 3)).pack(),
		"a huge array":       (&xdrList{}).add("n", nvUint32Array, 1<<30, xdrU32(nil, 1<<30)).pack(),
		"a string too long":  (&xdrList{}).add("n", nvString, 1, xdrU32(nil, 1<<31)).pack(),
		"a name too long":    append(good[:12:12], 0, 0, 0, 40, 0, 0, 0, 64, 0xff, 0xff, 0xff, 0xff),
	}
	for name, b := range cases {
		if _, err := decodeNVList(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := decodeNVList(good); err != nil {
		t.Errorf("the good list: %v", err)
	}
}

// sized is l packed with its only pair's encoded size off by delta.
func sized(l *xdrList, delta int) []byte {
	p := l.pairs[0]
	binary.BigEndian.PutUint32(p, uint32(int(binary.BigEndian.Uint32(p))+delta))
	return l.pack()
}

// Every type a peer may use decodes, with its stated size.
func TestDecodeNVListEveryType(t *testing.T) {
	l := (&xdrList{}).boolean("b").u64("u", 7).str("s", "abc")
	for _, typ := range []nvType{nvByte, nvInt8, nvUint8, nvInt16, nvUint16, nvInt32, nvUint32, nvBooleanValue} {
		l.add(fmt.Sprint(typ), typ, 1, xdrU32(nil, 1))
	}
	for _, typ := range []nvType{nvInt64, nvHrtime, nvDouble} {
		l.add(fmt.Sprint(typ), typ, 1, make([]byte, 8))
	}
	l.add("bytes", nvByteArray, 5, make([]byte, 8))
	l.add("u32s", nvUint32Array, 2, append(xdrU32(nil, 2), make([]byte, 8)...))
	l.add("u64s", nvUint64Array, 2, append(xdrU32(nil, 2), make([]byte, 16)...))
	l.add("strs", nvStringArray, 2, xdrString(xdrString(nil, "a"), "bcdef"))
	l.add("empty", nvUint64Array, 0, nil) // no count, no value
	l.add("no lists", nvNVListArray, 0, nil)
	sub := (&xdrList{}).u64("x", 1)
	l.add("lists", nvNVListArray, 2, append(sub.body(), sub.body()...))
	got, err := decodeNVList(l.pack())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(l.pairs) {
		t.Errorf("%d pairs decoded of %d", len(got), len(l.pairs))
	}
	if p, _ := got.lookup("s"); p.Value != "abc" {
		t.Errorf("s = %v", p.Value)
	}
	if p, _ := got.lookup("lists"); len(p.Value.([]nvList)) != 2 {
		t.Errorf("lists = %v", p.Value)
	}
}

func FuzzDecodeNVList(f *testing.F) {
	f.Add(header{fsCount: 1}.pack())
	f.Add(header{fsCount: 2, recursive: true, props: true, holds: true}.pack())
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeNVList(b); err == nil && len(b) < 4+8+8 {
			t.Fatalf("accepted %d bytes: shorter than an empty list", len(b))
		}
		ParseCompound(b) // never panics, whatever b is
	})
}
