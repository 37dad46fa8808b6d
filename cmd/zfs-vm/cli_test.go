package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLine runs the CLI on right and wrong command lines and checks the exit status,
// a fragment of the output, and whether zfs ran.
func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	prom := filepath.Join(dir, "zfs-vm.prom")
	cfg := writeConfig(t, "metrics_file = \""+prom+"\"\n"+twoPeers)
	cases := []struct {
		name   string
		args   []string
		status int
		out    string // fragment of the output
		zfs    bool   // zfs may run
	}{
		// Completion never runs the command.
		{"completion of sync", []string{"sync", completionFlag}, 0, "", false},
		{"completion of --", []string{"sync", "--", completionFlag}, 0, "--peer", false},
		{"completion after --", []string{"push", "--", "host", completionFlag}, 0, "", false},
		{"completion of a peer", []string{"sync", "b1", completionFlag}, 0, "", false},
		// Arguments a command does not take.
		{"sync with a peer as argument", []string{"sync", "b1"}, exitUsage, `sync: takes no arguments, got "b1" (for one peer: --peer b1)`, false},
		{"version with an argument", []string{"version", "x"}, exitUsage, `version: takes no arguments`, false},
		{"--help", []string{"--help"}, 0, "COMMANDS:", false},
		{"-h", []string{"-h"}, 0, "COMMANDS:", false},
		{"push --help", []string{"push", "--help"}, 0, "zfs-vm push - ", false},
		{"mountable without -d", []string{"pull", "--mountable", "b"}, exitUsage, `pull: --mountable needs -d`, false},
		{"config check with an argument", []string{"config", "check", "x"}, exitUsage, `config check: takes no arguments`, false},
		{"sync help is an argument", []string{"sync", "help"}, exitUsage, `sync: takes no arguments`, false},
		// Unknown flags and commands.
		{"unknown global flag", []string{"--bogus", "list"}, exitUsage, "flag provided but not defined: -bogus (see zfs-vm --help)", false},
		{"unknown command flag", []string{"list", "--bogus"}, exitUsage, "list: flag provided but not defined: -bogus (see zfs-vm list --help)", false},
		{"unknown subcommand flag", []string{"config", "check", "--bogus"}, exitUsage, "config check: flag provided but not defined", false},
		{"unknown command", []string{"nosuch"}, exitUsage, `unknown command "nosuch" (see zfs-vm --help)`, false},
		{"unknown help topic", []string{"help", "nosuch"}, exitUsage, `help: unknown command "nosuch"`, false},
		{"unknown subcommand", []string{"config", "nosuch"}, exitUsage, `config: unknown command "nosuch" (want check)`, false},
		{"no command", nil, exitUsage, "COMMANDS:", false},
		{"group without subcommand", []string{"systemd"}, exitUsage, "enable", false},
		// Bad values, found before zfs is asked anything.
		{"tag with an unknown --type", []string{"tag", "--type", "docker", "x"}, exitUsage, `tag: --type "docker": use openvz, lxc, pve, jail`, false},
		{"bad duration", []string{"sync", "--wait", "5"}, exitUsage, `sync: --wait "5": want a duration with a unit, such as 30s, 10m or 1h30m`, false},
		{"bad duration after push", []string{"push", "--wait", "soon", "host"}, exitUsage, `push: --wait "soon": want a duration`, false},
		{"bad number", []string{"sync", "--jobs", "two"}, exitUsage, `sync: --jobs "two": want a whole number`, false},
		// Help.
		{"help of a command", []string{"help", "sync"}, 0, "--no-progress", false},
		{"--help of a command", []string{"push", "--help"}, 0, "--dest FS, -d FS", false},
		{"hook --help", []string{"hook", "--help"}, 0, "zfs-vm hook vzctl", false},
		{"config help", []string{"config", "help"}, 0, "check", false},
		// Global options on either side of the command.
		{"--config before", []string{"--config", cfg, "config", "check"}, 0, "ok: 2 peer(s)", false},
		{"--config after", []string{"config", "check", "--config", cfg}, 0, "ok: 2 peer(s)", false},
		{"--config between", []string{"config", "--config", cfg, "check"}, 0, "ok: 2 peer(s)", false},
		{"--config after wins", []string{"--config", "/nonexistent", "config", "check", "--config", cfg}, 0, "ok: 2 peer(s)", false},
		{"-d before list", []string{"-d", "list"}, 0, "debug: exec: zfs list", true},
		{"--debug after list", []string{"list", "--debug"}, 0, "debug: exec: zfs list", true},
		{"-d after list", []string{"list", "-d"}, 0, "debug: exec: zfs list", true},
		{"-d after push is the destination", []string{"push", "--debug", "-d", "tank//x", "host"}, exitUsage, "push: -d: dataset", false},
		{"-s after push", []string{"push", "-s", "-d", "tank//x", "host"}, exitUsage, "push: -d: dataset", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// urfave/cli's flag completion reads os.Args.
			defer func(saved []string) { os.Args = saved }(os.Args)
			os.Args = append([]string{"zfs-vm"}, c.args...)
			out, zfsLog, status := run(t, "0", c.args...)
			if status != c.status || !strings.Contains(out, c.out) {
				t.Errorf("%q: status %d, output %q; want %d and %q", c.args, status, out, c.status, c.out)
			}
			debugOn := strings.Contains(out, "debug: ")
			helpShown := strings.Contains(out, "USAGE:")
			if c.status == exitUsage && !helpShown && !debugOn && strings.Count(strings.TrimSpace(out), "\n") > 0 {
				t.Errorf("%q: usage error is not one line: %q", c.args, out)
			}
			if !c.zfs && zfsLog != "" {
				t.Errorf("%q ran zfs: %s", c.args, zfsLog)
			}
			if _, err := os.Stat(prom); err == nil {
				t.Fatalf("%q wrote the metrics file: a sync ran", c.args)
			}
		})
	}
}

// TestCompletionRunsNothing goes through the configured peers' sync as the bash script
// calls it for `zfs-vm sync <Tab>` and `zfs-vm sync --<Tab>`.
func TestCompletionRunsNothing(t *testing.T) {
	prom := filepath.Join(t.TempDir(), "zfs-vm.prom")
	cfg := writeConfig(t, "metrics_file = \""+prom+"\"\n"+twoPeers)
	for _, args := range [][]string{
		{"--config", cfg, "sync", completionFlag},
		{"--config", cfg, "sync", "--", completionFlag},
		{"--config", cfg, "sync", "--peer", "gone", "--", completionFlag},
		{"--config", cfg, "sync", "--peer", "gone", "--", "x", completionFlag},
	} {
		out, _, status := run(t, "0", args...)
		if status != 0 || strings.Contains(out, "peer gone") {
			t.Errorf("%q: status %d output %q", args, status, out)
		}
	}
	if _, err := os.Stat(prom); err == nil {
		t.Errorf("completion ran a sync: %s exists", prom)
	}
}

// TestMissingZFS runs commands on a host without zfs: one line that names the fix.
func TestMissingZFS(t *testing.T) {
	setupFakeZFS(t, "0")
	t.Setenv("PATH", t.TempDir())
	for _, args := range [][]string{{"list"}, {"tag", "pool/ct"}} {
		out, _, status := runKeepPath(t, args...)
		want := "zfs not found — install zfsutils-linux or run on a ZFS host"
		if status != exitFailure || strings.TrimSpace(out) != want {
			t.Errorf("%q: status %d output %q; want %d and %q", args, status, out, exitFailure, want)
		}
	}
}
