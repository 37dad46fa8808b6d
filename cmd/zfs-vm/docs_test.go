package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/ from the CLI")

// renderText renders a man page as plain text without its header and footer lines (which
// carry the date and version), as groff does for a terminal of 80 columns.
func renderText(t *testing.T, page string) string {
	t.Helper()
	cmd := exec.Command("groff", "-man", "-Tascii", "-P-cbou", "-rLL=78n", "-rcR=1")
	cmd.Stdin = strings.NewReader(page)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("groff: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(strings.Join(lines[1:len(lines)-1], "\n")) + "\n"
}

// docs/ holds `zfs-vm --help` and both man pages as text, for readers without the package.
// They are generated: `go test ./cmd/zfs-vm -run TestDocsAreGenerated -update` rewrites them.
func TestDocsAreGenerated(t *testing.T) {
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("no groff")
	}
	help, _, _ := runKeepPath(t, "--help")
	docs := map[string]string{
		"zfs-vm-help.txt":   help,
		"zfs-vm.8.txt":      renderText(t, manOutput(t, "zfs-vm")),
		"zfs-vm.toml.5.txt": renderText(t, manOutput(t, "zfs-vm.toml")),
	}
	dir := filepath.Join("..", "..", "docs")
	for name, want := range docs {
		path := filepath.Join(dir, name)
		if *updateDocs {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is not what the CLI generates (err=%v); run: go test ./cmd/zfs-vm -run TestDocsAreGenerated -update", path, err)
		}
	}
}
