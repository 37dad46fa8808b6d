package stream

import (
	"fmt"
	"io"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
)

// MaxCompoundHeader bounds the header of a compound stream that Admit reads. zfs send -I
// alone writes none (a 0-byte header, seen on OpenZFS 2.1.11 and 2.3.2); with -w, -p, -h or
// -R the header lists each filesystem's snapshots, about 120 bytes each: 4 MiB is some
// 30,000.
const MaxCompoundHeader = 4 << 20

// Compound is what a compound stream's header (the nvlist libzfs's zfs_send writes after
// the first record; lib/libzfs/libzfs_sendrecv.c) says about the stream.
type Compound struct {
	// Filesystems is the number of entries in "fss": the datasets the stream carries.
	Filesystems int
	// Recursive is the absence of "not_recursive": zfs receive then takes the stream as a
	// replication stream (zfs send -R), finding its datasets by guid.
	Recursive bool
	// Props is a filesystem entry with "props", the sender's properties (-p, -R, -b).
	Props bool
	// Holds is a filesystem entry with "snapholds", the sender's holds (-h).
	Holds bool
}

// ParseCompound decodes a compound stream's header (the first record's payload).
func ParseCompound(payload []byte) (*Compound, error) {
	nv, err := decodeNVList(payload)
	if err != nil {
		return nil, err
	}
	fss, ok := nv.lookup("fss")
	list, isList := fss.Value.(nvList)
	if !ok || !isList {
		return nil, fmt.Errorf("no fss list")
	}
	_, notRecursive := nv.lookup("not_recursive")
	c := &Compound{Filesystems: len(list), Recursive: !notRecursive}
	for _, fs := range list {
		entry, ok := fs.Value.(nvList)
		if !ok {
			return nil, fmt.Errorf("fss entry %q is not an nvlist", fs.Name)
		}
		_, props := entry.lookup("props")
		_, holds := entry.lookup("snapholds")
		c.Props, c.Holds = c.Props || props, c.Holds || holds
	}
	return c, nil
}

// CheckRange refuses a compound stream that is not what zfs send -I writes for a run of
// one filesystem's snapshots, as zfs-vm sends it (without -p, -R or -h): one filesystem,
// not recursive, without the sender's properties or holds.
func (c *Compound) CheckRange() error {
	const asked = "where a run of one filesystem's snapshots (zfs send -I) was asked"
	switch {
	case c.Filesystems != 1 || c.Recursive:
		return fmt.Errorf("a replication stream (zfs send -R, %d filesystems) %s", c.Filesystems, asked)
	case c.Props:
		return fmt.Errorf("a stream with the sender's properties (zfs send -p) %s", asked)
	case c.Holds:
		return fmt.Errorf("a stream with the sender's holds (zfs send -h) %s", asked)
	}
	return nil
}

// checkCompound takes the compound stream whose first record h is only when its header is
// empty, which is what zfs send -I (and -w -I) alone writes on OpenZFS 2.x (seen on 2.1.11
// and 2.3.2): zfs receive then takes the stream as one filesystem's, with no recursion,
// properties or holds, since it reads "not_recursive" and the filesystems from the header.
// Any header is refused. One that CheckRange would pass (one filesystem, not recursive) is
// refused too: no OpenZFS sender writes one for a plain -I, and a header is an nvlist whose
// every detail (a duplicate name, a flag of another type, "snapprops") libzfs reads in its
// own way. The header is still read and decoded, bounded, to say what it was.
func checkCompound(src io.Reader, h *Header) error {
	if h.PayloadLen == 0 {
		return nil
	}
	if h.PayloadLen > MaxCompoundHeader {
		return &RefusedError{Err: fmt.Errorf("a compound stream with a %d-byte header (zfs-vm reads at most %d)", h.PayloadLen, MaxCompoundHeader)}
	}
	payload := make([]byte, h.PayloadLen)
	if n, err := io.ReadFull(src, payload); err == io.EOF || err == io.ErrUnexpectedEOF {
		return &RefusedError{Err: fmt.Errorf("a compound stream that ends %d bytes into its %d-byte header", n, h.PayloadLen)}
	} else if err != nil {
		return fmt.Errorf("reading the compound stream's header: %w", err)
	}
	c, err := ParseCompound(payload)
	if err != nil {
		// The reason may quote a pair's name, the peer's text.
		why := untrusted.Printable(untrusted.Line(err.Error(), 200))
		return &RefusedError{Err: fmt.Errorf("a compound stream whose header zfs-vm cannot read: %s", why)}
	}
	if err := c.CheckRange(); err != nil {
		return &RefusedError{Err: err}
	}
	return &RefusedError{Err: fmt.Errorf("a compound stream with a %d-byte header where a run of one filesystem's snapshots (zfs send -I) was asked: zfs send -I writes none", h.PayloadLen)}
}
