package stream

import (
	"cmp"
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// CanPeek says whether Peek works on this system (it needs Linux's tee(2)).
const CanPeek = true

// Peek returns the first n bytes waiting in the pipe src without taking them out of it, so
// that whoever reads src next (the zfs receive it is handed to) still gets them. It waits
// until n bytes are there or the pipe's writer closed it; then it returns what there is,
// with io.EOF for nothing and io.ErrUnexpectedEOF for fewer than n bytes. src must be the
// read end of an os.Pipe (non-blocking, in Go's poller) that nobody else reads meanwhile,
// and n at most a pipe's capacity. A writer that never closes and never writes n bytes
// keeps it waiting, as a read would: the run's stop ends the writer.
func Peek(src *os.File, n int) ([]byte, error) {
	var scratch [2]int
	if err := unix.Pipe2(scratch[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(scratch[0])
	defer unix.Close(scratch[1])
	rc, err := src.SyscallConn()
	if err != nil {
		return nil, err
	}
	var got []byte
	var peekErr error
	err = rc.Read(func(fd uintptr) bool {
		hungUp := writerGone(int(fd)) // before the copy: what came before the close is in it
		got, peekErr = teeCopy(int(fd), scratch, n)
		switch {
		case peekErr != nil || len(got) >= n:
			return true
		case hungUp && len(got) == 0:
			peekErr = io.EOF
			return true
		case hungUp:
			peekErr = io.ErrUnexpectedEOF
			return true
		}
		return false // wait for the pipe's next write (or close) in Go's poller
	})
	return got, cmp.Or(peekErr, err)
}

// teeCopy returns a copy of up to n of the bytes waiting in the pipe src (tee(2) into
// scratch, read back); none when it is empty.
func teeCopy(src int, scratch [2]int, n int) ([]byte, error) {
	for {
		m, err := unix.Tee(src, scratch[1], n, unix.SPLICE_F_NONBLOCK)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN) || m == 0:
			return nil, nil
		case err != nil:
			return nil, os.NewSyscallError("tee", err)
		}
		buf := make([]byte, m)
		for k := 0; k < len(buf); {
			r, err := unix.Read(scratch[0], buf[k:])
			if err != nil && !errors.Is(err, unix.EINTR) {
				return nil, os.NewSyscallError("read", err)
			}
			k += max(r, 0)
		}
		return buf, nil
	}
}

// writerGone says whether the pipe fd's writers have all closed it (POLLHUP): nothing more
// will arrive.
func writerGone(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(p, 0)
		if !errors.Is(err, unix.EINTR) {
			return err == nil && p[0].Revents&unix.POLLHUP != 0
		}
	}
}
