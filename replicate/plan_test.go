package replicate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

// describe renders streams as "kind from>to @target [origin] -I".
func describe(p *Plan) []string {
	var out []string
	for _, s := range p.Streams {
		from := "-"
		if s.From != nil {
			from = s.From.FullName()
		}
		line := fmt.Sprintf("%s %s>%s @%s", s.Kind, from, s.To.FullName(), s.Target)
		if s.Origin != "" {
			line += " origin=" + s.Origin
		}
		if s.Intermediates {
			line += " -I"
		}
		out = append(out, line)
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("streams:\n  got:  %s\n  want: %s", strings.Join(got, "\n        "), strings.Join(want, "\n        "))
	}
}

// tree is the core issue's scenario: a template with versions 1-3 and two clones of v2 and
// v3 that got versions 4 and 5.
var tree = []string{
	"pool/tmpl",
	"pool/tmpl@zfs-vm:d:1 #1",
	"pool/tmpl@zfs-vm:d:2 #2",
	"pool/tmpl@zfs-vm:d:3 #3",
	"pool/c1 < pool/tmpl@zfs-vm:d:2",
	"pool/c1@zfs-vm:d:4 #4",
	"pool/c2 < pool/tmpl@zfs-vm:d:3",
	"pool/c2@zfs-vm:d:5 #5",
}

