package zfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// Reading for replication and `list`.
//
// The planner needs every zfs-vm snapshot with its guid and createtxg, the snapshots (foreign
// ones too) around them in their datasets and up their origin chains, to find bases, keep
// `zfs send -I` from carrying foreign snapshots and walk past lxc-copy's, and, on the
// receiver, every snapshot of each replica, since a foreign snapshot there is divergence.
// Snapshots of datasets that hold no zfs-vm snapshot and are not up the origin chain of one
// that does are of no use to it. ListVersions therefore reads, on each host:
//
//  1. every filesystem and volume, all columns (as for tagging, see ListDatasets), and at
//     the same time every snapshot's name through OpenZFS's fast path (TagNamesArgs), or,
//     where an earlier run learned that it can (ListVersionsGuessing), the names of
//     zfs-vm's snapshots alone through a read-only channel program (see program.go);
//  2. in full, the snapshots of the datasets whose names showed a zfs-vm snapshot and of the
//     datasets up their origin chains, in one `zfs list -t snapshot -d 1` (a few for very
//     many datasets, to keep each command line short).
//
// Cost: the names of all snapshots (the floor for any tool that must find zfs-vm's among
// them through `zfs list`; the channel program walks them in the kernel instead) plus the
// full columns of zfs-vm's datasets only, instead of the full columns of every snapshot.
// Limit: a snapshot of a dataset without zfs-vm snapshots is not indexed by guid, so a
// receiver dataset holding copies of the sender's foreign snapshots and none of its versions
// (filled by another tool) is not recognised as a copy; the full listing (List) would have
// used it as a base.

// ListVersions reads the host as replication and `list` need it (see above). Datasets
// outside what step 2 read are Partial and have no snapshots.
func (h *Host) ListVersions(ctx context.Context) (*Inventory, error) {
	return h.ListVersionsGuessing(ctx, Guess{})
}

// Guess is what an earlier run found on a host, for ListVersionsGuessing.
type Guess struct {
	// Datasets were read in full (Inventory.FullyRead).
	Datasets []string
	// Small: the host had at most SmallHost snapshots (Inventory.Small).
	Small bool
	// Pools: the names program can read the names of these pools, the host's all
	// (Inventory.ProgramPools, see program.go).
	Pools []string
	// NoProgram: the names program failed on the host (Inventory.NoProgram).
	NoProgram bool
	// Learn: without Pools, run the names program beside the names listing to learn whether
	// it can stand for it here (for a caller that keeps what it learns as hints).
	Learn bool
}

// SmallHost is the most snapshots a host may have for one listing of them all in full to
// cost about what it saves: listing a snapshot's columns costs a few milliseconds more than
// its name (4.6 against 1.15 ms in the lab, so 1.7 s more for 500), and the listing saves a
// round trip to a peer and two `zfs` processes, 2–4 s in the lab.
const SmallHost = 500

