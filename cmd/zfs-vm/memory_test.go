package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// A peer's listings cannot grow zfs-vm's memory or keep it reading: whatever it prints,
// without end, in many rows or in long ones, rows it keeps or lines it drops, in any of the
// three listings zfs-vm reads of it, zfs-vm stops reading with one line naming the peer, exit
// 1, and stays under 32 MiB (its peak resident size, as the kernel counts it for the child).
func TestPeerListingMemoryIsBounded(t *testing.T) {
	const (
		dataset = `printf "pool/d%d\tfilesystem\t%d\t1\t-\t0\t0\t0\t/pool/d%d\t-\t1\t-\n", i, i + 10, i`
		tagged  = `printf "pool/d%d@zfs-vm:s:1\n", i`
		snap    = `printf "pool/t@zfs-vm:s:%d\tsnapshot\t%d\t%d\t-\t0\t0\t-\t-\t0\t1\t-\n", i + 1, i + 10, i + 10`
		pool    = `printf 'pool\tfilesystem\t1\t1\t-\t0\t0\t0\t/pool\t-\t1\t-\n'; printf 'pool/t\tfilesystem\t2\t2\t-\t0\t0\t0\t/pool/t\t-\t1\t-\n'`
	)
	endless := func(each string) string { return `awk 'BEGIN { for (i = 0; ; i++) ` + each + ` }'` }
	const (
		tooMuch = "zfs-vm: b: lists more datasets and snapshots than zfs-vm reads from a peer"
		tooLong = "zfs-vm: b: lists more than 10000000 lines of datasets and snapshots"
	)
	cases := []struct{ name, datasets, names, snapshots, want string }{
		{"endless datasets", endless(dataset), `true`, `true`, tooMuch},
		{"datasets with a 512 KiB mountpoint each", `awk 'BEGIN { m = "m"; while (length(m) < 524288) m = m m; for (i = 0; ; i++) printf "pool/d%d\tfilesystem\t%d\t1\t-\t0\t0\t0\t/%s\t-\t1\t-\n", i, i + 10, m }'`, `true`, `true`, tooMuch},
		{"endless datasets with versions", pool + `; ` + endless(dataset), endless(tagged), `true`, tooMuch},
		{"endless snapshots of one dataset", pool, `echo pool/t@zfs-vm:s:1`, endless(snap), tooMuch},
		// Lines that cost no memory still end: empty lines and bookmarks, foreign names.
		{"endless empty lines", `yes ''`, `true`, `true`, tooLong},
		{"endless bookmarks", endless(`printf "pool/t#b%d\tbookmark\t%d\t1\t-\t-\t-\t-\t-\t-\t1\t-\n", i, i + 10`), `true`, `true`, tooLong},
		{"endless foreign names", pool, endless(`printf "pool/t@hourly-%d\n", i`), `true`, tooLong},
		// The first listing to fail stops the other and is the one reported.
		// (The endless datasets start 2 s late: on a loaded machine they could otherwise reach
		// their bound before the bad name's line arrives, and fail first.)
		{"a bad name beside endless datasets", "sleep 2; " + endless(dataset), `echo 'pool/t@zfs-vm:s:1/x'`, `true`, "zfs-vm: b: unexpected zfs list output at line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			remote := t.TempDir()
			script := "#!/bin/sh\ncase \" $* \" in\n" +
				"  *\" -o name \"*) " + c.names + " ;;\n" +
				"  *\" -t filesystem,volume \"*) " + c.datasets + " ;;\n" +
				"  *\" -t snapshot \"*) " + c.snapshots + " ;;\n" +
				"  *) echo \"fake zfs: unsupported $*\" >&2; exit 1 ;;\nesac\n"
			if err := os.WriteFile(filepath.Join(remote, "zfs"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			setupFakeZFS(t, "0")
			withFakeSSH(t, remote+":/usr/bin:/bin")
			ch := startChild(t, "list", "b")
			status, _ := ch.wait(60 * time.Second)
			out := strings.TrimSpace(ch.out.String())
			want := c.want
			if status != exitFailure || !strings.HasPrefix(out, want) || strings.Contains(out, "\n") {
				t.Errorf("status %d, output %.300q; want one line starting %q", status, out, want)
			}
			if rss := ch.cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; rss > 32<<10 {
				t.Errorf("peak resident size %d KiB; want at most 32 MiB", rss)
			} else {
				t.Logf("peak resident size %d KiB", rss)
			}
		})
	}
}

// ZFS_VM_PEER_LISTING_MIB sets how much of a peer's listings zfs-vm reads: 10,000 datasets
// (about 3.5 MiB as counted) are read by default and refused at 1 MiB.
func TestPeerListingLimitFromTheEnvironment(t *testing.T) {
	remote := t.TempDir()
	script := "#!/bin/sh\ncase \" $* \" in\n" +
		"  *\" -o name \"*) true ;;\n" +
		"  *\" -t filesystem,volume\"*) awk 'BEGIN { for (i = 0; i < 10000; i++) printf \"pool/d%d\\tfilesystem\\t%d\\t1\\t-\\t0\\t0\\t0\\t/pool/d%d\\t-\\t1\\t-\\n\", i, i + 10, i }' ;;\n" +
		"  *) true ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(remote, "zfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	setupFakeZFS(t, "0")
	withFakeSSH(t, remote+":/usr/bin:/bin")
	for _, c := range []struct {
		mib    string
		status int
	}{{"", 0}, {"1", exitFailure}, {"8", 0}} {
		// Each in a runtime directory of its own: the hints of one run would guess the next.
		env := append(os.Environ(), "ZFS_VM_PEER_LISTING_MIB="+c.mib, "ZFS_VM_LOCK_DIR="+t.TempDir())
		ch := startChildEnv(t, env, "list", "b")
		status, _ := ch.wait(60 * time.Second)
		if status != c.status {
			t.Errorf("ZFS_VM_PEER_LISTING_MIB=%q: status %d, want %d; output %.300q", c.mib, status, c.status, ch.out.String())
		}
	}
}

// A raised bound raises the soft memory limit with it: what a peer may make zfs-vm hold, the
// collector allows, as at the default.
func TestPeerListingLimitRaisesTheMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	defer zfs.LimitMemory(0)
	defer zfs.SetPeerListingLimit(zfs.DefaultPeerListingMiB)
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("ZFS_VM_PEER_LISTING_MIB", "40")
	limitMemory()
	if got, want := debug.SetMemoryLimit(-1), int64(memoryLimit+2*28<<20); got != want {
		t.Errorf("soft limit %d with a 40 MiB bound; want %d", got, want)
	}
}

