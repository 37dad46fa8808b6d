package replicate

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/dustin/go-humanize"
	"golang.org/x/time/rate"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Transport is how streams travel between the two hosts, beyond the plain pipe.
type Transport struct {
	// Compress is the compressor on the wire: "" for none, or "zstd". It is used only when
	// both hosts have it and they are different machines; otherwise streams go uncompressed
	// (with a warning), since a missing compressor should not stop a replication.
	Compress string
	// RateLimit caps the bytes per second on the wire, after compression; 0 for no limit.
	// The stream then passes through zfs-vm (see Executor.cuts).
	RateLimit uint64
}

// Compressors zfs-vm knows, with the commands that compress on the sender and decompress on
// the receiver. zstd -T0 uses every core of the sender; level 3 (the default) is fast enough
// to keep up with a disk and still halves text-like data.
var compressors = map[string]struct{ compress, decompress []string }{
	"zstd": {compress: []string{"zstd", "-q", "-c", "-T0"}, decompress: []string{"zstd", "-q", "-d", "-c"}},
}

// ParseCompress checks a compressor name: "zstd", or "none" / "" for none (returned as "").
func ParseCompress(s string) (string, error) {
	switch s {
	case "", "none":
		return "", nil
	}
	if _, ok := compressors[s]; !ok {
		return "", fmt.Errorf("compressor %q: use zstd or none", s)
	}
	return s, nil
}

// ParseRate reads a bandwidth limit in bytes per second: a number with an optional unit,
// 1000-based (500K, 10M, 1G) or 1024-based (512KiB, 10MiB); "0" or "" for no limit.
func ParseRate(s string) (uint64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	n, err := humanize.ParseBytes(strings.TrimSuffix(strings.TrimSuffix(s, "/s"), "ps"))
	if err != nil {
		return 0, fmt.Errorf("bandwidth limit %q: use bytes per second with an optional unit, e.g. 500K, 10M, 10MiB", s)
	}
	if n > 0 && n < 1024 {
		return 0, fmt.Errorf("bandwidth limit %q: less than 1 KiB/s; did you forget the unit (K, M, G)?", s)
	}
	return n, nil
}

// wire is what the executor settled for a run: the compressor's stages, if any.
type wire struct {
	compress, decompress []zfs.Stage
}

// chooseWire decides once per run whether the compressor can be used: both hosts must have
// it (one round trip to each remote host), and they must not be the same machine.
func (e *Executor) chooseWire(ctx context.Context) wire {
	name := e.Transport.Compress
	if name == "" {
		return wire{}
	}
	if e.Sender.IsLocal() && e.Receiver.IsLocal() {
		e.Log.Debugf("not compressing with %s: both sides are this host", name)
		return wire{}
	}
	c := compressors[name]
	for _, h := range []*zfs.Host{e.Sender, e.Receiver} {
		ok, err := h.Has(ctx, c.compress[0], "--version")
		if err != nil || !ok {
			why := "it is not installed there"
			if err != nil {
				why = err.Error()
			}
			e.Log.Warnf("sending uncompressed: cannot use %s on %s (%s)", name, h.Name, why)
			return wire{}
		}
	}
	e.Log.Debugf("compressing streams on the wire with %s", name)
	return wire{
		compress:   []zfs.Stage{{Argv: c.compress, Helper: true}},
		decompress: []zfs.Stage{{Argv: c.decompress, Helper: true}},
	}
}

// rateLimitedCopy copies src to dst at no more than bytesPerSecond, in chunks small enough
// that the rate is smooth (about 8 a second) and never so small that the copy costs CPU.
func rateLimitedCopy(ctx context.Context, dst io.Writer, src io.Reader, bytesPerSecond uint64) (int64, error) {
	chunk := rateChunk(bytesPerSecond)
	lim := rate.NewLimiter(rate.Limit(bytesPerSecond), chunk)
	buf := make([]byte, chunk)
	var done int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if err := lim.WaitN(ctx, n); err != nil {
				return done, err
			}
			w, werr := dst.Write(buf[:n])
			done += int64(w)
			if werr != nil {
				return done, werr
			}
		}
		if rerr == io.EOF {
			return done, nil
		}
		if rerr != nil {
			return done, rerr
		}
	}
}

// rateChunk is the size of the chunks a rate limit lets through at once.
func rateChunk(bytesPerSecond uint64) int {
	return int(min(max(bytesPerSecond/8, 4<<10), 256<<10))
}

// rateLimitedReader reads from r at no more than bytesPerSecond, in the chunks of
// rateLimitedCopy: the rate limit of a stream that is walked record by record (see
// checkedCopy) rather than copied.
type rateLimitedReader struct {
	ctx   context.Context
	r     io.Reader
	lim   *rate.Limiter
	chunk int
}

func newRateLimitedReader(ctx context.Context, r io.Reader, bytesPerSecond uint64) *rateLimitedReader {
	chunk := rateChunk(bytesPerSecond)
	return &rateLimitedReader{ctx: ctx, r: r, lim: rate.NewLimiter(rate.Limit(bytesPerSecond), chunk), chunk: chunk}
}

func (l *rateLimitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p[:min(len(p), l.chunk)])
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}
