package zfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
)

// ResumeToken is what a receive_resume_token says about the interrupted stream.
type ResumeToken struct {
	FromGUID uint64 // 0 for a full stream
	ToGUID   uint64
	ToName   string // the sender's snapshot, as it was named when the stream started
	Bytes    uint64 // bytes received so far
	// Raw is the token's rawok: zfs send -t takes its flags from the token, not from its
	// command line, so a token with rawok resumes a raw stream (-w) and one without sends
	// the plaintext of an encrypted dataset.
	Raw bool
}

// SafeName returns ToName fit to print: the token is the receiver's copy of what a sender
// wrote, so its name is escaped and shortened.
func (t ResumeToken) SafeName() string {
	return untrusted.Printable(untrusted.Line(t.ToName, maxMessageLine))
}

// maxTokenPacked bounds the decompressed size of a token's nvlist; real ones are a few
// hundred bytes.
const maxTokenPacked = 1 << 20

// ParseResumeToken decodes a receive_resume_token:
// "<version>-<checksum>-<packed length>-<hex of the zlib-compressed packed nvlist>", the nvlist
// in the native encoding (OpenZFS libzfs zfs_send_resume_token_to_nvlist).
func ParseResumeToken(token string) (ResumeToken, error) {
	bad := func(why string) (ResumeToken, error) {
		return ResumeToken{}, fmt.Errorf("resume token: %s", why)
	}
	parts := strings.SplitN(token, "-", 4)
	if len(parts) != 4 || parts[0] != "1" {
		return bad("not a version 1 token")
	}
	packedLen, err := strconv.ParseUint(parts[2], 16, 32)
	if err != nil || packedLen > maxTokenPacked {
		return bad("bad packed length")
	}
	compressed, err := hex.DecodeString(parts[3])
	if err != nil {
		return bad("payload is not hex")
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return bad("payload is not zlib data")
	}
	packed, err := io.ReadAll(io.LimitReader(zr, int64(packedLen)+1))
	if err != nil || uint64(len(packed)) != packedLen {
		return bad("payload does not decompress to its stated length")
	}
	pairs, err := parseNativeNVList(packed)
	if err != nil {
		return bad(untrusted.Printable(untrusted.Line(err.Error(), maxMessageLine))) // it may quote a pair's name
	}
	var t ResumeToken
	t.FromGUID, _ = pairs["fromguid"].(uint64)
	t.Bytes, _ = pairs["bytes"].(uint64)
	// zfs send -t sends raw when the token has a pair called rawok, of whatever type
	// (nvlist_exists), so its presence is what counts here too.
	_, t.Raw = pairs["rawok"]
	var ok bool
	if t.ToGUID, ok = pairs["toguid"].(uint64); !ok {
		return bad("no toguid")
	}
	if t.ToName, ok = pairs["toname"].(string); !ok {
		return bad("no toname")
	}
	return t, nil
}

// nvlist data types (sys/nvpair.h) that tokens use.
const (
	nvTypeBoolean = 1 // a flag: present, without a value
	nvTypeUint64  = 8
	nvTypeString  = 9
)

// parseNativeNVList reads the top-level boolean, uint64 and string pairs of an nvlist packed with
// NV_ENCODE_NATIVE on a little- or big-endian host; other pairs are skipped by their size.
func parseNativeNVList(b []byte) (map[string]any, error) {
	if len(b) < 4+8 {
		return nil, fmt.Errorf("nvlist too short")
	}
	if b[0] != 0 { // NV_ENCODE_NATIVE
		return nil, fmt.Errorf("nvlist encoding %d is not native", b[0])
	}
	var order binary.ByteOrder = binary.BigEndian
	if b[1] == 1 { // NV_LITTLE_ENDIAN
		order = binary.LittleEndian
	}
	pos := 4 + 8 // header, then the nvlist's version and flags
	out := map[string]any{}
	for {
		if pos+4 > len(b) {
			return nil, fmt.Errorf("nvlist truncated")
		}
		size := int(int32(order.Uint32(b[pos:])))
		if size == 0 {
			return out, nil
		}
		if size < 16 || pos+size > len(b) {
			return nil, fmt.Errorf("bad nvpair size %d", size)
		}
		pair := b[pos : pos+size]
		nameSize := int(order.Uint16(pair[4:]))
		typ := order.Uint32(pair[12:])
		valueAt := 16 + (nameSize+7)&^7
		if nameSize < 1 || 16+nameSize > size || valueAt > size {
			return nil, fmt.Errorf("bad nvpair name")
		}
		name := string(bytes.TrimRight(pair[16:16+nameSize], "\x00"))
		value := pair[valueAt:]
		switch typ {
		case nvTypeBoolean:
			out[name] = true
		case nvTypeUint64:
			if len(value) < 8 {
				return nil, fmt.Errorf("short uint64 %s", name)
			}
			out[name] = order.Uint64(value)
		case nvTypeString:
			end := bytes.IndexByte(value, 0)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string %s", name)
			}
			out[name] = string(value[:end])
		default:
			// Kept by name only: libzfs tests some flags (rawok) with nvlist_exists, which
			// ignores the type, so a flag of another type still counts.
			if _, seen := out[name]; !seen {
				out[name] = nil
			}
		}
		pos += size
	}
}

// MatchesRaw refuses a token whose raw flag is not raw, the send options' (-w): the token
// comes from the receiver, and a peer that strips rawok from the token of an encrypted
// dataset's raw stream would get the plaintext. A token with rawok where raw is not
// configured is refused too: it is not the stream this configuration started, and the
// receiver would keep an encrypted dataset whose later non-raw incrementals fail.
func (t ResumeToken) MatchesRaw(raw bool) error {
	switch {
	case raw && !t.Raw:
		return fmt.Errorf("the resume token does not match the send options: it resumes a stream without raw (-w), which would send an encrypted dataset's plaintext")
	case !raw && t.Raw:
		return fmt.Errorf("the resume token does not match the send options: it resumes a raw stream (-w), which is not configured")
	}
	return nil
}
