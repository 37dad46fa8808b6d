package vzmap

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

func TestManagersLookup(t *testing.T) {
	jls := func() ([]byte, error) { return os.ReadFile("testdata/jail/jls.json") }
	inv := zfstest.Inventory(t, "zroot -", "zroot/iocage/jails/web9/root /zroot/iocage/jails/web9/root",
		"zroot/bastille/jails/proxy/root /usr/local/bastille/jails/proxy/root")
	cases := []struct {
		m    Manager
		id   string
		want string // "path=... " or "dataset=..." plus name, or "" for not found, "!err" for an error
	}{
		// OpenVZ legacy: global VE_PRIVATE with $VEID, names, ${VEID} and a trailing slash,
		// quoted values with spaces, unquoted values with comments.
		{&OpenVZ{Root: "testdata/openvz"}, "1007", "path=/var/lib/vz/private/1007 name=web"},
		{&OpenVZ{Root: "testdata/openvz"}, "web", "path=/var/lib/vz/private/1007 name=web"},
		{&OpenVZ{Root: "testdata/openvz"}, "1008", "path=/vz/private/1008 name="},
		{&OpenVZ{Root: "testdata/openvz"}, "1009", "path=/srv/ct space/1009 name=db"},
		{&OpenVZ{Root: "testdata/openvz"}, "db", "path=/srv/ct space/1009 name=db"},
		{&OpenVZ{Root: "testdata/openvz"}, "4242", ""},
		{&OpenVZ{Root: "testdata/openvz"}, "../vz", ""},
		// OpenVZ 7: UUID CTIDs whose conf is a symlink into the private area.
		{&OpenVZ{Root: "testdata/openvz7"}, "7b3a1c2e-5d4f-4e6a-9b8c-0123456789ab", "path=/vz/private/7b3a1c2e-5d4f-4e6a-9b8c-0123456789ab name=app7"},
		{&OpenVZ{Root: "testdata/openvz7"}, "app7", "path=/vz/private/7b3a1c2e-5d4f-4e6a-9b8c-0123456789ab name=app7"},
		// LXC: lxcpath from lxc.conf, zfs: rootfs, legacy lxc.rootfs, dir: prefix.
		{&LXC{Root: "testdata/lxc"}, "web1", "dataset=tank/lxc/web1 name="},
		{&LXC{Root: "testdata/lxc"}, "old", "path=/srv/lxc/old/rootfs name="},
		{&LXC{Root: "testdata/lxc"}, "dirct", "path=/srv/lxc/dirct/rootfs name="},
		{&LXC{Root: "testdata/lxc"}, "nope", ""},
		// Proxmox: storage.cfg's pool, [snapshot] sections ignored, templates marked.
		{&PVE{Root: "testdata/pve"}, "101", "dataset=rpool/data/subvol-101-disk-0 name=web101"},
		{&PVE{Root: "testdata/pve"}, "102", "dataset=rpool/data/basevol-102-disk-0 name=tmpl-debian template"},
		{&PVE{Root: "testdata/pve"}, "103", "!storage \"local\" is not a zfspool storage"},
		{&PVE{Root: "testdata/pve"}, "web101", ""},
		// Jails: global path with $name, per-jail path with variables, jail.conf.d, jls,
		// iocage (also by its ioc- kernel name) and bastille datasets.
		{&Jail{Root: "testdata/jail", JLS: jls}, "www", "path=/usr/local/jails/www name="},
		{&Jail{Root: "testdata/jail", JLS: jls}, "db", "path=/jails/db-root name="},
		{&Jail{Root: "testdata/jail", JLS: jls}, "mail", "path=/usr/local/jails/containers/mail name="},
		{&Jail{Root: "testdata/jail", JLS: jls}, "running1", "path=/jails/running1 name="},
		{&Jail{Root: "testdata/jail", JLS: jls}, "web9", "dataset=zroot/iocage/jails/web9/root name="},
		{&Jail{Root: "testdata/jail", JLS: jls}, "ioc-web9", "dataset=zroot/iocage/jails/web9/root name="},
		{&Jail{Root: "testdata/jail", JLS: jls}, "proxy", "dataset=zroot/bastille/jails/proxy/root name="},
		{&Jail{Root: "testdata/jail", JLS: jls}, "ghost", ""},
	}
	for _, c := range cases {
		got := ""
		ct, err := c.m.Lookup(inv, c.id)
		switch {
		case err != nil:
			got = "!" + err.Error()
		case ct != nil && ct.Dataset != "":
			got = "dataset=" + ct.Dataset + " name=" + ct.Name
		case ct != nil:
			got = "path=" + ct.Path + " name=" + ct.Name
		}
		if ct != nil && ct.Template {
			got += " template"
		}
		if strings.HasPrefix(c.want, "!") {
			if !strings.Contains(got, c.want[1:]) {
				t.Errorf("%s %s: got %q, want error %q", c.m.Name(), c.id, got, c.want[1:])
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s %s: got %q, want %q", c.m.Name(), c.id, got, c.want)
		}
	}
}

func TestResolver(t *testing.T) {
	inv := zfstest.Inventory(t,
		"tank /tank",
		"tank/vz /var/lib/vz",
		"tank/vz/private/1007 /var/lib/vz/private/1007",
		"tank/lxc -",
		"tank/lxc/web1 /srv/lxc/web1/rootfs",
		"tank/lxc/dirct /srv/lxc/dirct",
	)
	r := &Resolver{Managers: []Manager{&OpenVZ{Root: "testdata/openvz"}, &LXC{Root: "testdata/lxc"}}}
	for arg, want := range map[string]string{
		"tank/vz/private/1007":     "tank/vz/private/1007", // a dataset keeps working
		"/var/lib/vz/private/1007": "tank/vz/private/1007", // so does a mountpoint
		"1007":                     "tank/vz/private/1007", // OpenVZ CTID
		"web":                      "tank/vz/private/1007", // OpenVZ name
		"web1":                     "tank/lxc/web1",        // LXC zfs: rootfs
		"dirct":                    "tank/lxc/dirct",       // rootfs directory inside the container's dataset
	} {
		d, err := r.Resolve(inv, arg)
		if err != nil || d == nil || d.Name != want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", arg, d, err, want)
		}
	}

	_, err := r.Resolve(inv, "1008") // configured, but its private area is not a dataset
	if err == nil || !strings.Contains(err.Error(), "openvz container 1008: its path /vz/private/1008 (from /etc/vz/conf/1008.conf) is not a ZFS dataset's mountpoint") {
		t.Errorf("1008: %v", err)
	}
	_, err = r.Resolve(inv, "nothing")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "datasets and their mountpoints; /etc/vz/conf/<CTID>.conf and /etc/vz/names/; /srv/lxc/<name>/config") {
		t.Errorf("not found: %v", err)
	}
	_, err = (&Resolver{Managers: r.Managers, Type: "lxc"}).Resolve(inv, "1007")
	if !errors.As(err, &nf) {
		t.Errorf("--type lxc 1007: %v", err)
	}
	_, err = (&Resolver{Managers: r.Managers, Type: "docker"}).Resolve(inv, "1007")
	if err == nil || !strings.Contains(err.Error(), `--type "docker"`) {
		t.Errorf("--type docker: %v", err)
	}
}

