package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/internal/lock"
)

// withList makes the fake zfs answer from testdata/list.txt with the replacements old→new
// (pairs) made, plus rows.
func withList(t *testing.T, replace []string, rows ...string) {
	b, err := os.ReadFile("testdata/list.txt")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(replace...).Replace(string(b))
	p := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(p, []byte(s+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_ZFS_LIST", p)
}

// templatesConfig writes a configuration whose [hooks] templates are names.
func templatesConfig(t *testing.T, names ...string) string {
	p := filepath.Join(t.TempDir(), "zfs-vm.toml")
	if err := os.WriteFile(p, []byte("[hooks]\ntemplates = [\""+strings.Join(names, "\", \"")+"\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pool/tmpl as list.txt has it, and written to since its newest snapshot.
const (
	tmplRow     = "pool/tmpl\tfilesystem\t2\t2\t-\t0\t0\t0\t/pool/tmpl\t-\t1\t-"
	tmplWritten = "pool/tmpl\tfilesystem\t2\t2\t-\t0\t0\t4096\t/pool/tmpl\t-\t1\t-"
)

func TestHookTemplates(t *testing.T) {
	hourly := "pool/tmpl@hourly-1\tsnapshot\t40\t40\t-\t0\t0\t-\t-\t0\t1\t-"
	cases := []struct {
		name      string
		templates []string
		replace   []string
		rows      []string
		written   string // what zfs get written@ answers
		status    int
		out       []string // fragments of the output
		zfs       string   // all zfs and zpool commands after the dataset listing ("-o *": listColumns)
	}{
		{"nothing changed: no command of its own", []string{"pool/tmpl"}, nil, nil, "0", 0,
			[]string{"template pool/tmpl (pool/tmpl): unchanged since pool/tmpl@zfs-vm:debian:2"},
			"zfs list -H -p -t snapshot -d 1 -o * pool/tmpl\n"},
		{"written since its version: tagged", []string{"pool/tmpl"}, []string{tmplRow, tmplWritten}, nil, "0", 0,
			[]string{"template pool/tmpl: tagged pool/tmpl@zfs-vm:debian:3"},
			"zfs list -H -p -t snapshot -d 1 -o * pool/tmpl\n" + lineageNames("pool/ct") + "zfs snapshot pool/tmpl@zfs-vm:debian:3\nzfs hold zfs-vm pool/tmpl@zfs-vm:debian:3\n"},
		{"a foreign snapshot after the version: one written@ check", []string{"pool/tmpl"}, nil, []string{hourly}, "0", 0,
			[]string{"unchanged since pool/tmpl@zfs-vm:debian:2"},
			"zfs list -H -p -t snapshot -d 1 -o * pool/tmpl\nzpool sync pool\nzfs get -H -p -o value written@zfs-vm:debian:2 pool/tmpl\n"},
		{"a foreign snapshot after the version, written before it: tagged", []string{"pool/tmpl"}, nil, []string{hourly}, "4096", 0,
			[]string{"tagged pool/tmpl@zfs-vm:debian:3"}, ""},
		{"two templates of one streamline get two versions", []string{"pool/tmpl", "1007"}, []string{tmplRow, tmplWritten}, nil, "0", 0,
			[]string{"tagged pool/tmpl@zfs-vm:debian:3", "template 1007: tagged pool/ct@zfs-vm:debian:4"},
			// Both datasets of the lineage were read in full: no names listing.
			"zfs list -H -p -t snapshot -d 1 -o * pool/tmpl pool/ct\nzfs snapshot pool/tmpl@zfs-vm:debian:3\nzfs hold zfs-vm pool/tmpl@zfs-vm:debian:3\n" +
				"zfs snapshot pool/ct@zfs-vm:debian:4\nzfs hold zfs-vm pool/ct@zfs-vm:debian:4\n"},
		{"a template named twice is tagged once", []string{"pool/tmpl", "/pool/tmpl"}, []string{tmplRow, tmplWritten}, nil, "0", 0,
			[]string{"template pool/tmpl: tagged pool/tmpl@zfs-vm:debian:3", "template /pool/tmpl (pool/tmpl): unchanged since pool/tmpl@zfs-vm:debian:3"},
			"zfs list -H -p -t snapshot -d 1 -o * pool/tmpl\n" + lineageNames("pool/ct") + "zfs snapshot pool/tmpl@zfs-vm:debian:3\nzfs hold zfs-vm pool/tmpl@zfs-vm:debian:3\n"},
		{"an unknown template fails, the others are done", []string{"pool/nope", "pool/tmpl"}, nil, nil, "0", exitFailure,
			[]string{"unchanged since pool/tmpl@zfs-vm:debian:2", "hook templates: 1 of 2 templates failed: template pool/nope: pool/nope is not a dataset"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setupFakeZFS(t, c.written)
			withList(t, c.replace, c.rows...)
			out, zfsLog, status := runKeepPath(t, "--config", templatesConfig(t, c.templates...), "hook", "templates")
			if status != c.status {
				t.Errorf("status %d, want %d: %s", status, c.status, out)
			}
			for _, o := range c.out {
				if !strings.Contains(out, o) {
					t.Errorf("output %q lacks %q", out, o)
				}
			}
			head := "zpool sync\n" + datasetListing
			if !strings.HasPrefix(zfsLog, head) || strings.Contains(zfsLog, fullListing) {
				t.Errorf("want a pool sync and one dataset listing first, never the full listing:\n%s", zfsLog)
			}
			if c.zfs == "" {
				return
			}
			_, rest, _ := strings.Cut(zfsLog, "\n")
			_, rest, _ = strings.Cut(rest, "\n")
			rest = strings.Replace(rest, listColumns, "*", 1)
			if rest != c.zfs {
				t.Errorf("after the dataset listing ran\n%s\nwant\n%s", rest, c.zfs)
			}
		})
	}
}

func TestHookTemplatesOff(t *testing.T) {
	cfg := writeConfig(t, "[hooks]\ntag = \"off\"\ntemplates = [\"pool/tmpl\"]\n")
	out, zfsLog, status := run(t, "4096", "--config", cfg, "hook", "templates")
	if status != 0 || !strings.Contains(out, "nothing to do: hooks.tag is off") || zfsLog != "" {
		t.Errorf("status %d, output %q, zfs %q", status, out, zfsLog)
	}
}

// The template timer's tags take the host's tag lock, as hooks and `zfs-vm tag` do: its lock
// file appears in the runtime directory.
func TestHookTemplatesTakeTheTagLock(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZFS_VM_RUNTIME_DIR", dir)
	withList(t, []string{tmplRow, tmplWritten})
	cfg := templatesConfig(t, "pool/tmpl")
	out, _, status := run(t, "0", "--config", cfg, "hook", "templates")
	if status != 0 {
		t.Fatalf("status %d: %s", status, out)
	}
	if _, err := os.Stat(filepath.Join(dir, lock.Name("tag", "host")+".lock")); err != nil {
		t.Errorf("no tag lock taken in %s: %v", dir, err)
	}
}

// A template's dataset gone between the dataset listing and the lineage's snapshot listing
// (renamed or destroyed meanwhile) gets the host read again, once, not every template failed;
// one that fails so again fails the run.
func TestHookTemplatesReadAgainWhenADatasetWentAway(t *testing.T) {
	t.Setenv("FAKE_ZFS_GONE_ONCE", "pool/tmpl")
	out, zfsLog, status := run(t, "0", "--config", templatesConfig(t, "pool/tmpl"), "hook", "templates")
	if status != 0 || !strings.Contains(out, "unchanged since pool/tmpl@zfs-vm:debian:2") {
		t.Errorf("status %d: %s", status, out)
	}
	if n := strings.Count(zfsLog, datasetListing); n != 2 {
		t.Errorf("%d dataset listings, want 2:\n%s", n, zfsLog)
	}
	t.Setenv("FAKE_ZFS_GONE_ALWAYS", "1")
	out, zfsLog, status = run(t, "0", "--config", templatesConfig(t, "pool/tmpl"), "hook", "templates")
	if status == 0 || !strings.Contains(out, "cannot open 'pool/tmpl': dataset does not exist") ||
		strings.Count(zfsLog, datasetListing) != 2 {
		t.Errorf("gone at every read: status %d, %d dataset listings (want 2): %s", status, strings.Count(zfsLog, datasetListing), out)
	}
}
