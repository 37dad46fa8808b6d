package zfs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs/stream"
)

// SendArgs describes one `zfs send`. Build it with NewFullSend, NewIncrementalSend or
// NewCloneSend, which validate it; its argv is then safe to run.
type SendArgs struct {
	from          string   // base snapshot (full name); "" for a full stream
	to            string   // snapshot to send (full name)
	intermediates bool     // -I: also send the snapshots between from and to
	token         string   // resume token (-t); set alone
	options       []string // validated zfs send flags (see SendOptions)
}

// sendOptions maps the names users give to zfs send's flags.
var sendOptions = map[string]string{
	"compressed":   "-c", // send blocks compressed as they are on disk
	"large-blocks": "-L", // keep blocks larger than 128 KiB
	"embedded":     "-e", // keep embedded-data blocks
	"raw":          "-w", // send encrypted datasets as they are, without decrypting
}

// SendOptions validates option names (compressed, large-blocks, embedded, raw) into zfs
// send flags.
func SendOptions(names []string) ([]string, error) {
	var flags []string
	for _, n := range names {
		f, ok := sendOptions[n]
		if !ok {
			return nil, fmt.Errorf("send option %q: use compressed, large-blocks, embedded or raw", n)
		}
		flags = append(flags, f)
	}
	return flags, nil
}

// WithOptions returns the arguments with flags from SendOptions added.
func (a SendArgs) WithOptions(flags []string) SendArgs {
	a.options = flags
	return a
}

// NewResumeSend returns the arguments that resume an interrupted stream from the receiver's
// receive_resume_token.
func NewResumeSend(token string) (SendArgs, error) {
	if _, err := ParseResumeToken(token); err != nil {
		return SendArgs{}, fmt.Errorf("send: %w", err)
	}
	return SendArgs{token: token}, nil
}

// Resumes reports whether the arguments resume a stream from a token (zfs send -t).
func (a SendArgs) Resumes() bool { return a.token != "" }

// NewFullSend returns the arguments of a full stream of snapshot to.
func NewFullSend(to string) (SendArgs, error) {
	if err := ValidateSnapshotName(to); err != nil {
		return SendArgs{}, fmt.Errorf("send: %w", err)
	}
	return SendArgs{to: to}, nil
}

// NewIncrementalSend returns the arguments of an incremental stream from one snapshot to a
// later one of the same dataset; intermediates selects -I (every snapshot between) over -i.
func NewIncrementalSend(from, to string, intermediates bool) (SendArgs, error) {
	if err := validatePair(from, to); err != nil {
		return SendArgs{}, err
	}
	fds, _, _ := SplitSnapshotName(from)
	tds, _, _ := SplitSnapshotName(to)
	if fds != tds {
		return SendArgs{}, fmt.Errorf("send: incremental %s -> %s crosses datasets", from, to)
	}
	return SendArgs{from: from, to: to, intermediates: intermediates}, nil
}

// NewCloneSend returns the arguments of the stream that makes the receiver create a clone:
// an incremental from a snapshot of the origin's lineage (from) to a snapshot of the clone.
func NewCloneSend(from, to string) (SendArgs, error) {
	if err := validatePair(from, to); err != nil {
		return SendArgs{}, err
	}
	fds, _, _ := SplitSnapshotName(from)
	tds, _, _ := SplitSnapshotName(to)
	if fds == tds {
		return SendArgs{}, fmt.Errorf("send: clone stream %s -> %s stays in one dataset", from, to)
	}
	return SendArgs{from: from, to: to}, nil
}

