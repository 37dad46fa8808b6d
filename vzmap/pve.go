package vzmap

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// PVE reads Proxmox VE's container configs, /etc/pve/lxc/<VMID>.conf, and the storage
// definitions in /etc/pve/storage.cfg that turn "local-zfs:subvol-101-disk-0" into a dataset.
type PVE struct{ Root string }

// Name implements Manager.
func (*PVE) Name() string { return "pve" }

// Present implements Manager.
func (p *PVE) Present() bool { return exists(p.Root, "etc/pve/lxc") }

// Where implements Manager.
func (p *PVE) Where() string { return "/etc/pve/lxc/<VMID>.conf" }

var vmidPattern = regexp.MustCompile(`^[0-9]+$`)

// Lookup implements Manager: id is a VMID.
func (p *PVE) Lookup(_ *zfs.Inventory, id string) (*Container, error) {
	if !vmidPattern.MatchString(id) {
		return nil, nil
	}
	conf := "/etc/pve/lxc/" + id + ".conf"
	b, err := readFile(p.Root, strings.TrimPrefix(conf, "/"))
	if err != nil || b == nil {
		return nil, err
	}
	cfg := parsePVEConfig(b)
	c := &Container{Manager: "pve", ID: id, Name: cfg["hostname"], Config: conf, Template: cfg["template"] == "1"}
	rootfs := cfg["rootfs"]
	if rootfs == "" {
		return nil, fmt.Errorf("%s has no rootfs", conf)
	}
	volume, _, _ := strings.Cut(rootfs, ",")
	storage, volname, ok := strings.Cut(volume, ":")
	if !ok {
		// A bind-mounted directory as the root filesystem.
		c.Path = volume
		return c, nil
	}
	pool, err := p.zfsPool(storage)
	if err != nil {
		return nil, err
	}
	c.Dataset = pool + "/" + volname
	return c, nil
}

// zfsPool returns the dataset of a zfspool storage from storage.cfg.
func (p *PVE) zfsPool(storage string) (string, error) {
	b, err := readFile(p.Root, "etc/pve/storage.cfg")
	if err != nil {
		return "", err
	}
	var typ, name string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			t, n, _ := strings.Cut(trimmed, ":")
			typ, name = strings.TrimSpace(t), strings.TrimSpace(n)
			found = found || name == storage
			continue
		}
		k, v, _ := strings.Cut(trimmed, " ")
		if name == storage && typ == "zfspool" && k == "pool" {
			return strings.TrimSpace(v), nil
		}
	}
	if !found {
		return "", fmt.Errorf("storage %q is not defined in /etc/pve/storage.cfg", storage)
	}
	return "", fmt.Errorf("storage %q is not a zfspool storage in /etc/pve/storage.cfg", storage)
}

// parsePVEConfig reads "key: value" lines up to the first [snapshot] section, which
// describes snapshots rather than the container as it is.
func parsePVEConfig(b []byte) map[string]string {
	cfg := map[string]string{}
	inSnapshot := func(line string) bool { return strings.HasPrefix(line, "[") }
	for _, kv := range settings(b, ":", inSnapshot) {
		cfg[kv[0]] = kv[1]
	}
	return cfg
}
