//go:build lab

package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestRealOpenZFS proves the lab runs a real OpenZFS kernel module, not a fake.
func TestRealOpenZFS(t *testing.T) {
	for _, v := range []*vm{vmA, vmB} {
		out := v.must(t, "zfs version; lsmod | grep -w '^zfs'; cat /sys/module/zfs/version")
		if !regexp.MustCompile(`(?m)^zfs-kmod-2\.`).MatchString(out) || !strings.Contains(out, "zfs ") {
			t.Errorf("VM %s does not run the OpenZFS module:\n%s", v.name, out)
		}
	}
}

// makeTree builds the core scenario on pool: a template with versions 1-3 and two clones of
// v2 and v3 that got versions 4 and 5. Each version writes fresh incompressible data.
func makeTree(t *testing.T, v *vm, pool string) {
	t.Helper()
	v.must(t, fmt.Sprintf(`
p=%s
zfs create -p $p/tmpl
dd if=/dev/urandom of=/$p/tmpl/base bs=64k count=32 status=none
zfs-vm tag -n debian:1 $p/tmpl
dd if=/dev/urandom of=/$p/tmpl/v2 bs=64k count=8 status=none
zfs-vm tag $p/tmpl
dd if=/dev/urandom of=/$p/tmpl/v3 bs=64k count=8 status=none
zfs-vm tag /$p/tmpl
zfs clone $p/tmpl@zfs-vm:debian:2 $p/c1
dd if=/dev/urandom of=/$p/c1/own bs=64k count=8 status=none
zfs-vm tag $p/c1
zfs clone $p/tmpl@zfs-vm:debian:3 $p/c2
dd if=/dev/urandom of=/$p/c2/own bs=64k count=8 status=none
zfs-vm tag $p/c2
`, pool))
}

// version is the part of `zfs-vm list -o json` the tests compare.
type version struct {
	Streamline string `json:"streamline"`
	Version    uint64 `json:"version"`
	Dataset    string `json:"dataset"`
	GUID       string `json:"guid"`
	Parent     string `json:"parent"`
	Clone      bool   `json:"clone"`
}

func listVersions(t *testing.T, v *vm, args string) []version {
	t.Helper()
	out := v.must(t, "zfs-vm list -o json "+args)
	var vs []version
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("list -o json on %s: %v\n%s", v.name, err, out)
	}
	return vs
}

// identities renders versions as sorted "streamline:version guid parent clone" lines,
// without dataset names (which differ under -d).
func identities(vs []version, poolPrefix string) []string {
	var out []string
	for _, v := range vs {
		if poolPrefix != "" && !strings.HasPrefix(v.Dataset, poolPrefix) {
			continue
		}
		out = append(out, fmt.Sprintf("%s:%d guid=%s parent=%s clone=%v", v.Streamline, v.Version, v.GUID, v.Parent, v.Clone))
	}
	sort.Strings(out)
	return out
}

func prop(t *testing.T, v *vm, property, dataset string) string {
	t.Helper()
	return strings.TrimSpace(v.must(t, fmt.Sprintf("zfs get -H -p -o value %s %q", property, dataset)))
}

