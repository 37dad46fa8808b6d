package stream

import (
	"errors"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Pass copies src to dst until src ends, as io.Copy does. Between two files of which one is
// a pipe (a stream on its way from ssh or zfs send to zfs receive) it moves the bytes with
// splice(2) in the kernel instead: io.Copy would read and write them through a 32 KiB
// buffer, with a wake-up of Go's poller for each read, which costs an emulated or busy CPU
// more than the stream's own pipes do. Both files are put in blocking mode (os.File.Fd), so
// the copy waits in the kernel; it ends when the writer of src closes it or the reader of dst
// goes away (EPIPE): closing either file from another goroutine does not stop it (and must
// not happen while it runs), so it is for a copy whose ends only processes close, as a
// pull's is (the processes at both ends are stopped with the run).
func Pass(dst io.Writer, src io.Reader) (int64, error) {
	df, dok := dst.(*os.File)
	sf, sok := src.(*os.File)
	if !dok || !sok || !(isPipe(df) || isPipe(sf)) {
		return io.Copy(dst, src)
	}
	n, err := splice(int(df.Fd()), int(sf.Fd()))
	// The descriptors are used past the files' last use: keep the files' finalizers from
	// closing them meanwhile.
	runtime.KeepAlive(df)
	runtime.KeepAlive(sf)
	return n, err
}

// spliceChunk is what one splice(2) may move: more than a pipe holds (64 KiB by default), so
// that each call takes whatever is there.
const spliceChunk = 1 << 20

func splice(dst, src int) (int64, error) {
	var n int64
	for {
		m, err := unix.Splice(src, nil, dst, nil, spliceChunk, unix.SPLICE_F_MOVE|unix.SPLICE_F_MORE)
		n += max(m, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return n, &os.PathError{Op: "splice", Path: "stream", Err: err}
		case m == 0:
			return n, nil // src ended
		}
	}
}

func isPipe(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeNamedPipe != 0
}
