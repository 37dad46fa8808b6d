package zfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
)

// listProperties are the columns of the one listing zfs-vm reads from each host.
var listProperties = []string{
	"name", "type", "guid", "createtxg", "origin", "used", "referenced", "written",
	"mountpoint", "userrefs", "creation", "receive_resume_token",
}

// ListArgs returns the argv of the single `zfs list` that ParseList reads.
func ListArgs() []string {
	return []string{"zfs", "list", "-H", "-p", "-t", "filesystem,volume,snapshot",
		"-o", strings.Join(listProperties, ",")}
}

// numericColumns are the listing's guid, createtxg, used, referenced, written and userrefs.
var numericColumns = [6]int{2, 3, 5, 6, 7, 9}

// ListError reports a listing line that is not what `zfs list` prints.
type ListError struct {
	Line   int
	Reason string
	Text   string
}

func (e *ListError) Error() string {
	t, r := e.Text, e.Reason
	if len(t) > 80 {
		t = t[:80] + "..."
	}
	r = untrusted.Line(r, 200) // it may quote the name at fault, of any length in a peer's listing
	return fmt.Sprintf("unexpected zfs list output at line %d (%s): %q", e.Line, r, t)
}

// ParseList parses the output of ListArgs into an Inventory, refusing a listing whose
// origins cannot be true (a cycle, a clone of an unlisted snapshot).
func ParseList(r io.Reader) (*Inventory, error) {
	var p rowParser
	if err := scanLines(r, p.add); err != nil {
		return nil, err
	}
	return p.checkedInventory()
}

// checkedInventory is inventory with its origins checked: ParseList of the rows parsed.
func (p *rowParser) checkedInventory() (*Inventory, error) {
	inv, err := p.inventory()
	if err != nil {
		return nil, err
	}
	if err := inv.check(); err != nil {
		return nil, err
	}
	return inv, nil
}

// inventory builds an Inventory of the rows parsed, its origins unchecked.
func (p *rowParser) inventory() (*Inventory, error) {
	byName := make(map[string]*Dataset, len(p.datasets))
	for _, d := range p.datasets {
		if byName[d.Name] != nil {
			return nil, &ListError{d.line, "dataset listed twice", d.Name}
		}
		byName[d.Name] = d
	}
	if err := attach(byName, p.snaps); err != nil {
		return nil, err
	}
	inv := newInventory(p.datasets)
	inv.allTags = true
	return inv, nil
}

// pendingSnapshot is a snapshot row not yet attached to its dataset.
type pendingSnapshot struct {
	ds   string
	snap *Snapshot
	line int
	cost int // what the row was counted in its budget (see rowBudget)
}

// attach appends each snapshot to its dataset in byName.
func attach(byName map[string]*Dataset, snaps []pendingSnapshot) error {
	for _, p := range snaps {
		d := byName[p.ds]
		if d == nil {
			return &ListError{p.line, "snapshot of an unlisted dataset", p.ds + "@" + p.snap.Name}
		}
		d.Snapshots = append(d.Snapshots, p.snap)
	}
	return nil
}

