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

// ParseList parses the output of ListArgs into an Inventory.
func ParseList(r io.Reader) (*Inventory, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var datasets []*Dataset
	byName := map[string]*Dataset{}
	type pending struct {
		ds   string
		snap *Snapshot
		line int
		text string
	}
	var snaps []pending
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != len(listProperties) {
			return nil, &ListError{line, fmt.Sprintf("%d fields, want %d", len(f), len(listProperties)), text}
		}
		var nums [6]uint64
		for j, i := range numericColumns {
			n, err := parseNum(f[i])
			if err != nil {
				return nil, &ListError{line, listProperties[i] + ": " + err.Error(), text}
			}
			nums[j] = n
		}
		creation, err := parseNum(f[10])
		if err != nil {
			return nil, &ListError{line, "creation: " + err.Error(), text}
		}
		name, typ := f[0], f[1]
		switch typ {
		case "filesystem", "volume":
			if err := ValidateDatasetName(name); err != nil {
				return nil, &ListError{line, err.Error(), text}
			}
			if byName[name] != nil {
				return nil, &ListError{line, "dataset listed twice", text}
			}
			d := &Dataset{Name: name, Type: typ, GUID: nums[0], CreateTXG: nums[1],
				Used: nums[2], Referenced: nums[3], Written: nums[4]}
			if f[4] != "-" {
				if err := ValidateSnapshotName(f[4]); err != nil {
					return nil, &ListError{line, "origin: " + err.Error(), text}
				}
				d.OriginName = f[4]
			}
			if mp := f[8]; strings.HasPrefix(mp, "/") {
				d.Mountpoint = mp
			}
			if tok := f[11]; tok != "-" && tok != "" {
				d.ResumeToken = tok
			}
			datasets = append(datasets, d)
			byName[name] = d
		case "snapshot":
			if err := ValidateSnapshotName(name); err != nil {
				return nil, &ListError{line, err.Error(), text}
			}
			ds, sn, _ := SplitSnapshotName(name)
			s := &Snapshot{Name: sn, GUID: nums[0], CreateTXG: nums[1], Used: nums[2],
				Referenced: nums[3], UserRefs: nums[5], Creation: int64(creation)}
			s.Tag, s.Tagged = ParseTag(sn)
			snaps = append(snaps, pending{ds, s, line, text})
		case "bookmark":
			// Bookmarks are not asked for; tolerate them if an alias lists them.
		default:
			return nil, &ListError{line, "unknown type " + strconv.Quote(typ), text}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading zfs list output: %w", err)
	}
	for _, p := range snaps {
		d := byName[p.ds]
		if d == nil {
			return nil, &ListError{p.line, "snapshot of an unlisted dataset", p.text}
		}
		d.Snapshots = append(d.Snapshots, p.snap)
	}
	inv := newInventory(datasets)
	if err := inv.check(); err != nil {
		return nil, err
	}
	return inv, nil
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
