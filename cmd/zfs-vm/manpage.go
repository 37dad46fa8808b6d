package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// zfs-vm(8) is generated from the command definitions (names, usage, descriptions, flags),
// so that it cannot drift from --help; the sections that are not about one command (exit
// status, files, environment, examples) are written here.

// manDate is the date in the pages' .TH line: SOURCE_DATE_EPOCH when set (reproducible
// package builds), else today.
func manDate() string {
	t := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			t = time.Unix(n, 0)
		}
	}
	return t.UTC().Format("2006-01-02")
}

// roffText escapes text for roff: backslashes, hyphens (so that they stay ASCII hyphens in
// flags and paths) and a leading period or apostrophe, which would start a request.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	s = strings.ReplaceAll(s, "→", `\(->`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffParagraphs renders a description: paragraphs are separated by blank lines; a paragraph
// whose lines are aligned in columns (two spaces in a row) keeps its line breaks.
func roffParagraphs(s string) string {
	var b strings.Builder
	for i, p := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		if strings.Contains(p, "  ") {
			fmt.Fprintf(&b, ".nf\n%s\n.fi\n", roffText(p))
			continue
		}
		b.WriteString(roffText(strings.ReplaceAll(p, "\n", " ")) + "\n")
	}
	return b.String()
}

// flagUsage splits a flag's usage into its placeholder (the `NAME` in back quotes, else
// VALUE) and the text without the back quotes.
func flagUsage(f cli.DocGenerationFlag) (placeholder, text string) {
	text = f.GetUsage()
	if a := strings.Index(text, "`"); a >= 0 {
		if b := strings.Index(text[a+1:], "`"); b >= 0 {
			placeholder = text[a+1 : a+1+b]
			text = text[:a] + placeholder + text[a+2+b:]
		}
	}
	if placeholder == "" && f.TakesValue() {
		switch f.(type) {
		case *cli.DurationFlag:
			placeholder = "DURATION"
		case *cli.IntFlag:
			placeholder = "N"
		default:
			placeholder = "VALUE"
		}
	}
	return placeholder, text
}

// roffFlags renders flags as a .TP list: names, placeholder, usage and default.
func roffFlags(flags []cli.Flag) string {
	var b strings.Builder
	for _, fl := range flags {
		if v, ok := fl.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		f, ok := fl.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		placeholder, text := flagUsage(f)
		var names []string
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			names = append(names, `\fB`+roffText(dash+n)+`\fR`)
		}
		head := strings.Join(names, ", ")
		if placeholder != "" {
			head += ` \fI` + roffText(placeholder) + `\fR`
		}
		def := f.GetDefaultText()
		if def == "" && f.TakesValue() {
			def = f.GetValue()
		}
		if def != "" && def != `""` && def != "0s" && def != "false" {
			text += " (default: " + strings.Trim(def, `"`) + ")"
		}
		fmt.Fprintf(&b, ".TP\n%s\n%s\n", head, roffText(text))
	}
	return b.String()
}

// roffCommand renders one command (and its subcommands) as a subsection of COMMANDS.
func roffCommand(b *strings.Builder, path string, c *cli.Command) {
	if c.Hidden {
		return
	}
	name := path + " " + c.Name
	synopsis := name
	if len(c.Subcommands) == 0 && len(c.VisibleFlags()) > 0 {
		synopsis += " [options]"
	}
	if len(c.Subcommands) == 0 && c.ArgsUsage != "" {
		synopsis += " " + c.ArgsUsage
	}
	fmt.Fprintf(b, ".SS \"%s\"\n", roffText(synopsis))
	b.WriteString(roffText(sentence(c.Usage)) + "\n")
	if c.Description != "" {
		b.WriteString(".PP\n" + roffParagraphs(c.Description))
	}
	if flags := roffFlags(c.Flags); flags != "" {
		b.WriteString(".PP\n.RS\n" + flags + ".RE\n")
	}
	for _, sub := range c.Subcommands {
		roffCommand(b, name, sub)
	}
}

// sentence capitalises s and ends it with a period.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// manPage8 is zfs-vm(8).
func manPage8(app *cli.App, date string) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH ZFS\\-VM 8 \"%s\" \"zfs\\-vm %s\" \"System Administration\"\n", date, roffText(app.Version))
	fmt.Fprintf(&b, ".SH NAME\nzfs\\-vm \\- %s\n", roffText(app.Usage))
	b.WriteString(".SH SYNOPSIS\n.B zfs\\-vm\n[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]\n")
	b.WriteString(".SH DESCRIPTION\n" + roffParagraphs(app.Description))
	b.WriteString(".PP\nThe global options may be given before or after the command; after push and pull,\n" +
		".B \\-d\nis the destination parent, and the debug option is spelled \\-\\-debug.\n")
	b.WriteString(".SH COMMANDS\n")
	for _, c := range app.Commands {
		roffCommand(&b, "zfs-vm", c)
	}
	b.WriteString(".SH GLOBAL OPTIONS\n" + roffFlags(app.Flags))
	b.WriteString(manPage8Rest)
	return b.String()
}