func TestResolverAmbiguous(t *testing.T) {
	inv := zfstest.Inventory(t, "rpool -", "rpool/data -", "rpool/data/subvol-101-disk-0 /rpool/data/subvol-101-disk-0",
		"tank -", "tank/lxc -", "tank/lxc/101 /srv/lxc/101/rootfs")
	dir := t.TempDir()
	os.MkdirAll(dir+"/etc/pve/lxc", 0o755)
	os.MkdirAll(dir+"/var/lib/lxc/101", 0o755)
	copyFile(t, "testdata/pve/etc/pve/lxc/101.conf", dir+"/etc/pve/lxc/101.conf")
	copyFile(t, "testdata/pve/etc/pve/storage.cfg", dir+"/etc/pve/storage.cfg")
	os.WriteFile(dir+"/var/lib/lxc/101/config", []byte("lxc.rootfs.path = zfs:tank/lxc/101\n"), 0o644)
	r := &Resolver{Managers: Managers(dir)}
	_, err := r.Resolve(inv, "101")
	var amb *AmbiguousError
	if !errors.As(err, &amb) || !strings.Contains(err.Error(), "container 101 is known to lxc (/var/lib/lxc/101/config) and pve (/etc/pve/lxc/101.conf); choose one with --type") {
		t.Fatalf("got %v", err)
	}
	d, err := (&Resolver{Managers: Managers(dir), Type: "pve"}).Resolve(inv, "101")
	if err != nil || d.Name != "rpool/data/subvol-101-disk-0" {
		t.Errorf("--type pve: %v %v", d, err)
	}
}

func TestManagedElsewhere(t *testing.T) {
	inv := zfstest.Inventory(t, "default -", "default/containers/c1 /var/snap/lxd/common/lxd/storage-pools/default/containers/c1",
		"tank -", "tank/ct /tank/ct")
	if why := ManagedElsewhere(inv.Dataset("default/containers/c1")); !strings.Contains(why, "belongs to lxd") {
		t.Errorf("LXD dataset not refused: %q", why)
	}
	if why := ManagedElsewhere(inv.Dataset("tank/ct")); why != "" {
		t.Errorf("plain dataset refused: %q", why)
	}
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseJailConf(f *testing.F) {
	b, _ := os.ReadFile("testdata/jail/etc/jail.conf")
	f.Add(string(b), "www")
	f.Add(`a { path = "x`, "a")
	f.Fuzz(func(t *testing.T, conf, name string) {
		jailConfPath(conf, name) // must not panic or hang
	})
}
