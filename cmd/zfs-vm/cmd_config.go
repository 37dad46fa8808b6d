package main

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/config"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with the configuration file",
		Subcommands: []*cli.Command{{
			Name:  "check",
			Usage: "validate the configuration without touching anything",
			Action: func(c *cli.Context) error {
				path := c.String("config")
				cfg, err := config.Load(path, false)
				if err != nil {
					return err
				}
				var peers []config.Peer
				for _, p := range cfg.Peers {
					peers = append(peers, p.Resolved(cfg.Defaults))
				}
				if err := checkSchedules(path, peers, false); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s: ok: %d peer(s), hooks tag %s\n", path, len(cfg.Peers), cfg.HookMode())
				return nil
			},
		}},
	}
}

// checkSchedules asks systemd-analyze whether each peer's schedule is a calendar expression
// systemd understands. Without systemd-analyze the check is skipped, unless required.
func checkSchedules(path string, peers []config.Peer, required bool) error {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if required {
			return fmt.Errorf("cannot check the schedules: systemd-analyze not found")
		}
		return nil
	}
	for _, p := range peers {
		out, err := exec.Command("systemd-analyze", "calendar", p.Schedule).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: peer %s: schedule %q is not a systemd calendar expression: %s", path, p.Name, p.Schedule, firstLineOf(string(out)))
		}
	}
	return nil
}

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
