// Package vzmap maps container IDs to the ZFS datasets behind them, for OpenVZ (legacy and
// 7), LXC, Proxmox pct and FreeBSD jails, so that `zfs-vm tag 1007` finds tank/vz/private/1007.
//
// Each container manager is a Manager that reads its own configuration files (under a root
// directory, "/" on a real host, a fixture tree in tests). Resolver tries them in a fixed
// order and turns the container's configured path or dataset into a dataset of the inventory.
package vzmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Container is what a manager's configuration says about one container.
type Container struct {
	Manager string // "openvz", "lxc", "pve" or "jail"
	ID      string // the manager's ID (CTID, name, VMID, jail name)
	Name    string // a second name, where the manager has one
	// Dataset is the root dataset where the configuration names it (LXC "zfs:", Proxmox).
	Dataset string
	// Path is the container's root or private directory where the configuration gives a
	// path instead.
	Path string
	// Config is the file the container was found in.
	Config string
	// Template is set where the manager marks the container as a template (Proxmox).
	Template bool
}

// Manager reads one container manager's configuration.
type Manager interface {
	// Name is the manager's --type name.
	Name() string
	// Present reports whether the manager is installed on this host (its configuration
	// directory exists).
	Present() bool
	// Lookup finds container id (or name). It returns (nil, nil) when the manager does not
	// know it. inv lets managers that keep no configuration (iocage, bastille) look at
	// dataset names.
	Lookup(inv *zfs.Inventory, id string) (*Container, error)
	// Where describes what Lookup looks at, for "not found" messages.
	Where() string
}

// Managers returns every supported manager reading configuration under root, in the order
// Resolver tries them: OpenVZ, LXC, Proxmox, jails.
func Managers(root string) []Manager {
	return []Manager{&OpenVZ{Root: root}, &LXC{Root: root}, &PVE{Root: root}, &Jail{Root: root}}
}

// Resolver maps a tag argument to a dataset: a dataset name or mountpoint path first (as
// without any container manager), then a container ID of the managers present.
type Resolver struct {
	Managers []Manager
	// Type, when set, is the only manager asked (--type), present or not.
	Type string
}

// NotFoundError is an argument that is neither a dataset, a mountpoint nor a known container.
type NotFoundError struct {
	Arg    string
	Looked []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s is not a dataset, a mountpoint or a container ID (looked at: %s)", e.Arg, strings.Join(e.Looked, "; "))
}

// AmbiguousError is an ID that more than one manager knows.
type AmbiguousError struct {
	Arg        string
	Containers []*Container
}

func (e *AmbiguousError) Error() string {
	var l []string
	for _, c := range e.Containers {
		l = append(l, fmt.Sprintf("%s (%s)", c.Manager, c.Config))
	}
	return fmt.Sprintf("container %s is known to %s; choose one with --type", e.Arg, strings.Join(l, " and "))
}

// FindContainer returns the container that arg names, asking the managers in order.
func (r *Resolver) FindContainer(inv *zfs.Inventory, arg string) (*Container, error) {
	var found []*Container
	var looked []string
	for _, m := range r.Managers {
		if r.Type != "" && m.Name() != r.Type {
			continue
		}
		if r.Type == "" && !m.Present() {
			continue
		}
		looked = append(looked, m.Where())
		c, err := m.Lookup(inv, arg)
		if err != nil {
			return nil, fmt.Errorf("%s container %s: %w", m.Name(), arg, err)
		}
		if c != nil {
			found = append(found, c)
		}
	}
	if r.Type != "" && len(looked) == 0 {
		return nil, fmt.Errorf("--type %q: use openvz, lxc, pve or jail", r.Type)
	}
	switch len(found) {
	case 0:
		return nil, &NotFoundError{Arg: arg, Looked: looked}
	case 1:
		return found[0], nil
	}
	return nil, &AmbiguousError{Arg: arg, Containers: found}
}

// Resolve returns the dataset that arg names.
func (r *Resolver) Resolve(inv *zfs.Inventory, arg string) (*zfs.Dataset, error) {
	if r.Type == "" {
		if strings.HasPrefix(arg, "/") {
			if d := datasetAt(inv, arg, false); d != nil {
				return d, nil
			}
		} else if d := inv.Dataset(arg); d != nil {
			return d, nil
		}
	}
	c, err := r.FindContainer(inv, arg)
	if err != nil {
		if nf := (*NotFoundError)(nil); errors.As(err, &nf) {
			nf.Looked = append([]string{"datasets and their mountpoints"}, nf.Looked...)
		}
		return nil, err
	}
	return ContainerDataset(inv, c)
}

// ContainerDataset returns the dataset behind a container: the one its configuration names,
// else the one mounted at its path (or at the path's parent directory, for managers that
// keep the root filesystem in a subdirectory of a per-container dataset).
func ContainerDataset(inv *zfs.Inventory, c *Container) (*zfs.Dataset, error) {
	if c.Dataset != "" {
		if d := inv.Dataset(c.Dataset); d != nil {
			return d, nil
		}
		return nil, fmt.Errorf("%s container %s: dataset %s (from %s) does not exist", c.Manager, c.ID, c.Dataset, c.Config)
	}
	if d := datasetAt(inv, c.Path, true); d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("%s container %s: its path %s (from %s) is not a ZFS dataset's mountpoint", c.Manager, c.ID, c.Path, c.Config)
}

func datasetAt(inv *zfs.Inventory, path string, orParent bool) *zfs.Dataset {
	path = filepath.Clean(path)
	var parent *zfs.Dataset
	for _, d := range inv.Datasets {
		if d.Mountpoint == "" {
			continue
		}
		mp := filepath.Clean(d.Mountpoint)
		if mp == path {
			return d
		}
		if orParent && mp == filepath.Dir(path) {
			parent = d
		}
	}
	return parent
}

// ManagedElsewhere returns a reason when a dataset belongs to LXD or Incus, which own their
// pools: zfs-vm must not snapshot behind their back.
func ManagedElsewhere(d *zfs.Dataset) string {
	for _, m := range []string{"/lxd/storage-pools/", "/incus/storage-pools/"} {
		if strings.Contains(d.Mountpoint, m) {
			return fmt.Sprintf("%s belongs to %s (mounted at %s); use its own snapshot commands", d.Name, strings.Trim(m[:strings.Index(m[1:], "/")+1], "/"), d.Mountpoint)
		}
	}
	return ""
}

// readFile reads a configuration file below root; a missing file is (nil, nil). A symlink
// with an absolute target (OpenVZ 7's <CTID>.conf -> $VE_PRIVATE/ve.conf) is followed within
// root.
func readFile(root, path string) ([]byte, error) {
	full := filepath.Join(root, path)
	if target, err := os.Readlink(full); err == nil && filepath.IsAbs(target) {
		full = filepath.Join(root, target)
	}
	b, err := os.ReadFile(full)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func exists(root, path string) bool {
	_, err := os.Stat(filepath.Join(root, path))
	return err == nil
}

// settings yields the "key<sep>value" lines of a configuration file, trimmed, skipping blank
// lines, # comments and lines without sep, until stop reports true for a line.
func settings(b []byte, sep string, stop func(line string) bool) [][2]string {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if stop != nil && stop(line) {
			break
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, sep); ok {
			out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return out
}

// unquote strips one pair of matching single or double quotes.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
