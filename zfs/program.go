package zfs

import (
	"context"
	_ "embed" // the names program
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Step 1's names through a channel program.
//
// `zfs list -t snapshot -o name` costs an ioctl and a libzfs handle a snapshot: with 10,000
// foreign snapshots that is about 30 s a host in the lab (TCG), all to find zfs-vm's few
// among them. The names program (names.lua) walks the same datasets and snapshots in the
// kernel, read-only (`zfs program -n`), in one call a pool, and returns only the names of
// zfs-vm's snapshots and how many snapshots there are: under a second for the same pool.
// While it runs (under a second there) the pool's other administrative operations wait:
// a read-only channel program holds the pool's configuration lock.
//
// Channel programs run only as root (through sudo too), not for a user zfs allow
// delegates to, nor through `zfs-vm serve`. So a host's names are read through the program
// only when an earlier run learned that it works there (Guess.Pools): the run that learns
// (Guess.Learn) reads the names listing as before and, beside it, the program on every
// pool, and keeps the pools only when both found the same datasets with zfs-vm snapshots
// and the same number of snapshots. A host where the program failed (not a run stopped, nor
// ssh failing) is not asked again (Guess.NoProgram) until the hints are lost. A run that
// reads through the program and finds it failing, or the host's pools changed, reads the
// names listing after all, and counts only the listing's lines in its budget: the program
// changes what step 1 costs, not what it finds.

//go:embed names.lua
var namesProgram string

// NamesProgramArgs returns the argv that runs the names program on pool, its text read from
// standard input.
func NamesProgramArgs(pool string) []string {
	return []string{"zfs", "program", "-j", "-n", pool, "/dev/stdin", pool}
}

// maxProgramOutput bounds the names program's output on this host: the program's memory in
// the kernel (10 MiB, `zfs program`'s default) bounds the names it returns, and JSON adds a
// byte a name. A peer's output is bounded as any other command's (maxStdout, 4 MiB: some
// 80,000 names of zfs-vm snapshots a pool); past it the command is stopped and the program
// taken as failing there.
const maxProgramOutput = 12 << 20

// programResult is what the names program returns of one pool.
type programResult struct {
	Count int64  `json:"count"`
	Names string `json:"names"`
}

// parseProgramOutput reads the names program's output, `zfs program -j`'s JSON.
func parseProgramOutput(out []byte) (programResult, error) {
	var v struct {
		Return *programResult `json:"return"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Return == nil {
		return programResult{}, errors.New("names program: not the output it returns")
	}
	if v.Return.Count < 0 || v.Return.Count > maxPeerLines {
		return programResult{}, fmt.Errorf("names program: a count of %d snapshots", v.Return.Count)
	}
	return *v.Return, nil
}

// runNamesProgram runs the names program on pool and returns its output.
func (h *Host) runNamesProgram(ctx context.Context, pool string) ([]byte, error) {
	limit := maxProgramOutput
	if !h.IsLocal() {
		limit = maxStdout
	}
	return h.captureIn(ctx, strings.NewReader(namesProgram), func(stop func()) sink {
		return &stopWriter{max: limit, stop: stop}
	}, NamesProgramArgs(pool))
}

// programRunner runs the names program on a pool and returns its output.
type programRunner func(pool string) ([]byte, error)

// readByProgram reads the names of the pools' zfs-vm snapshots into t through run, a pool
// after the other, so that one output at a time is held, parsed and dropped; a pool is a
// round trip, and hosts have few. t's names are then sorted (by dataset), as a pool's come
// in the kernel's order. The first error stops it.
func readByProgram(run programRunner, pools []string, t *tagDatasets) error {
	for _, pool := range pools {
		out, err := run(pool)
		if err != nil {
			return err
		}
		r, err := parseProgramOutput(out)
		if err != nil {
			return err
		}
		if err := t.addProgram(pool, r); err != nil {
			return err
		}
	}
	slices.Sort(t.names)
	return nil
}

// addProgram adds what the names program found on pool, as add would have of the lines of
// the names listing: every snapshot counted, the zfs-vm ones kept. A name outside the pool,
// or more names than snapshots, is refused.
func (t *tagDatasets) addProgram(pool string, r programResult) error {
	if r.Names != "" && int64(strings.Count(r.Names, "\n"))+1 > r.Count {
		return fmt.Errorf("names program: more names than its %d snapshots", r.Count)
	}
	if !t.budget.manyLines(r.Count) {
		return t.budget.linesErr()
	}
	t.line += int(r.Count)
	if r.Names == "" {
		return nil
	}
	for n := range strings.SplitSeq(r.Names, "\n") {
		if ds, _, ok := SplitSnapshotName(n); !ok || !InPool(ds, pool) {
			return &ListError{t.line, "names program: not a snapshot of pool " + pool, n}
		}
		if !isTagNameLine([]byte(n)) {
			return &ListError{t.line, "names program: not a zfs-vm snapshot", n}
		}
		if err := t.addName([]byte(n)); err != nil {
			return err
		}
	}
	return nil
}

// agrees reports whether t and o found the same datasets with zfs-vm snapshots and the same
// number of snapshots (a run learning whether the names program can stand for the listing).
func (t *tagDatasets) agrees(o *tagDatasets) bool {
	return t.line == o.line && maps.Equal(t.seen, o.seen)
}

// usablePools reports whether pools can be given to the names program: valid pool names,
// each once, at most maxGuessPools of them.
func usablePools(pools []string) bool {
	seen := make(map[string]bool, len(pools))
	for _, p := range pools {
		if seen[p] || ParentDataset(p) != "" || ValidateDatasetName(p) != nil {
			return false
		}
		seen[p] = true
	}
	return len(pools) <= maxGuessPools
}

// maxGuessPools bounds the pools of a guess, and those a run learns on: a command each.
const maxGuessPools = 64

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	return !slices.ContainsFunc(a, func(x string) bool { return !slices.Contains(b, x) }) &&
		!slices.ContainsFunc(b, func(x string) bool { return !slices.Contains(a, x) })
}
