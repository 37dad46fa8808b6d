package zfs

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// programFake answers the names program as names.lua does, from a fixtureLister's rows, and
// counts the names listings and programs run.
type programFake struct {
	*fixtureLister
	namesListed, programs atomic.Int32
	// out, when set, is the program's output instead; fail makes it fail; omit is a
	// snapshot it leaves out.
	out  string
	fail bool
	omit string
	err  error
	// namesErr fails the names listing.
	namesErr error
}

func newProgramFake(t *testing.T) *programFake {
	return &programFake{fixtureLister: newFixtureLister(t)}
}

func (p *programFake) list(argv []string, each func([]byte) error) error {
	if slices.Equal(argv, TagNamesArgs()) {
		p.namesListed.Add(1)
		if p.namesErr != nil {
			return p.namesErr
		}
	}
	return p.fixtureLister.list(argv, each)
}

func (p *programFake) program(pool string) ([]byte, error) {
	p.programs.Add(1)
	switch {
	case p.err != nil:
		return nil, p.err
	case !slices.ContainsFunc(p.datasets, func(r string) bool { return strings.HasPrefix(r, pool+"\t") }):
		return nil, errors.New("cannot open '" + pool + "': no such pool")
	case p.fail:
		return nil, errors.New("Channel program execution failed: Permission denied. Channel programs must be run as root.")
	case p.out != "":
		return []byte(p.out), nil
	}
	r := programResult{}
	var names []string
	for _, row := range p.snaps {
		n := strings.Split(row, "\t")[0]
		ds, _, _ := SplitSnapshotName(n)
		if !InPool(ds, pool) || n == p.omit {
			continue
		}
		r.Count++
		if strings.Contains(n, "@"+TagPrefix) {
			names = append(names, n)
		}
	}
	r.Names = strings.Join(names, "\n")
	return json.Marshal(map[string]programResult{"return": r})
}

