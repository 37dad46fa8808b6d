package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/config"
)

// This file holds what every command shares: the global options (accepted before and after
// the command name), the exit status of a wrong command line, and shell completion that
// never runs a command.

// completionFlag is what the completion scripts append to ask for candidate words.
const completionFlag = "--generate-bash-completion"

// globalFlags are the options of the whole program. Each command repeats them, so that
// `zfs-vm push --debug` works like `zfs-vm --debug push`; a command with its own -d (push
// and pull: the destination) gets --debug without the short alias.
func globalFlags(shortDebug bool) []cli.Flag {
	debug := &cli.BoolFlag{Name: "debug", Usage: "log every zfs and ssh command with its full argv"}
	if shortDebug {
		debug.Aliases = []string{"d"}
	}
	return []cli.Flag{
		debug,
		&cli.BoolFlag{Name: "sudo", Aliases: []string{"s"}, Usage: "run zfs on the remote host through sudo -n"},
		&cli.StringFlag{Name: "config", Value: config.DefaultPath, Usage: "configuration `FILE` (peers, hooks)"},
	}
}

// setContext returns the innermost context where the option name was given on the command
// line, else c (which then answers its default).
func setContext(c *cli.Context, name string) *cli.Context {
	for _, cc := range c.Lineage() {
		if cc.Command == nil {
			continue // the context above the root has no flags
		}
		if slices.Contains(cc.LocalFlagNames(), name) {
			return cc
		}
	}
	return c
}

// configPath is --config, wherever it was given.
func configPath(c *cli.Context) string { return setContext(c, "config").String("config") }

// debugOn is --debug, wherever it was given.
func debugOn(c *cli.Context) bool { return setContext(c, "debug").Bool("debug") }

// sudoOn is --sudo, wherever it was given.
func sudoOn(c *cli.Context) bool { return setContext(c, "sudo").Bool("sudo") }

// prepareCommands gives every command (and subcommand) the global options and the
// command-line rules: a usage error exits 2, a command without ArgsUsage takes no
// arguments, a command with subcommands rejects unknown ones, and no action runs while the
// shell asks for completions.
func prepareCommands(cmds []*cli.Command) {
	for _, cmd := range cmds {
		cmd.HideHelpCommand = true // `zfs-vm sync help` is an argument; `help sync` and --help remain
		cmd.OnUsageError = onUsageError
		if !cmd.SkipFlagParsing {
			_, hasD := flagNamed(cmd.Flags, "d")
			cmd.Flags = append(cmd.Flags, globalFlags(!hasD)...)
		}
		cmd.Before = chainBefore(cmd.Before)
		if len(cmd.Subcommands) > 0 {
			prepareCommands(cmd.Subcommands)
			if cmd.Action == nil {
				cmd.Action = subcommandAction
			}
		}
		cmd.Action = guardAction(cmd.Action)
	}
}

// chainBefore turns debug logging on when --debug came after the command name (before it,
// the application's Before already did).
func chainBefore(next cli.BeforeFunc) cli.BeforeFunc {
	return func(c *cli.Context) error {
		if debugOn(c) && log.GetLevel() < logrus.DebugLevel {
			log.SetLevel(logrus.DebugLevel)
			log.SetFormatter(&humanFormatter{fields: true})
		}
		if next != nil {
			return next(c)
		}
		return nil
	}
}

// guardAction runs action unless the shell is completing, and refuses arguments to a
// command that takes none.
func guardAction(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if completing(c) {
			return nil
		}
		if c.Command.ArgsUsage == "" && len(c.Command.Subcommands) == 0 && c.NArg() > 0 {
			hint := ""
			if _, ok := flagNamed(c.Command.Flags, "peer"); ok {
				hint = fmt.Sprintf(" (for one peer: --peer %s)", c.Args().First())
			}
			return usageError("%s: takes no arguments, got %q%s", cmdName(c), c.Args().First(), hint)
		}
		return action(c)
	}
}

// subcommandAction is the action of a command that only groups others (config, systemd):
// its help, and exit status 2 unless help was asked for; a usage error for an unknown
// subcommand.
func subcommandAction(c *cli.Context) error {
	if c.NArg() == 0 {
		cli.ShowSubcommandHelp(c)
		return cli.Exit("", exitUsage)
	}
	if c.Args().First() == "help" {
		return cli.ShowSubcommandHelp(c)
	}
	var names []string
	for _, s := range c.Command.Subcommands {
		names = append(names, s.Name)
	}
	return usageError("%s: unknown command %q (want %s)", cmdName(c), c.Args().First(), strings.Join(names, " or "))
}

