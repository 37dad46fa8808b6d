// Package metrics writes what `zfs-vm sync` did as a Prometheus textfile (for node_exporter's
// textfile collector): per peer, the last success time, bytes, streams, failures and
// duration of the last run, and per peer and streamline the bytes of the last run, the
// versions the receiver lacks and the creation time of its newest version.
//
// The file is the state: a run rewrites the series of the peers it ran and keeps the others,
// and a failed run keeps the peer's last success time.
package metrics

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PeerRun is one peer's part of a sync run.
type PeerRun struct {
	Peer        string
	OK          bool
	Time        time.Time
	Bytes       uint64
	Streams     int
	Failures    int
	Duration    time.Duration
	Streamlines map[string]uint64 // bytes per streamline
	// Behind counts, per streamline, the sender's versions newer than the receiver's newest
	// after the run; Newest is the creation time of the receiver's newest version.
	Behind map[string]int
	Newest map[string]time.Time
}

var help = []struct{ name, help string }{
	{"zfs_vm_sync_last_success_timestamp_seconds", "Time of the last sync with the peer that had no failure."},
	{"zfs_vm_sync_last_run_timestamp_seconds", "Time of the last sync with the peer."},
	{"zfs_vm_sync_bytes", "Bytes received in the last sync with the peer (zfs send's estimate)."},
	{"zfs_vm_sync_streams", "Streams received in the last sync with the peer."},
	{"zfs_vm_sync_failures", "Failed or refused streams and errors in the last sync with the peer."},
	{"zfs_vm_sync_duration_seconds", "Duration of the last sync with the peer."},
	{"zfs_vm_sync_streamline_bytes", "Bytes received per streamline in the last sync with the peer."},
	{"zfs_vm_versions_behind", "Versions of the streamline the receiving side lacked after the last sync with the peer."},
	{"zfs_vm_newest_version_timestamp_seconds", "Creation time of the receiving side's newest version of the streamline after the last sync with the peer."},
}

// read returns the series of the textfile at path ("name{labels}" -> value); none when
// there is no file.
func read(path string) map[string]string {
	series := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return series
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			series[line[:i]] = line[i+1:]
		}
	}
	return series
}

// LastSuccess returns, per peer, the time of the last sync without a failure, as the
// textfile at path records it (`zfs-vm status` reads it); empty when there is no file.
func LastSuccess(path string) map[string]time.Time {
	const prefix = "zfs_vm_sync_last_success_timestamp_seconds{peer="
	out := map[string]time.Time{}
	for k, v := range read(path) {
		if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, "}") {
			continue
		}
		peer, err := strconv.Unquote(k[len(prefix) : len(k)-1])
		sec, err2 := strconv.ParseInt(v, 10, 64)
		if err == nil && err2 == nil {
			out[peer] = time.Unix(sec, 0)
		}
	}
	return out
}

// Update merges runs into the textfile at path, writing it atomically. Two runs (two peers'
// timers) updating the file at once are serialised by a lock file next to it, else each
// would write back what it read and the other's peer would vanish.
func Update(path string, runs []PeerRun) error {
	unlock, err := lockFile(path)
	if err != nil {
		return err
	}
	defer unlock()
	series := read(path)
	for _, r := range runs {
		label := fmt.Sprintf("peer=%s", strconv.Quote(r.Peer))
		for k := range series {
			if strings.Contains(k, "{"+label+"}") || strings.Contains(k, "{"+label+",") {
				if !strings.HasPrefix(k, "zfs_vm_sync_last_success_timestamp_seconds{") {
					delete(series, k)
				}
			}
		}
		at := fmt.Sprintf("%d", r.Time.Unix())
		if r.OK {
			series["zfs_vm_sync_last_success_timestamp_seconds{"+label+"}"] = at
		}
		series["zfs_vm_sync_last_run_timestamp_seconds{"+label+"}"] = at
		series["zfs_vm_sync_bytes{"+label+"}"] = strconv.FormatUint(r.Bytes, 10)
		series["zfs_vm_sync_streams{"+label+"}"] = strconv.Itoa(r.Streams)
		series["zfs_vm_sync_failures{"+label+"}"] = strconv.Itoa(r.Failures)
		series["zfs_vm_sync_duration_seconds{"+label+"}"] = strconv.FormatFloat(r.Duration.Seconds(), 'f', 3, 64)
		for s, b := range r.Streamlines {
			series[fmt.Sprintf("zfs_vm_sync_streamline_bytes{%s,streamline=%s}", label, strconv.Quote(s))] = strconv.FormatUint(b, 10)
		}
		for s, n := range r.Behind {
			series[fmt.Sprintf("zfs_vm_versions_behind{%s,streamline=%s}", label, strconv.Quote(s))] = strconv.Itoa(n)
		}
		for s, t := range r.Newest {
			series[fmt.Sprintf("zfs_vm_newest_version_timestamp_seconds{%s,streamline=%s}", label, strconv.Quote(s))] = strconv.FormatInt(t.Unix(), 10)
		}
	}
	var b strings.Builder
	for _, h := range help {
		var keys []string
		for k := range series {
			if strings.HasPrefix(k, h.name+"{") {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			continue
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", h.name, h.help, h.name)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s %s\n", k, series[k])
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".zfs-vm-metrics-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lockFile takes an exclusive flock on a hidden lock file beside path, waiting for it; the
// textfile itself cannot be locked, it is replaced by a rename. node_exporter reads only
// *.prom files, so the lock file is not taken for metrics.
func lockFile(path string) (unlock func(), err error) {
	name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
