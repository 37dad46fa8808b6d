//go:build lab

package e2e

import (
	"strings"
	"testing"
)

// TestTagAndListReadOnlyWhatTheyNeed: on real ZFS, `zfs list -t snapshot -d 1 DATASET` lists
// that dataset's own snapshots (not its children's), with all columns or names only, and
// tag, list and push read through these listings, never the full listing (list and push
// without hints: a host their last run found small is read in one full listing). A clone of an
// lxc-copy-style foreign snapshot gets one above the highest version of its lineage (the
// template and its other clone, whose snapshot names alone are read), not of an unrelated
// tree's copy of the streamline (lt/bk, at lt:7); an explicit -n version is checked against
// the whole host's names and finds that copy.
func TestTagAndListReadOnlyWhatTheyNeed(t *testing.T) {
	vmA.pool(t, "lt")
	vmB.pool(t, "ltdst")
	vmA.must(t, `
zfs create lt/tmpl && zfs create lt/tmpl/child && zfs create lt/other
zfs-vm tag -n lt:1 lt/tmpl
zfs snapshot lt/tmpl@copy && zfs snapshot lt/tmpl/child@hourly-1 && zfs snapshot lt/other@hourly-1
zfs clone lt/tmpl@copy lt/ct && zfs clone lt/tmpl@zfs-vm:lt:1 lt/ct2
zfs create lt/bk && zfs snapshot lt/bk@zfs-vm:lt:7`)
	own := vmA.must(t, "zfs list -H -t snapshot -d 1 -o name lt/tmpl; echo ---; zfs list -H -t snapshot -o name -s name -d 1 lt/tmpl lt/other")
	if strings.Contains(own, "child@") || strings.Count(own, "lt/tmpl@copy") != 2 || !strings.Contains(own, "lt/other@hourly-1") {
		t.Errorf("zfs list -t snapshot -d 1 lt/tmpl, then names only of lt/tmpl lt/other:\n%s", own)
	}
	const full = "-t filesystem,volume,snapshot"
	out := vmA.must(t, "zfs-vm -d tag lt/ct 2>&1")
	if !strings.Contains(out, "lt/ct@zfs-vm:lt:2") || strings.Contains(out, full) {
		t.Errorf("tag of the lxc-copy clone:\n%s", out)
	}
	if !strings.Contains(out, "-t snapshot -d 1 -o ") || !strings.Contains(out, " lt/ct lt/tmpl") {
		t.Errorf("tag did not read its origin chain's snapshots:\n%s", out)
	}
	// The debug log's exec lines end with " host=local".
	if !strings.Contains(out, "-o name -s name -d 1 lt/ct2 host=") || strings.Contains(out, "-o name -s name host=") {
		t.Errorf("tag did not read its lineage's names only (lt/ct2's):\n%s", out)
	}
	out = vmA.must(t, "zfs-vm -d tag lt/ct 2>&1; echo ---; zfs-vm tag -n 7 lt/ct 2>&1 || true")
	noop, explicit, _ := strings.Cut(out, "---")
	if !strings.Contains(noop, "unchanged since lt/ct@zfs-vm:lt:2") || strings.Contains(noop, "-o name -s name") {
		t.Errorf("no-op tag read snapshot names:\n%s", noop)
	}
	if !strings.Contains(explicit, "version lt:7 already exists: lt/bk@zfs-vm:lt:7 (the next free one is 8)") {
		t.Errorf("tag -n 7 did not check the whole host:\n%s", explicit)
	}
	// Without hints: an earlier test's list may have left this host's hints saying it is
	// small (at most zfs.SmallHost snapshots), and such a host is read in one full listing.
	out = vmA.must(t, "rm -rf /run/zfs-vm/hints; zfs-vm -d list 2>&1")
	if strings.Contains(out, full) || strings.Contains(out, "lt/other") || !strings.Contains(out, "lt/bk") {
		t.Errorf("list read more or less than zfs-vm's datasets:\n%s", out)
	}
	out = vmA.must(t, "rm -rf /run/zfs-vm/hints; zfs-vm -d push -d ltdst b 2>&1")
	if strings.Contains(out, full) {
		t.Errorf("push used the full listing:\n%s", out)
	}
	expectStreams(t, out, 3, "push of lt:1, lt:7 and lt:2")
	sameGUID(t, vmA, "lt/ct@zfs-vm:lt:2", vmB, "ltdst/ct@zfs-vm:lt:2")
}

// TestDatasetDestroyedWhileReadIsReadAgain: a dataset with a version destroyed between a
// read's two steps (a zfs wrapper destroys it once the first datasets listing and the names
// listing have both ended) makes real zfs's step 2 listing fail; list reads the host again,
// once, and shows it without that dataset.
func TestDatasetDestroyedWhileReadIsReadAgain(t *testing.T) {
	vmA.pool(t, "gn")
	t.Cleanup(func() { vmA.run("rm -rf /tmp/gnbin /tmp/gn.err") })
	// tag holds its snapshot: gn/gone's is released, so that the wrapper can destroy it.
	vmA.must(t, `rm -rf /tmp/gnbin
zfs create gn/keep && zfs-vm tag -n keep:1 gn/keep >/dev/null
zfs create gn/gone && zfs-vm tag -n gone:1 gn/gone >/dev/null && zfs release zfs-vm gn/gone@zfs-vm:gone:1
mkdir -p /tmp/gnbin && cat > /tmp/gnbin/zfs <<'EOF'
#!/bin/sh
/usr/sbin/zfs "$@"; rc=$?
case "$*" in
"list -H -t snapshot -o name -s name") touch /tmp/gnbin/names ;;
"list -H -p -t filesystem,volume "*)
	if [ ! -e /tmp/gnbin/destroyed ]; then
		for _ in $(seq 100); do [ -e /tmp/gnbin/names ] && break; sleep 0.1; done
		/usr/sbin/zfs destroy -r gn/gone >&2 && touch /tmp/gnbin/destroyed
	fi ;;
esac
exit $rc
EOF
chmod +x /tmp/gnbin/zfs`)
	out := vmA.must(t, `rm -rf /run/zfs-vm/hints; PATH=/tmp/gnbin:$PATH zfs-vm -d list 2>/tmp/gn.err || echo "list failed: $?"
echo ---; cat /tmp/gn.err; if [ -e /tmp/gnbin/destroyed ]; then echo "gn/gone DESTROYED"; fi`)
	table, log, _ := strings.Cut(out, "---")
	if !strings.Contains(log, "gn/gone DESTROYED") || !strings.Contains(log, "dataset does not exist") ||
		!strings.Contains(log, "reading the host again") {
		t.Fatalf("the wrapper did not destroy gn/gone between the steps, or step 2 did not fail:\n%s", out)
	}
	if !strings.Contains(table, "gn/keep") || strings.Contains(table, "gn/gone") || strings.Contains(table, "list failed") {
		t.Errorf("list after gn/gone went away:\n%s", table)
	}
}
