package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// peerLock names the lock that push, pull and sync all take for a replication partner:
// spec is [user@]host[:port], dest the receiving parent dataset ("" for none), sshOptions
// the options every ssh run to the peer gets. The host is keyed as ssh resolves it (its
// HostName and Port, see zfs.SSHConfig.Resolve), so that a Host alias and the name it
// stands for, or two ports' spellings, take one lock. When ssh cannot say, there is no key:
// the name as written would let another spelling of the same machine run on the same
// datasets at once, so the run stops. It returns also what ssh said of the peer, for its
// dial (zfs.DialOptions.Config).
func peerLock(ctx context.Context, spec, dest string, sshOptions []string) (string, *zfs.SSHConfig, error) {
	cfg, err := zfs.ReadSSHConfig(ctx, spec, sshOptions)
	var host, port string
	if err == nil {
		host, port, err = cfg.Resolve()
	}
	if err != nil {
		return "", nil, fmt.Errorf("cannot resolve peer %s for its lock: %v", spec, err)
	}
	return lock.PeerName(host, port, dest), cfg, nil
}

// replicateLock is push's and pull's peerLock: "local" (this host, which they reach
// without ssh) is keyed as written, and ssh gets no options.
func replicateLock(ctx context.Context, spec, dest string) (string, *zfs.SSHConfig, error) {
	if zfs.IsLocal(spec) {
		return lock.PeerName("local", "", dest), nil, nil
	}
	return peerLock(ctx, spec, dest, nil)
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

// lockPeer takes the lock name of the peer spec with destination dest, waiting up to
// --wait; an *errPeerLocked when it stays busy.
func lockPeer(c *cli.Context, name, spec, dest string) (*lock.Lock, error) {
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
