package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/tagging"
	"github.com/zfs-vm/zfs-vm/vzmap"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func tagCommand() *cli.Command {
	return &cli.Command{
		Name:  "tag",
		Usage: "snapshot a filesystem or container as the next version of its streamline",
		Description: "The argument is a dataset, a dataset's mountpoint, or a container ID or name of\n" +
			"OpenVZ, LXC, Proxmox or a FreeBSD jail manager (tried in that order; --type picks one).\n" +
			"The streamline is the one of the dataset's newest zfs-vm snapshot, else of the nearest\n" +
			"one up its origin chain. The version is one above the streamline's highest in the\n" +
			"dataset's lineage (the datasets connected to it by origin: its origin chain, their\n" +
			"clones, clones of clones; with -r also its descendants'). -n NAME, -n NAME:VERSION or\n" +
			"-n VERSION set either; a version, or a streamline other than the lineage's, is checked\n" +
			"against every version on this host, and a version below the streamline's highest there\n" +
			"is refused unless --force is given. A dataset not written since its newest version is\n" +
			"left alone unless --force is given. -r tags an image made of a dataset tree: the\n" +
			"dataset and all descendants, atomically. New versions are held (zfs hold zfs-vm) so\n" +
			"that they cannot be destroyed by accident. Tags on one host take turns (a lock held\n" +
			"from listing to snapshot), so that two never get the same version.",
		ArgsUsage: "filesystem|mountpoint|container-id",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "`[NAME:]VERSION` or NAME"},
			&cli.BoolFlag{Name: "force", Usage: "tag even if nothing was written since the last version, or with a -n version below the streamline's highest"},
			&cli.StringFlag{Name: "type", Usage: "container manager of the argument: openvz, lxc, pve or jail"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "tag the dataset and all its descendants as one image (atomic zfs snapshot -r)"},
			&cli.DurationFlag{Name: "wait", Value: tagging.LockWait, Usage: "wait up to this long for another tag on this host to finish"},
			runtimeDirFlag(),
		},
		Action: runTag,
	}
}

func runTag(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("tag: want exactly one filesystem, mountpoint or container id")
	}
	arg := c.Args().First()
	req, err := tagging.ParseName(c.String("name"))
	if err != nil {
		return usageError("tag: %v", err)
	}
	if err := checkType(c.String("type")); err != nil {
		return err
	}
	req.Force = c.Bool("force")
	req.Recursive = c.Bool("recursive")
	// Tags on this host take turns from listing to snapshot, so that none reuses a version.
	dir, err := lock.RuntimeDir(c.String("runtime-dir"))
	if err != nil {
		return fmt.Errorf("tag: %v", err)
	}
	l, err := tagging.Lock(ctx(c), dir, c.Duration("wait"))
	if err != nil {
		return fmt.Errorf("tag: %v", err)
	}
	defer l.Release()
	host := zfs.Local(log)
	// Datasets first, then the snapshots of this one's origin chain: never every snapshot
	// of the host unless -n names a version or another streamline (see zfs.ListDatasets).
	inv, err := host.ListDatasets(ctx(c))
	if err != nil {
		return err
	}
	resolver := &vzmap.Resolver{Managers: vzmap.Managers(configRoot()), Type: c.String("type")}
	ds, err := resolver.Resolve(inv, arg)
	if err != nil {
		return fmt.Errorf("tag: %v", err)
	}
	if why := vzmap.ManagedElsewhere(ds); why != "" {
		return fmt.Errorf("tag: %s", why)
	}
	if err := host.ListLineage(ctx(c), inv, ds); err != nil {
		return err
	}
	res, err := tagging.Apply(ctx(c), host, inv, ds, req)
	if err != nil {
		return fmt.Errorf("tag: %v", err)
	}
	if res.Unchanged {
		fmt.Fprintf(c.App.Writer, "%s unchanged since %s; not tagged (use --force to tag anyway)\n", ds.Name, res.Since.FullName())
		return nil
	}
	if req.Recursive {
		fmt.Fprintf(c.App.Writer, "%s (recursive, %d members)\n", res.Snapshot, 1+len(inv.Descendants(ds)))
		return nil
	}
	fmt.Fprintln(c.App.Writer, res.Snapshot)
	return nil
}

// checkType refuses a --type that names no container manager, before anything is listed.
func checkType(t string) error {
	if t == "" {
		return nil
	}
	var names []string
	for _, m := range vzmap.Managers(configRoot()) {
		if m.Name() == t {
			return nil
		}
		names = append(names, m.Name())
	}
	return usageError("tag: --type %q: use %s", t, strings.Join(names, ", "))
}
