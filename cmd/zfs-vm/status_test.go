package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fake remote (testdata/remote-list.txt) has debian:1 of this host's debian:1-2 and
// nothing of rec:1.
func TestStatusLevels(t *testing.T) {
	recent := filepath.Join(t.TempDir(), "recent.prom")
	old := time.Now().Add(-time.Hour).Unix()
	os.WriteFile(recent, []byte(fmt.Sprintf("zfs_vm_sync_last_success_timestamp_seconds{peer=\"b\"} %d\n", old)), 0o644)
	peer := "[[peer]]\nname = \"b\"\nhost = \"b\"\ndirection = \"%s\"\n%s\n"
	cases := []struct {
		name, direction, limits string
		args                    []string
		status                  int
		out                     []string
	}{
		{"no limits", "push", "", nil, levelOK, []string{
			"OK: 1 peer(s), 2 row(s), none beyond its limits | 'b debian behind'=1;;;0; 'b rec behind'=1;;;0;\n",
			"b     push       debian      2     1      1       -             OK",
			"b     push       rec         1     -      1       -             OK"}},
		{"a copy outside the peer's dest is not its", "push", "dest = \"pool/bk\"", nil, levelOK, []string{
			"'b debian behind'=2;;;0;", "b     push       debian      2     -      2"}},
		{"one behind warns", "push", "warn_behind = 1\ncrit_behind = 3", nil, levelWarning, []string{
			"WARNING: b debian: 1 version(s) behind (warn_behind 1); b rec: 1 version(s) behind (warn_behind 1) | 'b debian behind'=1;1;3;0;",
			"debian      2     1      1       -             WARNING"}},
		{"one behind is critical", "push", "crit_behind = 1", nil, levelCritical, []string{
			"CRITICAL: b debian: 1 version(s) behind (crit_behind 1)"}},
		{"pull is not behind", "pull", "warn_behind = 1", nil, levelOK, []string{
			"OK: ", "b     pull       debian      2     1      0"}},
		{"last success too old", "pull", "warn_age = \"30m\"\ncrit_age = \"2h\"", []string{"--metrics-file", recent, "b"}, levelWarning, []string{
			"WARNING: b: last successful sync 1h0m", "ago (warn_age 30m0s)"}},
		{"last success recent enough", "pull", "warn_age = \"2h\"", []string{"--metrics-file", recent, "b"}, levelOK, []string{
			"ago    OK"}},
		{"no success recorded", "pull", "crit_age = \"2h\"", []string{"--metrics-file", filepath.Join(t.TempDir(), "none.prom"), "b"}, levelCritical, []string{
			"CRITICAL: b: no successful sync recorded in ", "never"}},
		{"unreachable peer", "push", "", []string{"gone"}, levelCritical, []string{
			"CRITICAL: gone: cannot connect to gone: ssh: Could not resolve hostname gone"}},
		{"unknown peer", "push", "", []string{"nope"}, exitUsage, []string{`status: no peer "nope" in the configuration`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			remoteLog := withFakeRemote(t)
			t.Setenv("FAKE_SSH_FAIL_HOST", "gone")
			cfg := writeConfig(t, fmt.Sprintf(peer, c.direction, c.limits)+"[[peer]]\nname = \"gone\"\nhost = \"gone\"\ndirection = \"push\"\n")
			args := append([]string{"--config", cfg, "status"}, c.args...)
			if c.args == nil {
				args = append(args, "b")
			}
			out, zfsLog, status := runKeepPath(t, args...)
			if status != c.status {
				t.Errorf("status %d, want %d:\n%s", status, c.status, out)
			}
			for _, want := range c.out {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			remote, _ := os.ReadFile(remoteLog)
			for _, l := range strings.Split(strings.TrimSpace(zfsLog+string(remote)), "\n") {
				// Listings, and the names program with -n: read-only, it changes nothing.
				if l != "" && !strings.HasPrefix(l, "zfs list ") && !strings.HasPrefix(l, "zfs program -j -n ") {
					t.Errorf("status ran more than zfs list and zfs program -n: %s", l)
				}
			}
		})
	}
}

func TestSyncWritesBehindMetrics(t *testing.T) {
	withFakeRemote(t)
	prom := filepath.Join(t.TempDir(), "zfs-vm.prom")
	cfg := writeConfig(t, "metrics_file = \""+prom+"\"\n[[peer]]\nname = \"b\"\nhost = \"b\"\ndirection = \"push\"\n")
	out, _, status := runKeepPath(t, "--config", cfg, "sync", "--lock-dir", t.TempDir())
	if status != 0 {
		t.Fatalf("status %d: %s", status, out)
	}
	m, _ := os.ReadFile(prom)
	for _, want := range []string{
		`zfs_vm_versions_behind{peer="b",streamline="debian"} 0`,
		`zfs_vm_versions_behind{peer="b",streamline="rec"} 0`,
		`zfs_vm_newest_version_timestamp_seconds{peer="b",streamline="debian"} 1`,
	} {
		if !strings.Contains(string(m), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}
