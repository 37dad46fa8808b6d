package main

import (
	"fmt"
	"os/exec"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/config"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with the configuration file",
		Description: "config check reads the configuration (--config, default /etc/zfs-vm/zfs-vm.toml),\n" +
			"reports the first mistake with its file, line and key, asks systemd-analyze (where\n" +
			"there is one) whether each peer's schedule is a calendar expression, and changes\n" +
			"nothing. The keys are described in zfs-vm.toml(5).",
		Subcommands: []*cli.Command{{
			Name:  "check",
			Usage: "validate the configuration without touching anything",
			Action: func(c *cli.Context) error {
				path := configPath(c)
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
			return fmt.Errorf("%s: peer %s: schedule %q is not a systemd calendar expression: %s", path, p.Name, p.Schedule, zfs.FirstLine(string(out), nil))
		}
	}
	return nil
}
