// Package hooks holds the entry points that container managers call when a container stops:
// vzctl's umount action script, LXC's post-stop hook, a jail's exec.poststop and a Proxmox
// hookscript. Each turns the manager's calling convention into an Event; Runner then tags
// the container's dataset when the configuration selects it and it changed.
//
// Hooks never make the container manager fail: the CLI logs what went wrong and exits 0.
package hooks

import (
	"context"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/zfs-vm/zfs-vm/config"
	"github.com/zfs-vm/zfs-vm/tagging"
	"github.com/zfs-vm/zfs-vm/vzmap"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// Event is one call of a hook.
type Event struct {
	Manager string // vzmap manager name: openvz, lxc, jail or pve
	ID      string // the container
	// Skip, when set, is why this call tags nothing (a reboot, a phase other than post-stop).
	Skip string
}

// FromVzctl reads vzctl's calling convention: no arguments, the container in $VEID (vzctl
// replaces the environment).
func FromVzctl(getenv func(string) string) (Event, error) {
	id := getenv("VEID")
	if id == "" {
		return Event{}, fmt.Errorf("vzctl hook: VEID is not set")
	}
	return Event{Manager: "openvz", ID: id}, nil
}

// FromLXC reads LXC's: arguments "<name> lxc post-stop", LXC_NAME and LXC_TARGET (stop or
// reboot) in the environment. A reboot is not a stop.
func FromLXC(args []string, getenv func(string) string) (Event, error) {
	name := getenv("LXC_NAME")
	if name == "" && len(args) > 0 {
		name = args[0]
	}
	if name == "" {
		return Event{}, fmt.Errorf("lxc hook: no container name (LXC_NAME or first argument)")
	}
	ev := Event{Manager: "lxc", ID: name}
	if len(args) >= 3 && args[2] != "post-stop" {
		ev.Skip = "hook type " + args[2] + " is not post-stop"
	}
	if getenv("LXC_TARGET") == "reboot" {
		ev.Skip = "container is rebooting"
	}
	return ev, nil
}

// FromJail reads a jail's exec.poststop: the jail name as the only argument.
func FromJail(args []string) (Event, error) {
	if len(args) != 1 || args[0] == "" {
		return Event{}, fmt.Errorf("jail hook: want the jail name as the only argument (exec.poststop += \"... $name\")")
	}
	return Event{Manager: "jail", ID: args[0]}, nil
}

// FromPVE reads a Proxmox hookscript call: "<vmid> <phase>"; only post-stop tags.
func FromPVE(args []string) (Event, error) {
	if len(args) < 2 {
		return Event{}, fmt.Errorf("proxmox hook: want <vmid> <phase>")
	}
	ev := Event{Manager: "pve", ID: args[0]}
	if args[1] != "post-stop" {
		ev.Skip = "phase " + args[1] + " is not post-stop"
	}
	return ev, nil
}

// Selected tells whether the configuration has the hooks tag this container, whose dataset
// descends from lineage (nil when it belongs to no streamline), and why.
func Selected(cfg *config.Config, ct *vzmap.Container, lineage *zfs.Snapshot) (bool, string) {
	mode := cfg.HookMode()
	if mode == "off" {
		return false, "hooks.tag is off"
	}
	named := func(list []string) bool {
		return slices.Contains(list, ct.ID) || ct.Name != "" && slices.Contains(list, ct.Name)
	}
	switch {
	case ct.Template || named(cfg.Hooks.Templates):
		return true, "it is a template"
	case named(cfg.Hooks.Containers):
		return true, "it is listed in hooks.containers"
	case lineage != nil && slices.Contains(cfg.Hooks.Streamlines, lineage.Tag.Streamline):
		return true, "its streamline " + lineage.Tag.Streamline + " is listed in hooks.streamlines"
	case mode == "lineage" && lineage != nil:
		return true, "it belongs to streamline " + lineage.Tag.Streamline
	case mode == "lineage":
		return false, "it belongs to no streamline (tag it once by hand to start one)"
	}
	return false, "it is not selected in [hooks]"
}

// Runner tags the container of an Event.
type Runner struct {
	Host     *zfs.Host
	Config   *config.Config
	Managers []vzmap.Manager
	Log      logrus.FieldLogger
	// LockDir, when set, is where the host's tagging lock is taken (see tagging.Lock).
	LockDir string
}

// Run handles one event and returns what it did, in one line.
func (r *Runner) Run(ctx context.Context, ev Event) (string, error) {
	if ev.Skip != "" {
		return fmt.Sprintf("%s %s: nothing to do: %s", ev.Manager, ev.ID, ev.Skip), nil
	}
	if r.LockDir != "" {
		// Hooks of containers stopping together (host shutdown) take turns, as tags do.
		l, err := tagging.Lock(ctx, r.LockDir, tagging.LockWait)
		if err != nil {
			return "", err
		}
		defer l.Release()
	}
	// Datasets, then the snapshots of the container's origin chain; the names of its
	// lineage's versions only if a new one is made (tagging.Apply): a stop never waits on
	// a listing of the whole pool's snapshots.
	inv, err := r.Host.ListDatasets(ctx)
	if err != nil {
		return "", err
	}
	resolver := &vzmap.Resolver{Managers: r.Managers, Type: ev.Manager}
	ct, err := resolver.FindContainer(inv, ev.ID)
	if err != nil {
		return "", err
	}
	ds, err := vzmap.ContainerDataset(inv, ct)
	if err != nil {
		return "", err
	}
	if err := r.Host.ListLineage(ctx, inv, ds); err != nil {
		return "", err
	}
	ok, why := Selected(r.Config, ct, ds.LineageTag())
	if !ok {
		return fmt.Sprintf("%s %s (%s): not tagged: %s", ev.Manager, ev.ID, ds.Name, why), nil
	}
	recursive := r.recursive(ds.LineageTag(), ct.ID, ct.Name)
	res, err := tagging.Apply(ctx, r.Host, inv, ds, tagging.Request{Recursive: recursive})
	if err != nil {
		return "", fmt.Errorf("%s %s (%s): %w", ev.Manager, ev.ID, ds.Name, err)
	}
	if res.Unchanged {
		return fmt.Sprintf("%s %s (%s): unchanged since %s", ev.Manager, ev.ID, ds.Name, res.Since.FullName()), nil
	}
	return fmt.Sprintf("%s %s: tagged %s (%s)", ev.Manager, ev.ID, res.Snapshot, why), nil
}

// recursive tells whether [hooks] recursive names the container (by any of names) or the
// streamline of lineage.
func (r *Runner) recursive(lineage *zfs.Snapshot, names ...string) bool {
	for _, n := range names {
		if n != "" && slices.Contains(r.Config.Hooks.Recursive, n) {
			return true
		}
	}
	return lineage != nil && slices.Contains(r.Config.Hooks.Recursive, lineage.Tag.Streamline)
}
