package vzmap

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// OpenVZ reads vzctl's configuration: /etc/vz/vz.conf, then /etc/vz/conf/<CTID>.conf, whose
// VE_PRIVATE locates the container's private area. It covers legacy vzctl 4.x (integer CTIDs,
// names through /etc/vz/names/) and OpenVZ 7 (UUID CTIDs, <CTID>.conf a symlink to
// $VE_PRIVATE/ve.conf).
type OpenVZ struct{ Root string }

// Name implements Manager.
func (*OpenVZ) Name() string { return "openvz" }

// Present implements Manager.
func (o *OpenVZ) Present() bool { return exists(o.Root, "etc/vz/conf") }

// Where implements Manager.
func (o *OpenVZ) Where() string { return "/etc/vz/conf/<CTID>.conf and /etc/vz/names/" }

// defaultPrivate is vzctl's built-in VE_PRIVATE when no configuration sets it.
const defaultPrivate = "/vz/private/$VEID"

var ctidPattern = regexp.MustCompile(`^(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$`)

// Lookup implements Manager: id is a CTID or a container NAME.
func (o *OpenVZ) Lookup(_ *zfs.Inventory, id string) (*Container, error) {
	ctid := id
	if !ctidPattern.MatchString(id) {
		// A name: vzctl links /etc/vz/names/<name> to the container's config file.
		if strings.ContainsAny(id, "/") || id == "." || id == ".." {
			return nil, nil
		}
		target, err := os.Readlink(filepath.Join(o.Root, "etc/vz/names", id))
		if err != nil {
			return o.lookupByNameField(id)
		}
		ctid = strings.TrimSuffix(filepath.Base(target), ".conf")
	}
	conf := filepath.Join("etc/vz/conf", ctid+".conf")
	ct, err := readFile(o.Root, conf)
	if err != nil || ct == nil {
		return nil, err
	}
	global, err := readFile(o.Root, "etc/vz/vz.conf")
	if err != nil {
		return nil, err
	}
	vars := parseShellVars(global)
	for k, v := range parseShellVars(ct) {
		vars[k] = v
	}
	private, ok := vars["VE_PRIVATE"]
	if !ok {
		private = defaultPrivate
		// OpenVZ 7: the config is a symlink into the private area (…/ve.conf).
		if target, err := os.Readlink(filepath.Join(o.Root, conf)); err == nil && filepath.Base(target) == "ve.conf" {
			private = filepath.Dir(target)
		}
	}
	return &Container{Manager: "openvz", ID: ctid, Name: vars["NAME"], Path: expandVEID(private, ctid), Config: "/" + conf}, nil
}

// lookupByNameField finds a container whose config has NAME=id, for hosts where the
// /etc/vz/names link is missing.
func (o *OpenVZ) lookupByNameField(name string) (*Container, error) {
	entries, err := os.ReadDir(filepath.Join(o.Root, "etc/vz/conf"))
	if err != nil {
		return nil, nil
	}
	for _, e := range entries {
		ctid, ok := strings.CutSuffix(e.Name(), ".conf")
		if !ok || !ctidPattern.MatchString(ctid) {
			continue
		}
		b, err := readFile(o.Root, filepath.Join("etc/vz/conf", e.Name()))
		if err == nil && parseShellVars(b)["NAME"] == name {
			return o.Lookup(nil, ctid)
		}
	}
	return nil, nil
}

// expandVEID substitutes $VEID and ${VEID} and strips trailing slashes, and expands nothing
// else, as vzctl does.
func expandVEID(v, ctid string) string {
	v = strings.ReplaceAll(v, "${VEID}", ctid)
	v = strings.ReplaceAll(v, "$VEID", ctid)
	for len(v) > 1 && strings.HasSuffix(v, "/") {
		v = strings.TrimSuffix(v, "/")
	}
	return v
}

// parseShellVars reads KEY="value" lines (vz.conf style); comments and other lines are
// skipped.
func parseShellVars(b []byte) map[string]string {
	vars := map[string]string{}
	for _, kv := range settings(b, "=", nil) {
		k, v := kv[0], kv[1]
		if !isShellName(k) {
			continue
		}
		if len(v) > 0 && v[0] != '"' && v[0] != '\'' {
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
		}
		vars[k] = unquote(v)
	}
	return vars
}

func isShellName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
