package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The man page and the completion script are generated from the command definitions, so
// they cannot drift from --help. The packages run these at build time.

func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the zfs-vm(1) man page (roff)",
		Hidden: true,
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}

// bashCompletion completes commands and flags through urfave/cli's
// --generate-bash-completion.
const bashCompletion = `# bash completion for zfs-vm
_zfs_vm() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _zfs_vm zfs-vm
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the bash completion script",
		ArgsUsage: "bash",
		Action: func(c *cli.Context) error {
			if sh := c.Args().First(); sh != "" && sh != "bash" {
				return usageError("completion: only bash is supported")
			}
			_, err := fmt.Fprint(c.App.Writer, bashCompletion)
			return err
		},
	}
}