// rootAction runs for `zfs-vm` without a command, or with one that does not exist.
func rootAction(c *cli.Context) error {
	if completing(c) {
		return nil
	}
	if c.NArg() > 0 {
		return usageError("unknown command %q (see zfs-vm --help)", c.Args().First())
	}
	cli.ShowAppHelp(c)
	return cli.Exit("", exitUsage)
}

// helpCommand replaces urfave/cli's, whose unknown topic exits 3.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or one command's help",
		ArgsUsage: "[command]",
		Description: "Without a command, lists the commands and the global options; with one, shows\n" +
			"that command's options and description, as `zfs-vm COMMAND --help` does. An unknown\n" +
			"command is a wrong command line (exit 2).",
		Action: func(c *cli.Context) error {
			switch c.NArg() {
			case 0:
				return cli.ShowAppHelp(c)
			case 1:
				if c.App.Command(c.Args().First()) == nil {
					return usageError("help: unknown command %q (see zfs-vm --help)", c.Args().First())
				}
				return cli.ShowCommandHelp(c, c.Args().First())
			}
			return usageError("help: want one command, got %q", c.Args().Slice())
		},
	}
}

// badValue matches the flag package's complaint about a value it cannot parse.
var badValue = regexp.MustCompile(`^invalid value "(.*)" for flag -([^:]+): `)

// onUsageError turns urfave/cli's usage errors (unknown flag, bad value) into one line and
// exit status 2, saying what a flag wants where the flag package only says "parse error".
func onUsageError(c *cli.Context, err error, _ bool) error {
	prefix, help := "", "zfs-vm --help"
	if len(c.Lineage()) > 2 { // not the root command (the root and the context above it)
		prefix, help = cmdName(c)+": ", "zfs-vm "+cmdName(c)+" --help"
	}
	if m := badValue.FindStringSubmatch(err.Error()); m != nil && c.Command != nil {
		if f, ok := flagNamed(c.Command.Flags, m[2]); ok {
			return usageError("%s--%s %q: %s", prefix, f.Names()[0], m[1], wants(f))
		}
	}
	return usageError("%s%v (see %s)", prefix, err, help)
}

// wants describes the values a flag takes.
func wants(f cli.Flag) string {
	switch f.(type) {
	case *cli.DurationFlag:
		return "want a duration with a unit, such as 30s, 10m or 1h30m"
	case *cli.IntFlag, *cli.UintFlag, *cli.Int64Flag, *cli.Uint64Flag:
		return "want a whole number"
	case *cli.BoolFlag:
		return "want true or false"
	}
	return "not a valid value"
}

// flagNamed returns the flag among flags that has name (or alias) name.
func flagNamed(flags []cli.Flag, name string) (cli.Flag, bool) {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f, true
		}
	}
	return nil, false
}

// cmdName is the command's name with its parents' ("config check"), without the program's.
func cmdName(c *cli.Context) string {
	if n := strings.TrimPrefix(c.Command.HelpName, c.App.Name+" "); n != "" {
		return n
	}
	return c.Command.Name
}

// completing reports whether the shell asked for completions (see runApp).
func completing(c *cli.Context) bool {
	on, _ := c.App.Metadata["completing"].(bool)
	return on
}

// runApp runs the application on args (args[0] is the program). A completion request never
// runs a command: urfave/cli runs the command, completion flag and all, when a "--" comes
// before it, which the bash script passes when the word being completed is "--".
func runApp(ctx context.Context, app *cli.App, args []string) error {
	if n := len(args); n > 1 && args[n-1] == completionFlag {
		if app.Metadata == nil {
			app.Metadata = map[string]any{}
		}
		app.Metadata["completing"] = true
		if n > 2 && args[n-2] == "--" {
			// The word being completed: offer the long flags, as for any other "-" word.
			args = append(append([]string(nil), args[:n-2]...), completionFlag)
		}
		if slices.Contains(args, "--") {
			return nil // after "--" only operands follow: nothing to offer
		}
	}
	return app.RunContext(ctx, args)
}
