// Command zfs-vm tags versions of container and VM images that live on ZFS and replicates
// them between hosts, keeping clones as clones.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// Exit statuses.
const (
	exitFailure = 1 // something failed or was refused
	exitUsage   = 2 // the command line is wrong
)

func newApp() *cli.App {
	app := &cli.App{
		Name:    "zfs-vm",
		Usage:   "tag and replicate container and VM images on ZFS, keeping clones as clones",
		Version: version,
		Description: "Snapshots named FS@zfs-vm:STREAMLINE:VERSION mark versions of an image. A streamline\n" +
			"may span a template and the clones made from it. push and pull send what the other\n" +
			"host lacks: a full stream where it has nothing, the fewest incremental streams\n" +
			"otherwise, and an origin→clone stream for each clone, so the receiver gets clones\n" +
			"that share blocks with their template. The remote host needs only zfs and sshd.",
		HideVersion:          false,
		EnableBashCompletion: true,
		// urfave/cli adds --help only when it adds its own help command, which helpCommand
		// replaces: so the root gets the flag here.
		Flags:        append(globalFlags(true), cli.HelpFlag),
		Action:       rootAction,
		OnUsageError: onUsageError,
		After: func(c *cli.Context) error {
			logResources()
			return nil
		},
		Before: func(c *cli.Context) error {
			setupLogging(c.App.ErrWriter, c.Bool("debug"))
			enableJournal(false)
			return nil
		},
		Commands: []*cli.Command{
			listCommand(),
			pushCommand(),
			pullCommand(),
			tagCommand(),
			syncCommand(),
			statusCommand(),
			serveCommand(),
			configCommand(),
			systemdCommand(),
			hookCommand(),
			completionCommand(),
			manCommand(),
			versionCommand(),
			helpCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	prepareCommands(app.Commands)
	return app
}

func main() {
	limitMemory()
	ctx, stop := withSignals(context.Background())
	app := newApp()
	err := runApp(ctx, app, os.Args)
	sig := signalled(ctx)
	stop()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(os.Stderr, "zfs-vm: %s\n", msg)
		}
	}
	if sig != nil {
		if err == nil {
			fmt.Fprintf(os.Stderr, "zfs-vm: %v\n", sig)
		}
		os.Exit(sig.status())
	}
	if err != nil {
		os.Exit(exitStatus(err))
	}
}

// memoryLimit is the base of the Go runtime's soft memory limit for zfs-vm (see
// zfs.LimitMemory): with the bound on what a peer's listings may hold it keeps zfs-vm under
// 32 MiB whatever a peer sends (BENCHMARKS.md, memory). GOMEMLIMIT in the environment wins.
const memoryLimit = 20 << 20

// limitMemory sets the soft memory limit and, from ZFS_VM_PEER_LISTING_MIB, the bound on a
// peer's listings (a value that is not a positive number is ignored, with a warning).
func limitMemory() {
	limit := int64(memoryLimit)
	if v := os.Getenv("ZFS_VM_PEER_LISTING_MIB"); v != "" {
		mib, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mib <= 0 || mib > 1<<16 {
			fmt.Fprintf(os.Stderr, "zfs-vm: ZFS_VM_PEER_LISTING_MIB=%q is not a number of MiB (1 to 65536); using the default\n", v)
		} else {
			zfs.SetPeerListingLimit(mib)
			// What a peer may make zfs-vm hold, the limit allows, as at the default.
			limit += 2 * max(0, mib-zfs.DefaultPeerListingMiB) << 20
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		zfs.LimitMemory(limit)
	}
}

// exitStatus is the status for an error: what cli.Exit set, else 1. A failed command's own
// status (an *exec.ExitError inside the error) is not passed on.
func exitStatus(err error) int {
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		return exitFailure
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitFailure
}

// usageError is a command-line mistake: exit status 2.
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), exitUsage)
}

// openHost returns this machine for "" or "local", else an ssh connection to spec opened in
// the background (zfs.DialInBackground): a push or pull lists this machine meanwhile, and a
// connection that fails is reported by the first command on the peer. cfg is what ssh said
// of spec for its lock (nil: none read).
func openHost(c *cli.Context, spec string, cfg *zfs.SSHConfig) (*zfs.Host, error) {
	if zfs.IsLocal(spec) {
		return zfs.Local(log), nil
	}
	if _, _, err := zfs.ParseHostSpec(spec); err != nil {
		return nil, usageError("%v", err)
	}
	// The control socket may live in the temporary directory when there is no runtime
	// directory: a listing or a dry run needs no lock.
	dir, _ := lock.RuntimeDir(c.String("runtime-dir"))
	return zfs.DialInBackground(c.Context, spec, zfs.DialOptions{
		Sudo:       sudoOn(c),
		Batch:      !term.IsTerminal(int(os.Stdin.Fd())),
		ControlDir: dir,
		Config:     cfg,
	}, log)
}

// hostArg returns the command's single optional host argument.
func hostArg(c *cli.Context, required bool) (string, error) {
	switch c.NArg() {
	case 0:
		if required {
			return "", usageError("%s: missing [user@]host", c.Command.Name)
		}
		return "", nil
	case 1:
		// Checked here, before a lock is taken or zfs is asked anything.
		spec := c.Args().First()
		if _, _, err := zfs.ParseHostSpec(spec); err != nil && !zfs.IsLocal(spec) {
			return "", usageError("%s: %v", c.Command.Name, err)
		}
		return spec, nil
	}
	return "", usageError("%s: too many arguments: %q", c.Command.Name, c.Args().Slice())
}

func ctx(c *cli.Context) context.Context { return c.Context }

// configRoot is where container managers' configuration is read from: "/" normally; the
// ZFS_VM_ROOT environment variable points it at a fixture tree in tests.
func configRoot() string {
	if r := os.Getenv("ZFS_VM_ROOT"); r != "" {
		return r
	}
	return "/"
}
