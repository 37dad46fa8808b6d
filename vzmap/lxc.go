package vzmap

import (
	"path/filepath"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// LXC reads LXC's container configs: <lxcpath>/<name>/config, where lxcpath is /var/lib/lxc
// unless /etc/lxc/lxc.conf sets lxc.lxcpath.
type LXC struct{ Root string }

// Name implements Manager.
func (*LXC) Name() string { return "lxc" }

// Present implements Manager.
func (l *LXC) Present() bool { return exists(l.Root, strings.TrimPrefix(l.lxcpath(), "/")) }

// Where implements Manager.
func (l *LXC) Where() string { return l.lxcpath() + "/<name>/config" }

func (l *LXC) lxcpath() string {
	b, _ := readFile(l.Root, "etc/lxc/lxc.conf")
	if v := parseLXCConfig(b)["lxc.lxcpath"]; v != "" {
		return strings.TrimRight(v, "/")
	}
	return "/var/lib/lxc"
}

// Lookup implements Manager.
func (l *LXC) Lookup(_ *zfs.Inventory, name string) (*Container, error) {
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return nil, nil
	}
	conf := filepath.Join(l.lxcpath(), name, "config")
	b, err := readFile(l.Root, strings.TrimPrefix(conf, "/"))
	if err != nil || b == nil {
		return nil, err
	}
	cfg := parseLXCConfig(b)
	rootfs := cfg["lxc.rootfs.path"]
	if rootfs == "" {
		rootfs = cfg["lxc.rootfs"] // LXC 2.x key
	}
	c := &Container{Manager: "lxc", ID: name, Config: conf}
	switch {
	case strings.HasPrefix(rootfs, "zfs:"):
		c.Dataset = strings.TrimPrefix(rootfs, "zfs:")
	case strings.HasPrefix(rootfs, "dir:"):
		c.Path = strings.TrimPrefix(rootfs, "dir:")
	case strings.HasPrefix(rootfs, "/"):
		c.Path = rootfs
	case rootfs == "":
		c.Path = filepath.Join(l.lxcpath(), name, "rootfs")
	default:
		c.Path = rootfs // another backing store; ContainerDataset says it is not on ZFS
	}
	return c, nil
}

// parseLXCConfig reads "key = value" lines; the last value of a key wins.
func parseLXCConfig(b []byte) map[string]string {
	cfg := map[string]string{}
	for _, kv := range settings(b, "=", nil) {
		cfg[kv[0]] = kv[1]
	}
	return cfg
}
