package zfs

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

// This host's own listings raise the soft memory limit by twice what they hold; a peer's
// do not (they are bounded instead).
func TestOwnListingsRaiseTheMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	defer LimitMemory(0)
	LimitMemory(20 << 20)
	var rows strings.Builder
	for i := 0; i < 20000; i++ {
		rows.WriteString("tank/d\tfilesystem\t1\t1\t-\t0\t0\t0\t/tank/d\t-\t1\t-\n")
	}
	local := rowParser{budget: &rowBudget{own: true}}
	if err := scanLines(strings.NewReader(rows.String()), local.add); err != nil {
		t.Fatal(err)
	}
	own := local.budget.used.Load()
	if got, want := debug.SetMemoryLimit(-1), int64(20<<20)+2*(own>>20<<20); got < want || own < 20000*rowCost {
		t.Errorf("limit %d after %d bytes of own rows; want at least %d", got, own, want)
	}
	before := debug.SetMemoryLimit(-1)
	peer := rowParser{budget: &rowBudget{max: maxPeerListing}}
	if err := scanLines(strings.NewReader(rows.String()), peer.add); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("a peer's rows moved the limit from %d to %d", before, got)
	}
}
