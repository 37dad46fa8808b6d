package zfs

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// memoryBase is the base of the Go runtime's soft memory limit (see LimitMemory); 0: none set.
var memoryBase atomic.Int64

// LimitMemory sets the Go runtime's soft memory limit to base, raised, as this host's own
// listings are read, by twice what the largest read of them holds. The garbage collector
// then works harder as the heap nears the limit, rather than letting it grow to twice what
// is live: with the bound on what a peer's listings may hold (maxPeerListing), zfs-vm stays
// under 32 MiB whatever a peer sends, while a host with very many snapshots of its own is
// not made to collect without end (the bound is on peers, not on this host). base 0 sets
// nothing.
func LimitMemory(base int64) {
	memoryBase.Store(base)
	if base > 0 {
		debug.SetMemoryLimit(base)
	}
}

// countOwn counts n bytes of a read of this host's own listings (b, an own budget) and
// raises the limit each MiB of that read.
func countOwn(b *rowBudget, n int) {
	base := memoryBase.Load()
	if base == 0 {
		return
	}
	total := b.used.Add(int64(n))
	if total>>20 == (total-int64(n))>>20 {
		return
	}
	// Reads of this host may run at once: the highest limit asked for wins.
	limitMu.Lock()
	defer limitMu.Unlock()
	if want := base + 2*total; want > debug.SetMemoryLimit(-1) {
		debug.SetMemoryLimit(want)
	}
}

var limitMu sync.Mutex
