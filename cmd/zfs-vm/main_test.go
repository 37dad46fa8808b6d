package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the CLI in-process against the fake zfs in testdata/fakebin and returns its
// output, the zfs commands it ran, and its exit status.
func run(t *testing.T, written string, args ...string) (out, zfsLog string, status int) {
	t.Helper()
	setupFakeZFS(t, written)
	return runKeepPath(t, args...)
}

// setupFakeZFS puts testdata/fakebin first in PATH, answering from testdata/list.txt.
func setupFakeZFS(t *testing.T, written string) {
	abs, _ := filepath.Abs("testdata")
	t.Setenv("PATH", filepath.Join(abs, "fakebin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_ZFS_LIST", filepath.Join(abs, "list.txt"))
	t.Setenv("FAKE_ZFS_LOG", filepath.Join(t.TempDir(), "log"))
	t.Setenv("FAKE_ZFS_WRITTEN", written)
	t.Setenv("ZFS_VM_LOCK_DIR", filepath.Join(t.TempDir(), "locks"))
	t.Setenv("ZFS_VM_ROOT", filepath.Join(abs, "..", "..", "..", "vzmap", "testdata", "openvz"))
}

// runKeepPath runs the CLI in-process with the environment as the test set it.
func runKeepPath(t *testing.T, args ...string) (out, zfsLog string, status int) {
	t.Helper()
	app := newApp()
	var buf bytes.Buffer
	app.Writer, app.ErrWriter = &buf, &buf
	log.SetOutput(&buf)
	err := runApp(context.Background(), app, append([]string{"zfs-vm"}, args...))
	if err != nil {
		buf.WriteString(err.Error())
		status = exitStatus(err)
	}
	b, _ := os.ReadFile(os.Getenv("FAKE_ZFS_LOG"))
	return buf.String(), string(b), status
}

func TestTagWithFakeZFS(t *testing.T) {
	cases := []struct {
		name    string
		written string
		args    []string
		status  int
		out     string // fragment of the output
		ran     string // fragment of the zfs log; "" = no snapshot must be taken
	}{
		{"clone by mountpoint gets the next version", "0", []string{"tag", "/var/lib/vz/private/1007"}, 0,
			"pool/ct@zfs-vm:debian:3", "zfs snapshot pool/ct@zfs-vm:debian:3\nzfs hold zfs-vm pool/ct@zfs-vm:debian:3"},
		{"OpenVZ CTID", "0", []string{"tag", "1007"}, 0,
			"pool/ct@zfs-vm:debian:3", "zfs snapshot pool/ct@zfs-vm:debian:3"},
		{"OpenVZ container name", "0", []string{"tag", "web"}, 0,
			"pool/ct@zfs-vm:debian:3", "zfs snapshot pool/ct@zfs-vm:debian:3"},
		{"OpenVZ container not on ZFS", "0", []string{"tag", "1008"}, exitFailure,
			"openvz container 1008: its path /vz/private/1008 (from /etc/vz/conf/1008.conf) is not a ZFS dataset's mountpoint", ""},
		{"--type other manager", "0", []string{"tag", "--type", "lxc", "1007"}, exitFailure,
			"1007 is not a dataset, a mountpoint or a container ID", ""},
		{"unchanged template is left alone", "0", []string{"tag", "pool/tmpl"}, 0,
			"unchanged since pool/tmpl@zfs-vm:debian:2", ""},
		{"changed template is tagged", "4096", []string{"tag", "pool/tmpl"}, 0,
			"pool/tmpl@zfs-vm:debian:3", "zfs snapshot pool/tmpl@zfs-vm:debian:3"},
		{"explicit name and version", "0", []string{"tag", "-n", "web:5", "pool/ct"}, 0,
			"pool/ct@zfs-vm:web:5", "zfs snapshot pool/ct@zfs-vm:web:5"},
		{"existing version refused", "0", []string{"tag", "-n", "2", "pool/ct"}, exitFailure,
			"version debian:2 already exists", ""},
		{"unknown dataset", "0", []string{"tag", "pool/nope"}, exitFailure,
			"pool/nope is not a dataset, a mountpoint or a container ID (looked at: datasets and their mountpoints; /etc/vz/conf/<CTID>.conf", ""},
		{"bad -n", "0", []string{"tag", "-n", "a;b", "pool/ct"}, exitUsage, `-n "a;b"`, ""},
		{"no argument", "0", []string{"tag"}, exitUsage, "want exactly one", ""},
		{"recursive", "4096", []string{"tag", "-r", "pool/img"}, 0,
			"pool/img@zfs-vm:rec:2 (recursive, 3 members)", "zfs snapshot -r pool/img@zfs-vm:rec:2\nzfs hold -r zfs-vm pool/img@zfs-vm:rec:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, zfsLog, status := run(t, c.written, c.args...)
			if status != c.status || !strings.Contains(out, c.out) {
				t.Errorf("status %d, output %q; want %d and %q", status, out, c.status, c.out)
			}
			if c.ran == "" && strings.Contains(zfsLog, "zfs snapshot") {
				t.Errorf("took a snapshot: %s", zfsLog)
			}
			if c.ran != "" && !strings.Contains(zfsLog, c.ran) {
				t.Errorf("zfs log %q lacks %q", zfsLog, c.ran)
			}
		})
	}
}

