package main

import (
	"cmp"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/internal/untrusted"
	"github.com/zfs-vm/zfs-vm/serve"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run as an ssh forced command: only the zfs commands zfs-vm sends, on the allowed datasets",
		Description: "For ~/.ssh/authorized_keys on a host that peers push to or pull from:\n\n" +
			"  command=\"zfs-vm serve --allow-receive tank/backup\",restrict ssh-ed25519 AAAA... build1\n\n" +
			"The command line the peer sent (SSH_ORIGINAL_COMMAND) is read as zfs-vm quotes it (a\n" +
			"pipeline or a sequence as the one script of sh -c, unwrapped once) and run without a\n" +
			"shell if every command in it is one zfs-vm sends: the listing (shown only for the allowed\n" +
			"datasets; a clone of a snapshot outside them is shown with origin -, so that the peer\n" +
			"takes it as a dataset of its own, sent in full), zfs send -P -v / -n -P (with -t, -i, -I) of snapshots below --allow-send\n" +
			"(-t only if the snapshot its token names has the token's guid, which zfs send -t goes by),\n" +
			"zfs receive -s -u and -A below --allow-receive, the receive with zfs-vm's property\n" +
			"options (-x mountpoint -x sharenfs -x sharesmb with -o canmount=noauto or -x canmount,\n" +
			"or -o volmode=default; -o origin= for a clone), or none into an existing volume only,\n" +
			"zfs hold, release and holds -H with zfs-vm's tags (zfs-vm-base:...; with --hold-peer only\n" +
			"the named clients' own, and zfs holds shows only those), and zstd on the wire. A receive's\n" +
			"stream is read first: a compound stream (zfs send -R, -p, -h; into a filesystem one with\n" +
			"an empty header is taken as the run of versions zfs send -I makes), a stream of another\n" +
			"dataset type than its\n" +
			"options were chosen for, or a clone stream without -o origin= is refused before zfs\n" +
			"receive starts. Such a run is then read record by record, and a substream that is not\n" +
			"the next snapshot of its one filesystem (a nested compound stream, another dataset, a\n" +
			"broken guid chain, a clone or volume stream, a record zfs send -I does not write, a\n" +
			"snapshot the target has or the run already brought) is\n" +
			"refused before its first byte: zfs receive fails there, with the whole snapshots before it\n" +
			"received. Anything else\n" +
			"is refused with one line, on stderr and in the journal, and exit status 1.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "allow-send", Usage: "the peer may send (pull) snapshots of `DATASET` and below (repeatable)"},
			&cli.StringSliceFlag{Name: "allow-receive", Usage: "the peer may receive (push) below `DATASET` (repeatable)"},
			&cli.BoolFlag{Name: "allow-rollback", Usage: "the peer may roll back datasets below --allow-receive (zfs-vm --rollback)"},
			&cli.StringSliceFlag{Name: "hold-peer", Usage: "the peer may hold and release only the base holds that the client `HOST` (its hostname) places here, " +
				"zfs-vm-base:HOST:..., and release its legacy zfs-vm-base:HOST, and sees only those in zfs holds (repeatable); without it, any zfs-vm-base: tag, so that one key can release another client's base holds"},
		},
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	enableJournal(true)
	p := serve.Policy{Send: c.StringSlice("allow-send"), Receive: c.StringSlice("allow-receive"),
		Rollback: c.Bool("allow-rollback"), HoldPeers: c.StringSlice("hold-peer")}
	// serve has no --runtime-dir; the variables the other commands take for it set it.
	if dir, err := lock.RuntimeDir(cmp.Or(os.Getenv("ZFS_VM_RUNTIME_DIR"), os.Getenv("ZFS_VM_LOCK_DIR"))); err == nil {
		p.LockDir = dir // else the user's own directory (lock.PrivateDir)
	}
	if err := p.Check(); err != nil {
		return usageError("serve: %v", err)
	}
	line, ok := os.LookupEnv("SSH_ORIGINAL_COMMAND")
	if !ok {
		return refuse("", fmt.Errorf("no SSH_ORIGINAL_COMMAND: this key runs only zfs-vm's commands"))
	}
	req, err := p.Accept(ctx(c), line)
	if err != nil {
		return refuse(line, err)
	}
	status := req.Run(ctx(c), p, serve.Streams{Stdin: os.Stdin, Stdout: c.App.Writer, Stderr: c.App.ErrWriter,
		Refused: func(err error) { refuse(line, fmt.Errorf("the stream: %v", err)) }})
	if status != 0 {
		return cli.Exit("", status)
	}
	return nil
}

// refuse logs a refused line (one line: the reason, the client, the start of the line) and
// fails with status 1.
func refuse(line string, err error) error {
	client, _, _ := strings.Cut(os.Getenv("SSH_CLIENT"), " ")
	// The line is the client's: cut and escaped before it reaches the journal or syslog.
	line = untrusted.Printable(untrusted.Line(line, 200))
	log.WithField("client", client).WithField("command", line).Errorf("zfs-vm serve: refused: %v", err)
	return cli.Exit("", exitFailure)
}