func TestPlanStreams(t *testing.T) {
	cases := []struct {
		name     string
		src, dst []string
		opt      Options
		want     []string
	}{
		{
			name: "empty receiver gets one full stream then one -I",
			src:  []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2", "pool/a@zfs-vm:d:3 #3"},
			dst:  []string{"pool"},
			want: []string{"full ->pool/a@zfs-vm:d:1 @pool/a", "incremental pool/a@zfs-vm:d:1>pool/a@zfs-vm:d:3 @pool/a -I"},
		},
		{
			name: "receiver with the first version gets one -I",
			src:  []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2", "pool/a@zfs-vm:d:3 #3"},
			dst:  []string{"pool", "pool/a", "pool/a@zfs-vm:d:1 #1"},
			want: []string{"incremental pool/a@zfs-vm:d:1>pool/a@zfs-vm:d:3 @pool/a -I"},
		},
		{
			name: "single missing version is a plain -i",
			src:  []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2"},
			dst:  []string{"pool", "pool/a", "pool/a@zfs-vm:d:1 #1"},
			want: []string{"incremental pool/a@zfs-vm:d:1>pool/a@zfs-vm:d:2 @pool/a"},
		},
		{
			name: "up to date receiver gets nothing",
			src:  tree,
			dst:  append([]string{"pool"}, tree...),
			want: nil,
		},
		{
			name: "a tree arrives as a tree, with -d",
			src:  tree,
			dst:  []string{"tank", "tank/vm"},
			opt:  Options{DestParent: "tank/vm"},
			want: []string{
				"full ->pool/tmpl@zfs-vm:d:1 @tank/vm/tmpl",
				"incremental pool/tmpl@zfs-vm:d:1>pool/tmpl@zfs-vm:d:3 @tank/vm/tmpl -I",
				"clone pool/tmpl@zfs-vm:d:2>pool/c1@zfs-vm:d:4 @tank/vm/c1 origin=tank/vm/tmpl@zfs-vm:d:2",
				"clone pool/tmpl@zfs-vm:d:3>pool/c2@zfs-vm:d:5 @tank/vm/c2 origin=tank/vm/tmpl@zfs-vm:d:3",
			},
		},
		{
			name: "a clone whose origin is already on the receiver is a clone stream",
			src:  tree,
			dst:  []string{"tank", "tank/vm", "tank/vm/tmpl", "tank/vm/tmpl@zfs-vm:d:1 #1", "tank/vm/tmpl@zfs-vm:d:2 #2", "tank/vm/tmpl@zfs-vm:d:3 #3"},
			opt:  Options{DestParent: "tank/vm"},
			want: []string{
				"clone pool/tmpl@zfs-vm:d:2>pool/c1@zfs-vm:d:4 @tank/vm/c1 origin=tank/vm/tmpl@zfs-vm:d:2",
				"clone pool/tmpl@zfs-vm:d:3>pool/c2@zfs-vm:d:5 @tank/vm/c2 origin=tank/vm/tmpl@zfs-vm:d:3",
			},
		},
		{
			name: "a foreign snapshot between versions forces -i steps",
			src:  []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@manual #9", "pool/a@zfs-vm:d:2 #2", "pool/a@zfs-vm:d:3 #3"},
			dst:  []string{"pool"},
			want: []string{
				"full ->pool/a@zfs-vm:d:1 @pool/a",
				"incremental pool/a@zfs-vm:d:1>pool/a@zfs-vm:d:2 @pool/a",
				"incremental pool/a@zfs-vm:d:2>pool/a@zfs-vm:d:3 @pool/a",
			},
		},
		{
			name: "a clone of a foreign snapshot (lxc-copy) is sent from the version before it",
			src: []string{"pool/t", "pool/t@zfs-vm:d:1 #1", "pool/t@c1 #8",
				"pool/c1 < pool/t@c1", "pool/c1@zfs-vm:d:2 #2"},
			dst:  []string{"pool", "pool/t", "pool/t@zfs-vm:d:1 #1"},
			want: []string{"clone pool/t@zfs-vm:d:1>pool/c1@zfs-vm:d:2 @pool/c1 origin=pool/t@zfs-vm:d:1"},
		},
		{
			// The clone between holds no version: only its origin chain leads to one.
			name: "clone of an untagged clone of a version",
			src: []string{"pool/t", "pool/t@zfs-vm:d:1 #1", "pool/x < pool/t@zfs-vm:d:1", "pool/x@copy #2",
				"pool/c < pool/x@copy", "pool/c@zfs-vm:d:2 #3"},
			dst: []string{"tank"},
			opt: Options{DestParent: "tank"},
			want: []string{
				"full ->pool/t@zfs-vm:d:1 @tank/t",
				"clone pool/t@zfs-vm:d:1>pool/c@zfs-vm:d:2 @tank/c origin=tank/t@zfs-vm:d:1",
			},
		},
		{
			name: "clone of a clone",
			src: append(append([]string{}, tree...),
				"pool/cc < pool/c1@zfs-vm:d:4", "pool/cc@zfs-vm:d:6 #6"),
			dst: []string{"tank"},
			opt: Options{DestParent: "tank"},
			want: []string{
				"full ->pool/tmpl@zfs-vm:d:1 @tank/tmpl",
				"incremental pool/tmpl@zfs-vm:d:1>pool/tmpl@zfs-vm:d:3 @tank/tmpl -I",
				"clone pool/tmpl@zfs-vm:d:2>pool/c1@zfs-vm:d:4 @tank/c1 origin=tank/tmpl@zfs-vm:d:2",
				"clone pool/tmpl@zfs-vm:d:3>pool/c2@zfs-vm:d:5 @tank/c2 origin=tank/tmpl@zfs-vm:d:3",
				"clone pool/c1@zfs-vm:d:4>pool/cc@zfs-vm:d:6 @tank/cc origin=tank/c1@zfs-vm:d:4",
			},
		},
		{
			name: "a new version after a clone was sent is one incremental",
			src:  append(append([]string{}, tree...), "pool/c2@zfs-vm:d:6 #6"),
			dst:  append([]string{"pool"}, tree...),
			want: []string{"incremental pool/c2@zfs-vm:d:5>pool/c2@zfs-vm:d:6 @pool/c2"},
		},
		{
			name: "-n limits to one streamline",
			src:  []string{"pool/a", "pool/a@zfs-vm:a:1 #1", "pool/b", "pool/b@zfs-vm:b:1 #2"},
			dst:  []string{"pool"},
			opt:  Options{Streamlines: []string{"b"}},
			want: []string{"full ->pool/b@zfs-vm:b:1 @pool/b"},
		},
		{
			name: "-n brings the versions a clone descends from",
			src: []string{"pool/t", "pool/t@zfs-vm:base:1 #1", "pool/t@zfs-vm:base:2 #2",
				"pool/app < pool/t@zfs-vm:base:2", "pool/app@zfs-vm:app:1 #3"},
			dst: []string{"pool"},
			opt: Options{Streamlines: []string{"app"}},
			want: []string{
				"full ->pool/t@zfs-vm:base:1 @pool/t",
				"incremental pool/t@zfs-vm:base:1>pool/t@zfs-vm:base:2 @pool/t",
				"clone pool/t@zfs-vm:base:2>pool/app@zfs-vm:app:1 @pool/app origin=pool/t@zfs-vm:base:2",
			},
		},
		{
			name: "an origin held twice by the receiver is pinned to the one under -d",
			src:  []string{"pool/t", "pool/t@zfs-vm:d:1 #1", "pool/c < pool/t@zfs-vm:d:1", "pool/c@zfs-vm:d:2 #2"},
			dst: []string{"tank", "tank/old", "tank/old/t", "tank/old/t@zfs-vm:d:1 #1",
				"tank/new", "tank/new/t", "tank/new/t@zfs-vm:d:1 #1"},
			opt:  Options{DestParent: "tank/new"},
			want: []string{"clone pool/t@zfs-vm:d:1>pool/c@zfs-vm:d:2 @tank/new/c origin=tank/new/t@zfs-vm:d:1"},
		},
		{
			// Two peers on one host (TestHoldsPerPeerOnOneHost): py's copy is not px's. With
			// it counted, px's run sent nothing and exited 0.
			name: "a copy under another destination is not this destination's",
			src:  []string{"pool/t", "pool/t@zfs-vm:d:1 #1"},
			dst:  []string{"hpx", "hpx/bk", "hpy", "hpy/bk", "hpy/bk/t", "hpy/bk/t@zfs-vm:d:1 #1"},
			opt:  Options{DestParent: "hpx/bk"},
			want: []string{"full ->pool/t@zfs-vm:d:1 @hpx/bk/t"},
		},
		{
			name: "another destination ahead does not stop this one's incremental",
			src:  []string{"pool/t", "pool/t@zfs-vm:d:1 #1", "pool/t@zfs-vm:d:2 #2"},
			dst: []string{"tank", "tank/x", "tank/x/t", "tank/x/t@zfs-vm:d:1 #1",
				"tank/y", "tank/y/t", "tank/y/t@zfs-vm:d:1 #1", "tank/y/t@zfs-vm:d:2 #2"},
			opt:  Options{DestParent: "tank/x"},
			want: []string{"incremental pool/t@zfs-vm:d:1>pool/t@zfs-vm:d:2 @tank/x/t"},
		},
		{
			name: "nothing is received into another destination's dataset",
			src:  []string{"pool/t", "pool/t@zfs-vm:d:1 #1", "pool/t@zfs-vm:d:2 #2"},
			dst:  []string{"tank", "tank/x", "tank/y", "tank/y/t", "tank/y/t@zfs-vm:d:1 #1"},
			opt:  Options{DestParent: "tank/x"},
			want: []string{"full ->pool/t@zfs-vm:d:1 @tank/x/t", "incremental pool/t@zfs-vm:d:1>pool/t@zfs-vm:d:2 @tank/x/t"},
		},
		{
			name: "a clone's origin under another destination is sent to this one first",
			src:  []string{"pool/t", "pool/t@zfs-vm:d:1 #1", "pool/c < pool/t@zfs-vm:d:1", "pool/c@zfs-vm:d:2 #2"},
			dst:  []string{"tank", "tank/old", "tank/old/t", "tank/old/t@zfs-vm:d:1 #1", "tank/new"},
			opt:  Options{DestParent: "tank/new"},
			want: []string{
				"full ->pool/t@zfs-vm:d:1 @tank/new/t",
				"clone pool/t@zfs-vm:d:1>pool/c@zfs-vm:d:2 @tank/new/c origin=tank/new/t@zfs-vm:d:1",
			},
		},
		{
			name: "without -d a copy anywhere counts (names are the sender's, a renamed copy is found)",
			src:  []string{"pool/t", "pool/t@zfs-vm:d:1 #1", "pool/t@zfs-vm:d:2 #2"},
			dst:  []string{"pool", "pool/renamed", "pool/renamed@zfs-vm:d:1 #1"},
			want: []string{"incremental pool/t@zfs-vm:d:1>pool/t@zfs-vm:d:2 @pool/renamed"},
		},
		{
			name: "foreign snapshots are never sent on their own",
			src:  []string{"pool/a", "pool/a@daily #1"},
			dst:  []string{"pool"},
			want: nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Compute(inventory(t, c.src...), inventory(t, c.dst...), c.opt)
			if len(p.Refused) > 0 {
				t.Fatalf("unexpected refusals: %v", p.Errors())
			}
			equal(t, describe(p), c.want)
		})
	}
}

