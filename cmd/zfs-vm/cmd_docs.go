package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/config"
)

// The man pages and the completion scripts are generated from the command definitions, so
// they cannot drift from --help. The packages run these at build time.

func manCommand() *cli.Command {
	return &cli.Command{
		Name:      "man",
		Usage:     "print the zfs-vm(8) or zfs-vm.toml(5) man page (roff)",
		ArgsUsage: "[zfs-vm|zfs-vm.toml]",
		Hidden:    true,
		Action: func(c *cli.Context) error {
			var page string
			switch c.Args().First() {
			case "", "zfs-vm", "8":
				page = manPage8(c.App, manDate())
			case "zfs-vm.toml", "5":
				page = manPage5(c.App.Version, manDate())
			default:
				return usageError("man: %q: want zfs-vm or zfs-vm.toml", c.Args().First())
			}
			_, err := fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}

// The scripts ask zfs-vm itself what to complete, through urfave/cli's
// --generate-bash-completion: the words typed so far, then the flag.

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

const zshCompletion = `#compdef zfs-vm
# zsh completion for zfs-vm
_zfs_vm() {
  local -a opts
  local cur=${words[CURRENT]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:CURRENT-1} $cur --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:CURRENT-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ -n "${opts[1]}" ]]; then
    compadd -a opts
  else
    _files
  fi
}
# Autoloaded from fpath (as _zfs-vm, by its #compdef line) it completes; sourced, it registers.
if [[ "$funcstack[1]" == "_zfs-vm" ]]; then
  _zfs_vm "$@"
else
  compdef _zfs_vm zfs-vm
fi
`

const fishCompletion = `# fish completion for zfs-vm
function __zfs_vm_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    if string match -q -- '-*' $cur
        $words $cur --generate-bash-completion 2>/dev/null
    else
        $words --generate-bash-completion 2>/dev/null
    end
end
complete -c zfs-vm -a '(__zfs_vm_complete)'
`

func completionCommand() *cli.Command {
	scripts := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the bash, zsh or fish completion script",
		ArgsUsage: "bash|zsh|fish",
		Description: "Completes commands, flags, and peer names from the configuration for sync --peer\n" +
			"and systemd enable|disable. The packages install the scripts where bash-completion,\n" +
			"zsh and fish look for them; otherwise: source <(zfs-vm completion bash).",
		Action: func(c *cli.Context) error {
			sh := c.Args().First()
			if sh == "" {
				sh = "bash"
			}
			script, ok := scripts[sh]
			if !ok || c.NArg() > 1 {
				return usageError("completion: %q: want bash, zsh or fish", strings.Join(c.Args().Slice(), " "))
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// completePeers completes the configuration's peer names after --peer or, with asArgs, as the
// command's arguments; otherwise the command's flags. It reads the configuration only:
// completion must never act.
func completePeers(asArgs bool) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		prev := wordBeforeCompletion(os.Args)
		switch {
		case prev == "--peer":
		case strings.HasPrefix(prev, "-"):
			cli.DefaultCompleteWithFlags(c.Command)(c)
			return
		case !asArgs:
			return // sync takes no arguments
		}
		cfg, err := config.Load(configPath(c), true)
		if err != nil {
			return
		}
		for _, p := range cfg.Peers {
			fmt.Fprintln(c.App.Writer, p.Name)
		}
	}
}

// wordBeforeCompletion is the last word typed before --generate-bash-completion.
func wordBeforeCompletion(args []string) string {
	if n := len(args); n >= 2 && args[n-1] == "--generate-bash-completion" {
		return args[n-2]
	}
	return ""
}