func (p *programFake) read(t *testing.T, g Guess) *Inventory {
	t.Helper()
	inv, err := reading{list: p.list, program: p.program, stop: func() {}}.versions(g)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// listed is what the names listing alone reads of the fixture.
func listed(t *testing.T) *Inventory {
	t.Helper()
	inv, err := readVersions(newFixtureLister(t).list, nil, func() {}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestNamesProgramStandsForTheListing(t *testing.T) {
	p := newProgramFake(t)
	got := p.read(t, Guess{Pools: []string{"tank"}, Learn: true})
	if want := listed(t); render(got) != render(want) || got.read.snapshots != want.read.snapshots {
		t.Errorf("read through the program\n%s(%d snapshots)\nthrough the listing\n%s(%d snapshots)",
			render(got), got.read.snapshots, render(want), want.read.snapshots)
	}
	if n := p.namesListed.Load(); n != 0 {
		t.Errorf("names listed %d times, want none", n)
	}
	if !slices.Equal(got.ProgramPools(), []string{"tank"}) || got.NoProgram() {
		t.Errorf("ProgramPools %v, NoProgram %v; want [tank], false", got.ProgramPools(), got.NoProgram())
	}
}

func TestRunThatLearnsKeepsThePoolsOnlyWhereTheProgramAgrees(t *testing.T) {
	for _, tc := range []struct {
		name          string
		g             Guess
		fail          bool
		out, omit     string
		wantPools     []string
		wantNo        bool
		wantProgramed int32
	}{
		{"agrees", Guess{Learn: true}, false, "", "", []string{"tank"}, false, 1},
		{"misses a version", Guess{Learn: true}, false, "", "tank/web1@zfs-vm:debian:4", nil, false, 1},
		{"counts as many but misses a dataset", Guess{Learn: true}, false, `{"return":{"count":6,"names":"tank/tmpl@zfs-vm:debian:1"}}`, "", nil, false, 1},
		{"misses a foreign snapshot", Guess{Learn: true}, false, "", "tank/recv@hourly-1", nil, false, 1},
		{"fails", Guess{Learn: true}, true, "", "", nil, true, 1},
		{"not learning", Guess{}, false, "", "", nil, false, 0},
		{"failed before", Guess{Learn: true, NoProgram: true}, false, "", "", nil, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProgramFake(t)
			p.fail, p.out, p.omit = tc.fail, tc.out, tc.omit
			got := p.read(t, tc.g)
			if render(got) != render(listed(t)) {
				t.Errorf("read\n%s\nwant the listing's\n%s", render(got), render(listed(t)))
			}
			if n := p.namesListed.Load(); n != 1 {
				t.Errorf("names listed %d times, want 1", n)
			}
			if n := p.programs.Load(); n != tc.wantProgramed {
				t.Errorf("program run %d times, want %d", n, tc.wantProgramed)
			}
			if !slices.Equal(got.ProgramPools(), tc.wantPools) || got.NoProgram() != tc.wantNo {
				t.Errorf("ProgramPools %v, NoProgram %v; want %v, %v", got.ProgramPools(), got.NoProgram(), tc.wantPools, tc.wantNo)
			}
		})
	}
}

func TestFailingNamesProgramFallsBackToTheListing(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail bool
		out  string
	}{
		{"fails", true, ""},
		{"empty program's output", false, "{}"},
		{"not JSON", false, "Channel program fully executed"},
		{"a snapshot of another pool", false, `{"return":{"count":3,"names":"other/x@zfs-vm:x:1"}}`},
		{"a foreign snapshot", false, `{"return":{"count":3,"names":"tank/web1@hourly"}}`},
		{"more names than snapshots", false, `{"return":{"count":1,"names":"tank/tmpl@zfs-vm:deb:1\ntank/web1@zfs-vm:web:1"}}`},
		{"a negative count", false, `{"return":{"count":-1,"names":""}}`},
		{"an invalid name", false, `{"return":{"count":3,"names":"tank/web1@zfs-vm:web:1;rm -rf"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProgramFake(t)
			p.fail, p.out = tc.fail, tc.out
			got := p.read(t, Guess{Pools: []string{"tank"}, Learn: true})
			if render(got) != render(listed(t)) {
				t.Errorf("read\n%s\nwant the listing's\n%s", render(got), render(listed(t)))
			}
			if n := p.namesListed.Load(); n != 1 {
				t.Errorf("names listed %d times, want 1", n)
			}
			if n := p.programs.Load(); n != 1 {
				t.Errorf("program run %d times, want 1 (not again after it failed)", n)
			}
			if got.ProgramPools() != nil || !got.NoProgram() {
				t.Errorf("ProgramPools %v, NoProgram %v; want none, true", got.ProgramPools(), got.NoProgram())
			}
		})
	}
}

func TestNamesProgramOfPoolsThatChangedIsLearnedAgain(t *testing.T) {
	p := newProgramFake(t)
	got := p.read(t, Guess{Pools: []string{"tank", "gone"}, Learn: true})
	if render(got) != render(listed(t)) {
		t.Errorf("read\n%s\nwant the listing's\n%s", render(got), render(listed(t)))
	}
	if p.namesListed.Load() != 1 || p.programs.Load() != 3 {
		t.Errorf("names listed %d times, program run %d; want 1 and 3 (the hinted pools, then tank)", p.namesListed.Load(), p.programs.Load())
	}
	if !slices.Equal(got.ProgramPools(), []string{"tank"}) {
		t.Errorf("ProgramPools %v, want [tank]", got.ProgramPools())
	}
}

// The program's output as OpenZFS 2.1 prints it agrees with the names listing of the same
// pool (testdata/names-program/README).
func TestNamesProgramOutputOfOpenZFS(t *testing.T) {
	readme, err := os.ReadFile("testdata/names-program/README")
	if err != nil {
		t.Fatal(err)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256([]byte(namesProgram))); !strings.Contains(string(readme), "names.lua sha256: "+sum) {
		t.Fatalf("names.lua (sha256 %s) is not the script the testdata was captured with: capture it again", sum)
	}
	for _, name := range []string{"small-pool", "small-pool-2.3", "10k-foreign"} {
		t.Run(name, func(t *testing.T) {
			out, err := os.ReadFile("testdata/names-program/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			names, err := os.ReadFile("testdata/names-program/" + name + ".names")
			if err != nil {
				t.Fatal(err)
			}
			pool, _, _ := strings.Cut(string(names), "/")
			byProgram, byListing := newTagDatasets(nil), newTagDatasets(nil)
			if err := readByProgram(func(string) ([]byte, error) { return out, nil }, []string{pool}, byProgram); err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(strings.TrimSpace(string(names)), "\n") {
				if err := byListing.add([]byte(l)); err != nil {
					t.Fatal(err)
				}
			}
			if !byProgram.agrees(byListing) || len(byListing.names) == 0 {
				t.Errorf("program: %d snapshots, %v; listing: %d, %v", byProgram.line, byProgram.names, byListing.line, byListing.names)
			}
		})
	}
	out, err := os.ReadFile("testdata/names-program/no-snapshots.json")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := parseProgramOutput(out); err != nil || r != (programResult{}) {
		t.Errorf("no snapshots: %+v, %v", r, err)
	}
}

func TestUsablePools(t *testing.T) {
	for _, tc := range []struct {
		pools []string
		want  bool
	}{
		{nil, true},
		{[]string{"tank", "rpool"}, true},
		{[]string{"tank/sub"}, false},
		{[]string{"-n"}, false},
		{[]string{"tank@x"}, false},
		{[]string{"tank", "tank"}, false},
		{poolNames(maxGuessPools), true},
		{poolNames(maxGuessPools + 1), false},
	} {
		if got := usablePools(tc.pools); got != tc.want {
			t.Errorf("usablePools(%q) = %v, want %v", tc.pools, got, tc.want)
		}
	}
}

func TestNamesProgramStoppedOrCutOffIsNotTakenAsFailing(t *testing.T) {
	stopped := errors.New("signal: killed")
	for _, tc := range []struct {
		name string
		err  error
		ctx  error
		want bool
	}{
		{"zfs fails", &CommandError{Host: "b", Argv: []string{"zfs"}, Err: stopped}, nil, true},
		{"ssh fails", &CommandError{Host: "b", Argv: []string{"ssh"}, Err: stopped}, nil, false},
		{"a pool gone meanwhile", &CommandError{Host: "b", Argv: []string{"zfs"}, Stderr: "cannot open 'tank': no such pool\n", Err: stopped}, nil, false},
		{"run stopped", &CommandError{Host: "b", Argv: []string{"zfs"}, Err: stopped}, errors.New("context canceled"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, g := range []Guess{{Learn: true}, {Pools: []string{"tank"}}} {
				p := newProgramFake(t)
				p.err = tc.err
				inv, err := reading{list: p.list, program: p.program, stop: func() {}, ctxErr: func() error { return tc.ctx }}.versions(g)
				if err != nil {
					t.Fatal(err)
				}
				if inv.NoProgram() != tc.want || inv.ProgramPools() != nil {
					t.Errorf("guess %+v: NoProgram %v, ProgramPools %v; want %v, none", g, inv.NoProgram(), inv.ProgramPools(), tc.want)
				}
			}
		})
	}
}

// A program refused after it counted names leaves the read's budget as the listing alone
// would: what it counted is taken only with what it read.
func TestRefusedNamesProgramCostsTheBudgetNothing(t *testing.T) {
	read := func(out string) *rowBudget {
		p := newProgramFake(t)
		p.out = out
		b := &rowBudget{max: 1 << 20}
		if _, err := (reading{list: p.list, program: p.program, budget: b, stop: func() {}}).versions(Guess{Pools: []string{"tank"}}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	listed := read("{}")
	refused := read(`{"return":{"count":5000000,"names":"tank/tmpl@zfs-vm:debian:1\nother/x@zfs-vm:x:1"}}`)
	if refused.lines.Load() != listed.lines.Load() || refused.used.Load() != listed.used.Load() {
		t.Errorf("budget after a refused program: %d lines, %d bytes; after the listing alone: %d, %d",
			refused.lines.Load(), refused.used.Load(), listed.lines.Load(), listed.used.Load())
	}
	if _, err := parseProgramOutput([]byte(`{"return":{"count":10000001,"names":""}}`)); err == nil || !strings.Contains(err.Error(), "count of 10000001") {
		t.Errorf("a count past the lines read of a peer is taken: %v", err)
	}
}

func TestRunThatLearnsOnMorePoolsThanAGuessNamesDoesNot(t *testing.T) {
	p := newProgramFake(t)
	tank := p.datasets[0] // the pool's own row
	name, rest, _ := strings.Cut(tank, "\t")
	if name != "tank" {
		t.Fatalf("first row %q, want tank's", tank)
	}
	for _, pool := range poolNames(maxGuessPools) {
		p.datasets = append(p.datasets, pool+"\t"+rest)
	}
	got := p.read(t, Guess{Learn: true})
	if n := p.programs.Load(); n != 0 || got.ProgramPools() != nil || got.NoProgram() {
		t.Errorf("%d pools: program run %d times, ProgramPools %v, NoProgram %v; want none of them", maxGuessPools+1, n, got.ProgramPools(), got.NoProgram())
	}
}

// A names listing that fails fails the read, the program learning beside it or not (run with
// -race: the learning starts while the listing may be failing).
func TestFailingNamesListingFailsTheRead(t *testing.T) {
	for _, g := range []Guess{{Learn: true}, {}, {Pools: []string{"gone"}}} {
		p := newProgramFake(t)
		p.namesErr = errors.New("cannot iterate snapshots")
		if _, err := (reading{list: p.list, program: p.program, stop: func() {}}).versions(g); err == nil || !strings.Contains(err.Error(), "cannot iterate") {
			t.Errorf("guess %+v: %v, want the listing's error", g, err)
		}
	}
}

// poolNames returns n pool names, p0 to p<n-1>.
func poolNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("p%d", i))
	}
	return out
}

// A guess that names a pool twice and leaves one out does not skip that one's versions.
func TestNamesProgramGuessMissingAPoolIsNotUsed(t *testing.T) {
	p := newProgramFake(t)
	_, rest, _ := strings.Cut(p.datasets[0], "\t")
	p.datasets = append(p.datasets, "rpool"+"\t"+rest)
	want, err := readVersions(p.fixtureLister.list, nil, func() {}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := p.read(t, Guess{Pools: []string{"tank", "tank"}})
	if render(got) != render(want) || p.namesListed.Load() != 1 {
		t.Errorf("read (names listed %d times)\n%s\nwant the listing's\n%s", p.namesListed.Load(), render(got), render(want))
	}
}

// A read through the program counts in the read's budget what the listing would have.
func TestNamesProgramCountsAsTheListing(t *testing.T) {
	read := func(g Guess) *rowBudget {
		p := newProgramFake(t)
		b := &rowBudget{max: 1 << 20}
		inv, err := reading{list: p.list, program: p.program, budget: b, stop: func() {}}.versions(g)
		if err != nil {
			t.Fatal(err)
		}
		if (len(g.Pools) > 0) != (inv.ProgramPools() != nil) {
			t.Fatalf("guess %+v: ProgramPools %v", g, inv.ProgramPools())
		}
		return b
	}
	byProgram, byListing := read(Guess{Pools: []string{"tank"}}), read(Guess{})
	if byProgram.lines.Load() != byListing.lines.Load() || byProgram.used.Load() != byListing.used.Load() {
		t.Errorf("budget through the program: %d lines, %d bytes; through the listing: %d, %d",
			byProgram.lines.Load(), byProgram.used.Load(), byListing.lines.Load(), byListing.used.Load())
	}
}

func TestSubsetKeepsWhatTheReadLearned(t *testing.T) {
	inv := listed(t)
	inv.read.programPools, inv.read.noProgram = []string{"tank"}, true
	sub := inv.Subset(func(d *Dataset) bool { return d.Name != "tank/recv" })
	if !slices.Equal(sub.ProgramPools(), []string{"tank"}) || !sub.NoProgram() || !sub.read.counted {
		t.Errorf("subset's read facts %+v, want the inventory's %+v", sub.read, inv.read)
	}
}