func TestPlanRefusals(t *testing.T) {
	cases := []struct {
		name       string
		src, dst   []string
		opt        Options
		wantErr    any // pointer to the typed error expected among the refusals
		wantMsg    []string
		wantStream []string
	}{
		{
			name: "same name, other guid: conflict refuses the streamline, others go on",
			src: []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2",
				"pool/b", "pool/b@zfs-vm:x:1 #3"},
			dst:        []string{"pool", "pool/z", "pool/z@zfs-vm:d:2 #77"},
			wantErr:    new(*ConflictError),
			wantMsg:    []string{"streamline d conflicts", "version 2 is pool/a@zfs-vm:d:2 (guid 2)", "pool/z@zfs-vm:d:2 (guid 77)", "sender has versions 1,2, receiver has 2"},
			wantStream: []string{"full ->pool/b@zfs-vm:x:1 @pool/b"},
		},
		{
			name:    "receiver snapshots the sender lacks: diverged",
			src:     []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2"},
			dst:     []string{"pool", "pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@local #50"},
			wantErr: new(*DivergedError),
			wantMsg: []string{"receiver dataset pool/a diverged", "pool/a@local"},
		},
		{
			name:    "receiver written since the base: diverged",
			src:     []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2"},
			dst:     []string{"pool", "pool/a w=4096", "pool/a@zfs-vm:d:1 #1"},
			wantErr: new(*DivergedError),
			wantMsg: []string{"was written (4096 bytes)"},
		},
		{
			name:    "a version that can no longer be placed is reported",
			src:     []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2", "pool/a@zfs-vm:d:3 #3"},
			dst:     []string{"pool", "pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:3 #3"},
			wantErr: new(*GapError),
			wantMsg: []string{"cannot place pool/a@zfs-vm:d:2", "already has the later pool/a@zfs-vm:d:3"},
		},
		{
			name:    "-d collision lists both sources",
			src:     []string{"pool/x/1007", "pool/x/1007@zfs-vm:a:1 #1", "pool/y/1007", "pool/y/1007@zfs-vm:b:1 #2"},
			dst:     []string{"tank"},
			opt:     Options{DestParent: "tank"},
			wantErr: new(*NameCollisionError),
			wantMsg: []string{"pool/x/1007 and pool/y/1007", "tank/1007"},
		},
		{
			name:    "missing -d parent",
			src:     []string{"pool/a", "pool/a@zfs-vm:d:1 #1"},
			dst:     []string{"tank"},
			opt:     Options{DestParent: "tank/vm"},
			wantErr: new(*MissingParentError),
			wantMsg: []string{"no dataset tank/vm"},
		},
		{
			name:    "existing unrelated receiver dataset is not overwritten",
			src:     []string{"pool/a", "pool/a@zfs-vm:d:1 #1"},
			dst:     []string{"pool", "pool/a", "pool/a@other #40"},
			wantErr: new(*TargetExistsError),
			wantMsg: []string{"already has pool/a, which is not a copy of pool/a"},
		},
		{
			name: "a refused template blocks its clones",
			src: []string{"pool/t", "pool/t@zfs-vm:t:1 #1",
				"pool/c < pool/t@zfs-vm:t:1", "pool/c@zfs-vm:c:1 #2"},
			dst:     []string{"pool", "pool/q", "pool/q@zfs-vm:t:1 #99"},
			wantErr: new(*BlockedError),
			wantMsg: []string{"pool/c@zfs-vm:c:1 not sent", "descends from, pool/t@zfs-vm:t:1, was refused"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Compute(inventory(t, c.src...), inventory(t, c.dst...), c.opt)
			var found error
			for _, err := range p.Errors() {
				target := c.wantErr
				if errors.As(err, target) {
					found = err
				}
			}
			if found == nil {
				t.Fatalf("no %T among refusals %v", c.wantErr, p.Errors())
			}
			for _, m := range c.wantMsg {
				if !strings.Contains(found.Error(), m) {
					t.Errorf("message %q lacks %q", found.Error(), m)
				}
			}
			equal(t, describe(p), c.wantStream)
		})
	}
}

