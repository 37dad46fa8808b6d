package zfs

import (
	"fmt"
	"strconv"
	"strings"
)

// TagPrefix starts the name of every snapshot that zfs-vm manages.
const TagPrefix = "zfs-vm:"

// Tag is the version label of a zfs-vm snapshot: the part after '@' in
// fs@zfs-vm:STREAMLINE:VERSION.
type Tag struct {
	Streamline string
	Version    uint64
}

// String returns STREAMLINE:VERSION, the form users type after -n.
func (t Tag) String() string { return t.Streamline + ":" + strconv.FormatUint(t.Version, 10) }

// SnapshotName returns the snapshot name (without the dataset) that carries t.
func (t Tag) SnapshotName() string { return TagPrefix + t.String() }

// ParseTag parses a snapshot name (the part after '@') as a zfs-vm tag. ok is false for
// snapshots that are not zfs-vm's, which callers ignore rather than treat as errors.
func ParseTag(snapName string) (tag Tag, ok bool) {
	rest, found := strings.CutPrefix(snapName, TagPrefix)
	if !found {
		return Tag{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return Tag{}, false
	}
	name, ver := rest[:i], rest[i+1:]
	if ValidateStreamline(name) != nil {
		return Tag{}, false
	}
	v, err := ParseVersion(ver)
	if err != nil {
		return Tag{}, false
	}
	return Tag{Streamline: name, Version: v}, true
}

// ParseVersion parses a version number: decimal digits without a sign or leading zeros, so
// that each version has exactly one snapshot name.
func ParseVersion(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty version")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("version %q is not a decimal number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("version %q has a leading zero", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("version %q is out of range", s)
	}
	return v, nil
}

// maxNameLen is ZFS's limit on a full dataset or snapshot name (ZFS_MAX_DATASET_NAME_LEN - 1).
const maxNameLen = 255

// validNameChar reports whether ZFS accepts c in a dataset or snapshot name component
// (module/zcommon/zfs_namecheck.c: alphanumerics and "-_.: ").
func validNameChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ':' || c == ' '
}

// ValidateStreamline checks a streamline name: non-empty, made of the characters ZFS allows
// in a snapshot name, and without ':' (which separates it from the version).
func ValidateStreamline(name string) error {
	if name == "" {
		return fmt.Errorf("empty streamline name")
	}
	for _, c := range name {
		if c == ':' || !validNameChar(c) {
			return fmt.Errorf("streamline %q: character %q is not allowed (use letters, digits, '-', '_', '.', ' ')", name, c)
		}
	}
	if len(TagPrefix)+len(name)+21 > maxNameLen {
		return fmt.Errorf("streamline %q is too long", name)
	}
	return nil
}

// ValidateDatasetName checks a filesystem or volume name such as "tank/vz/private/1007".
func ValidateDatasetName(name string) error {
	if name == "" {
		return fmt.Errorf("empty dataset name")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("dataset %q: name longer than %d characters", name, maxNameLen)
	}
	for _, comp := range strings.Split(name, "/") {
		if err := validateComponent(comp); err != nil {
			return fmt.Errorf("dataset %q: %v", name, err)
		}
	}
	if c := name[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return fmt.Errorf("dataset %q: a pool name starts with a letter", name)
	}
	return nil
}

// ValidateSnapshotName checks a full snapshot name such as "tank/fs@snap".
func ValidateSnapshotName(full string) error {
	ds, snap, ok := strings.Cut(full, "@")
	if !ok {
		return fmt.Errorf("snapshot %q: no '@'", full)
	}
	if err := ValidateDatasetName(ds); err != nil {
		return fmt.Errorf("snapshot %q: %v", full, err)
	}
	if err := validateComponent(snap); err != nil {
		return fmt.Errorf("snapshot %q: %v", full, err)
	}
	if len(full) > maxNameLen {
		return fmt.Errorf("snapshot %q: name longer than %d characters", full, maxNameLen)
	}
	return nil
}

func validateComponent(c string) error {
	if c == "" {
		return fmt.Errorf("empty component")
	}
	if c == "." || c == ".." {
		return fmt.Errorf("component %q is reserved", c)
	}
	for _, r := range c {
		if !validNameChar(r) {
			return fmt.Errorf("character %q is not allowed", r)
		}
	}
	return nil
}

// SplitSnapshotName splits "fs@snap" into "fs" and "snap".
func SplitSnapshotName(full string) (dataset, snap string, ok bool) {
	return strings.Cut(full, "@")
}

// LastComponent returns the last '/'-separated component of a dataset name.
func LastComponent(dataset string) string {
	return dataset[strings.LastIndexByte(dataset, '/')+1:]
}

// ParentDataset returns the parent of a dataset name, or "" for a pool's root dataset.
func ParentDataset(dataset string) string {
	i := strings.LastIndexByte(dataset, '/')
	if i < 0 {
		return ""
	}
	return dataset[:i]
}
