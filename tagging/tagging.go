// Package tagging decides which zfs-vm:STREAMLINE:VERSION snapshot a `zfs-vm tag` of a
// dataset should create (Decide, no I/O) and creates it (Apply). Which dataset an argument
// means is the vzmap package's job.
package tagging

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Request is what the user asked for with `-n [name:]version` and `--force`.
type Request struct {
	Streamline string // "" = detect from the dataset's lineage
	Version    uint64 // 0 = next free version
	Force      bool   // tag even if nothing was written since the last version, or below the highest
	// Recursive tags the dataset and all its descendants in one atomic zfs snapshot -r, all
	// under the same name: an image made of a dataset tree.
	Recursive bool
}

// ParseName parses the -n value: "NAME", "NAME:VERSION" or "VERSION". A value of digits only
// is a version of the detected streamline.
func ParseName(v string) (Request, error) {
	if v == "" {
		return Request{}, nil
	}
	name, ver, hasVer := strings.Cut(v, ":")
	explicitName := hasVer
	if !hasVer {
		if _, err := zfs.ParseVersion(v); err == nil {
			name, ver, hasVer = "", v, true
		}
	}
	var r Request
	if explicitName || !hasVer {
		if err := zfs.ValidateStreamline(name); err != nil {
			return Request{}, fmt.Errorf("-n %q: %v", v, err)
		}
		r.Streamline = name
	}
	if hasVer {
		n, err := zfs.ParseVersion(ver)
		if err != nil {
			return Request{}, fmt.Errorf("-n %q: %v", v, err)
		}
		if n == 0 {
			return Request{}, fmt.Errorf("-n %q: versions start at 1", v)
		}
		r.Version = n
	}
	return r, nil
}

// Decision is what tag will do.
type Decision struct {
	Dataset *zfs.Dataset
	Tag     zfs.Tag
	// Unchanged is set when nothing was written since the dataset's newest version and
	// --force was not given: tag then does nothing.
	Unchanged bool
	Since     *zfs.Snapshot // the newest version Unchanged refers to
}

// Decide picks the tag for dataset d. written is the space written to d since its own newest
// zfs-vm snapshot (ignored when it has none).
func Decide(inv *zfs.Inventory, d *zfs.Dataset, req Request, written uint64) (Decision, error) {
	lineage := d.LineageTag()
	name := req.Streamline
	if name == "" {
		if lineage == nil {
			return Decision{}, fmt.Errorf("cannot tell the streamline of %s; use -n NAME[:VERSION]", d.Name)
		}
		name = lineage.Tag.Streamline
	}
	own := d.NewestTagged()
	if !req.Force && own != nil && own.Tag.Streamline == name && req.Version == 0 && written == 0 {
		return Decision{Dataset: d, Tag: own.Tag, Unchanged: true, Since: own}, nil
	}
	version := req.Version
	max, _ := inv.MaxVersion(name)
	if version == 0 {
		// A version pulled from a peer may be the highest there is; the next would wrap to 0.
		if max == math.MaxUint64 {
			return Decision{}, fmt.Errorf("streamline %s is at version %d, the highest there is; tag %s as a new streamline with -n NAME", name, max, d.Name)
		}
		version = max + 1
	}
	tag := zfs.Tag{Streamline: name, Version: version}
	if have := inv.ByTag(tag); len(have) > 0 {
		next := "none: the highest version is taken"
		if max < math.MaxUint64 {
			next = strconv.FormatUint(max+1, 10)
		}
		return Decision{}, fmt.Errorf("version %s already exists: %s (the next free one is %s)", tag, have[0].FullName(), next)
	}
	if lineage != nil && lineage.Tag.Streamline == name && version < lineage.Tag.Version {
		return Decision{}, fmt.Errorf("version %s would be older than %s, which %s descends from; versions rise monotonically", tag, lineage.FullName(), d.Name)
	}
	// An explicit version below the streamline's highest would make "newest" depend on
	// which host is asked; --force is for restoring a numbering on purpose.
	if req.Version != 0 && version < max && !req.Force {
		return Decision{}, fmt.Errorf("version %s is below %s:%d, the streamline's highest on this host; versions rise monotonically (--force tags it anyway)", tag, name, max)
	}
	return Decision{Dataset: d, Tag: tag}, nil
}
