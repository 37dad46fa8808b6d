package tagging

import (
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

func TestParseName(t *testing.T) {
	cases := []struct {
		in   string
		want Request
		err  bool
	}{
		{"", Request{}, false},
		{"debian", Request{Streamline: "debian"}, false},
		{"debian:7", Request{Streamline: "debian", Version: 7}, false},
		{"7", Request{Version: 7}, false},
		{"ubuntu-12.04:3", Request{Streamline: "ubuntu-12.04", Version: 3}, false},
		{"debian:0", Request{}, true},
		{"debian:x", Request{}, true},
		{"a:b:1", Request{}, true},
		{":3", Request{}, true},
		{"x;reboot", Request{}, true},
	}
	for _, c := range cases {
		got, err := ParseName(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseName(%q) = %+v, %v; want %+v, err=%v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestDecide(t *testing.T) {
	base := []string{
		"pool/tmpl",
		"pool/tmpl@zfs-vm:debian:1",
		"pool/tmpl@zfs-vm:debian:2",
		"pool/ct < pool/tmpl@zfs-vm:debian:2",
		"pool/lxc < pool/tmpl@copy",
		"pool/tmpl@copy",
		"pool/new",
		"pool/other",
		"pool/other@zfs-vm:other:9",
	}
	cases := []struct {
		name    string
		dataset string
		req     Request
		written uint64
		want    string // tag, "unchanged", or an error fragment prefixed with "!"
	}{
		{"next version of own streamline", "pool/tmpl", Request{}, 10, "debian:3"},
		{"unchanged since last version", "pool/tmpl", Request{}, 0, "unchanged"},
		{"--force tags unchanged", "pool/tmpl", Request{Force: true}, 0, "debian:3"},
		{"clone detects streamline from origin", "pool/ct", Request{}, 0, "debian:3"},
		{"lxc-copy clone walks past the foreign origin", "pool/lxc", Request{}, 0, "debian:3"},
		{"no lineage, no name", "pool/new", Request{}, 0, "!cannot tell the streamline of pool/new; use -n NAME[:VERSION]"},
		{"new streamline", "pool/new", Request{Streamline: "fresh"}, 0, "fresh:1"},
		{"explicit version", "pool/ct", Request{Version: 7}, 0, "debian:7"},
		{"existing version refused", "pool/ct", Request{Version: 2}, 0, "!version debian:2 already exists: pool/tmpl@zfs-vm:debian:2 (the next free one is 3)"},
		{"explicit name and version", "pool/new", Request{Streamline: "other", Version: 10}, 0, "other:10"},
		{"version below the lineage refused", "pool/ct", Request{Streamline: "debian", Version: 1}, 0, "!already exists"},
		{"version below the streamline's highest refused", "pool/new", Request{Streamline: "other", Version: 5}, 0, "!version other:5 is below other:9, the streamline's highest on this host"},
		{"--force tags below the highest", "pool/new", Request{Streamline: "other", Version: 5, Force: true}, 0, "other:5"},
	}
	i := zfstest.Inventory(t, base...)
	for _, c := range cases {
		d, err := Decide(i, i.Dataset(c.dataset), c.req, c.written)
		var got string
		switch {
		case err != nil:
			got = "!" + err.Error()
		case d.Unchanged:
			got = "unchanged"
		default:
			got = d.Tag.String()
		}
		if strings.HasPrefix(c.want, "!") {
			if !strings.Contains(got, c.want[1:]) {
				t.Errorf("%s: got %q, want error containing %q", c.name, got, c.want[1:])
			}
		} else if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDecideRefusesGoingBackwards(t *testing.T) {
	i := zfstest.Inventory(t, "pool/t", "pool/t@zfs-vm:d:5", "pool/c < pool/t@zfs-vm:d:5")
	_, err := Decide(i, i.Dataset("pool/c"), Request{Version: 3}, 0)
	if err == nil || !strings.Contains(err.Error(), "versions rise monotonically") {
		t.Errorf("got %v", err)
	}
}

// A version near 2^64 (pulled from a peer) must not make the next tag wrap to 0.
func TestDecideRefusesToWrap(t *testing.T) {
	i := zfstest.Inventory(t, "pool/t", "pool/t@zfs-vm:d:18446744073709551614", "pool/t@zfs-vm:d:18446744073709551615")
	_, err := Decide(i, i.Dataset("pool/t"), Request{Force: true}, 0)
	if err == nil || !strings.Contains(err.Error(), "streamline d is at version 18446744073709551615, the highest there is") {
		t.Errorf("got %v", err)
	}
	_, err = Decide(i, i.Dataset("pool/t"), Request{Version: 18446744073709551615}, 0)
	if err == nil || !strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "is 0") {
		t.Errorf("explicit top version: got %v", err)
	}
}
