package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/config"
	"github.com/zfs-vm/zfs-vm/hooks"
	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/vzmap"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func hookCommand() *cli.Command {
	return &cli.Command{
		Name:  "hook",
		Usage: "tag a container that stopped, for a container manager's hook (always exits 0); or changed templates",
		Description: "zfs-vm hook vzctl             (vzctl action script: VEID in the environment)\n" +
			"zfs-vm hook lxc NAME lxc post-stop   (lxc.hook.post-stop; LXC_TARGET=reboot does nothing)\n" +
			"zfs-vm hook jail NAME          (exec.poststop)\n" +
			"zfs-vm hook pve VMID PHASE     (Proxmox hookscript; tags on post-stop)\n" +
			"zfs-vm hook templates          (zfs-vm-tag-templates.timer: tags each of [hooks]\n" +
			"                               templates written since its newest version)\n\n" +
			"The [hooks] section of the configuration selects what is tagged. The scripts in\n" +
			"/usr/libexec/zfs-vm/ call this. Whatever happens, the exit status is 0 so that the\n" +
			"container manager never fails because of zfs-vm; outcomes go to the journal, or to\n" +
			"syslog on hosts without one (FreeBSD). A hook holds up the manager at most [hooks]\n" +
			"timeout (default 20s): tagging that takes longer (a hung zfs) goes on in a background\n" +
			"process, which logs its outcome. `hook templates` is the exception, run by a timer\n" +
			"rather than a container manager: it exits 1 when a template could not be checked or\n" +
			"tagged.",
		ArgsUsage:       "vzctl|lxc|jail|pve|templates [ARGS...]",
		SkipFlagParsing: true,
		Action:          runHook,
	}
}

func runHook(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
		// A person asking: no container manager passes these.
		return cli.ShowCommandHelp(c.Lineage()[1], c.Command.Name)
	}
	if len(args) > 0 && args[0] == "templates" {
		return runHookTemplates(c, args[1:]) // a timer's service: logs as every command does
	}
	enableJournal(true)
	if len(args) == 0 {
		log.Error("hook: want vzctl, lxc, jail, pve or templates")
		return nil
	}
	var ev hooks.Event
	var err error
	switch args[0] {
	case "vzctl":
		ev, err = hooks.FromVzctl(os.Getenv)
	case "lxc":
		ev, err = hooks.FromLXC(args[1:], os.Getenv)
	case "jail":
		ev, err = hooks.FromJail(args[1:])
	case "pve":
		ev, err = hooks.FromPVE(args[1:])
	default:
		err = fmt.Errorf("hook: unknown manager %q (want vzctl, lxc, jail, pve or templates)", args[0])
	}
	if err != nil {
		log.Error(err)
		return nil
	}
	cfg, err := config.Load(configPath(c), true)
	if err != nil {
		log.WithField("container", ev.ID).Errorf("hook: %v", err)
		return nil
	}
	if os.Getenv(hookWorkerEnv) == "" && ev.Skip == "" {
		if err := handOff(c, args[0], ev.ID, cfg.HookTimeout()); err != nil {
			log.WithField("container", ev.ID).Errorf("hook %s: %v", args[0], err)
		}
		return nil
	}
	asHookWorker()
	lockDir, err := hookLockDir()
	if err != nil {
		log.WithField("container", ev.ID).Errorf("hook %s: %v", args[0], err)
		return nil
	}
	r := &hooks.Runner{Host: zfs.Local(log), Config: cfg, Managers: vzmap.Managers(configRoot()), Log: log, LockDir: lockDir}
	msg, err := r.Run(ctx(c), ev)
	if err != nil {
		log.WithField("container", ev.ID).Errorf("hook %s: %v", args[0], err)
		return nil
	}
	log.WithField("container", ev.ID).Info(msg)
	return nil
}

// runHookTemplates tags the templates of [hooks] templates that changed (hooks.Templates).
func runHookTemplates(c *cli.Context, args []string) error {
	if len(args) != 0 {
		return usageError("hook templates: takes no arguments")
	}
	cfg, err := config.Load(configPath(c), true)
	if err != nil {
		return fmt.Errorf("hook templates: %v", err)
	}
	lockDir, err := hookLockDir()
	if err != nil {
		return fmt.Errorf("hook templates: %v", err)
	}
	r := &hooks.Runner{Host: zfs.Local(log), Config: cfg, Managers: vzmap.Managers(configRoot()), Log: log, LockDir: lockDir}
	lines, err := r.Templates(ctx(c))
	for _, l := range lines {
		log.Info(l)
	}
	if err != nil {
		return fmt.Errorf("hook templates: %v", err)
	}
	return nil
}

// hookLockDir is where hooks take the tag lock: the hook command parses no options (container
// managers pass their own arguments), so an operator's choice comes from the environment.
func hookLockDir() (string, error) {
	dir := os.Getenv("ZFS_VM_RUNTIME_DIR")
	if dir == "" {
		dir = os.Getenv("ZFS_VM_LOCK_DIR")
	}
	return lock.RuntimeDir(dir)
}