func TestUnchangedCheckSyncsThePoolFirst(t *testing.T) {
	_, zfsLog, _ := run(t, "0", "tag", "pool/tmpl")
	sync := strings.Index(zfsLog, "zpool sync pool")
	get := strings.Index(zfsLog, "zfs get -H -p -o value written@zfs-vm:debian:2 pool/tmpl")
	if sync < 0 || get < sync {
		t.Errorf("written was not re-read after zpool sync:\n%s", zfsLog)
	}
}

func TestListWithFakeZFS(t *testing.T) {
	out, _, status := run(t, "0", "list")
	if status != 0 {
		t.Fatalf("status %d: %s", status, out)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"STREAMLINE", "debian 1 pool/tmpl -", "debian 2 pool/tmpl debian:1", "rec 1 pool/img (+2: data,disk) - 600B"} {
		if !strings.Contains(flat, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = run(t, "0", "list", "-o", "json")
	if !strings.Contains(out, `"members": [`) || !strings.Contains(out, `"pool/img/disk"`) {
		t.Errorf("json lacks members:\n%s", out)
	}
	if !strings.Contains(out, `"snapshot": "pool/tmpl@zfs-vm:debian:2"`) || !strings.Contains(out, `"parent": "debian:1"`) {
		t.Errorf("json output:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		out  string
	}{
		{[]string{"push"}, "push: missing [user@]host"},
		{[]string{"pull", "a", "b"}, "too many arguments"},
		{[]string{"push", "-n", "x$(id)", "host"}, "push: -n: streamline"},
		{[]string{"push", "-d", "tank/../x", "host"}, "push: -d: dataset"},
		{[]string{"push", "-oProxyCommand=id"}, "flag provided but not defined"},
		{[]string{"push", "--", "-oProxyCommand=id"}, `host "-oProxyCommand=id": not of the form [user@]host[:port]`},
		{[]string{"list", "-o", "yaml"}, `list: -o "yaml": use text or json`},
		{[]string{"push", "--compress", "gzip", "host"}, `push: --compress: compressor "gzip": use zstd or none`},
		{[]string{"pull", "--bwlimit", "10 parsecs", "host"}, `pull: --bwlimit: bandwidth limit "10 parsecs"`},
		{[]string{"push", "--streams", "0", "host"}, `push: --streams 0: use 1 to 8`},
		{[]string{"pull", "--streams", "9", "host"}, `pull: --streams 9: use 1 to 8`},
	}
	for _, c := range cases {
		out, zfsLog, status := run(t, "0", c.args...)
		if status == 0 || !strings.Contains(out, c.out) {
			t.Errorf("%q: status %d output %q; want failure with %q", c.args, status, out, c.out)
		}
		if zfsLog != "" {
			t.Errorf("%q ran zfs: %s", c.args, zfsLog)
		}
	}
}

func TestGlobalAndCommandDashD(t *testing.T) {
	// -d before the command is debug; after push it is the destination.
	out, _, status := run(t, "0", "-d", "push", "-d", "tank//x", "host")
	if status != exitUsage || !strings.Contains(out, "push: -d: dataset") {
		t.Errorf("status %d output %q", status, out)
	}
}
