package zfs

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fixtureLister answers readVersions' listings from testdata/list-tree.txt as zfs would:
// a snapshot listing of a dataset that is not there fails. It records the snapshot listings
// asked for (their dataset arguments).
type fixtureLister struct {
	datasets, snaps []string // rows
	mu              sync.Mutex
	asked           [][]string
	// datasetRow and extraRow, when set, are rows slipped into every snapshot listing.
	datasetRow, extraRow string
	// omitOnce, when set, is a snapshot the first snapshot listing leaves out.
	omitOnce string
}

func newFixtureLister(t *testing.T) *fixtureLister {
	t.Helper()
	b, err := os.ReadFile("testdata/list-tree.txt")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixtureLister{}
	for _, r := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.Split(r, "\t")[1] == "snapshot" {
			f.snaps = append(f.snaps, r)
		} else {
			f.datasets = append(f.datasets, r)
		}
	}
	// A foreign snapshot of a dataset without versions: step 2 never reads it.
	f.snaps = append(f.snaps, "tank/recv@hourly-1\tsnapshot\t90\t90\t-\t0\t4096\t-\t-\t0\t1700000500\t-")
	return f
}

func (f *fixtureLister) list(argv []string, each func([]byte) error) error {
	var out []string
	switch {
	case slices.Equal(argv, DatasetListArgs()):
		out = f.datasets
	case slices.Equal(argv, TagNamesArgs()):
		for _, r := range f.snaps {
			out = append(out, strings.Split(r, "\t")[0])
		}
		slices.Sort(out)
	default:
		ds := argv[len(SnapshotListArgs()):]
		f.mu.Lock()
		f.asked = append(f.asked, ds)
		f.mu.Unlock()
		for _, d := range ds {
			if !slices.ContainsFunc(f.datasets, func(r string) bool { return strings.HasPrefix(r, d+"\t") }) {
				return errors.New("cannot open '" + d + "': dataset does not exist")
			}
			for _, r := range f.snaps {
				if strings.HasPrefix(r, d+"@") {
					out = append(out, r)
				}
			}
		}
		if f.datasetRow != "" {
			out = append(out, f.datasetRow)
		}
		if f.extraRow != "" {
			out = append(out, f.extraRow)
		}
		if f.omitOnce != "" && len(f.asked) == 1 {
			out = slices.DeleteFunc(out, func(r string) bool { return strings.HasPrefix(r, f.omitOnce+"\t") })
		}
	}
	for _, l := range out {
		if err := each([]byte(l)); err != nil {
			return err
		}
	}
	return nil
}