// ListVersionsGuessing is ListVersions with a guess at what it will find (g, from an earlier
// run) that saves round trips when it is right. A wrong guess costs time, never the result:
//   - a host that was Small is read with one full listing (List), then viewed as
//     ListVersions would have read it, so that a plan does not depend on the guess; past
//     smallListLines lines that listing is stopped and the host read the other way (below).
//     This host too: one process instead of three, which in the lab's shared CPUs saved
//     about 4 s of a 12–15 s no-op;
//   - else the snapshots of g.Datasets are listed beside step 1 (with their own bound on
//     rows), and step 2 lists only the datasets the guess missed, none when it was right.
//     Rows of datasets step 2 does not need are dropped; when the guessed listing fails (a
//     dataset destroyed since, too many rows) step 2 lists everything it needs as without
//     a guess, and when what it read does not fit what step 1 read (a clone made meanwhile
//     of a snapshot the guessed listing missed) the guessed datasets are listed again;
//   - step 1's names are read by the names program on g.Pools, when they are still the
//     host's pools, else by the names listing; with g.Learn (or when the pools changed)
//     the program also runs beside the listing, to learn for the next run whether it can
//     stand for it (Inventory.ProgramPools, Inventory.NoProgram; see program.go).
//
// A read whose step 2 finds a dataset of step 1 renamed or destroyed meanwhile is made again,
// once (ReadAgainIfVanished).
func (h *Host) ListVersionsGuessing(ctx context.Context, g Guess) (*Inventory, error) {
	if !usableGuess(g.Datasets) {
		g.Datasets = nil
	}
	if !usablePools(g.Pools) {
		g.Pools = nil
	}
	if g.Small {
		inv, err := h.listAtMost(ctx, smallListLines)
		if err == nil {
			inv.viewAsVersions()
			inv.read.programPools, inv.read.noProgram = g.Pools, g.NoProgram
			return inv, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	var log logrus.FieldLogger
	if h.log != nil {
		log = h.log.WithField("host", h.Name)
	}
	var inv *Inventory
	err := ReadAgainIfVanished(ctx, log, func() (err error) {
		inv, err = h.readGuessing(ctx, g)
		return err
	})
	return inv, err
}

// ReadAgainIfVanished runs read, a read of a host in more than one listing, and runs it once
// more when it failed because a dataset an earlier listing found was renamed or destroyed
// before a later one named it (DatasetVanished): the second read sees the host without it,
// where the first would fail a run (or show a status CRITICAL) for a race. Once only: a host
// that keeps failing so is not racing. log, when not nil, says why at debug level.
func ReadAgainIfVanished(ctx context.Context, log logrus.FieldLogger, read func() error) error {
	err := read()
	if err == nil || ctx.Err() != nil || !DatasetVanished(err) {
		return err
	}
	if log != nil {
		log.WithError(err).Debug("a dataset went away while it was read: reading the host again")
	}
	return read()
}

// DatasetVanished reports whether err is a listing that failed because a dataset it named
// no longer exists (what `zfs list DATASET` says of one renamed or destroyed meanwhile).
func DatasetVanished(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && strings.Contains(ce.Stderr, "dataset does not exist")
}

// readGuessing is one read of ListVersionsGuessing's two steps, past the small-host guess.
func (h *Host) readGuessing(ctx context.Context, g Guess) (*Inventory, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	list := func(argv []string, each func(line []byte) error) error {
		maxLine := maxRowLine
		if slices.Equal(argv, TagNamesArgs()) {
			maxLine = maxNameLine
		}
		return h.eachLine(ctx, argv, maxLine, each)
	}
	r := reading{list: list, budget: h.rowBudget(), guessBudget: h.rowBudget(), stop: stop, ctxErr: ctx.Err,
		program: func(pool string) ([]byte, error) { return h.runNamesProgram(ctx, pool) }}
	if h.log != nil {
		r.debug = h.log.WithField("host", h.Name).Debugf
	}
	inv, err := r.versions(g)
	if err != nil {
		return nil, h.listError(err)
	}
	return inv, nil
}

// ReadVersions is ListVersions with the listings given: datasets and names are the outputs
// of DatasetListArgs and TagNamesArgs, and snapshots returns that of SnapshotListArgs(ds...)
// for the datasets it is asked about.
func ReadVersions(datasets, names io.Reader, snapshots func(ds []string) ([]byte, error)) (*Inventory, error) {
	list := func(argv []string, each func(line []byte) error) error {
		switch {
		case slices.Equal(argv, DatasetListArgs()):
			return scanLines(datasets, each)
		case slices.Equal(argv, TagNamesArgs()):
			return scanLines(names, each)
		}
		out, err := snapshots(argv[len(SnapshotListArgs()):])
		if err != nil {
			return err
		}
		return scanLines(bytes.NewReader(out), each)
	}
	return readVersions(list, nil, func() {}, nil, nil)
}

// lister runs the listing argv and passes each line of its output to each.
type lister func(argv []string, each func(line []byte) error) error

// readVersions reads a host as ListVersions does, through list, keeping what budget allows,
// and guessing as ListVersionsGuessing does (the guessed listing within guessBudget), without
// the names program.
func readVersions(list lister, budget *rowBudget, stop func(), guess []string, guessBudget *rowBudget) (*Inventory, error) {
	return reading{list: list, budget: budget, guessBudget: guessBudget, stop: stop}.versions(Guess{Datasets: guess})
}

// reading is how readVersions reads a host: its listings, its names program (nil: none),
// the bounds of what it keeps and stop, which stops every command of the read.
type reading struct {
	list    lister
	program programRunner
	// budget bounds the read, guessBudget the guessed listing.
	budget, guessBudget *rowBudget
	stop                func()
	// ctxErr is the read's context's Err (nil: never stopped).
	ctxErr func() error
	// debug, when set, logs why the names program was not used.
	debug func(format string, args ...any)
}

// versions reads the host as ListVersionsGuessing does, with the guess g (already checked
// usable). Each listing is parsed as its lines arrive; the names listing (or program) and the
// guessed listing run beside the datasets'.
func (r reading) versions(g Guess) (*Inventory, error) {
	inv, tagged, guessed, err := r.step1(g)
	if err != nil {
		return nil, err
	}
	missed, hit, err := guessed.use(inv, inv.partialLineage(inv.named(tagged.names)...), r.budget)
	if err != nil {
		return nil, err
	}
	if err := inv.listSnapshots(r.list, r.budget, missed); err != nil {
		return nil, err
	}
	inv.allTags = true
	inv.read.snapshots, inv.read.counted = tagged.line, true
	if err := inv.check(); err != nil && len(hit) > 0 {
		// The guessed rows were read before step 1 ended: list those datasets again, after.
		if err := inv.listSnapshots(r.list, r.budget, hit); err != nil {
			return nil, err
		}
	}
	if err := inv.check(); err != nil {
		return nil, err
	}
	return inv, nil
}

// step1 reads the host's datasets and which of them have zfs-vm snapshots: by the names
// program on g.Pools when it has them and they are still the host's pools, else by the
// names listing, and then, when g.Learn (and the program did not fail here), by the program
// too, to learn whether it can stand for the listing (see program.go). The guessed
// datasets' snapshots are listed beside.
func (r reading) step1(g Guess) (*Inventory, *tagDatasets, *guessedRows, error) {
	byProgram := r.program != nil && len(g.Pools) > 0
	var first error
	var once sync.Once
	fail := func(err error) {
		if err != nil {
			once.Do(func() { first = err; r.stop() })
		}
	}
	tagged := newTagDatasets(r.budget)
	// The program's names are counted apart, and in the read's budget only once taken.
	programmed := newTagDatasets(r.budget.scratch())
	var programErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if byProgram {
			programErr = readByProgram(r.program, g.Pools, programmed)
		} else {
			fail(r.list(TagNamesArgs(), tagged.add))
		}
	}()
	guessed := &guessedRows{rows: rowParser{budget: r.guessBudget}}
	if len(g.Datasets) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guessed.read(r.list, g.Datasets)
		}()
	}
	rows := rowParser{budget: r.budget}
	listErr := r.list(DatasetListArgs(), rows.add)
	fail(listErr)
	pools := rows.pools()
	learn := learning{run: r.program, budget: r.budget.scratch(), fails: r.programFails}
	if listErr == nil && !byProgram && g.Learn && !g.NoProgram {
		learn.start(pools) // beside the names listing, which is the longer
	}
	wg.Wait()
	learn.wait()
	if first != nil {
		return nil, nil, nil, first
	}
	inv, err := rows.datasetInventory()
	if err != nil {
		return nil, nil, nil, err
	}
	switch {
	case byProgram && sameSet(pools, g.Pools) && programErr == nil:
		if err := r.budget.transfer(programmed.budget); err != nil {
			return nil, nil, nil, err
		}
		tagged = programmed
		inv.read.programPools = pools
	case byProgram:
		// The program failed, or the pools changed (a pool exported, another imported): the
		// names listing after all, and beside it, when the pools changed, the program on
		// them as they are now.
		if sameSet(pools, g.Pools) {
			learn.err, learn.started = programErr, true
		} else {
			learn.start(pools)
		}
		tagged = newTagDatasets(r.budget)
		err := r.list(TagNamesArgs(), tagged.add)
		learn.wait()
		if err != nil {
			return nil, nil, nil, err
		}
		learn.judge(inv, tagged, pools)
	default:
		learn.judge(inv, tagged, pools)
		inv.read.noProgram = inv.read.noProgram || g.NoProgram
	}
	return inv, tagged, guessed, nil
}