// scanLines passes each line of r, without its newline, to each; it stops at each's first
// error and at a line longer than 1 MiB.
func scanLines(r io.Reader, each func(line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if err := each(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading zfs list output: %w", err)
	}
	return nil
}

// rowParser parses ListArgs-style rows one line at a time, as they arrive (see
// Host.eachLine), so that a listing is never held as text; budget, when set, bounds the
// rows it keeps.
type rowParser struct {
	datasets []*Dataset
	snaps    []pendingSnapshot
	line     int
	budget   *rowBudget
}

// add parses one line: a dataset, a snapshot, or neither (a bookmark, an empty line).
func (p *rowParser) add(b []byte) error {
	p.line++
	if !p.budget.line() {
		return p.budget.linesErr()
	}
	if len(b) == 0 || isBookmarkRow(b) {
		return nil
	}
	text := string(b)
	d, s, err := parseRow(text)
	if err != nil {
		return &ListError{p.line, err.Error(), text}
	}
	if (d != nil || s != nil) && !p.budget.take(rowCost+len(b)) {
		return p.budget.err()
	}
	switch {
	case d != nil:
		d.line = p.line
		p.datasets = append(p.datasets, d)
	case s != nil:
		ds, _, _ := SplitSnapshotName(text[:strings.IndexByte(text, '\t')])
		p.snaps = append(p.snaps, pendingSnapshot{ds, s, p.line, rowCost + len(b)})
	}
	return nil
}

// isBookmarkRow says whether b is a row of ListArgs' columns whose type is bookmark: such
// rows are dropped, and recognising them allocates nothing, so that a peer listing endless
// bookmarks costs no garbage (the line count still ends it).
func isBookmarkRow(b []byte) bool {
	if bytes.Count(b, []byte{'\t'}) != len(listProperties)-1 {
		return false
	}
	_, rest, _ := bytes.Cut(b, []byte{'\t'})
	typ, _, _ := bytes.Cut(rest, []byte{'\t'})
	return string(typ) == "bookmark"
}

// parseRow parses one row: a dataset, a snapshot, or neither (a bookmark).
func parseRow(text string) (*Dataset, *Snapshot, error) {
	f := strings.Split(text, "\t")
	if len(f) != len(listProperties) {
		return nil, nil, fmt.Errorf("%d fields, want %d", len(f), len(listProperties))
	}
	var nums [6]uint64
	for j, i := range numericColumns {
		n, err := parseNum(f[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", listProperties[i], err)
		}
		nums[j] = n
	}
	creation, err := parseNum(f[10])
	if err != nil {
		return nil, nil, fmt.Errorf("creation: %v", err)
	}
	name, typ := f[0], f[1]
	switch typ {
	case "filesystem", "volume":
		if err := ValidateDatasetName(name); err != nil {
			return nil, nil, err
		}
		// Each string is cloned: a substring would keep the whole row's text alive.
		d := &Dataset{Name: strings.Clone(name), Type: datasetTypes[typ], GUID: nums[0], CreateTXG: nums[1],
			Used: nums[2], Referenced: nums[3], Written: nums[4]}
		if f[4] != "-" {
			if err := ValidateSnapshotName(f[4]); err != nil {
				return nil, nil, fmt.Errorf("origin: %v", err)
			}
			d.OriginName = strings.Clone(f[4])
		}
		if mp := f[8]; strings.HasPrefix(mp, "/") {
			d.Mountpoint = strings.Clone(mp)
		}
		if tok := f[11]; tok != "-" && tok != "" {
			d.ResumeToken = strings.Clone(tok)
		}
		return d, nil, nil
	case "snapshot":
		if err := ValidateSnapshotName(name); err != nil {
			return nil, nil, err
		}
		_, sn, _ := SplitSnapshotName(name)
		sn = strings.Clone(sn) // a substring would keep the whole row's text alive
		s := &Snapshot{Name: sn, GUID: nums[0], CreateTXG: nums[1], Used: nums[2],
			Referenced: nums[3], UserRefs: nums[5], Creation: int64(creation)}
		s.Tag, s.Tagged = ParseTag(sn)
		return nil, s, nil
	case "bookmark":
		// Bookmarks are not asked for; tolerate them if an alias lists them.
		return nil, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown type %s", strconv.Quote(typ))
}

// datasetTypes are the types of ListArgs' datasets, as constants rather than substrings.
var datasetTypes = map[string]string{"filesystem": "filesystem", "volume": "volume"}

func parseNum(s string) (uint64, error) {
	if s == "-" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// maxPeerListing bounds the memory zfs-vm gives to one read of a peer's listings
// (ListVersions, List): its filesystems and volumes, the names of those with zfs-vm
// snapshots, and the snapshots it reads in full, each counted as rowCost and the bytes of its
// line. A peer that lists millions of rows, or rows of a megabyte each, would otherwise grow
// zfs-vm without limit; within this bound zfs-vm stays under 32 MiB (README, "Limits"). About
// 40,000 rows of a usual length fit. This host's own listings are not bounded: its zfs is
// trusted. SetPeerListingLimit changes it.
var maxPeerListing int64 = DefaultPeerListingMiB << 20

// DefaultPeerListingMiB is maxPeerListing's default, in MiB.
const DefaultPeerListingMiB = 12

// SetPeerListingLimit sets maxPeerListing to mib MiB (ZFS_VM_PEER_LISTING_MIB), for a peer
// with more datasets and snapshots than the default reads.
func SetPeerListingLimit(mib int64) { maxPeerListing = mib << 20 }

// rowCost is what a row costs zfs-vm in memory besides its text: the Dataset or Snapshot,
// the indexes that find it.
const rowCost = 256

// rowBudget bounds the memory (in bytes, see maxPeerListing) kept of one host's listings,
// shared by those of one read, which may run at once. A nil budget does not bound; an own
// one (this host's) does not either, and raises the soft memory limit (see LimitMemory).
type rowBudget struct {
	max   int64
	own   bool
	used  atomic.Int64
	lines atomic.Int64 // every line read, kept or not (see maxPeerLines)
}

// maxPeerLines bounds the lines zfs-vm reads of a peer's listings in one read, those it
// drops included (foreign snapshots' names, bookmarks, empty lines), so that a peer that
// prints without end is stopped rather than read forever: ten million, several times the
// snapshots of any real pool.
const maxPeerLines = 10_000_000

// line counts a line read and reports whether it is within the bound of lines.
func (b *rowBudget) line() bool {
	return b == nil || b.own || b.lines.Add(1) <= maxPeerLines
}

// manyLines counts n lines read at once (the names program's count) as line does.
func (b *rowBudget) manyLines(n int64) bool {
	return b == nil || b.own || b.lines.Add(n) <= maxPeerLines
}

// scratch returns an empty budget of b's kind, for a read whose count moves to b only if
// what it read is kept (transfer).
func (b *rowBudget) scratch() *rowBudget {
	if b == nil {
		return nil
	}
	return &rowBudget{max: b.max, own: b.own}
}

// transfer counts in b what s counted (a scratch budget's read, kept).
func (b *rowBudget) transfer(s *rowBudget) error {
	if b == nil || s == nil {
		return nil
	}
	if !b.manyLines(s.lines.Load()) {
		return b.linesErr()
	}
	if !b.take(int(s.used.Load())) {
		return b.err()
	}
	return nil
}

// linesErr is the error of a read past maxPeerLines.
func (b *rowBudget) linesErr() error { return &TooManyRowsError{Lines: true} }

// take counts n bytes and reports whether they are within the budget.
func (b *rowBudget) take(n int) bool {
	switch {
	case b == nil:
		return true
	case b.own:
		countOwn(b, n)
		return true
	}
	return b.used.Add(int64(n)) <= b.max
}

func (b *rowBudget) err() error { return &TooManyRowsError{Limit: b.max} }

// TooManyRowsError is a peer whose listings name more datasets and snapshots than zfs-vm
// reads from a peer (Limit bytes as counted, see maxPeerListing), or print more lines than
// it reads (Lines: maxPeerLines).
type TooManyRowsError struct {
	Limit int64
	Lines bool
}

func (e *TooManyRowsError) Error() string {
	if e.Lines {
		return fmt.Sprintf("lists more than %d lines of datasets and snapshots; zfs-vm reads at most that many from a peer; stopped reading", maxPeerLines)
	}
	return fmt.Sprintf("lists more datasets and snapshots than zfs-vm reads from a peer (%d MiB of rows, about %d; ZFS_VM_PEER_LISTING_MIB raises it); stopped reading", e.Limit>>20, e.Limit/(rowCost+64))
}
