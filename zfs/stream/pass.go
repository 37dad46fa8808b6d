package stream

import (
	"io"
	"os"
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
	return passFiles(df, sf)
}

func isPipe(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeNamedPipe != 0
}