// programFails reports whether err, the names program's, says that it fails on the host
// (and should not be tried again), rather than that the run was stopped, ssh failed, or a
// pool went away since the datasets were listed.
func (r reading) programFails(err error) bool {
	if err == nil {
		return false
	}
	if r.debug != nil {
		r.debug("names program: %v", err)
	}
	var ce *CommandError
	switch {
	case r.ctxErr != nil && r.ctxErr() != nil:
		return false
	case errors.As(err, &ce) && len(ce.Argv) > 0 && ce.Argv[0] == "ssh":
		return false
	case ce != nil && strings.Contains(ce.Stderr, "no such pool"):
		return false
	}
	return true
}

// learning runs the names program beside the names listing, to learn whether it can stand
// for the listing on this host (see program.go).
type learning struct {
	run     programRunner
	budget  *rowBudget
	fails   func(error) bool // the error says that the program fails on the host
	started bool
	done    sync.WaitGroup
	tagged  *tagDatasets
	err     error
}

// start runs the program on pools, unless there are more than a guess may name.
func (l *learning) start(pools []string) {
	if l.run == nil || !usablePools(pools) {
		return
	}
	l.started = true
	l.tagged = newTagDatasets(l.budget)
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		l.err = readByProgram(l.run, pools, l.tagged)
	}()
}