func validatePair(from, to string) error {
	if err := ValidateSnapshotName(from); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := ValidateSnapshotName(to); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// Argv returns the zfs command line.
func (a SendArgs) Argv() []string {
	argv := append([]string{"zfs", "send"}, a.options...)
	switch {
	case a.token != "":
		return append(argv, "-t", a.token)
	case a.from == "":
	case a.intermediates:
		argv = append(argv, "-I", a.from)
	default:
		argv = append(argv, "-i", a.from)
	}
	return append(argv, a.to)
}

// ReportingArgv returns the command line with -P -v, which makes zfs send print its size
// estimate on stderr before the stream (see ParseEstimate) and, once a second while it runs,
// how many bytes it has sent (see ParseProgress). zfs-vm reads these lines from send's stderr;
// the stream itself is not read for them.
func (a SendArgs) ReportingArgv() []string {
	argv := a.Argv()
	return append([]string{"zfs", "send", "-P", "-v"}, argv[2:]...)
}

// ParseProgress reads one of zfs send -P -v's progress lines: "HH:MM:SS<TAB>bytes<TAB>snapshot".
func ParseProgress(line string) (sent uint64, ok bool) {
	f := strings.Split(line, "\t")
	if len(f) != 3 || len(f[0]) != 8 || f[0][2] != ':' || f[0][5] != ':' {
		return 0, false
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	return n, err == nil
}

// IsSizeReport reports whether a line of zfs send's stderr is one of -P -v's report lines.
func IsSizeReport(line string) bool {
	if _, ok := ParseProgress(line); ok {
		return true
	}
	f := strings.Split(line, "\t")
	switch f[0] {
	case "size":
		return len(f) == 2
	case "full", "incremental":
		return len(f) >= 3
	}
	return false
}

// EstimateArgv returns the dry-run form (-n -P) that prints the stream's estimated size.
func (a SendArgs) EstimateArgv() []string {
	argv := a.Argv()
	return append([]string{"zfs", "send", "-n", "-P"}, argv[2:]...)
}

// ParseEstimate reads the size from the output of EstimateArgv ("size\t<bytes>").
func ParseEstimate(out string) (uint64, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "size" {
			return strconv.ParseUint(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no size in zfs send -nP output %q", out)
}

// ReceiveArgs describes one `zfs receive` into target. It never uses -F: a receive that would
// need to roll back or destroy anything fails instead. Receives are resumable (-s): an
// interrupted one leaves a receive_resume_token that the next run continues from.
type ReceiveArgs struct {
	target string
	origin string
	props  ReceiveProps
}

// ReceiveProps select how a receive treats the properties a stream may carry (a sender that
// runs `zfs send -p` chooses mountpoint, canmount and share settings): the receiver, not the
// sender, decides where and whether its datasets mount.
type ReceiveProps struct {
	// Volume: the receiver dataset is a volume (for a new one: the sender says it will be).
	Volume bool
	// New: the receive creates the dataset (a full or clone stream, or the resume of one).
	New bool
	// Mountable lets a new filesystem mount with `zfs mount -a` at the mountpoint it
	// inherits here; otherwise it is received with canmount=noauto.
	Mountable bool
}

// WithProps returns the arguments with the property handling p.
func (a ReceiveArgs) WithProps(p ReceiveProps) ReceiveArgs {
	a.props = p
	return a
}

// propArgs are the -o/-x options of p. Filesystems drop the sender's mountpoint and share
// properties (-x: inherited here) and its canmount; a new one gets canmount=noauto unless
// Mountable. The filesystem-only properties are never named for a volume: OpenZFS without
// openzfs/zfs#11864 (2.2 and later have it) refuses even -x of a property that does not apply
// to the dataset's type. A new volume gets -o volmode=default (what an unset volmode means),
// which makes zfs receive refuse a filesystem stream that the sender listed as a volume to
// escape the -x options (-o of a wrong-type property is an error in every release).
func (p ReceiveProps) propArgs() []string {
	switch {
	case p.Volume && p.New:
		return []string{"-o", "volmode=default"}
	case p.Volume:
		return nil
	}
	a := []string{"-x", "mountpoint", "-x", "sharenfs", "-x", "sharesmb"}
	if p.New && !p.Mountable {
		return append(a, "-o", "canmount=noauto")
	}
	// canmount is not inherited: -x drops the sender's value and keeps the receiver's (on
	// for a new dataset, whatever the operator set for an existing one).
	return append(a, "-x", "canmount")
}

// Range reports whether the stream is a run of snapshots (-I), which zfs send writes as a
// compound stream.
func (a SendArgs) Range() bool { return a.intermediates }

// AbortArgv returns the command that discards an interrupted receive's partial state in
// dataset (zfs receive -A).
func AbortArgv(dataset string) ([]string, error) {
	if err := ValidateDatasetName(dataset); err != nil {
		return nil, err
	}
	return []string{"zfs", "receive", "-A", dataset}, nil
}

// NewReceive returns the arguments to receive into dataset target. origin, when set, pins the
// snapshot a clone stream is received as a clone of (`-o origin=`), rather than trusting
// zfs receive's search by guid, which can find the same guid twice in one pool.
func NewReceive(target, origin string) (ReceiveArgs, error) {
	if err := ValidateDatasetName(target); err != nil {
		return ReceiveArgs{}, fmt.Errorf("receive: %w", err)
	}
	if origin != "" {
		if err := ValidateSnapshotName(origin); err != nil {
			return ReceiveArgs{}, fmt.Errorf("receive: origin: %w", err)
		}
	}
	return ReceiveArgs{target: target, origin: origin}, nil
}

// Expects is what the receive's options were chosen for: the stream's dataset type, and
// whether it may be a clone stream (only when an origin is pinned with -o origin=).
func (a ReceiveArgs) Expects() stream.Expect {
	want := stream.Expect{Type: stream.Filesystem, Clone: a.origin != ""}
	if a.props.Volume {
		want.Type = stream.Volume
	}
	return want
}

// Argv returns the zfs command line. Received datasets are not mounted (-u): a container's
// mountpoint on one host may be another's live container. See ReceiveProps for properties.
func (a ReceiveArgs) Argv() []string {
	argv := append([]string{"zfs", "receive", "-s", "-u"}, a.props.propArgs()...)
	if a.origin != "" {
		argv = append(argv, "-o", "origin="+a.origin)
	}
	return append(argv, a.target)
}