// A peer whose names program prints without end is stopped at a command's bound; the push
// goes on through the names listing, within the same memory as a peer's listings.
func TestEndlessNamesProgramIsBounded(t *testing.T) {
	abs, _ := filepath.Abs("testdata")
	remote := t.TempDir()
	script := "#!/bin/sh\nFAKE_ZFS_PROGRAM=endless exec " + filepath.Join(abs, "fakebin", "zfs") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(remote, "zfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	setupFakeZFS(t, "0")
	withFakeSSH(t, remote+":/usr/bin:/bin")
	dir := t.TempDir()
	ch := startChild(t, "push", "--runtime-dir", dir, "b")
	status, _ := ch.wait(60 * time.Second)
	out := ch.out.String()
	if status != 0 || !strings.Contains(out, "0 stream(s) received") {
		t.Errorf("status %d: %s", status, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "hints", "*.json"))
	if b, err := os.ReadFile(files[0]); err != nil || strings.Count(string(b), `"no_program":true`) != 1 || strings.Count(string(b), `"pools":["pool"]`) != 1 {
		t.Errorf("hints %s (%v): want the program taken as failing on the peer, learned here", b, err)
	}
	if rss := ch.cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; rss > 32<<10 {
		t.Errorf("peak resident size %d KiB; want at most 32 MiB", rss)
	} else {
		t.Logf("peak resident size %d KiB", rss)
	}
}
