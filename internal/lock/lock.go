// Package lock keeps two runs of zfs-vm from working on the same peer at once, with an
// flock(2) on a file per peer: the kernel releases it when the process ends, however it ends.
package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDir holds the lock files and ssh control sockets of root (or of any user who may
// write there).
const DefaultDir = "/run/zfs-vm"

// RuntimeDir returns the directory for lock files and ssh control sockets: dir when the
// operator set one, else DefaultDir when it can be created and written, else
// $XDG_RUNTIME_DIR/zfs-vm, so that a user without root (zfs allow) can run zfs-vm. Every
// user's runs of the same peer must see the same directory for the lock to mean anything;
// a non-root user's locks keep only that user's runs apart.
func RuntimeDir(dir string) (string, error) {
	return runtimeDir(dir, DefaultDir, os.Getenv("XDG_RUNTIME_DIR"))
}

func runtimeDir(dir, system, xdg string) (string, error) {
	if dir != "" {
		return dir, os.MkdirAll(dir, 0o755)
	}
	if os.MkdirAll(system, 0o755) == nil && unix.Access(system, unix.W_OK) == nil {
		return system, nil
	}
	if xdg == "" {
		return "", fmt.Errorf("no runtime directory: %s is not writable and XDG_RUNTIME_DIR is not set (set ZFS_VM_RUNTIME_DIR)", system)
	}
	d := filepath.Join(xdg, "zfs-vm")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// ErrBusy is returned when another process holds the lock.
var ErrBusy = errors.New("locked by another run")

// Lock is a held lock.
type Lock struct{ f *os.File }

// TryAcquire takes the lock named name in dir without waiting. The lock file is opened with
// O_NOFOLLOW: a symbolic link planted in a shared directory must not make us truncate
// another file.
func TryAcquire(dir, name string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("lock file %s is a symbolic link; refusing to follow it", path)
		}
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

// PeerName is the lock file name of one replication partner: the remote host (without the
// user, which does not change which datasets are touched; port 22 is the same as none) and
// the destination parent dataset ("" when the sender's names are kept). push, pull and sync
// all lock by it, so a manual run and a timer's run of the same peer never overlap.
func PeerName(host, port, dest string) string {
	if port == "22" {
		port = ""
	}
	key := strings.ToLower(host)
	if port != "" {
		key += ":" + port
	}
	// "=" cannot appear in a host name or a dataset name, so the two halves never blur.
	name := Name("peer", key+"="+dest)
	if len(name) > maxName {
		// A dataset name may be longer than a file name may be.
		sum := sha256.Sum256([]byte(name))
		name = name[:maxName-17] + "-" + hex.EncodeToString(sum[:8])
	}
	return name
}

// maxName keeps a lock file's name (with ".lock") under NAME_MAX.
const maxName = 200

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

// PrivateDir returns a directory of this user's own for locks that need no shared place
// (those of one client's connections to zfs-vm serve): zfs-vm-UID in the system's temporary
// directory, made mode 0700 if missing. One that is not a directory owned by this user and
// writable by no one else (a symbolic link or another user's, planted in the shared
// directory) is refused.
func PrivateDir() (string, error) {
	d := filepath.Join(os.TempDir(), fmt.Sprintf("zfs-vm-%d", os.Getuid()))
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Lstat(d, &st); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o022 != 0 {
		return "", fmt.Errorf("%s is not a directory of this user's own (mode 0700)", d)
	}
	return d, nil
}
