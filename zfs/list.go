package zfs

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
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
	t := e.Text
	if len(t) > 80 {
		t = t[:80] + "..."
	}
	return fmt.Sprintf("unexpected zfs list output at line %d (%s): %q", e.Line, e.Reason, t)
}

// ParseList parses the output of ListArgs into an Inventory, refusing a listing whose
// origins cannot be true (a cycle, a clone of an unlisted snapshot).
func ParseList(r io.Reader) (*Inventory, error) {
	inv, err := parseListing(r)
	if err != nil {
		return nil, err
	}
	if err := inv.check(); err != nil {
		return nil, err
	}
	return inv, nil
}

// parseListing parses rows of ListArgs' columns into an Inventory, its origins unchecked.
func parseListing(r io.Reader) (*Inventory, error) {
	datasets, snaps, err := parseRows(r)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*Dataset, len(datasets))
	for _, d := range datasets {
		if byName[d.Name] != nil {
			return nil, &ListError{d.line, "dataset listed twice", d.Name}
		}
		byName[d.Name] = d
	}
	if err := attach(byName, snaps); err != nil {
		return nil, err
	}
	inv := newInventory(datasets)
	inv.allTags = true
	return inv, nil
}

// pendingSnapshot is a snapshot row not yet attached to its dataset.
type pendingSnapshot struct {
	ds   string
	snap *Snapshot
	line int
	text string
}

// attach appends each snapshot to its dataset in byName.
func attach(byName map[string]*Dataset, snaps []pendingSnapshot) error {
	for _, p := range snaps {
		d := byName[p.ds]
		if d == nil {
			return &ListError{p.line, "snapshot of an unlisted dataset", p.text}
		}
		d.Snapshots = append(d.Snapshots, p.snap)
	}
	return nil
}

// parseRows parses ListArgs-style rows (of any subset of types) into datasets and snapshots.
func parseRows(r io.Reader) ([]*Dataset, []pendingSnapshot, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var datasets []*Dataset
	var snaps []pendingSnapshot
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		d, s, err := parseRow(text)
		if err != nil {
			return nil, nil, &ListError{line, err.Error(), text}
		}
		switch {
		case d != nil:
			d.line = line
			datasets = append(datasets, d)
		case s != nil:
			ds, _, _ := SplitSnapshotName(text[:strings.IndexByte(text, '\t')])
			snaps = append(snaps, pendingSnapshot{ds, s, line, text})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading zfs list output: %w", err)
	}
	return datasets, snaps, nil
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
		d := &Dataset{Name: name, Type: typ, GUID: nums[0], CreateTXG: nums[1],
			Used: nums[2], Referenced: nums[3], Written: nums[4]}
		if f[4] != "-" {
			if err := ValidateSnapshotName(f[4]); err != nil {
				return nil, nil, fmt.Errorf("origin: %v", err)
			}
			d.OriginName = f[4]
		}
		if mp := f[8]; strings.HasPrefix(mp, "/") {
			d.Mountpoint = mp
		}
		if tok := f[11]; tok != "-" && tok != "" {
			d.ResumeToken = tok
		}
		return d, nil, nil
	case "snapshot":
		if err := ValidateSnapshotName(name); err != nil {
			return nil, nil, err
		}
		_, sn, _ := SplitSnapshotName(name)
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
