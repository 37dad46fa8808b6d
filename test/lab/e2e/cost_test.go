//go:build lab

package e2e

import (
	"strings"
	"testing"
)

// TestTagAndListReadOnlyWhatTheyNeed: on real ZFS, `zfs list -t snapshot -d 1 DATASET` lists
// that dataset's own snapshots (not its children's), and tag, list and push read through it
// and the names-only listing, never the full listing, with the results of before: a clone
// of an lxc-copy-style foreign snapshot gets the streamline's highest version + 1, even when
// that version lives in an unrelated tree.
func TestTagAndListReadOnlyWhatTheyNeed(t *testing.T) {
	vmA.pool(t, "lt")
	vmB.pool(t, "ltdst")
	vmA.must(t, `
zfs create lt/tmpl && zfs create lt/tmpl/child && zfs create lt/other
zfs-vm tag -n lt:1 lt/tmpl
zfs snapshot lt/tmpl@copy && zfs snapshot lt/tmpl/child@hourly-1 && zfs snapshot lt/other@hourly-1
zfs clone lt/tmpl@copy lt/ct
zfs create lt/bk && zfs snapshot lt/bk@zfs-vm:lt:7`)
	own := vmA.must(t, "zfs list -H -t snapshot -d 1 -o name lt/tmpl")
	if strings.Contains(own, "child@") || !strings.Contains(own, "lt/tmpl@copy") {
		t.Errorf("zfs list -t snapshot -d 1 lt/tmpl:\n%s", own)
	}
	const full = "-t filesystem,volume,snapshot"
	out := vmA.must(t, "zfs-vm -d tag lt/ct 2>&1")
	if !strings.Contains(out, "lt/ct@zfs-vm:lt:8") || strings.Contains(out, full) {
		t.Errorf("tag of the lxc-copy clone:\n%s", out)
	}
	if !strings.Contains(out, "-t snapshot -d 1 -o ") || !strings.Contains(out, " lt/ct lt/tmpl") {
		t.Errorf("tag did not read its origin chain's snapshots:\n%s", out)
	}
	out = vmA.must(t, "zfs-vm -d tag lt/ct 2>&1")
	if !strings.Contains(out, "unchanged since lt/ct@zfs-vm:lt:8") || strings.Contains(out, "-o name -s name") {
		t.Errorf("no-op tag read every snapshot's name:\n%s", out)
	}
	out = vmA.must(t, "zfs-vm -d list 2>&1")
	if strings.Contains(out, full) || strings.Contains(out, "lt/other") || !strings.Contains(out, "lt/bk") {
		t.Errorf("list read more or less than zfs-vm's datasets:\n%s", out)
	}
	out = vmA.must(t, "zfs-vm -d push -d ltdst b 2>&1")
	if strings.Contains(out, full) {
		t.Errorf("push used the full listing:\n%s", out)
	}
	expectStreams(t, out, 3, "push of lt:1, lt:7 and lt:8")
	sameGUID(t, vmA, "lt/ct@zfs-vm:lt:8", vmB, "ltdst/ct@zfs-vm:lt:8")
}
