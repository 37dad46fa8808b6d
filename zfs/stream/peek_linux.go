package stream

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// CanPeek says whether Peek works on this system (it needs Linux's tee(2)).
const CanPeek = true

// Peek returns the first n bytes waiting in the pipe src without taking them out of it, so
// that whoever reads src next (the zfs receive it is handed to) still gets them. It waits
// until n bytes are there or the pipe's writer closed it; then it returns what there is,
// with io.EOF for nothing and io.ErrUnexpectedEOF for fewer than n bytes. src must be the
// read end of an os.Pipe (non-blocking, in Go's poller) that nobody else reads meanwhile,
// n at most a pipe's capacity, and its writer one that writes with write(2), as ssh and zstd
// do (tee(2) copies whole pipe buffers, which such writes fill in turn). A writer that never
// closes and never writes n bytes keeps it waiting, as a read would: the run's stop ends the
// writer.
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
	defer src.SetReadDeadline(time.Time{})
	var got []byte
	var peekErr error
	for {
		// Some kernels (5.5 to 5.13 without the fix) wake a pipe's reader only for a write
		// into an empty pipe, and the bytes Peek waits beside are left there: so each wait
		// for the next write also ends after peekRetry, and the pipe is looked at again.
		src.SetReadDeadline(time.Now().Add(peekRetry))
		err = rc.Read(func(fd uintptr) bool {
			got, peekErr = peekOnce(int(fd), scratch, n)
			return got != nil || peekErr != nil
		})
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return got, cmp.Or(peekErr, err)
		}
	}
}

// peekRetry is how long Peek waits for the next write before it looks again anyway.
const peekRetry = 50 * time.Millisecond

// peekOnce returns the first n bytes waiting in the pipe src, what there is with io.EOF or
// io.ErrUnexpectedEOF when its writer closed it first, or nil (wait) while fewer are there.
func peekOnce(src int, scratch [2]int, n int) ([]byte, error) {
	// Both before the copy: what came before the close is in it, and so are the bytes
	// counted (nobody else takes from the pipe).
	hungUp, there := writerGone(src), pending(src)
	got, err := teeCopy(src, scratch, n)
	switch {
	case err != nil || len(got) >= n:
		return got, err
	case hungUp && len(got) == 0:
		return []byte{}, io.EOF
	case hungUp:
		return got, io.ErrUnexpectedEOF
	case there >= n:
		return nil, fmt.Errorf("tee(2) copied %d of the pipe's first %d bytes: its writer does not write(2)", len(got), n)
	}
	return nil, nil
}

// pending returns the bytes waiting in the pipe fd (FIONREAD); -1 if unknown.
func pending(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD, by its Linux name
	if err != nil {
		return -1
	}
	return n
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
