package replicate

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// holdsBatch bounds the snapshots named by one `zfs holds`, to stay far below ARG_MAX.
const holdsBatch = 200

// MigrateHolds makes the pair's tags hold its bases (plan.Bases) before a run: a base that
// lacks the pair's hold gets it, and on the receiver, whose datasets belong to this pair
// alone, a legacy "zfs-vm-base:HOST" hold on a base is released. On the sender a legacy
// hold stays until the run moves past that base (applyHolds releases it then): another
// pair with the same host may still count on it. Held bases are read with one `zfs holds`
// per side; unheld ones need no reading. Failures are logged, not returned: holds protect
// the next run, they are not needed by this one.
func (e *Executor) MigrateHolds(ctx context.Context, bases []Base) {
	e.migrateHolds(ctx, bases, nil, nil)
}

// migrateHolds is MigrateHolds, taking the hold tags of each side from a read made earlier
// (prefetchHolds) when that read covered every held base.
func (e *Executor) migrateHolds(ctx context.Context, bases []Base, senderRead, receiverRead *heldTags) {
	if e.HoldTags == nil || len(bases) == 0 {
		return
	}
	var senders, receivers []*zfs.Snapshot
	for _, b := range bases {
		senders = append(senders, b.Sender)
		receivers = append(receivers, b.Receiver)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.migrateSide(ctx, e.Sender, senders, e.HoldTags.Sender, "", senderRead)
	}()
	e.migrateSide(ctx, e.Receiver, receivers, e.HoldTags.Receiver, e.HoldTags.LegacyReceiver, receiverRead)
	wg.Wait()
}

// migrateSide holds snaps on host with tag where they lack it and releases legacy from them.
// The tags of held snapshots come from read when it covers them, else from one `zfs holds`.
func (e *Executor) migrateSide(ctx context.Context, host *zfs.Host, snaps []*zfs.Snapshot, tag, legacy string, read *heldTags) {
	var held []string
	var hold, release []string
	for _, s := range snaps {
		if s.UserRefs == 0 {
			hold = append(hold, s.FullName())
		} else {
			held = append(held, s.FullName())
		}
	}
	var tags map[string]map[string]bool
	var err error
	if read.covers(held) {
		tags = read.tags
	} else {
		tags, err = holdTags(ctx, host, held)
	}
	if err != nil {
		e.Log.WithError(err).Warnf("reading the base holds on %s", host.Name)
		return
	}
	for _, name := range held {
		if !tags[name][tag] {
			hold = append(hold, name)
		}
		if legacy != "" && tags[name][legacy] {
			release = append(release, name)
		}
	}
	var cmds [][]string
	if len(hold) > 0 {
		cmds = append(cmds, append([]string{"zfs", "hold", tag}, hold...))
	}
	if len(release) > 0 {
		e.Log.Infof("moving %d base hold(s) on %s from %s to %s", len(release), host.Name, legacy, tag)
		cmds = append(cmds, append([]string{"zfs", "release", legacy}, release...))
	}
	if len(cmds) == 0 {
		return
	}
	if err := host.RunAll(ctx, cmds...); err != nil && !onlyHoldNoise(err) {
		e.Log.WithError(err).Warnf("moving the base holds on %s to %s", host.Name, tag)
	}
}

// holdTags reads the hold tags of snaps on host: snapshot name -> set of tags.
func holdTags(ctx context.Context, host *zfs.Host, snaps []string) (map[string]map[string]bool, error) {
	tags := map[string]map[string]bool{}
	for len(snaps) > 0 {
		n := min(len(snaps), holdsBatch)
		out, err := host.Output(ctx, append([]string{"zfs", "holds", "-H"}, snaps[:n]...)...)
		if err != nil {
			return nil, err
		}
		parseHolds(out, tags)
		snaps = snaps[n:]
	}
	return tags, nil
}

// parseHolds reads `zfs holds -H` lines ("NAME<tab>TAG<tab>TIMESTAMP") into tags.
func parseHolds(out []byte, tags map[string]map[string]bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 2 {
			continue
		}
		if tags[f[0]] == nil {
			tags[f[0]] = map[string]bool{}
		}
		tags[f[0]][f[1]] = true
	}
}