func TestPlanStreamsValidate(t *testing.T) {
	p := Compute(inventory(t, tree...), inventory(t, "tank", "tank/vm"), Options{DestParent: "tank/vm"})
	for _, s := range p.Streams {
		send, err := s.SendArgs()
		if err != nil {
			t.Fatal(err)
		}
		recv, err := s.ReceiveArgs()
		if err != nil {
			t.Fatal(err)
		}
		if s.Kind == Clone && !strings.Contains(strings.Join(recv.Argv(), " "), "-o origin=tank/vm/") {
			t.Errorf("clone receive not pinned: %v", recv.Argv())
		}
		if s.Kind == Full && len(send.Argv()) != 3 {
			t.Errorf("full send argv %v", send.Argv())
		}
	}
}

func TestPlanRollback(t *testing.T) {
	src := []string{"pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@zfs-vm:d:2 #2"}
	diverged := []string{"pool", "pool/a", "pool/a@zfs-vm:d:1 #1", "pool/a@local #50"}
	p := Compute(inventory(t, src...), inventory(t, diverged...), Options{Rollback: true})
	if len(p.Refused) > 0 || len(p.Streams) != 1 {
		t.Fatalf("streams %v refused %v", describe(p), p.Errors())
	}
	rb := p.Streams[0].Rollback
	if rb == nil || rb.To != "pool/a@zfs-vm:d:1" || strings.Join(rb.Destroys, ",") != "pool/a@local" {
		t.Errorf("rollback %+v", rb)
	}
	// Without --rollback the message names the flag.
	p = Compute(inventory(t, src...), inventory(t, diverged...), Options{})
	if errs := p.Errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "--rollback would roll it back to pool/a@zfs-vm:d:1") {
		t.Errorf("refusal %v", errs)
	}
	// A rollback that would destroy a clone is refused even with --rollback.
	withClone := append(append([]string{}, diverged...), "pool/c < pool/a@local")
	p = Compute(inventory(t, src...), inventory(t, withClone...), Options{Rollback: true})
	var rc *RollbackClonesError
	if errs := p.Errors(); len(errs) != 1 || !errors.As(errs[0], &rc) || !strings.Contains(errs[0].Error(), "destroy the clones pool/c") {
		t.Errorf("clone-destroying rollback not refused: %v", errs)
	}
}