func (l *learning) wait() { l.done.Wait() }

// judge records in inv what was learned: the pools, when the program found what the listing
// did (tagged); that the program fails here, when it failed (not when the run was stopped
// or ssh failed). A mere difference (a snapshot made between the two) teaches nothing.
func (l *learning) judge(inv *Inventory, tagged *tagDatasets, pools []string) {
	switch {
	case !l.started:
	case l.err != nil:
		inv.read.noProgram = l.fails(l.err)
	case l.tagged.agrees(tagged):
		inv.read.programPools = pools
	}
}

// pools returns the names of the pools among the datasets parsed (those without a parent).
func (p *rowParser) pools() []string {
	var out []string
	for _, d := range p.datasets {
		if ParentDataset(d.Name) == "" {
			out = append(out, d.Name)
		}
	}
	return out
}

// smallListLines bounds the full listing of a host guessed Small: room for its datasets and
// for twice the snapshots it may have had.
const smallListLines = 4 * SmallHost

var errNotSmall = errors.New("more snapshots than a small host has")

// viewAsVersions turns a full inventory (List) into what readVersions would have read of the
// same host: the datasets outside the origin chains of those with versions are Partial and
// have no snapshots.
func (inv *Inventory) viewAsVersions() {
	keep := map[*Dataset]bool{}
	n := 0
	for _, d := range inv.Datasets {
		n += len(d.Snapshots)
		if slices.ContainsFunc(d.Snapshots, func(s *Snapshot) bool { return s.Tagged }) {
			for _, x := range inv.OriginChain(d) {
				keep[x] = true
			}
		}
	}
	for _, d := range inv.Datasets {
		if !keep[d] {
			d.Snapshots, d.Partial = nil, true
		}
	}
	inv.relink()
	inv.read.snapshots, inv.read.counted = n, true
}

// Small reports whether the host had at most SmallHost snapshots when ListVersions read it
// (Guess.Small).
func (inv *Inventory) Small() bool { return inv.read.counted && inv.read.snapshots <= SmallHost }

// ProgramPools returns the pools whose names the names program read, or learned it can read,
// for this inventory (Guess.Pools), or nil.
func (inv *Inventory) ProgramPools() []string { return inv.read.programPools }

// NoProgram reports whether the names program failed on the host (Guess.NoProgram).
func (inv *Inventory) NoProgram() bool { return inv.read.noProgram }

// usableGuess reports whether guess can be listed as given: valid dataset names (none taken
// for an option), at most maxGuess of them.
func usableGuess(guess []string) bool {
	return len(guess) <= maxGuess && !slices.ContainsFunc(guess, func(g string) bool { return ValidateDatasetName(g) != nil })
}

// maxGuess bounds the datasets of a guess: the listings of more would take long enough that
// a round trip more is not worth saving.
const maxGuess = 10_000

// listSnapshots reads the snapshots of ds in full: step 2, one listing per chunk of names
// that fits a command line.
func (inv *Inventory) listSnapshots(list lister, budget *rowBudget, ds []*Dataset) error {
	for _, chunk := range chunkDatasets(ds, listArgBytes) {
		names := make([]string, len(chunk))
		for i, d := range chunk {
			names[i] = d.Name
		}
		p := rowParser{budget: budget}
		if err := list(SnapshotListArgs(names...), p.add); err != nil {
			return err
		}
		if err := inv.addSnapshotRows(&p, chunk); err != nil {
			return err
		}
	}
	return nil
}

// guessedRows is the listing of a guess's snapshots, made beside step 1 (see
// ListVersionsGuessing).
type guessedRows struct {
	names map[string]bool // the guessed datasets, when their listing succeeded
	rows  rowParser
}

// read lists the snapshots of the guessed datasets, a command line's worth at a time; a
// failure leaves names nil.
func (g *guessedRows) read(list lister, guess []string) {
	for _, chunk := range chunkNames(guess, listArgBytes) {
		if err := list(SnapshotListArgs(chunk...), g.rows.add); err != nil {
			return
		}
	}
	g.names = make(map[string]bool, len(guess))
	for _, n := range guess {
		g.names[n] = true
	}
}

