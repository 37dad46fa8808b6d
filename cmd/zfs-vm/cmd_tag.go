package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/tagging"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func tagCommand() *cli.Command {
	return &cli.Command{
		Name:  "tag",
		Usage: "snapshot a filesystem as the next version of its streamline",
		Description: "The streamline is the one of the filesystem's newest zfs-vm snapshot, else of the\n" +
			"nearest one up its origin chain. The version is the streamline's highest on this host\n" +
			"plus one. -n NAME, -n NAME:VERSION or -n VERSION set either. A filesystem not written\n" +
			"since its newest version is left alone unless --force is given.",
		ArgsUsage: "filesystem|mountpoint",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "`[NAME:]VERSION` or NAME"},
			&cli.BoolFlag{Name: "force", Usage: "tag even if nothing was written since the last version"},
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
	req.Force = c.Bool("force")
	host := zfs.Local(log)
	inv, err := host.List(ctx(c))
	if err != nil {
		return err
	}
	ds, err := tagging.DatasetOrMountpoint{}.Resolve(inv, arg)
	if err != nil {
		return err
	}
	if ds == nil {
		return fmt.Errorf("tag: %s is neither a dataset nor a dataset's mountpoint", arg)
	}
	written, err := writtenSinceNewestTag(c, host, ds)
	if err != nil {
		return err
	}
	d, err := tagging.Decide(inv, ds, req, written)
	if err != nil {
		return fmt.Errorf("tag: %v", err)
	}
	if d.Unchanged {
		fmt.Fprintf(c.App.Writer, "%s unchanged since %s; not tagged (use --force to tag anyway)\n", ds.Name, d.Since.FullName())
		return nil
	}
	snap := ds.Name + "@" + d.Tag.SnapshotName()
	if err := zfs.ValidateSnapshotName(snap); err != nil {
		return fmt.Errorf("tag: %v", err)
	}
	if err := host.Run(ctx(c), "zfs", "snapshot", snap); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s\n", snap)
	return nil
}

// writtenSinceNewestTag returns the space written to ds since its own newest zfs-vm snapshot.
// `written` only counts data ZFS has committed, and a container that just stopped may have
// writes in the open transaction group: when the listing says nothing was written, sync the
// pool and ask again, so that a real change is never taken for none.
func writtenSinceNewestTag(c *cli.Context, host *zfs.Host, ds *zfs.Dataset) (uint64, error) {
	own := ds.NewestTagged()
	if own == nil {
		return 0, nil
	}
	if ds.Newest() == own && ds.Written > 0 {
		return ds.Written, nil
	}
	pool, _, _ := strings.Cut(ds.Name, "/")
	if err := host.Run(ctx(c), "zpool", "sync", pool); err != nil {
		return 0, err
	}
	out, err := host.Output(ctx(c), "zfs", "get", "-H", "-p", "-o", "value", "written@"+own.Name, ds.Name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("zfs get written@%s %s: unexpected %q", own.Name, ds.Name, out)
	}
	return n, nil
}
