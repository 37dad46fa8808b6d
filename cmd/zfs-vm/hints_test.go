package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zfs-vm/zfs-vm/replicate"
)

// A push keeps hints for the next run in the runtime directory; the next push of a small
// host then lists each side with one full listing. A hints file that does not parse, or
// names things zfs could take for options, changes nothing but speed.
func TestPushKeepsHintsForTheNextRun(t *testing.T) {
	abs, _ := filepath.Abs("testdata")
	setupFakeZFS(t, "0")
	withFakeSSH(t, filepath.Join(abs, "fakebin")+":/usr/bin:/bin")
	dir := t.TempDir()
	push := func() string {
		t.Helper()
		t.Setenv("FAKE_ZFS_LOG", filepath.Join(t.TempDir(), "log"))
		out, zfsLog, status := runKeepPath(t, "push", "--runtime-dir", dir, "b")
		if status != 0 || !strings.Contains(out, "0 stream(s) received") {
			t.Fatalf("push: status %d: %s", status, out)
		}
		return zfsLog
	}
	if log := push(); strings.Contains(log, fullListing) {
		t.Fatalf("the first push listed everything in full:\n%s", log)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "hints", "*.json"))
	if len(files) != 1 {
		t.Fatalf("hints files %q, want one", files)
	}
	// The first push ran the names program beside the names listing, and it agreed.
	if b, _ := os.ReadFile(files[0]); strings.Count(string(b), `"pools":["pool"]`) != 2 {
		t.Errorf("the first push did not learn that the names program stands for the listing on both hosts: %s", b)
	}
	// Both hosts, small, are listed once in full each.
	if log := push(); strings.Count(log, fullListing) != 2 || strings.Contains(log, namesListing) {
		t.Errorf("the second push, with hints, did not list each small host once in full:\n%s", log)
	}
	// Grown past what a small host has, the full listings are cut short and the hosts read
	// in two steps (with the hinted datasets listed beside the first), their names through
	// the names program.
	var rows []string
	for i := range 4 * 500 {
		rows = append(rows, fmt.Sprintf("pool/tmpl@hourly-%d\tsnapshot\t%d\t%d\t-\t0\t0\t-\t-\t0\t1\t-", i, 1000+i, 1000+i))
	}
	withExtraRows(t, rows...)
	if log := push(); strings.Count(log, fullListing) != 2 || strings.Contains(log, namesListing) || strings.Count(log, namesProgram) != 2 {
		t.Errorf("the push of a grown peer guessed small did not fall back to two steps, the names read by the program:\n%s", log)
	}
	// Where the program fails (no root), a run learns that and the next lists the names.
	t.Setenv("FAKE_ZFS_PROGRAM", "fail")
	os.Remove(files[0])
	if log := push(); strings.Count(log, namesListing) != 2 || strings.Count(log, namesProgram) != 2 {
		t.Errorf("the push without hints did not list the names and try the program beside:\n%s", log)
	}
	if b, _ := os.ReadFile(files[0]); strings.Count(string(b), `"no_program":true`) != 2 {
		t.Errorf("the push did not keep that the names program fails on both hosts: %s", b)
	}
	if log := push(); strings.Count(log, namesListing) != 2 || strings.Contains(log, namesProgram) {
		t.Errorf("the push after the program failed did not list the names, or tried it again:\n%s", log)
	}
	t.Setenv("FAKE_ZFS_PROGRAM", "")
	for _, bad := range []string{
		"not json",
		`{"sender":{"datasets":["-rf"],"bases":["-x@y"],"small":false},"receiver":{"datasets":["pool/a","--help"],"bases":["pool/a@s","-r"]}}`,
	} {
		if err := os.WriteFile(files[0], []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		log := push()
		if strings.Contains(log, " -rf") || strings.Contains(log, " -x@y") || strings.Contains(log, "--help") {
			t.Errorf("hints %q were used:\n%s", bad, log)
		}
		if b, _ := os.ReadFile(files[0]); string(b) == bad {
			t.Errorf("hints %q not replaced after the run", bad)
		}
	}
}