// use adds to inv the guessed snapshots of the datasets in need, and returns the datasets of
// need that the guess missed and those it covered. A dataset row, or a snapshot of a dataset
// not asked about, is refused as step 2 refuses it. The rows kept are counted in budget, the
// read's own, as step 2's would have been: the guess's budget only bounds its listing.
func (g *guessedRows) use(inv *Inventory, need []*Dataset, budget *rowBudget) (missed, hit []*Dataset, err error) {
	if g.names == nil {
		return need, nil, nil
	}
	if len(g.rows.datasets) > 0 {
		return nil, nil, &ListError{g.rows.datasets[0].line, "dataset in a listing of snapshots", g.rows.datasets[0].Name}
	}
	wanted := map[string]bool{}
	for _, d := range need {
		if g.names[d.Name] {
			hit = append(hit, d)
			wanted[d.Name] = true
		} else {
			missed = append(missed, d)
		}
	}
	var keep rowParser
	for _, s := range g.rows.snaps {
		if !g.names[s.ds] {
			return nil, nil, &ListError{s.line, "snapshot of an unlisted dataset", s.ds + "@" + s.snap.Name}
		}
		if wanted[s.ds] {
			if !budget.line() {
				return nil, nil, budget.linesErr()
			}
			if !budget.take(s.cost) {
				return nil, nil, budget.err()
			}
			keep.snaps = append(keep.snaps, s)
		}
	}
	if err := inv.addSnapshotRows(&keep, hit); err != nil {
		return nil, nil, err
	}
	return missed, hit, nil
}

// chunkNames splits names into runs that take at most max bytes (at least one each).
func chunkNames(names []string, max int) [][]string {
	return chunkBy(names, func(n string) string { return n }, max)
}

// FullyRead returns the names of the datasets whose snapshots the inventory holds in full
// (not Partial): after ListVersions, those step 2 read, the guess for the next
// ListVersionsGuessing.
func (inv *Inventory) FullyRead() []string {
	var out []string
	for _, d := range inv.Datasets {
		if !d.Partial {
			out = append(out, d.Name)
		}
	}
	return out
}

// listArgBytes bounds the dataset names of one `zfs list`: a remote command line is one
// argument of the remote shell, which Linux limits to 128 KiB.
const listArgBytes = 32 << 10

// chunkDatasets splits ds into runs whose names take at most max bytes (at least one each).
func chunkDatasets(ds []*Dataset, max int) [][]*Dataset {
	return chunkBy(ds, func(d *Dataset) string { return d.Name }, max)
}

// chunkBy splits xs into runs whose names (and a separator each) take at most max bytes, at
// least one element a run: each run is one command line's worth.
func chunkBy[T any](xs []T, name func(T) string, max int) [][]T {
	var out [][]T
	start, n := 0, 0
	for i, x := range xs {
		l := len(name(x)) + 1
		if i > start && n+l > max {
			out = append(out, xs[start:i])
			start, n = i, 0
		}
		n += l
	}
	if start < len(xs) {
		out = append(out, xs[start:])
	}
	return out
}

// newTagDatasets returns an empty tagDatasets that keeps what budget allows.
func newTagDatasets(budget *rowBudget) *tagDatasets {
	return &tagDatasets{budget: budget, seen: map[string]bool{}}
}

// tagDatasets collects, from the lines of a names listing (TagNamesArgs) as they arrive, the
// names of the datasets that have a zfs-vm snapshot, each once: all that ListVersions needs
// of the names, whatever else (a million hourlies) the host has.
type tagDatasets struct {
	seen   map[string]bool
	names  []string
	line   int
	budget *rowBudget
}

func (t *tagDatasets) add(b []byte) error {
	t.line++
	if !t.budget.line() {
		return t.budget.linesErr()
	}
	return t.addName(b)
}

// addName keeps the dataset of b if b names a zfs-vm snapshot.
func (t *tagDatasets) addName(b []byte) error {
	if !bytes.Contains(b, []byte("@"+TagPrefix)) {
		return nil // foreign: not even validated, as the full listing's parser would
	}
	name := string(b)
	ds, snap, ok := SplitSnapshotName(name)
	if !ok || !strings.HasPrefix(snap, TagPrefix) {
		return nil
	}
	if err := ValidateSnapshotName(name); err != nil {
		return &ListError{t.line, err.Error(), name}
	}
	if _, ok := ParseTag(snap); !ok || t.seen[ds] {
		return nil
	}
	if !t.budget.take(64 + len(ds)) { // a map entry and a name, not a row
		return t.budget.err()
	}
	t.seen[ds] = true
	t.names = append(t.names, ds)
	return nil
}

// named returns the inventory's datasets of the given names, in their order; names not in
// the inventory (datasets created since it was read) are skipped.
func (inv *Inventory) named(names []string) []*Dataset {
	var out []*Dataset
	for _, n := range names {
		if d := inv.byName[n]; d != nil {
			out = append(out, d)
		}
	}
	return out
}