func usedSum(t *testing.T, v *vm, datasets ...string) uint64 {
	var sum uint64
	for _, d := range datasets {
		n, err := strconv.ParseUint(prop(t, v, "used", d), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	return sum
}

// checksums returns the sha256 of every file in each of the datasets' snapshots.
func checksums(t *testing.T, v *vm, dataset string, snaps ...string) string {
	t.Helper()
	mp := "/mnt/check-" + strings.ReplaceAll(dataset, "/", "-")
	var b strings.Builder
	for _, s := range snaps {
		out := v.must(t, fmt.Sprintf(`
d=%[1]q; s=%[2]q; mp=%[3]q
mkdir -p "$mp"
mount -t zfs -o ro "$d@$s" "$mp"
(cd "$mp" && find . -type f | sort | xargs -r sha256sum)
umount "$mp"`, dataset, s, mp))
		fmt.Fprintf(&b, "@%s\n%s", s, out)
	}
	return b.String()
}

// expectStreams checks the summary line of a push or pull: what received want streams.
func expectStreams(t *testing.T, out string, want int, what string) {
	t.Helper()
	if n := streamsReceived(t, out); n != want {
		t.Errorf("%s received %d streams, want %d:\n%s", what, n, want, out)
	}
}

// sameGUID checks that snapshot b on vm y is snapshot a of vm x: the same guid.
func sameGUID(t *testing.T, x *vm, a string, y *vm, b string) {
	t.Helper()
	if gx, gy := prop(t, x, "guid", a), prop(t, y, "guid", b); gx != gy {
		t.Errorf("%s on %s has guid %s, %s on %s has %s", b, y.name, gy, a, x.name, gx)
	}
}

func streamsReceived(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`: (\d+) stream\(s\) received`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line in output:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkTree asserts that the receiver holds the sender's tree: the same versions with the
// same guids, every clone a clone of the received origin, the same data, and about the same
// space.
func checkTree(t *testing.T, sender *vm, srcPool string, receiver *vm, dstParent string) {
	t.Helper()
	got := identities(listVersions(t, receiver, ""), dstParent+"/")
	want := identities(listVersions(t, sender, ""), srcPool+"/")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("receiver versions differ:\n got: %v\nwant: %v", got, want)
	}
	for clone, origin := range map[string]string{"c1": "debian:2", "c2": "debian:3"} {
		o := prop(t, receiver, "origin", dstParent+"/"+clone)
		if o != dstParent+"/tmpl@zfs-vm:"+origin {
			t.Errorf("%s/%s origin = %q, want the received %s", dstParent, clone, o, origin)
		}
	}
	s := usedSum(t, sender, srcPool+"/tmpl", srcPool+"/c1", srcPool+"/c2")
	r := usedSum(t, receiver, dstParent+"/tmpl", dstParent+"/c1", dstParent+"/c2")
	ratio := float64(r) / float64(s)
	t.Logf("space: sender %d bytes, receiver %d bytes, ratio %.3f", s, r, ratio)
	if ratio < 0.9 || ratio > 1.1 {
		t.Errorf("receiver uses %d bytes for the tree, sender %d (ratio %.2f): clones were not kept as clones", r, s, ratio)
	}
	if a, b := checksums(t, sender, srcPool+"/c2", "zfs-vm:debian:5"), checksums(t, receiver, dstParent+"/c2", "zfs-vm:debian:5"); a != b {
		t.Errorf("data differs:\nsender:\n%s\nreceiver:\n%s", a, b)
	}
	if mp := prop(t, receiver, "mounted", dstParent+"/c1"); mp != "no" {
		t.Errorf("received dataset is mounted (%s); zfs-vm receives with -u", mp)
	}
}

func TestPushTreeKeepsClones(t *testing.T) {
	src := vmA.pool(t, "pushsrc")
	dst := vmB.pool(t, "pushdst")
	makeTree(t, vmA, src)
	vmB.must(t, "zfs create "+dst+"/vm")

	before := vmB.must(t, "zfs list -H -t all -o name,guid -r "+dst)
	plan := vmA.must(t, "zfs-vm push --dry-run -d "+dst+"/vm b")
	if after := vmB.must(t, "zfs list -H -t all -o name,guid -r "+dst); after != before {
		t.Fatalf("--dry-run changed the receiver:\n%s\n->\n%s", before, after)
	}
	for _, want := range []string{
		"full         - → pushsrc/tmpl@zfs-vm:debian:1 into pushdst/vm/tmpl",
		"incremental  pushsrc/tmpl@zfs-vm:debian:1 → pushsrc/tmpl@zfs-vm:debian:3 into pushdst/vm/tmpl",
		"clone        pushsrc/tmpl@zfs-vm:debian:2 → pushsrc/c1@zfs-vm:debian:4 into pushdst/vm/c1",
		"clone        pushsrc/tmpl@zfs-vm:debian:3 → pushsrc/c2@zfs-vm:debian:5 into pushdst/vm/c2",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry-run plan lacks %q:\n%s", want, plan)
		}
	}

	out := vmA.must(t, "zfs-vm push -d "+dst+"/vm b")
	expectStreams(t, out, 4, "first push")
	checkTree(t, vmA, src, vmB, dst+"/vm")

	out = vmA.must(t, "zfs-vm push -d "+dst+"/vm b")
	expectStreams(t, out, 0, "second push")

	vmA.must(t, "dd if=/dev/urandom of=/"+src+"/c2/more bs=64k count=4 status=none && zfs-vm tag "+src+"/c2")
	plan = vmA.must(t, "zfs-vm push --dry-run -d "+dst+"/vm b")
	if !strings.Contains(plan, "plan: 1 stream(s)") || !strings.Contains(plan, "incremental  pushsrc/c2@zfs-vm:debian:5 → pushsrc/c2@zfs-vm:debian:6") {
		t.Errorf("third plan is not exactly one incremental:\n%s", plan)
	}
	out = vmA.must(t, "zfs-vm push -d "+dst+"/vm b")
	expectStreams(t, out, 1, "third push")
	sameGUID(t, vmA, src+"/c2@zfs-vm:debian:6", vmB, dst+"/vm/c2@zfs-vm:debian:6")
	// list over ssh shows the receiver as the receiver itself does.
	remote := identities(listVersions(t, vmA, "b"), dst+"/")
	local := identities(listVersions(t, vmB, ""), dst+"/")
	if strings.Join(remote, "\n") != strings.Join(local, "\n") {
		t.Errorf("zfs-vm list b differs from list on b:\n%v\n%v", remote, local)
	}
}

func TestPullTreeKeepsClones(t *testing.T) {
	src := vmA.pool(t, "pullsrc")
	dst := vmB.pool(t, "pulldst")
	makeTree(t, vmA, src)
	vmB.must(t, "zfs create "+dst+"/vm")

	out := vmB.must(t, "zfs-vm pull -d "+dst+"/vm a")
	expectStreams(t, out, 4, "first pull")
	checkTree(t, vmA, src, vmB, dst+"/vm")
	out = vmB.must(t, "zfs-vm pull -d "+dst+"/vm a")
	expectStreams(t, out, 0, "second pull")
	vmA.must(t, "dd if=/dev/urandom of=/"+src+"/tmpl/v4 bs=64k count=4 status=none && zfs-vm tag "+src+"/tmpl")
	out = vmB.must(t, "zfs-vm pull -d "+dst+"/vm a")
	expectStreams(t, out, 1, "pull after a new version")
}

// TestSameNamesWithoutDest pushes without -d: the receiver gets the sender's names.
func TestSameNamesWithoutDest(t *testing.T) {
	src := vmA.pool(t, "same")
	vmB.pool(t, "same")
	makeTree(t, vmA, src)
	vmA.must(t, "zfs-vm push b")
	checkTree(t, vmA, src, vmB, src)
}

// TestConflictRefusesOnlyThatStreamline: the receiver has debian:1 under the same name but
// another guid; debian is refused with both sides' versions, another streamline still goes.
func TestConflictRefusesOnlyThatStreamline(t *testing.T) {
	src := vmA.pool(t, "confsrc")
	dst := vmB.pool(t, "confdst")
	vmA.must(t, `
zfs create confsrc/t && zfs snapshot confsrc/t@zfs-vm:debian:1
zfs create confsrc/o && zfs snapshot confsrc/o@zfs-vm:other:1`)
	vmB.must(t, "zfs create confdst/x && zfs snapshot confdst/x@zfs-vm:debian:1")
	before := vmB.must(t, "zfs list -H -t all -o name,guid -r "+dst)
	out := vmA.fails(t, "zfs-vm push -d "+dst+" b")
	if !strings.Contains(out, "streamline debian conflicts") || !strings.Contains(out, "sender has versions 1, receiver has 1") {
		t.Errorf("conflict message missing:\n%s", out)
	}
	after := vmB.must(t, "zfs list -H -t all -o name -r "+dst)
	if !strings.Contains(after, dst+"/o@zfs-vm:other:1") {
		t.Errorf("the other streamline was not replicated:\n%s", after)
	}
	if strings.Contains(after, dst+"/t") {
		t.Errorf("the conflicting streamline was replicated:\n%s", after)
	}
	for _, line := range strings.Split(strings.TrimSpace(before), "\n") {
		if !strings.Contains(vmB.must(t, "zfs list -H -t all -o name,guid -r "+dst), line) {
			t.Errorf("receiver lost %q", line)
		}
	}
	_ = src
}

// TestDivergedReceiverIsNotOverwritten: a receiver written since the common version is
// refused, named, and left as it was.
func TestDivergedReceiverIsNotOverwritten(t *testing.T) {
	vmA.pool(t, "divsrc")
	vmB.pool(t, "divdst")
	vmA.must(t, "zfs create divsrc/t && dd if=/dev/urandom of=/divsrc/t/f bs=64k count=4 status=none && zfs-vm tag -n d:1 divsrc/t")
	vmA.must(t, "zfs-vm push -d divdst b")
	vmB.must(t, "zfs mount divdst/t && echo local > /divdst/t/local && zfs snapshot divdst/t@mine")
	vmA.must(t, "echo more >> /divsrc/t/f && zfs-vm tag divsrc/t")
	out := vmA.fails(t, "zfs-vm push -d divdst b")
	if !strings.Contains(out, "receiver dataset divdst/t diverged") || !strings.Contains(out, "divdst/t@mine") {
		t.Errorf("divergence not reported:\n%s", out)
	}
	if got := vmB.must(t, "zfs list -H -t snapshot -o name -r divdst"); strings.Contains(got, "zfs-vm:d:2") || !strings.Contains(got, "divdst/t@mine") {
		t.Errorf("receiver changed:\n%s", got)
	}
}

// TestNamesAreDataNotShell: dataset and streamline names with spaces reach the remote zfs
// intact; a streamline with shell syntax is refused before anything runs.
func TestNamesAreDataNotShell(t *testing.T) {
	vmA.pool(t, "qsrc")
	vmB.pool(t, "qdst")
	vmA.must(t, `zfs create "qsrc/my image" && zfs-vm tag -n "web app:1" "qsrc/my image"`)
	out := vmA.must(t, `zfs-vm push -d qdst b`)
	expectStreams(t, out, 1, "the run")
	if got := vmB.must(t, "zfs list -H -t snapshot -o name -r qdst"); !strings.Contains(got, "qdst/my image@zfs-vm:web app:1") {
		t.Errorf("name with spaces did not arrive intact:\n%s", got)
	}
	out = vmA.fails(t, `zfs-vm push -n 'x$(touch /tmp/pwned)' -d qdst b`)
	if !strings.Contains(out, "not allowed") {
		t.Errorf("bad streamline not refused clearly:\n%s", out)
	}
	vmB.must(t, "test ! -e /tmp/pwned")
}