// recursive is a template image with two members (one a volume in real life), tagged
// recursively twice, and a container cloned member by member from version 2 and tagged.
var recursive = []string{
	"pool/tmpl", "pool/tmpl/data", "pool/tmpl/disk",
	"pool/tmpl@zfs-vm:t:1 #1", "pool/tmpl/data@zfs-vm:t:1 #2", "pool/tmpl/disk@zfs-vm:t:1 #3",
	"pool/tmpl@zfs-vm:t:2 #4", "pool/tmpl/data@zfs-vm:t:2 #5", "pool/tmpl/disk@zfs-vm:t:2 #6",
	"pool/ct1 < pool/tmpl@zfs-vm:t:2", "pool/ct1/data < pool/tmpl/data@zfs-vm:t:2", "pool/ct1/disk < pool/tmpl/disk@zfs-vm:t:2",
	"pool/ct1@zfs-vm:t:3 #7", "pool/ct1/data@zfs-vm:t:3 #8", "pool/ct1/disk@zfs-vm:t:3 #9",
}

func TestPlanRecursiveImage(t *testing.T) {
	// The members of one recursive snapshot share a txg: give them one, as zfs snapshot -r does.
	src := inventory(t, recursive...)
	for _, d := range src.Datasets {
		for _, s := range d.Snapshots {
			s.CreateTXG = 1000 * s.Tag.Version
		}
	}
	p := Compute(src, inventory(t, "tank", "tank/vm"), Options{DestParent: "tank/vm"})
	if len(p.Refused) > 0 {
		t.Fatal(p.Errors())
	}
	equal(t, describe(p), []string{
		"full ->pool/tmpl@zfs-vm:t:1 @tank/vm/tmpl",
		"full ->pool/tmpl/data@zfs-vm:t:1 @tank/vm/tmpl/data",
		"full ->pool/tmpl/disk@zfs-vm:t:1 @tank/vm/tmpl/disk",
		"incremental pool/tmpl@zfs-vm:t:1>pool/tmpl@zfs-vm:t:2 @tank/vm/tmpl",
		"incremental pool/tmpl/data@zfs-vm:t:1>pool/tmpl/data@zfs-vm:t:2 @tank/vm/tmpl/data",
		"incremental pool/tmpl/disk@zfs-vm:t:1>pool/tmpl/disk@zfs-vm:t:2 @tank/vm/tmpl/disk",
		"clone pool/tmpl@zfs-vm:t:2>pool/ct1@zfs-vm:t:3 @tank/vm/ct1 origin=tank/vm/tmpl@zfs-vm:t:2",
		"clone pool/tmpl/data@zfs-vm:t:2>pool/ct1/data@zfs-vm:t:3 @tank/vm/ct1/data origin=tank/vm/tmpl/data@zfs-vm:t:2",
		"clone pool/tmpl/disk@zfs-vm:t:2>pool/ct1/disk@zfs-vm:t:3 @tank/vm/ct1/disk origin=tank/vm/tmpl/disk@zfs-vm:t:2",
	})

	// An interrupted run left t:2 on some members only: only what is missing is sent, and the
	// members sharing the name t:2 are no conflict.
	partial := inventory(t, "tank", "tank/vm", "tank/vm/tmpl", "tank/vm/tmpl/data", "tank/vm/tmpl/disk",
		"tank/vm/tmpl@zfs-vm:t:1 #1", "tank/vm/tmpl/data@zfs-vm:t:1 #2", "tank/vm/tmpl/disk@zfs-vm:t:1 #3",
		"tank/vm/tmpl@zfs-vm:t:2 #4")
	p = Compute(src, partial, Options{DestParent: "tank/vm", Streamlines: []string{"t"}})
	if len(p.Refused) > 0 {
		t.Fatal(p.Errors())
	}
	if got := describe(p); len(got) != 5 || got[0] != "incremental pool/tmpl/data@zfs-vm:t:1>pool/tmpl/data@zfs-vm:t:2 @tank/vm/tmpl/data" {
		t.Errorf("partial: %v", got)
	}
}

