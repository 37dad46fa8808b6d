package main

import (
	"bytes"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/config"
)

// manOutput runs `zfs-vm man ARGS` in-process.
func manOutput(t *testing.T, args ...string) string {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out, _, status := runKeepPath(t, append([]string{"man"}, args...)...)
	if status != 0 {
		t.Fatalf("man %q: status %d: %s", args, status, out)
	}
	return out
}

// renderMan checks that groff reads the page without a warning, where groff is installed.
func renderMan(t *testing.T, page string) {
	t.Helper()
	if _, err := exec.LookPath("groff"); err != nil {
		t.Log("no groff: page not rendered")
		return
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff: %v\n%s", err, stderr.String())
	}
}

func TestManPage8(t *testing.T) {
	page := manOutput(t, "zfs-vm")
	if !strings.HasPrefix(page, `.TH ZFS\-VM 8 "2023-11-14" "zfs\-vm dev" `) {
		t.Errorf(".TH line: %q", strings.SplitN(page, "\n", 2)[0])
	}
	for _, sh := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "GLOBAL OPTIONS",
		"EXIT STATUS", "FILES", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"} {
		if !strings.Contains(page, "\n.SH "+sh+"\n") {
			t.Errorf("no %s section", sh)
		}
	}
	_, exit, _ := strings.Cut(page, ".SH EXIT STATUS")
	exit, _, _ = strings.Cut(exit, ".SH FILES")
	for _, code := range []string{"\n.B 0\n", "\n.B 1\n", "\n.B 2\n", "\n.B 75\n", "\n.BR 130 \", \" 143\n"} {
		if !strings.Contains(exit, code) {
			t.Errorf("EXIT STATUS lacks %q", code)
		}
	}
	// Every command has its subsection, with a description of its own.
	for _, c := range newApp().Commands {
		if c.Hidden {
			continue
		}
		if strings.TrimSpace(c.Description) == "" {
			t.Errorf("command %s has no Description", c.Name)
		}
		if !regexp.MustCompile(`\n\.SS "zfs\\-vm ` + regexp.QuoteMeta(roffText(c.Name)) + `[ "]`).MatchString(page) {
			t.Errorf("no subsection for %s", c.Name)
		}
		for _, sub := range c.Subcommands {
			if !sub.Hidden && !strings.Contains(page, `.SS "zfs\-vm `+roffText(c.Name+" "+sub.Name)) {
				t.Errorf("no subsection for %s %s", c.Name, sub.Name)
			}
		}
	}
	renderMan(t, page)
}

// tomlKeys lists the toml keys of a configuration struct, by table.
func tomlKeys(t reflect.Type, table string, keys map[string][]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("toml"), ",")[0]
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			tomlKeys(ft.Elem(), "[["+name+"]]", keys)
			continue
		}
		if ft.Kind() == reflect.Struct {
			tomlKeys(ft, "["+name+"]", keys)
			continue
		}
		keys[table] = append(keys[table], name)
	}
}

// The configuration page describes every key of config.Config, in the section of its table.
func TestManPage5(t *testing.T) {
	page := manOutput(t, "zfs-vm.toml")
	if !strings.HasPrefix(page, `.TH ZFS\-VM.TOML 5 "2023-11-14" "zfs\-vm dev" `) {
		t.Errorf(".TH line: %q", strings.SplitN(page, "\n", 2)[0])
	}
	keys := map[string][]string{}
	tomlKeys(reflect.TypeOf(config.Config{}), "TOP LEVEL", keys)
	sections := map[string]string{}
	for _, s := range strings.Split(page, "\n.SH ")[1:] {
		title, body, _ := strings.Cut(s, "\n")
		sections[title] = body
	}
	for table, names := range keys {
		body, ok := sections[table]
		if !ok {
			t.Errorf("no section %s", table)
			continue
		}
		for _, k := range names {
			if !regexp.MustCompile(`(?m)^\.BR? ` + regexp.QuoteMeta(roffText(k)) + `\b`).MatchString(body) {
				t.Errorf("section %s does not describe %s", table, k)
			}
		}
	}
	renderMan(t, page)
}

func TestManRejectsUnknownPage(t *testing.T) {
	out, _, status := runKeepPath(t, "man", "zfs-vm.conf")
	if status != exitUsage || !strings.Contains(out, "want zfs-vm or zfs-vm.toml") {
		t.Errorf("status %d output %q", status, out)
	}
}
