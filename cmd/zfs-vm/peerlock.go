package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// peerLockName is the lock that push, pull and sync all take for a replication partner:
// spec is [user@]host[:port], dest the receiving parent dataset ("" for none).
func peerLockName(spec, dest string) (string, error) {
	target, port, err := zfs.ParseHostSpec(spec)
	if err != nil {
		return "", err
	}
	if i := strings.LastIndexByte(target, '@'); i >= 0 {
		target = target[i+1:]
	}
	return lock.PeerName(target, port, dest), nil
}

// errPeerLocked is returned by lockPeer when another run holds the peer's lock.
type errPeerLocked struct{ spec, dest, holder string }

func (e *errPeerLocked) Error() string {
	what := e.spec
	if e.dest != "" {
		what += " (" + e.dest + ")"
	}
	return fmt.Sprintf("another zfs-vm run with %s is going on (pid %s)", what, e.holder)
}

// lockPeer takes the peer's lock, waiting up to --wait; an *errPeerLocked when it stays busy.
func lockPeer(c *cli.Context, spec, dest string) (*lock.Lock, error) {
	name, err := peerLockName(spec, dest)
	if err != nil {
		return nil, err
	}
	dir, err := lock.RuntimeDir(c.String("runtime-dir"))
	if err != nil {
		return nil, err
	}
	l, err := lock.AcquireContext(ctx(c), dir, name, c.Duration("wait"))
	if errors.Is(err, lock.ErrBusy) {
		return nil, &errPeerLocked{spec: spec, dest: dest, holder: lock.Holder(dir, name)}
	}
	return l, err
}
