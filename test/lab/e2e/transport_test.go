//go:build lab

package e2e

import (
	"strings"
	"testing"
)

// TestCompressedLimitedTransfers replicates the core tree with zstd on the wire and a
// bandwidth limit, in both directions, and checks that nothing about the result changes: same
// guids, clones still clones, same data. Then B loses zstd, and the next push goes
// uncompressed with a warning instead of failing.
func TestCompressedLimitedTransfers(t *testing.T) {
	src := vmA.pool(t, "wiresrc")
	dst := vmB.pool(t, "wiredst")
	makeTree(t, vmA, src)
	vmB.must(t, "zfs create "+dst+"/vm")

	// Pull: A (remote) runs zfs send | zstd, B decompresses into zfs receive.
	out := vmB.must(t, "zfs-vm -d pull --compress zstd --bwlimit 2MiB -d "+dst+"/vm a 2>&1")
	expectStreams(t, out, 4, "compressed pull")
	for _, want := range []string{"compressing streams on the wire with zstd", "| env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin zstd -q -c -T0"} {
		if !strings.Contains(out, want) {
			t.Errorf("pull -d log lacks %q:\n%s", want, out)
		}
	}
	checkTree(t, vmA, src, vmB, dst+"/vm")

	// Push: this host compresses, B (remote) runs zstd -d | zfs receive.
	vmA.must(t, "dd if=/dev/urandom of=/"+src+"/c2/more bs=64k count=4 status=none && zfs-vm tag "+src+"/c2")
	out = vmA.must(t, "zfs-vm -d push --compress zstd --bwlimit 1M -d "+dst+"/vm b 2>&1")
	expectStreams(t, out, 1, "compressed push")
	if !strings.Contains(out, "zstd -q -d -c | env PATH=") {
		t.Errorf("the push did not decompress on B:\n%s", out)
	}
	sameGUID(t, vmA, src+"/c2@zfs-vm:debian:6", vmB, dst+"/vm/c2@zfs-vm:debian:6")
	if a, b := checksums(t, vmA, src+"/c2", "zfs-vm:debian:6"), checksums(t, vmB, dst+"/vm/c2", "zfs-vm:debian:6"); a != b {
		t.Errorf("data differs:\nA:\n%s\nB:\n%s", a, b)
	}

	vmB.must(t, "mv /usr/bin/zstd /usr/bin/zstd.hidden")
	t.Cleanup(func() { vmB.run("mv /usr/bin/zstd.hidden /usr/bin/zstd") })
	vmA.must(t, "dd if=/dev/urandom of=/"+src+"/c2/evenmore bs=64k count=4 status=none && zfs-vm tag "+src+"/c2")
	out = vmA.must(t, "zfs-vm push --compress zstd -d "+dst+"/vm b 2>&1")
	expectStreams(t, out, 1, "push without zstd on B")
	if !strings.Contains(out, "sending uncompressed: cannot use zstd on b") {
		t.Errorf("no warning that B lacks zstd:\n%s", out)
	}
	sameGUID(t, vmA, src+"/c2@zfs-vm:debian:7", vmB, dst+"/vm/c2@zfs-vm:debian:7")
}
