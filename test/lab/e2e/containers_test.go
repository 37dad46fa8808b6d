//go:build lab

package e2e

import (
	"strings"
	"testing"
)

// TestOpenVZStyleTagAndHook: a fake /etc/vz pointing at real datasets. `zfs-vm tag 1007`
// tags a clone of debian-7:3 as debian-7:4; the vzctl hook, run the way vzctl runs it
// (replaced environment, no arguments, stdin /dev/null), tags a changed container, leaves an
// unchanged one alone, and exits 0 even when ZFS fails.
func TestOpenVZStyleTagAndHook(t *testing.T) {
	vmA.pool(t, "ovz")
	t.Cleanup(func() { vmA.run("rm -rf /etc/vz /var/lib/vz") })
	vmA.must(t, `
zfs create -p ovz/template/debian-7
for v in 1 2 3; do
  dd if=/dev/urandom of=/ovz/template/debian-7/f$v bs=64k count=2 status=none
  zfs-vm tag -n debian-7:$v ovz/template/debian-7
done
zfs create ovz/private
zfs clone -o mountpoint=/var/lib/vz/private/1007 ovz/template/debian-7@zfs-vm:debian-7:3 ovz/private/1007
mkdir -p /etc/vz/conf /etc/vz/names
cat > /etc/vz/vz.conf <<'VZ'
VE_ROOT=/var/lib/vz/root/$VEID
VE_PRIVATE=/var/lib/vz/private/$VEID
VZ
printf 'OSTEMPLATE="debian-7.0-x86_64"\nNAME="web"\n' > /etc/vz/conf/1007.conf
ln -s ../conf/1007.conf /etc/vz/names/web
echo changed > /var/lib/vz/private/1007/etc-motd`)

	out := vmA.must(t, "zfs-vm tag 1007")
	if strings.TrimSpace(out) != "ovz/private/1007@zfs-vm:debian-7:4" {
		t.Fatalf("zfs-vm tag 1007 said %q", out)
	}
	if h := prop(t, vmA, "userrefs", "ovz/private/1007@zfs-vm:debian-7:4"); h != "1" {
		t.Errorf("new version not held: userrefs=%s", h)
	}

	vzctlHook := `env -i VEID=1007 VE_CONFFILE=/etc/vz/conf/1007.conf PATH=/bin:/sbin:/usr/bin:/usr/sbin /usr/libexec/zfs-vm/vzctl-umount </dev/null; echo "rc=$?"`
	snaps := func() string { return vmA.must(t, "zfs list -H -t snapshot -o name -r ovz/private") }
	before := snaps()
	if out := vmA.must(t, vzctlHook); !strings.Contains(out, "rc=0") {
		t.Errorf("hook on an unchanged container: %s", out)
	}
	if after := snaps(); after != before {
		t.Errorf("hook tagged an unchanged container:\n%s", after)
	}

	vmA.must(t, "echo more > /var/lib/vz/private/1007/app.log")
	if out := vmA.must(t, vzctlHook); !strings.Contains(out, "rc=0") {
		t.Errorf("hook on a changed container: %s", out)
	}
	if after := snaps(); !strings.Contains(after, "ovz/private/1007@zfs-vm:debian-7:5") {
		t.Errorf("hook did not tag the changed container:\n%s", after)
	}
	if out := vmA.must(t, "zfs-vm tag web"); !strings.Contains(out, "unchanged since ovz/private/1007@zfs-vm:debian-7:5") {
		t.Errorf("tag by container name: %s", out)
	}

	// ZFS failing (pool exported): the container stop must still succeed.
	vmA.must(t, "echo again > /var/lib/vz/private/1007/app.log; zpool export ovz")
	defer vmA.run("zpool import -d /var/tmp ovz")
	if out := vmA.must(t, vzctlHook); !strings.Contains(out, "rc=0") {
		t.Errorf("hook with ZFS failing: %s", out)
	}
	journal := vmA.must(t, "journalctl -t zfs-vm --no-pager -o cat -n 20")
	if !strings.Contains(journal, "hook vzctl") || !strings.Contains(journal, "1007") {
		t.Errorf("the hook's failure is not in the journal:\n%s", journal)
	}
}

