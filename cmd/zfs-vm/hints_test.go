package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if log := push(); strings.Count(log, fullListing) != 2 || strings.Contains(log, namesListing) {
		t.Errorf("the second push, with hints, did not list each side once in full:\n%s", log)
	}
	for _, bad := range []string{
		"not json",
		`{"sender":{"datasets":["-rf"],"bases":["-x@y"],"small":false},"receiver":{"datasets":["pool/a","--help"],"bases":["pool/a@s","-r"]}}`,
	} {
		if err := os.WriteFile(files[0], []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		log := push()
		if strings.Contains(log, fullListing) || strings.Contains(log, " -rf") || strings.Contains(log, " -x@y") || strings.Contains(log, "--help") {
			t.Errorf("hints %q were used:\n%s", bad, log)
		}
		if b, _ := os.ReadFile(files[0]); string(b) == bad {
			t.Errorf("hints %q not replaced after the run", bad)
		}
	}
}
