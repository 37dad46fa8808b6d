// Package lock keeps two runs of zfs-vm from working on the same peer at once, with an
// flock(2) on a file per peer: the kernel releases it when the process ends, however it ends.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDir holds the lock files.
const DefaultDir = "/run/zfs-vm"

// ErrBusy is returned when another process holds the lock.
var ErrBusy = errors.New("locked by another run")

// Lock is a held lock.
type Lock struct{ f *os.File }

// TryAcquire takes the lock named name in dir without waiting.
func TryAcquire(dir, name string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return &Lock{f: f}, nil
}

// Acquire takes the lock, waiting up to wait for another holder to let it go.
func Acquire(dir, name string, wait time.Duration) (*Lock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := TryAcquire(dir, name)
		if !errors.Is(err, ErrBusy) || !time.Now().Before(deadline) {
			return l, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Name turns a peer or host name into a lock file name.
func Name(kind, peer string) string {
	b := []byte(kind + "-" + peer)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Holder returns the pid written by the lock's holder, or "" when unknown.
func Holder(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name+".lock"))
	return string(b[:len(b)-min(1, len(b))])
}

// Release lets the lock go.
func (l *Lock) Release() error { return l.f.Close() }

// AcquireContext is Acquire that also gives up when ctx is done (a signal, --timeout),
// returning ctx's cause.
func AcquireContext(ctx context.Context, dir, name string, wait time.Duration) (*Lock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := TryAcquire(dir, name)
		if !errors.Is(err, ErrBusy) || !time.Now().Before(deadline) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
