package zfstest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// ResumeToken encodes a receive_resume_token as OpenZFS writes it (a zlib-compressed native
// little-endian nvlist, hex), with the fields zfs-vm reads; fromGUID 0 leaves fromguid out.
// Flags are boolean pairs the kernel adds for the send flags ("rawok", "compressok", ...);
// "NAME=u64" makes NAME a uint64 pair instead (1), as a forged token might.
func ResumeToken(toName string, toGUID, fromGUID, bytesDone uint64, flags ...string) string {
	var nv bytes.Buffer
	nv.Write([]byte{0, 1, 0, 0}) // NV_ENCODE_NATIVE, little-endian
	nv.Write(make([]byte, 8))    // nvlist version and flags
	pair := func(name string, typ uint32, value []byte) {
		nameSize := len(name) + 1
		padded := (nameSize + 7) &^ 7
		value = append(value, make([]byte, (8-len(value)%8)%8)...)
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(16+padded+len(value)))
		binary.LittleEndian.PutUint16(h[4:], uint16(nameSize))
		if typ != 1 { // a boolean has no element
			binary.LittleEndian.PutUint32(h[8:], 1)
		}
		binary.LittleEndian.PutUint32(h[12:], typ)
		nv.Write(h[:])
		nv.WriteString(name)
		nv.Write(make([]byte, padded-len(name)))
		nv.Write(value)
	}
	u64 := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	if fromGUID != 0 {
		pair("fromguid", 8, u64(fromGUID))
	}
	pair("toguid", 8, u64(toGUID))
	pair("toname", 9, append([]byte(toName), 0))
	pair("bytes", 8, u64(bytesDone))
	for _, f := range flags {
		if name, ok := strings.CutSuffix(f, "=u64"); ok {
			pair(name, 8, u64(1))
			continue
		}
		pair(f, 1, nil) // DATA_TYPE_BOOLEAN: no value
	}
	nv.Write(make([]byte, 4))
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(nv.Bytes())
	w.Close()
	return fmt.Sprintf("1-0-%x-%s", nv.Len(), hex.EncodeToString(z.Bytes()))
}