// A hints file is read only when it and its directory are this user's alone, and never
// through a symlink or from a FIFO (which would block the run with the peer lock held).
func TestLoadHintsOnlyFromAPrivatePlace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hints")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(dir, 0o700))
	good := filepath.Join(dir, "a.json")
	if err := saveHints(good, &replicate.Hints{Sender: replicate.HostHints{Datasets: []string{"tank/a"}}}); err != nil {
		t.Fatal(err)
	}
	if h := loadHints[replicate.Hints](good); h == nil || len(h.Sender.Datasets) != 1 {
		t.Fatalf("a private hints file was not read: %+v", h)
	}
	link := filepath.Join(dir, "link.json")
	must(os.Symlink(good, link))
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared.json")
	b, err := os.ReadFile(good)
	must(err)
	must(os.WriteFile(shared, b, 0o666))
	must(os.Chmod(shared, 0o666))
	for _, f := range []string{link, fifo, shared} {
		if h := loadHints[replicate.Hints](f); h != nil {
			t.Errorf("%s was read: %+v", filepath.Base(f), h)
		}
	}
	must(os.Chmod(dir, 0o777))
	if h := loadHints[replicate.Hints](good); h != nil {
		t.Errorf("a hints file in a directory others can write was read: %+v", h)
	}
	if err := saveHints(good, &replicate.Hints{}); err == nil {
		t.Errorf("hints were written into a directory others can write")
	}
}

// list and status keep hints per host, as push keeps them per peer: the first read of a
// host learns whether the names program stands for the names listing there, the next reads
// the names through it. What they print does not change.
func TestListAndStatusKeepHintsPerHost(t *testing.T) {
	abs, _ := filepath.Abs("testdata")
	setupFakeZFS(t, "0")
	withFakeSSH(t, filepath.Join(abs, "fakebin")+":/usr/bin:/bin")
	dir := t.TempDir()
	t.Setenv("ZFS_VM_LOCK_DIR", dir)
	var rows []string // past what a small host has: read in two steps
	for i := range 4 * 500 {
		rows = append(rows, fmt.Sprintf("pool/tmpl@hourly-%d\tsnapshot\t%d\t%d\t-\t0\t0\t-\t-\t0\t1\t-", i, 1000+i, 1000+i))
	}
	withExtraRows(t, rows...)
	run := func(args ...string) (string, string) {
		t.Helper()
		t.Setenv("FAKE_ZFS_LOG", filepath.Join(t.TempDir(), "log"))
		out, zfsLog, status := runKeepPath(t, args...)
		if status != 0 {
			t.Fatalf("%q: status %d: %s", args, status, out)
		}
		return out, zfsLog
	}
	for _, args := range [][]string{{"list"}, {"list", "b"}} {
		first, log := run(args...)
		if strings.Count(log, namesListing) != 1 || strings.Count(log, namesProgram) != 1 {
			t.Errorf("%q without hints did not list the names and run the program beside:\n%s", args, log)
		}
		next, log := run(args...)
		if strings.Contains(log, namesListing) || strings.Count(log, namesProgram) != 1 {
			t.Errorf("%q with hints did not read the names through the program alone:\n%s", args, log)
		}
		if next != first {
			t.Errorf("%q printed\n%s\nwith hints, and without\n%s", args, next, first)
		}
	}
	// status reads this host and the peer b as list did: with the same hints.
	cfg := writeConfig(t, "[[peer]]\nname = \"b\"\nhost = \"b\"\ndirection = \"push\"\n")
	if _, log := run("--config", cfg, "status"); strings.Contains(log, namesListing) || strings.Count(log, namesProgram) != 2 {
		t.Errorf("status did not read the names of both hosts through the program, as list learned:\n%s", log)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "hints", "host-*.json"))
	if len(files) != 2 { // this host's and b's
		t.Errorf("hints files %q, want two", files)
	}
}
