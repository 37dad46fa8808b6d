package stream

import (
	"errors"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// passFiles moves src to dst with splice(2) (see Pass).
func passFiles(dst, src *os.File) (int64, error) {
	n, err := splice(int(dst.Fd()), int(src.Fd()))
	// The descriptors are used past the files' last use: keep the files' finalizers from
	// closing them meanwhile.
	runtime.KeepAlive(dst)
	runtime.KeepAlive(src)
	return n, err
}

// spliceChunk is what one splice(2) may move, and the size asked of the pipe src is (F_SETPIPE_SZ):
// more than a pipe holds by default (64 KiB), so that each call can take a batch.
const spliceChunk = 1 << 20

// A splice that left src's pipe empty having moved less than smallBatch, from a writer
// slower than slowRate (ssh at a few MiB/s writes 16 to 32 KiB at a time), makes the next
// splice wait batchWait while the pipe fills, so that the copy wakes a few dozen times a
// second rather than once per write. Under an emulated CPU (the TCG lab) every wake-up
// costs: a pull's copy took 54-60 s of system time for 384 MiB without it. Only where src's
// pipe holds a whole batch (spliceChunk, F_SETPIPE_SZ): such a writer fills a fifth of it
// meanwhile and never finds it full; a faster one is never made to wait.
const (
	smallBatch = 256 << 10
	batchWait  = 20 * time.Millisecond
	slowRate   = 10 << 20 // bytes a second
)

func splice(dst, src int) (int64, error) {
	unix.FcntlInt(uintptr(src), unix.F_SETPIPE_SZ, spliceChunk) // best effort
	size, _ := unix.FcntlInt(uintptr(src), unix.F_GETPIPE_SZ, 0)
	batching := size >= spliceChunk
	var n int64
	last := time.Now()
	for {
		m, err := unix.Splice(src, nil, dst, nil, spliceChunk, unix.SPLICE_F_MOVE|unix.SPLICE_F_MORE)
		n += max(m, 0)
		now := time.Now()
		slow := float64(m) < slowRate*now.Sub(last).Seconds() // m came in since the last splice
		last = now
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return n, &os.PathError{Op: "splice", Path: "stream", Err: err}
		case m == 0:
			return n, nil // src ended
		case batching && slow && m < smallBatch && pending(src) == 0:
			time.Sleep(batchWait)
		}
	}
}

// pending returns the bytes waiting in the pipe fd (FIONREAD); -1 if unknown.
func pending(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD, by its Linux name
	if err != nil {
		return -1
	}
	return n
}