func TestPlanNoticesGoneMember(t *testing.T) {
	src := inventory(t, "pool/tmpl", "pool/tmpl@zfs-vm:t:1 #1")
	dst := inventory(t, "tank", "tank/tmpl", "tank/tmpl@zfs-vm:t:1 #1", "tank/tmpl/old", "tank/tmpl/old@zfs-vm:t:1 #2")
	p := Compute(src, dst, Options{DestParent: "tank"})
	if len(p.Notices) != 1 || !strings.Contains(p.Notices[0], "tank/tmpl/old is a member of an image the sender no longer has") {
		t.Errorf("notices %v", p.Notices)
	}
	if len(p.Refused) > 0 || len(p.Streams) > 0 {
		t.Errorf("plan %v %v", describe(p), p.Errors())
	}
}

func TestSubsetForSameHost(t *testing.T) {
	// One host with the image in pool and a backup pool: the sender side is everything but
	// the backup pool, the receiver side the backup pool only.
	rows := []string{"pool", "pool/a", "pool/a@zfs-vm:d:1 #1", "backup", "backup/vm"}
	src := inventory(t, rows...).Subset(func(d *zfs.Dataset) bool { return !zfs.InPool(d.Name, "backup") })
	dst := inventory(t, rows...).Subset(func(d *zfs.Dataset) bool { return zfs.InPool(d.Name, "backup") })
	p := Compute(src, dst, Options{DestParent: "backup/vm"})
	equal(t, describe(p), []string{"full ->pool/a@zfs-vm:d:1 @backup/vm/a"})
}

