package main

import (
	"fmt"
	"strings"
)

// manPage5 is zfs-vm.toml(5), the configuration file. A test checks that it names every key
// of config.Config.
func manPage5(version, date string) string {
	return fmt.Sprintf(".TH ZFS\\-VM.TOML 5 \"%s\" \"zfs\\-vm %s\" \"File Formats\"\n", date, roffText(version)) +
		strings.TrimPrefix(manPage5Body, "\n")
}

const manPage5Body = `
.SH NAME
zfs\-vm.toml \- configuration of zfs\-vm: sync peers and container hooks
.SH SYNOPSIS
.I /etc/zfs\-vm/zfs\-vm.toml
.SH DESCRIPTION
The file is TOML. It lists the peers that
.B zfs\-vm sync
replicates with (each with its own systemd timer,
.BI zfs\-vm\-sync@ PEER .timer\fR),
and selects what the container managers' hooks tag.
.B zfs\-vm config check
validates it without touching anything; another file is used with
.BR "zfs\-vm \-\-config " \fIFILE\fR.
.PP
Unknown keys and values of the wrong type are errors that name the file, the line and the
key. A missing file is an empty configuration for the hooks, an error for sync and systemd.
.SH TOP LEVEL
.TP
.BR metrics_file " (string)"
Where
.B zfs\-vm sync
writes Prometheus textfile metrics after each run (for node_exporter's textfile collector),
e.g. "/var/lib/prometheus/node\-exporter/zfs\-vm.prom". Unset: no metrics.
.SH [defaults]
Keys that apply to every peer that does not set the key itself:
.BR sudo ,
.BR ssh_options ,
.BR schedule ,
.BR streamlines ,
.BR dest ,
.BR direction ,
.BR send_options ,
.BR compress ,
.BR bwlimit ,
.BR mountable ,
.BR streams ,
.BR warn_behind ,
.BR crit_behind ,
.BR warn_age " and"
.BR crit_age ,
with the meaning they have in [[peer]].
.SH [[peer]]
One table per peer.
.TP
.BR name " (string, required)"
The peer's name: letters, digits, '\-', '_' and '.', not starting with '\-' or '.'. It names the
systemd units (zfs\-vm\-sync@NAME.timer) and is what
.B sync \-\-peer
and
.B systemd enable
take. Names are unique.
.TP
.BR host " (string, required)"
.RI [ user @] host [: port ]
for ssh; the user's ssh configuration applies.
.TP
.BR direction " (string, required here or in [defaults])"
.B push
sends this host's versions that the peer lacks;
.B pull
fetches the peer's versions that this host lacks.
.TP
.BR streamlines " (array of strings)"
Only these streamlines (and the versions they descend from). Unset: all.
.TP
.BR dest " (string)"
The parent dataset on the receiving side, as push/pull \-d. Unset: the sender's dataset
names are kept.
.TP
.BR sudo " (boolean, default false)"
Run zfs on the peer through
.BR "sudo \-n" .
.TP
.BR ssh_options " (array of strings)"
Extra ssh arguments, each an option ("\-o", "\-i") or an option's Key=value
("ConnectTimeout=10").
.TP
.BR schedule " (string, default \(dqhourly\(dq)"
A systemd OnCalendar expression for the peer's timer, written as a drop-in by
.BR "zfs\-vm systemd enable" .
.TP
.BR send_options " (array of strings)"
zfs send options: compressed (\-c), large\-blocks (\-L), embedded (\-e), raw (\-w).
.TP
.BR compress " (string, default \(dqnone\(dq)"
The compressor on the wire:
.B zstd
(used when both hosts have it, else the streams go uncompressed with a warning) or
.BR none .
.TP
.BR bwlimit " (string)"
Bytes per second on the wire: 500K, 10M, 1G (1000\-based) or 512KiB, 10MiB (1024\-based).
Unset or "0": no limit.
.TP
.BR mountable " (boolean, default false)"
As push/pull \-\-mountable: new received filesystems may be mounted by
.B zfs mount \-a
at the mountpoint they inherit on the receiver. By default they arrive
.BR canmount=noauto .
The sender's mountpoint and share properties are never received either way.
.TP
.BR streams " (integer, default 1)"
As push/pull \-\-streams: up to this many streams (1 to 8) run at once, each after the ones it
needs (the one that brings its base or origin, the ones into the datasets above or below
its own), so that the clones of a template's version are received side by side. With
.B bwlimit
they run one at a time.
.TP
.BR warn_behind " (integer, default 0: not checked)"
.B zfs\-vm status
warns (exit 1) when the receiver lacks this many versions of a streamline or more.
.TP
.BR crit_behind " (integer, default 0: not checked)"
The same, reported as critical (exit 2); not below warn_behind.
.TP
.BR warn_age " (string, default unset: not checked)"
.B zfs\-vm status
warns when the peer's last successful sync is this long ago or longer, as a duration
("36h", "90m").
.TP
.BR crit_age " (string, default unset: not checked)"
The same, reported as critical; not below warn_age.
.SH [hooks]
What the hooks of vzctl, LXC, Proxmox and FreeBSD jails tag when a container stops.
A container not written since its newest version is not tagged again.
.TP
.BR timeout " (string, default \(dq20s\(dq)"
How long a hook may hold up the container manager. Tagging that takes longer (a hung zfs)
goes on in a background process, which logs its outcome; the hook answers with exit 0.
.TP
.BR tag " (string, default \(dqlineage\(dq)"
.B lineage
tags a stopped container whose dataset already belongs to a streamline (its own or its
origin's zfs\-vm snapshots), plus those listed below;
.B selected
tags only the containers and streamlines listed below;
.B off
tags nothing.
.TP
.BR containers " (array of strings)"
Container IDs or names that are always tagged when they changed.
.TP
.BR streamlines " (array of strings)"
Containers of these streamlines are tagged when they changed.
.TP
.BR templates " (array of strings)"
Container IDs or names of templates: tagged whenever they changed.
.TP
.BR recursive " (array of strings)"
Container IDs, names or streamlines whose images are dataset trees: tagged with
.B zfs snapshot \-r
(the dataset and all its descendants).
.SH EXAMPLE
.nf
.RS
metrics_file = "/var/lib/prometheus/node\-exporter/zfs\-vm.prom"

[defaults]
sudo = true
schedule = "hourly"
send_options = ["compressed"]

[[peer]]
name = "backup1"
host = "zfs\-vm@backup1.example.org"
direction = "push"
streamlines = ["debian\-12"]
dest = "backup/images"
schedule = "*\-*\-* 02:00"
compress = "zstd"
bwlimit = "10M"

[hooks]
tag = "lineage"
templates = ["tmpl\-debian"]
recursive = ["101"]
.RE
.fi
.SH FILES
.TP
.I /etc/zfs\-vm/zfs\-vm.toml
The default location. The packages install a commented example and never overwrite an
edited one.
.SH SEE ALSO
.BR zfs\-vm (8),
.BR systemd.time (7),
.BR ssh_config (5)
`