// manPage8Rest is the hand-written end of zfs-vm(8).
const manPage8Rest = `.SH EXIT STATUS
.TP
.B 0
Everything asked for was done (or there was nothing to do).
.TP
.B 1
Some work failed or was refused (a stream failed, a streamline was refused as diverged or
conflicting, a peer failed); the rest was still done, and each failure was reported in one line.
.TP
.B 2
The command line is wrong (an unknown command or flag, a missing or extra argument, a value
that does not parse); nothing was done.
.TP
.B 75
A peer was skipped because another run holds its lock (EX_TEMPFAIL: try again later, or
use \-\-wait).
.TP
.BR 130 ", " 143
Interrupted by SIGINT or SIGTERM.
.PP
.B zfs\-vm hook
always exits 0, so that a container manager never fails because of zfs\-vm.
.SH FILES
.TP
.I /etc/zfs\-vm/zfs\-vm.toml
The configuration: peers for sync and the systemd timers, and what the hooks tag; see
.BR zfs\-vm.toml (5).
.TP
.I /run/zfs\-vm/
Per\-peer lock files of push, pull and sync, their ssh control sockets, and in
.I hints/
what each replication found on both hosts last time, and list and status on each host they
read (the datasets it read in full, the bases
its holds sit on, whether a host had few snapshots, the pools where a read\-only channel
program finds zfs\-vm's snapshot names in place of listing every snapshot, or that it fails
there), so that the next run reads them beside its first listings. A hint is only a guess:
what it names is read from zfs all the same, and deleting the directory costs the next run
a round trip or two, or on a host with many snapshots the listing of their names.
.TP
.I /usr/libexec/zfs\-vm/
The hook scripts for vzctl (vzctl\-umount), LXC (lxc\-hook), Proxmox (pve\-hook) and FreeBSD
jails (jail\-hook); they call
.BR "zfs\-vm hook" .
.TP
.I /usr/share/zfs\-vm/lxc/zfs\-vm.conf
The LXC hook as a config snippet. It hooks no container by itself: add
.B lxc.include = /usr/share/zfs\-vm/lxc/zfs\-vm.conf
to the config of each container whose image is to be tagged when it stops.
.TP
.I /usr/lib/systemd/system/zfs\-vm\-sync@.service
.TQ
.I /usr/lib/systemd/system/zfs\-vm\-sync@.timer
The units that run
.B zfs\-vm sync \-\-peer
.I PEER
on the peer's schedule.
.B zfs\-vm systemd enable
writes the schedule as
.IR /etc/systemd/system/zfs\-vm\-sync@PEER.timer.d/zfs\-vm\-schedule.conf .
.SH ENVIRONMENT
.TP
.BR INVOCATION_ID ", " JOURNAL_STREAM
Set by systemd: zfs\-vm then logs to the journal, with the fields PEER, STREAMLINE, DATASET
and BYTES, instead of to stderr. Hooks log to the journal whenever it is reachable, else to
syslog (facility daemon, tag zfs\-vm).
.TP
.BR VEID ", " VE_CONFFILE
Read by
.B zfs\-vm hook vzctl
(set by vzctl for its action scripts).
.TP
.BR LXC_NAME ", " LXC_TARGET
Read by
.BR "zfs\-vm hook lxc" ;
LXC_TARGET=reboot tags nothing.
.TP
.B ZFS_VM_ROOT
Where container managers' configuration is read from instead of / (for tests).
.TP
.B ZFS_VM_PEER_LISTING_MIB
How much of a peer's listings one read of that peer keeps, in MiB (default 12: about 40,000
datasets and snapshots of datasets with versions); past it the run stops with
.IR "PEER: lists more datasets and snapshots than zfs-vm reads from a peer" .
Raise it for a peer with more; each MiB above 12 raises zfs-vm's soft memory limit by 2 MiB.
.TP
.B GOMEMLIMIT
Go's soft memory limit; zfs-vm sets its own (20 MiB, raised by what this host's listings
hold) unless this is set.
.TP
.B SOURCE_DATE_EPOCH
The date in the man pages that
.B zfs\-vm man
prints.
.SH EXAMPLES
Tag a container's image as the next version of its streamline, then tag a template as
version 1 of a new streamline:
.PP
.nf
.RS
zfs\-vm tag 1007
zfs\-vm tag \-n debian\-12:1 tank/vz/template/debian\-12
.RE
.fi
.PP
Show what a push would send, then send it, into tank/images on the other host:
.PP
.nf
.RS
zfs\-vm push \-\-dry\-run \-d tank/images root@backup1
zfs\-vm push \-d tank/images root@backup1
.RE
.fi
.PP
Check the configuration, sync one peer now, and let systemd sync every peer on its schedule:
.PP
.nf
.RS
zfs\-vm config check
zfs\-vm sync \-\-peer backup1
zfs\-vm systemd enable
journalctl \-u zfs\-vm\-sync@backup1 \-o verbose
.RE
.fi
.PP
Tag an LXC container when it stops:
.PP
.nf
.RS
echo 'lxc.include = /usr/share/zfs\-vm/lxc/zfs\-vm.conf' >> /var/lib/lxc/web1/config
.RE
.fi
.SH SEE ALSO
.BR zfs\-vm.toml (5),
.BR zfs (8),
.BR zfs\-send (8),
.BR zfs\-receive (8),
.BR zfs\-hold (8),
.BR zfs\-allow (8),
.BR syncoid (8),
.BR systemd.timer (5),
.BR lxc.container.conf (5),
.BR vzctl (8)
.PP
/usr/share/doc/zfs\-vm/zfs\-allow.md for peers that are not root.
`
