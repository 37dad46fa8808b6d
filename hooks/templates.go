package hooks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zfs-vm/zfs-vm/tagging"
	"github.com/zfs-vm/zfs-vm/vzmap"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// Templates tags each template of [hooks] templates that was written since its newest
// version: templates updated in place (package updates in a chroot, a template refresh)
// whose container never stops. The systemd timer zfs-vm-tag-templates runs it.
//
// What it costs when nothing changed: one `zpool sync` (so that `written` counts what is in
// flight), one listing of datasets, one listing of the templates' own snapshots (and their
// origin chains'), and, only for a template whose newest snapshot is not its newest version
// (a foreign one such as an hourly), one `zfs get written@VERSION`. A template whose dataset
// shows nothing written since its newest snapshot, that being its newest version, needs no
// command of its own.
//
// An entry is a container ID or name, a dataset or a mountpoint (as for `zfs-vm tag`). It
// returns one line per template done; the error names those that failed, the others are
// still tagged. A dataset of a template's lineage renamed or destroyed between the two
// listings gets the host read again, once.
func (r *Runner) Templates(ctx context.Context) ([]string, error) {
	if r.Config.HookMode() == "off" {
		return []string{"nothing to do: hooks.tag is off"}, nil
	}
	if len(r.Config.Hooks.Templates) == 0 {
		return []string{"nothing to do: no templates in [hooks] templates"}, nil
	}
	if r.LockDir != "" {
		// The timer's tags take turns with the hooks' and tag's (see Run), or two could
		// pick the same version.
		l, err := tagging.Lock(ctx, r.LockDir, tagging.LockWait)
		if err != nil {
			return nil, err
		}
		defer l.Release()
	}
	if err := r.Host.Run(ctx, "zpool", "sync"); err != nil {
		return nil, err
	}
	var inv *zfs.Inventory
	var ds []*zfs.Dataset
	var errs []error
	err := zfs.ReadAgainIfVanished(ctx, r.Log, func() (err error) {
		inv, ds, errs, err = r.readTemplates(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	var lines []string
	for i, t := range r.Config.Hooks.Templates {
		if ds[i] == nil {
			continue
		}
		line, err := r.template(ctx, inv, t, ds[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("template %s (%s): %w", t, ds[i].Name, err))
			continue
		}
		lines = append(lines, line)
	}
	return lines, joinErrors(errs, len(r.Config.Hooks.Templates))
}

// readTemplates lists the host's datasets, resolves each template to its dataset (nil, and an
// error in errs, for one that does not resolve) and lists the snapshots of their lineages.
func (r *Runner) readTemplates(ctx context.Context) (inv *zfs.Inventory, ds []*zfs.Dataset, errs []error, err error) {
	inv, err = r.Host.ListDatasets(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	resolver := &vzmap.Resolver{Managers: r.Managers}
	for _, t := range r.Config.Hooks.Templates {
		d, err := resolver.Resolve(inv, t)
		if err == nil {
			if why := vzmap.ManagedElsewhere(d); why != "" {
				err = errors.New(why)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("template %s: %w", t, err))
			ds = append(ds, nil)
			continue
		}
		ds = append(ds, d)
	}
	if err := r.Host.ListLineage(ctx, inv, nonNil(ds)...); err != nil {
		return nil, nil, nil, err
	}
	return inv, ds, errs, nil
}

// joinErrors makes one line of the templates' errors (nil when there are none).
func joinErrors(errs []error, of int) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%d of %d templates failed: %s", len(errs), of, strings.Join(msgs, "; "))
}

// template tags one template's dataset d if it changed.
func (r *Runner) template(ctx context.Context, inv *zfs.Inventory, name string, d *zfs.Dataset) (string, error) {
	own := d.NewestTagged()
	if own != nil && d.Newest() == own && d.Written == 0 && !r.recursive(own, name) {
		// The pool was synced before the listing: nothing written since this version.
		return fmt.Sprintf("template %s (%s): unchanged since %s", name, d.Name, own.FullName()), nil
	}
	if own == nil && d.LineageTag() == nil {
		return "", fmt.Errorf("it belongs to no streamline (tag it once by hand: zfs-vm tag -n NAME %s)", d.Name)
	}
	res, err := tagging.Apply(ctx, r.Host, inv, d, tagging.Request{Recursive: r.recursive(d.LineageTag(), name)})
	if err != nil {
		return "", err
	}
	if res.Unchanged {
		return fmt.Sprintf("template %s (%s): unchanged since %s", name, d.Name, res.Since.FullName()), nil
	}
	inv.NoteCreated(res.Snapshot)
	return fmt.Sprintf("template %s: tagged %s", name, res.Snapshot), nil
}

func nonNil(ds []*zfs.Dataset) []*zfs.Dataset {
	var out []*zfs.Dataset
	for _, d := range ds {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}
