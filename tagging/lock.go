package tagging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zfs-vm/zfs-vm/internal/lock"
)

// LockWait is how long a tag waits by default for another tag on the host to finish.
const LockWait = 2 * time.Minute

// lockName is the tagging lock's file name in the lock directory.
var lockName = lock.Name("tag", "host")

// LockBusyError is a tag that gave up waiting for another one.
type LockBusyError struct {
	Dir    string
	Holder string // pid of the holder, "" when unknown
	Waited time.Duration
}

func (e *LockBusyError) Error() string {
	return fmt.Sprintf("another zfs-vm tag (pid %s) held the tag lock in %s for more than %s", e.Holder, e.Dir, e.Waited)
}

// Lock takes the host's tagging lock in dir, waiting up to wait for another holder. A tag
// holds it from its listing to its snapshot: versions are numbered per host (a streamline's
// highest anywhere on it, in any pool, plus one), so two tags that listed at once would pick
// the same number.
func Lock(ctx context.Context, dir string, wait time.Duration) (*lock.Lock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := lock.TryAcquire(dir, lockName)
		switch {
		case err == nil:
			return l, nil
		case !errors.Is(err, lock.ErrBusy):
			return nil, fmt.Errorf("taking the tag lock in %s: %w", dir, err)
		case !time.Now().Before(deadline):
			return nil, &LockBusyError{Dir: dir, Holder: lock.Holder(dir, lockName), Waited: wait}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
