package serve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// resumeToken returns the token of a zfs send -t (a stream or an estimate) and whether c is
// one; check has parsed it already.
func resumeToken(c command) (zfs.ResumeToken, bool) {
	n := len(c.argv)
	if (c.kind != kSend && c.kind != kEstimate) || n < 2 || c.argv[n-2] != "-t" {
		return zfs.ResumeToken{}, false
	}
	tok, err := zfs.ParseResumeToken(c.argv[n-1])
	return tok, err == nil
}

// resumeListArgs lists every snapshot's name and guid below roots, in one zfs list.
func resumeListArgs(roots []string) []string {
	return append([]string{"zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name,guid", "-r"}, roots...)
}

// checkResume checks that the snapshot zfs send -t would send is the token's toname, below
// the send roots. The name alone proves nothing: libzfs looks the stream's snapshot up by
// the token's toguid, starting at toname's dataset and climbing to the pool's root, so a
// forged token naming an allowed snapshot with the guid of any other would send that one.
// When toname itself has toguid, the search ends in toname's dataset or below, inside the
// roots. The fromguid of an incremental token is not checked: zfs sends only from a
// snapshot in the history of toname's dataset (its origins included), and the stream holds
// toname's own blocks, which a full send of it gives the peer anyway.
func (p Policy) checkResume(ctx context.Context, tok zfs.ResumeToken) error {
	argv := resumeListArgs(p.Send)
	cmd := exec.CommandContext(ctx, zfs.LocalPath(argv[0]), argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("zfs send -t: listing the snapshots below --allow-send: %v", err)
	}
	err = findResumeSnapshot(out, tok, p.Send)
	// A failed listing (a root gone) still proves a snapshot it printed.
	if werr := cmd.Wait(); err != nil && werr != nil {
		return fmt.Errorf("%v (zfs list: %v)", err, werr)
	}
	return err
}

// findResumeSnapshot reads a listing of names and guids (resumeListArgs) and returns nil if
// the snapshot named tok.ToName, below roots, has tok.ToGUID. Lines outside roots are not
// believed; the read is bounded by line, and the whole listing is read, so that zfs list
// ends of itself.
func findResumeSnapshot(r io.Reader, tok zfs.ResumeToken, roots []string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4*1024), 64*1024) // a name is at most 255 bytes
	other := false
	for sc.Scan() {
		name, g, _ := strings.Cut(sc.Text(), "\t")
		guid, err := strconv.ParseUint(g, 10, 64)
		ds, _, _ := strings.Cut(name, "@")
		if err != nil || guid != tok.ToGUID || !within(ds, roots) {
			continue
		}
		if name == tok.ToName {
			io.Copy(io.Discard, r)
			return nil
		}
		other = true
	}
	io.Copy(io.Discard, r) // a line too long: let zfs finish rather than die of SIGPIPE
	if other {
		return fmt.Errorf("zfs send -t: the resume token's guid is not its snapshot %s's but another's", tok.SafeName())
	}
	return fmt.Errorf("zfs send -t: no snapshot below --allow-send has the resume token's guid (its snapshot %s)", tok.SafeName())
}