// TestLXCPostStopHookTags: a real LXC container (busybox template, ZFS backing store) with
// the post-stop hook is tagged when it stops; an lxc-copy snapshot clone, whose origin is a
// foreign snapshot, is tagged on stop with its streamline detected; a tagged origin survives lxc-destroy of a
// clone of it.
func TestLXCPostStopHookTags(t *testing.T) {
	vmA.pool(t, "lxcp")
	t.Cleanup(func() {
		vmA.run("for c in web1 web2 web3; do lxc-stop -k -n $c 2>/dev/null || true; rm -rf /var/lib/lxc/$c; done")
	})
	vmA.must(t, `
zfs create lxcp/lxc
printf 'lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\nlxc.hook.post-stop = /usr/libexec/zfs-vm/lxc-hook\n' > /etc/lxc/default.conf
lxc-create -q -n web1 -t busybox -B zfs --zfsroot=lxcp/lxc
grep -q 'lxc.rootfs.path = zfs:lxcp/lxc/web1' /var/lib/lxc/web1/config`)
	if out := vmA.must(t, "zfs-vm tag -n bb:1 web1"); strings.TrimSpace(out) != "lxcp/lxc/web1@zfs-vm:bb:1" {
		t.Fatalf("tag by LXC name: %q", out)
	}
	vmA.must(t, `
lxc-start -n web1
lxc-wait -n web1 -s RUNNING -t 60
lxc-attach -n web1 -- sh -c 'echo hello > /root/hello'
lxc-stop -n web1 -t 30`)
	snaps := vmA.must(t, "zfs list -H -t snapshot -o name,userrefs -r lxcp")
	if !strings.Contains(snaps, "lxcp/lxc/web1@zfs-vm:bb:2\t1") {
		t.Fatalf("the post-stop hook did not tag web1 as bb:2 (held):\n%s\njournal:\n%s", snaps,
			vmA.must(t, "journalctl -t zfs-vm --no-pager -o cat -n 10"))
	}

	vmA.must(t, "lxc-copy -n web1 -N web2 -s")
	if o := prop(t, vmA, "origin", "lxcp/lxc/web2"); !strings.HasPrefix(o, "lxcp/lxc/web1@") || strings.Contains(o, "zfs-vm:") {
		t.Fatalf("lxc-copy -s made origin %q, expected a foreign snapshot", o)
	}
	// The hook walks past the foreign origin to bb:2 and tags the clone as bb:3.
	vmA.must(t, `
lxc-start -n web2
lxc-wait -n web2 -s RUNNING -t 60
lxc-attach -n web2 -- sh -c 'echo web2 > /root/who'
lxc-stop -n web2 -t 30`)
	if out := vmA.must(t, "zfs list -H -t snapshot -o name -r lxcp/lxc/web2"); !strings.Contains(out, "lxcp/lxc/web2@zfs-vm:bb:3") {
		t.Errorf("the lxc-copy clone was not tagged as bb:3 on stop:\n%s", out)
	}
	if out := vmA.must(t, "zfs-vm tag web2"); !strings.Contains(out, "unchanged since lxcp/lxc/web2@zfs-vm:bb:3") {
		t.Errorf("tag of the stopped clone: %q", out)
	}

	vmA.must(t, `
zfs clone lxcp/lxc/web1@zfs-vm:bb:2 lxcp/lxc/web3
mkdir -p /var/lib/lxc/web3
sed 's/web1/web3/g' /var/lib/lxc/web1/config > /var/lib/lxc/web3/config`)
	vmA.run("lxc-destroy -n web3") // fails on the held origin, after destroying web3's dataset
	after := vmA.must(t, "zfs list -H -t all -o name -r lxcp")
	if !strings.Contains(after, "lxcp/lxc/web1@zfs-vm:bb:2") {
		t.Errorf("lxc-destroy of a clone destroyed the tagged origin:\n%s", after)
	}
}