// render is an inventory as text: each dataset, whether it is Partial, its snapshots.
func render(inv *Inventory) string {
	var b strings.Builder
	for _, d := range inv.Datasets {
		fmt.Fprintf(&b, "%s partial=%v", d.Name, d.Partial)
		for _, s := range d.Snapshots {
			fmt.Fprintf(&b, " %s/%d", s.Name, s.GUID)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestGuessedSnapshotListingTakesStepTwosPlace(t *testing.T) {
	plain := newFixtureLister(t)
	want, err := readVersions(plain.list, nil, func() {}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	need := want.FullyRead()
	if len(plain.asked) != 1 || !slices.Equal(plain.asked[0], []string{"tank/tmpl", "tank/web1"}) {
		t.Fatalf("without a guess step 2 listed %q; the test expects tank/tmpl and tank/web1", plain.asked)
	}
	for _, tc := range []struct {
		name  string
		guess []string
		// step2 is what step 2 still lists after the guessed listing.
		step2 []string
	}{
		{"the last run's datasets", need, nil},
		{"more than needed", []string{"tank/recv", "tank/tmpl", "tank/web1"}, nil},
		{"one missed", []string{"tank/tmpl"}, []string{"tank/web1"}},
		{"a dataset destroyed since", []string{"tank/gone", "tank/tmpl", "tank/web1"}, []string{"tank/tmpl", "tank/web1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureLister(t)
			got, err := readVersions(f.list, nil, func() {}, tc.guess, nil)
			if err != nil {
				t.Fatal(err)
			}
			if render(got) != render(want) {
				t.Errorf("inventory\n%s\nwant (no guess)\n%s", render(got), render(want))
			}
			// The guessed listing is the first (it runs beside step 1); step 2's follow.
			if len(f.asked) == 0 || !slices.Equal(f.asked[0], tc.guess) {
				t.Fatalf("snapshot listings %q, the first not the guess %q", f.asked, tc.guess)
			}
			step2 := f.asked[1:]
			if len(tc.step2) == 0 && len(step2) != 0 || len(tc.step2) > 0 && (len(step2) != 1 || !slices.Equal(step2[0], tc.step2)) {
				t.Errorf("step 2 listed %q, want %q", step2, tc.step2)
			}
		})
	}
}

func TestGuessedListingWithADatasetRowIsRefused(t *testing.T) {
	f := newFixtureLister(t)
	f.datasetRow = f.datasets[0]
	_, err := readVersions(f.list, nil, func() {}, []string{"tank/tmpl", "tank/web1"}, nil)
	var le *ListError
	if !errors.As(err, &le) || le.Reason != "dataset in a listing of snapshots" {
		t.Errorf("got %v, want a ListError for the dataset row", err)
	}
}

func TestUsableGuess(t *testing.T) {
	most := slices.Repeat([]string{"tank/abcd"}, maxGuess)
	for _, tc := range []struct {
		guess []string
		want  bool
	}{
		{[]string{"tank/a", "tank/b"}, true},
		{[]string{"tank/a", "-rf"}, false},
		{[]string{"tank/a@snap"}, false},
		{most, true},
		{append(most, "tank/one-too-many"), false},
	} {
		if got := usableGuess(tc.guess); got != tc.want {
			t.Errorf("usableGuess(%.40q) = %v, want %v", tc.guess, got, tc.want)
		}
	}
}

func TestChunkNames(t *testing.T) {
	got := chunkNames([]string{"tank/aaaa", "tank/bbbb", "tank/cccc", "tank/a-very-long-name"}, 20)
	if fmt.Sprint(got) != "[[tank/aaaa tank/bbbb] [tank/cccc] [tank/a-very-long-name]]" {
		t.Errorf("chunks %q", got)
	}
}

// The guessed listing runs beside step 1: a clone made meanwhile of a snapshot it missed
// shows in step 1 with an origin the guessed rows lack. The guessed datasets are then listed
// again, and the inventory is what it would have been without the guess.
func TestGuessedListingOlderThanStepOneIsListedAgain(t *testing.T) {
	plain := newFixtureLister(t)
	want, err := readVersions(plain.list, nil, func() {}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureLister(t)
	f.omitOnce = "tank/tmpl@web1" // web1's origin, "made" after the guessed listing
	got, err := readVersions(f.list, nil, func() {}, []string{"tank/tmpl", "tank/web1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if render(got) != render(want) {
		t.Errorf("inventory\n%s\nwant\n%s", render(got), render(want))
	}
	if len(f.asked) != 2 {
		t.Errorf("snapshot listings %q, want the guess and its second listing", f.asked)
	}
}

// The guessed listing has its own bound on rows: past it the guess is dropped, and the read
// goes on as without one, within the host's budget.
func TestGuessedListingPastItsBoundIsDropped(t *testing.T) {
	f := newFixtureLister(t)
	got, err := readVersions(f.list, &rowBudget{max: 1 << 20}, func() {}, []string{"tank/tmpl", "tank/web1"}, &rowBudget{max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != 2 || len(got.Dataset("tank/tmpl").Snapshots) == 0 {
		t.Errorf("snapshot listings %q, want the guess then step 2; tank/tmpl has %d snapshots", f.asked, len(got.Dataset("tank/tmpl").Snapshots))
	}
}

// The rows a guess supplies count in the read's budget as step 2's would: a host too big to
// read without hints is too big with them.
func TestGuessedRowsCountInTheReadsBudget(t *testing.T) {
	f := newFixtureLister(t)
	var tooMany *TooManyRowsError
	_, err := readVersions(f.list, &rowBudget{max: 3000}, func() {}, nil, nil)
	if !errors.As(err, &tooMany) {
		t.Fatalf("without a guess: %v; the test needs a budget the read exceeds", err)
	}
	f = newFixtureLister(t)
	_, err = readVersions(f.list, &rowBudget{max: 3000}, func() {}, []string{"tank/tmpl", "tank/web1"}, &rowBudget{max: 1 << 20})
	if !errors.As(err, &tooMany) {
		t.Errorf("with a guess: %v, want TooManyRowsError as without", err)
	}
}

func TestGuessedListingWithAnUnaskedSnapshotIsRefused(t *testing.T) {
	f := newFixtureLister(t)
	f.extraRow = "tank/recv@hourly-1\tsnapshot\t90\t90\t-\t0\t4096\t-\t-\t0\t1700000500\t-"
	_, err := readVersions(f.list, nil, func() {}, []string{"tank/tmpl", "tank/web1"}, nil)
	var le *ListError
	if !errors.As(err, &le) || le.Reason != "snapshot of an unlisted dataset" {
		t.Errorf("got %v, want a ListError for tank/recv's snapshot", err)
	}
}

// A small host's one full listing, viewed as ListVersions reads it, is what ListVersions
// reads: a plan must not depend on which was used.
func TestFullListingViewedAsVersionsIsWhatListVersionsReads(t *testing.T) {
	f := newFixtureLister(t)
	want, err := readVersions(f.list, nil, func() {}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, err := ParseList(strings.NewReader(strings.Join(append(f.datasets, f.snaps...), "\n")))
	if err != nil {
		t.Fatal(err)
	}
	full.viewAsVersions()
	if render(full) != render(want) {
		t.Errorf("full listing viewed as versions\n%s\nListVersions\n%s", render(full), render(want))
	}
	if !full.Small() || !want.Small() || full.read.snapshots != len(f.snaps) || want.read.snapshots != len(f.snaps) {
		t.Errorf("snapshots counted %d (full) and %d, want %d, both Small", full.read.snapshots, want.read.snapshots, len(f.snaps))
	}
}

func TestSmallCountsTheHostsSnapshots(t *testing.T) {
	for _, tc := range []struct {
		inv  Inventory
		want bool
	}{
		{Inventory{}, false}, // not read by ListVersions
		{Inventory{read: readFacts{counted: true, snapshots: SmallHost}}, true},
		{Inventory{read: readFacts{counted: true, snapshots: SmallHost + 1}}, false},
	} {
		if got := tc.inv.Small(); got != tc.want {
			t.Errorf("counted %v, %d snapshots: Small %v, want %v", tc.inv.read.counted, tc.inv.read.snapshots, got, tc.want)
		}
	}
}