// A sender inventory with an origin cycle (the listing check reports it; an inventory built
// without it must still plan in bounded time).
func TestPlanCyclicInventoryEnds(t *testing.T) {
	mk := func() *zfs.Inventory {
		return zfs.NewInventory([]*zfs.Dataset{
			{Name: "pool"},
			{Name: "pool/ct", OriginName: "pool/ct@base", Snapshots: []*zfs.Snapshot{
				{Name: "base", GUID: 1, CreateTXG: 3}, {Name: "zfs-vm:d:1", GUID: 2, CreateTXG: 4}}},
		})
	}
	done := make(chan *Plan)
	go func() { done <- Compute(mk(), zfs.NewInventory([]*zfs.Dataset{{Name: "pool"}}), Options{}) }()
	select {
	case p := <-done:
		equal(t, describe(p), []string{"full ->pool/ct@zfs-vm:d:1 @pool/ct"})
	case <-time.After(5 * time.Second):
		t.Fatal("Compute did not return within 5 s")
	}
}

// Received filesystems never take the sender's mount or share properties, and volumes get
// only options that apply to volumes; for an existing dataset the receiver's type counts.
func TestStreamReceiveProps(t *testing.T) {
	src := zfstest.Inventory(t,
		"pool/fs", "pool/fs@zfs-vm:f:1 #1", "pool/fs@zfs-vm:f:2 #2",
		"pool/vol volume", "pool/vol@zfs-vm:v:1 #3",
		"pool/liar volume", "pool/liar@zfs-vm:l:1 #4", "pool/liar@zfs-vm:l:2 #5")
	dst := zfstest.Inventory(t, "bk", "bk/fs", "bk/fs@zfs-vm:f:1 #1", "bk/liar", "bk/liar@zfs-vm:l:1 #4")
	argv := func(opt Options) []string {
		var out []string
		for _, st := range Compute(src, dst, opt).Streams {
			r, err := st.ReceiveArgs()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.Join(r.Argv(), " "))
		}
		return out
	}
	const drops = "-x mountpoint -x sharenfs -x sharesmb"
	equal(t, argv(Options{DestParent: "bk"}), []string{
		"zfs receive -s -u " + drops + " -x canmount bk/fs",
		"zfs receive -s -u -o volmode=default bk/vol",
		"zfs receive -s -u " + drops + " -x canmount bk/liar",
	})
	dst = zfstest.Inventory(t, "bk")
	equal(t, argv(Options{DestParent: "bk", Mountable: true})[:1], []string{"zfs receive -s -u " + drops + " -x canmount bk/fs"})
	equal(t, argv(Options{DestParent: "bk"})[:1], []string{"zfs receive -s -u " + drops + " -o canmount=noauto bk/fs"})
}

// A receiver dataset whose interrupted receive was kept for the next run gets no stream, and
// what descends from the refused version is blocked, not sent onto a partial state.
func TestPlanLeavesPendingResumesAlone(t *testing.T) {
	src := zfstest.Inventory(t, "tk", "tk/src", "tk/src@zfs-vm:a:1 #1", "tk/src@zfs-vm:a:2 #2",
		"tk/c < tk/src@zfs-vm:a:2", "tk/c@zfs-vm:a:3 #3", "tk/new", "tk/new@zfs-vm:n:1 #4")
	dst := zfstest.Inventory(t, "bk", "bk/src", "bk/src@zfs-vm:a:1 #1", "bk/new")
	p := Compute(src, dst, Options{DestParent: "bk", pending: map[string]error{
		"bk/src": errors.New("kept"), "bk/new": errors.New("kept")}})
	if len(p.Streams) != 0 {
		t.Errorf("streams planned: %v", describe(p))
	}
	var got []string
	for _, err := range p.Errors() {
		got = append(got, err.Error())
	}
	equal(t, got, []string{
		"tk/src@zfs-vm:a:2 not sent: the interrupted receive into bk/src is to be resumed first",
		"tk/c@zfs-vm:a:3 not sent: the version it descends from, tk/src@zfs-vm:a:2, was refused",
		"tk/new@zfs-vm:n:1 not sent: the interrupted receive into bk/new is to be resumed first",
	})
}
