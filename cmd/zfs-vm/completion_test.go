package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	for sh, want := range map[string]string{
		"bash": "complete -o bashdefault -o default -F _zfs_vm zfs-vm",
		"zsh":  "#compdef zfs-vm",
		"fish": "complete -c zfs-vm -a '(__zfs_vm_complete)'",
	} {
		out, _, status := runKeepPath(t, "completion", sh)
		if status != 0 || !strings.Contains(out, want) || !strings.Contains(out, "--generate-bash-completion") {
			t.Errorf("completion %s: status %d\n%s", sh, status, out)
		}
		if _, err := exec.LookPath(sh); err == nil {
			if b, err := exec.Command(sh, "-n", "-c", out).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v %s", sh, err, b)
			}
		}
	}
	if out, _, status := runKeepPath(t, "completion", "tcsh"); status != exitUsage {
		t.Errorf("completion tcsh: status %d %q", status, out)
	}
}

// peersConfig writes a configuration with two peers.
func peersConfig(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "zfs-vm.toml")
	text := "[defaults]\ndirection = \"push\"\n[[peer]]\nname = \"b1\"\nhost = \"b1\"\n[[peer]]\nname = \"b2\"\nhost = \"b2\"\n"
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// complete runs the completion request a shell script makes for the words typed.
func complete(t *testing.T, words ...string) string {
	t.Helper()
	args := append(words, "--generate-bash-completion")
	old := os.Args
	os.Args = append([]string{"zfs-vm"}, args...)
	t.Cleanup(func() { os.Args = old })
	out, zfsLog, status := runKeepPath(t, args...)
	if status != 0 || zfsLog != "" {
		t.Errorf("%q: status %d, ran zfs: %q", words, status, zfsLog)
	}
	return out
}

func TestCompletePeerNames(t *testing.T) {
	setupFakeZFS(t, "0")
	cfg := peersConfig(t)
	cases := []struct {
		words []string
		want  string
	}{
		{[]string{"--config", cfg, "sync", "--peer"}, "b1\nb2\n"},
		{[]string{"--config", cfg, "sync", "--peer", "b1", "--peer"}, "b1\nb2\n"},
		{[]string{"--config", cfg, "sync", "--pe"}, "--peer\n"},
		{[]string{"--config", cfg, "sync"}, ""},
		{[]string{"--config", cfg, "systemd", "enable"}, "b1\nb2\n"},
		{[]string{"--config", cfg, "systemd", "disable", "b1"}, "b1\nb2\n"},
		{[]string{"--config", cfg, "systemd", "enable", "--dry"}, "--dry-run\n"},
		{[]string{"--config", filepath.Join(t.TempDir(), "none.toml"), "sync", "--peer"}, ""},
	}
	for _, c := range cases {
		if got := complete(t, c.words...); got != c.want {
			t.Errorf("%q: completed %q, want %q", c.words[2:], got, c.want)
		}
	}
}

// The bash script, sourced into bash with a built zfs-vm on PATH, offers the peers.
func TestBashCompletesPeers(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "zfs-vm"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := peersConfig(t)
	script := bashCompletion + `
COMP_WORDS=(zfs-vm --config "$CFG" sync --peer b)
COMP_CWORD=5
_zfs_vm
echo "${COMPREPLY[*]}"
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "CFG="+cfg)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "b1 b2" {
		t.Errorf("bash completion: %v %q", err, out)
	}
}
