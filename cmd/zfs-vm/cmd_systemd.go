package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/config"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// We turn the configuration's peers into timer instances with an explicit command rather
// than a systemd generator: a generator runs at every boot and daemon-reload, early, where
// a broken configuration could only be reported in the boot log, and it would enable timers
// nobody asked for. `zfs-vm systemd enable` is run by the operator, says what it does, and
// leaves ordinary `systemctl` state behind.

func systemdCommand() *cli.Command {
	unitDir := &cli.StringFlag{Name: "unit-dir", Value: "/etc/systemd/system", Usage: "where the schedule drop-ins go"}
	dry := &cli.BoolFlag{Name: "dry-run", Usage: "print what would be done"}
	return &cli.Command{
		Name:  "systemd",
		Usage: "enable or disable the sync timers of the configured peers",
		Description: "enable writes each peer's schedule as\n" +
			"/etc/systemd/system/zfs-vm-sync@PEER.timer.d/zfs-vm-schedule.conf and runs\n" +
			"systemctl enable --now zfs-vm-sync@PEER.timer; disable undoes both. Without peer\n" +
			"names, every peer of the configuration. Each systemctl command is printed before it\n" +
			"runs; --dry-run only prints them. Installing the package enables no timer.",
		Subcommands: []*cli.Command{
			{
				Name:         "enable",
				Usage:        "write each peer's schedule as a drop-in and enable --now zfs-vm-sync@PEER.timer",
				ArgsUsage:    "[peer...]",
				Flags:        []cli.Flag{unitDir, dry},
				Action:       func(c *cli.Context) error { return runSystemd(c, true) },
				BashComplete: completePeers(true),
			},
			{
				Name:         "disable",
				Usage:        "disable --now zfs-vm-sync@PEER.timer and remove its schedule drop-in",
				ArgsUsage:    "[peer...]",
				Flags:        []cli.Flag{unitDir, dry},
				Action:       func(c *cli.Context) error { return runSystemd(c, false) },
				BashComplete: completePeers(true),
			},
		},
	}
}

func runSystemd(c *cli.Context, enable bool) error {
	cfg, err := config.Load(configPath(c), false)
	if err != nil {
		return err
	}
	peers, err := selectPeers(cfg, c.Args().Slice())
	if err != nil {
		return usageError("systemd: %v", err)
	}
	dry := c.Bool("dry-run")
	run := func(argv ...string) error {
		fmt.Fprintln(c.App.Writer, strings.Join(argv, " "))
		if dry {
			return nil
		}
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, zfs.FirstLine(string(out), nil))
		}
		return nil
	}
	if enable {
		// Every schedule is checked before anything is written: a typo must not leave
		// half the timers rescheduled, nor a drop-in that systemd ignores with a warning.
		if err := checkSchedules(c.String("config"), peers, true); err != nil {
			return err
		}
	}
	var units []string
	for _, p := range peers {
		unit := "zfs-vm-sync@" + p.Name + ".timer"
		units = append(units, unit)
		dir := filepath.Join(c.String("unit-dir"), unit+".d")
		file := filepath.Join(dir, "zfs-vm-schedule.conf")
		if !enable {
			continue
		}
		body := fmt.Sprintf("# Written by `zfs-vm systemd enable` from %s.\n[Timer]\nOnCalendar=\nOnCalendar=%s\n", configPath(c), p.Schedule)
		fmt.Fprintf(c.App.Writer, "write %s: OnCalendar=%s\n", file, p.Schedule)
		if !dry {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := writeFileAtomic(file, []byte(body), 0o644); err != nil {
				return err
			}
		}
	}
	if len(units) == 0 {
		return nil
	}
	if !enable {
		if err := run(append([]string{"systemctl", "disable", "--now"}, units...)...); err != nil {
			return err
		}
		for _, u := range units {
			dir := filepath.Join(c.String("unit-dir"), u+".d")
			fmt.Fprintf(c.App.Writer, "remove %s\n", filepath.Join(dir, "zfs-vm-schedule.conf"))
			if !dry {
				os.Remove(filepath.Join(dir, "zfs-vm-schedule.conf"))
				os.Remove(dir) // only if empty: other drop-ins are the operator's
			}
		}
		return run("systemctl", "daemon-reload")
	}
	if err := run("systemctl", "daemon-reload"); err != nil {
		return err
	}
	return run(append([]string{"systemctl", "enable", "--now"}, units...)...)
}

// writeFileAtomic replaces path with data through a temporary file in the same directory and
// a rename, so systemd (or a crash) never sees a half-written drop-in.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(f.Name(), path)
}
