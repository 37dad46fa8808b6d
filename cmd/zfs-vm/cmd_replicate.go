package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/replicate"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func replicateFlags(destUsage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "only this streamline (and the versions it descends from)"},
		&cli.StringFlag{Name: "dest", Aliases: []string{"d"}, Usage: destUsage},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (each stream with its estimated size) and change nothing"},
	}
}

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "send this host's zfs-vm versions that [user@]host lacks",
		ArgsUsage: "[user@]host",
		Flags:     replicateFlags("receive under this parent dataset on the remote host (`FS`/<last component>)"),
		Action:    func(c *cli.Context) error { return runReplicate(c, true) },
	}
}

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "fetch the zfs-vm versions of [user@]host that this host lacks",
		ArgsUsage: "[user@]host",
		Flags:     replicateFlags("receive under this parent dataset here (`FS`/<last component>)"),
		Action:    func(c *cli.Context) error { return runReplicate(c, false) },
	}
}

func runReplicate(c *cli.Context, push bool) error {
	name, dest := c.String("name"), c.String("dest")
	if name != "" {
		if err := zfs.ValidateStreamline(name); err != nil {
			return usageError("%s: -n: %v", c.Command.Name, err)
		}
	}
	if dest != "" {
		if err := zfs.ValidateDatasetName(dest); err != nil {
			return usageError("%s: -d: %v", c.Command.Name, err)
		}
	}
	spec, err := hostArg(c, true)
	if err != nil {
		return err
	}
	remote, err := openHost(c, spec)
	if err != nil {
		return err
	}
	defer remote.Close()
	local := zfs.Local(log)
	sender, receiver := local, remote
	if !push {
		sender, receiver = remote, local
	}
	srcInv, err := sender.List(ctx(c))
	if err != nil {
		return err
	}
	dstInv, err := receiver.List(ctx(c))
	if err != nil {
		return err
	}
	if dest != "" && dstInv.Dataset(dest) == nil {
		return fmt.Errorf("%s: -d %s: no such dataset on %s", c.Command.Name, dest, receiver.Name)
	}
	if name != "" && len(streamlineVersions(srcInv, name)) == 0 {
		return fmt.Errorf("%s: -n %s: %s has no versions of streamline %s", c.Command.Name, name, sender.Name, name)
	}
	plan := replicate.Compute(srcInv, dstInv, replicate.Options{
		Streamline: name, DestParent: dest, ReceiverName: receiver.Name})
	ex := &replicate.Executor{Sender: sender, Receiver: receiver, Log: log}

	w := c.App.Writer
	if c.Bool("dry-run") {
		fmt.Fprintf(w, "plan: %d stream(s) from %s to %s\n", len(plan.Streams), sender.Name, receiver.Name)
		for _, st := range plan.Streams {
			est := "?"
			if n, err := ex.Estimate(ctx(c), st); err == nil {
				est = humanBytes(n)
			} else {
				log.WithError(err).Debug("estimate failed")
			}
			fmt.Fprintf(w, "  %-11s  %s  (est. %s)\n", st.Kind, replicate.Describe(st), est)
		}
		return reportRefusals(plan.Errors())
	}
	res := ex.Run(ctx(c), plan)
	errs := append(plan.Errors(), res.Errors...)
	fmt.Fprintf(w, "%s %s: %d stream(s) received, %d failed, %d refused\n",
		c.Command.Name, spec, res.Done, len(res.Errors), len(plan.Errors()))
	return reportRefusals(errs)
}

func streamlineVersions(inv *zfs.Inventory, name string) []*zfs.Snapshot {
	var out []*zfs.Snapshot
	for _, s := range inv.Tagged() {
		if s.Tag.Streamline == name {
			out = append(out, s)
		}
	}
	return out
}

// reportRefusals prints each refusal on its own line. Gaps (a version that can no longer be
// placed) are warnings; anything else makes the command fail.
func reportRefusals(errs []error) error {
	failed := 0
	for _, err := range errs {
		var gap *replicate.GapError
		if errors.As(err, &gap) {
			log.Warn(err)
			continue
		}
		log.Error(err)
		failed++
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("%d problem(s), see above", failed), exitFailure)
	}
	return nil
}
