package hooks

import (
	"testing"

	"github.com/zfs-vm/zfs-vm/config"
	"github.com/zfs-vm/zfs-vm/vzmap"
	"github.com/zfs-vm/zfs-vm/zfs"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEvents(t *testing.T) {
	cases := []struct {
		name string
		ev   func() (Event, error)
		want Event
		err  bool
	}{
		{"vzctl", func() (Event, error) { return FromVzctl(env(map[string]string{"VEID": "1007"})) }, Event{Manager: "openvz", ID: "1007"}, false},
		{"vzctl without VEID", func() (Event, error) { return FromVzctl(env(nil)) }, Event{}, true},
		{"lxc stop", func() (Event, error) {
			return FromLXC([]string{"web1", "lxc", "post-stop"}, env(map[string]string{"LXC_NAME": "web1", "LXC_TARGET": "stop"}))
		}, Event{Manager: "lxc", ID: "web1"}, false},
		{"lxc reboot", func() (Event, error) {
			return FromLXC([]string{"web1", "lxc", "post-stop"}, env(map[string]string{"LXC_NAME": "web1", "LXC_TARGET": "reboot"}))
		}, Event{Manager: "lxc", ID: "web1", Skip: "container is rebooting"}, false},
		{"lxc name from args", func() (Event, error) { return FromLXC([]string{"web2", "lxc", "post-stop"}, env(nil)) }, Event{Manager: "lxc", ID: "web2"}, false},
		{"lxc other hook", func() (Event, error) { return FromLXC([]string{"web2", "lxc", "pre-start"}, env(nil)) }, Event{Manager: "lxc", ID: "web2", Skip: "hook type pre-start is not post-stop"}, false},
		{"jail", func() (Event, error) { return FromJail([]string{"www"}) }, Event{Manager: "jail", ID: "www"}, false},
		{"jail without name", func() (Event, error) { return FromJail(nil) }, Event{}, true},
		{"pve post-stop", func() (Event, error) { return FromPVE([]string{"101", "post-stop"}) }, Event{Manager: "pve", ID: "101"}, false},
		{"pve pre-start", func() (Event, error) { return FromPVE([]string{"101", "pre-start"}) }, Event{Manager: "pve", ID: "101", Skip: "phase pre-start is not post-stop"}, false},
	}
	for _, c := range cases {
		got, err := c.ev()
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v, err=%v", c.name, got, err, c.want, c.err)
		}
	}
}

func TestSelected(t *testing.T) {
	lineage := &zfs.Snapshot{Tag: zfs.Tag{Streamline: "debian-12", Version: 3}, Tagged: true}
	ct := &vzmap.Container{Manager: "lxc", ID: "web1", Name: "www"}
	tmpl := &vzmap.Container{Manager: "pve", ID: "102", Template: true}
	cases := []struct {
		name    string
		hooks   config.Hooks
		ct      *vzmap.Container
		lineage *zfs.Snapshot
		want    bool
	}{
		{"default tags a container of a streamline", config.Hooks{}, ct, lineage, true},
		{"default leaves a container outside any streamline", config.Hooks{}, ct, nil, false},
		{"off tags nothing", config.Hooks{Tag: "off", Containers: []string{"web1"}}, ct, lineage, false},
		{"selected: not listed", config.Hooks{Tag: "selected"}, ct, lineage, false},
		{"selected: listed by id", config.Hooks{Tag: "selected", Containers: []string{"web1"}}, ct, nil, true},
		{"selected: listed by name", config.Hooks{Tag: "selected", Containers: []string{"www"}}, ct, nil, true},
		{"selected: by streamline", config.Hooks{Tag: "selected", Streamlines: []string{"debian-12"}}, ct, lineage, true},
		{"selected: other streamline", config.Hooks{Tag: "selected", Streamlines: []string{"alpine"}}, ct, lineage, false},
		{"configured template", config.Hooks{Tag: "selected", Templates: []string{"web1"}}, ct, nil, true},
		{"manager's template flag", config.Hooks{Tag: "selected"}, tmpl, nil, true},
	}
	for _, c := range cases {
		got, why := Selected(&config.Config{Hooks: c.hooks}, c.ct, c.lineage)
		if got != c.want || why == "" {
			t.Errorf("%s: got %v (%s), want %v", c.name, got, why, c.want)
		}
	}
}
