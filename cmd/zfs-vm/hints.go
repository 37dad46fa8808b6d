package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/zfs-vm/zfs-vm/internal/lock"
	"github.com/zfs-vm/zfs-vm/replicate"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// maxHintsFile bounds what is read of a hints file: a guess is worth little beyond that.
const maxHintsFile = 1 << 20

// runWithHints runs job with the hints its last run left in the runtime directory
// (replicate.Hints), and keeps the new ones there for the next run. lockName is the peer
// lock the caller holds, so no other run of the same pair writes them meanwhile. Hints that
// cannot be read or written cost speed only: the run goes on without them.
func runWithHints(c *cli.Context, job *replicate.Job, lockName string) (*replicate.Summary, error) {
	file := hintsFile(c, job, lockName)
	if file != "" {
		job.Hints = loadHints[replicate.Hints](file)
		if job.Hints == nil {
			job.Hints = &replicate.Hints{} // none yet: the run learns what it can for the next
		}
	}
	sum, err := job.Run(ctx(c))
	if file != "" && sum != nil && sum.Hints != nil {
		if err := saveHints(file, sum.Hints); err != nil {
			log.WithError(err).Debug("keeping the hints for the next run")
		}
	}
	return sum, err
}

// hintsFile names the job's hints file, keyed by its peer lock, direction and streamlines;
// "" without a runtime directory.
func hintsFile(c *cli.Context, job *replicate.Job, lockName string) string {
	direction := "pull"
	if job.Sender.IsLocal() {
		direction = "push"
	}
	return hintsPath(c, "", strings.Join([]string{lockName, direction, strings.Join(job.Options.Streamlines, ",")}, "\x00"))
}

// hintsPath names the hints file of key in the runtime directory's hints/, prefix and a hash
// of key; "" without a runtime directory.
func hintsPath(c *cli.Context, prefix, key string) string {
	dir, err := lock.RuntimeDir(c.String("runtime-dir"))
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, "hints", prefix+hex.EncodeToString(sum[:16])+".json")
}

// loadHints reads a hints file (replicate.Hints or replicate.HostHints); nil when there is
// none, it does not parse, or it or its directory is not this user's alone.
func loadHints[T any](file string) *T {
	if err := privateDir(filepath.Dir(file)); err != nil {
		log.WithError(err).Debug("not reading the hints")
		return nil
	}
	// Not a symlink, and no blocking on a FIFO: the peer lock is held meanwhile.
	f, err := os.OpenFile(file, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || !ownedPrivately(fi) {
		log.Debugf("ignoring %s: not a regular file of this user's alone", file)
		return nil
	}
	var h T
	if err := json.NewDecoder(io.LimitReader(f, maxHintsFile)).Decode(&h); err != nil {
		log.WithError(err).Debugf("ignoring the hints in %s", file)
		return nil
	}
	return &h
}

// saveHints replaces file with h, by a rename: a run stopped half-way leaves the old one.
func saveHints(file string, h any) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if err := privateDir(filepath.Dir(file)); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".hints-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// readWithHints reads h's versions (zfs.Host.ListVersionsGuessing) guessing what the last
// read of the same host by list or status left in the runtime directory, and keeps what
// this one finds for the next: above all whether the names program stands for the names
// listing there (zfs.Guess.Pools). key names the host as the caller reaches it
// (thisHostHintsKey, peerHintsKey).
// push, pull and sync keep their own hints with the job's (runWithHints).
func readWithHints(c *cli.Context, h *zfs.Host, key string) (*zfs.Inventory, error) {
	file := hintsPath(c, "host-", key)
	if file == "" {
		return h.ListVersions(ctx(c))
	}
	var g zfs.Guess
	if hh := loadHints[replicate.HostHints](file); hh != nil {
		g = hh.Guess()
	}
	g.Learn = true
	inv, err := h.ListVersionsGuessing(ctx(c), g)
	if err == nil {
		hh := replicate.HostHintsOf(inv)
		if err := saveHints(file, &hh); err != nil {
			log.WithError(err).Debug("keeping the hints for the next read")
		}
	}
	return inv, err
}

// thisHostHintsKey names this host for readWithHints.
const thisHostHintsKey = "read\x00this host"

// peerHintsKey names a peer for readWithHints: as written (spec), with whether zfs runs there
// through sudo, which decides whether the names program may run, and the ssh options that
// reach it. Two names for one host cost a second learning run.
func peerHintsKey(spec string, sudo bool, sshOptions []string) string {
	return strings.Join(append([]string{"read", "peer", spec, fmt.Sprint(sudo)}, sshOptions...), "\x00")
}

// privateDir checks that dir is a directory (not a symlink) that only this user owns and
// can write: in a runtime directory given with --runtime-dir, another user could otherwise
// plant hints or swap the file being written.
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() || !ownedPrivately(fi) {
		return fmt.Errorf("%s is not a directory of this user's alone", dir)
	}
	return nil
}

// ownedPrivately reports whether fi is owned by this process's user and writable by no one
// else.
func ownedPrivately(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid() && fi.Mode().Perm()&0o022 == 0
}
