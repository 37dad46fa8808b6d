package zfs

import (
	"testing"
)

func TestParseTag(t *testing.T) {
	cases := []struct {
		in   string
		want Tag
		ok   bool
	}{
		{"zfs-vm:debian-7:3", Tag{"debian-7", 3}, true},
		{"zfs-vm:ubuntu-12.04:12", Tag{"ubuntu-12.04", 12}, true},
		{"zfs-vm:web app:1", Tag{"web app", 1}, true},
		{"zfs-vm:a_b:0", Tag{"a_b", 0}, true},
		{"zfs-vm:x:18446744073709551615", Tag{"x", 18446744073709551615}, true},
		{"zfs-vm:x:18446744073709551616", Tag{}, false}, // overflows
		{"zfs-vm:debian:03", Tag{}, false},              // leading zero: one name per version
		{"zfs-vm:debian:-1", Tag{}, false},
		{"zfs-vm:debian:+1", Tag{}, false},
		{"zfs-vm:debian:", Tag{}, false},
		{"zfs-vm::3", Tag{}, false},
		{"zfs-vm:a:b:3", Tag{}, false}, // ':' is not allowed in a streamline
		{"zfs-vm:debian", Tag{}, false},
		{"zfs-vm:déb:1", Tag{}, false},
		{"zfs-vm:a/b:1", Tag{}, false},
		{"autosnap_2024-01-01", Tag{}, false},
		{"ZFS-VM:debian:1", Tag{}, false},
		{"", Tag{}, false},
	}
	for _, c := range cases {
		got, ok := ParseTag(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseTag(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
		if ok && got.SnapshotName() != c.in {
			t.Errorf("ParseTag(%q) does not round-trip: %q", c.in, got.SnapshotName())
		}
	}
}

func TestValidateDatasetName(t *testing.T) {
	good := []string{"tank", "tank/vz/private/1007", "rpool/data/subvol-101-disk-0", "t/my image", "p/a.b:c_d-e"}
	bad := []string{"", "/tank", "tank/", "tank//a", "tank/a@b", "tank/a;b", "tank/$(x)", "-tank", "1tank", "tank/./a", "tank/..", "tank/a\nb", "tank/ä"}
	for _, n := range good {
		if err := ValidateDatasetName(n); err != nil {
			t.Errorf("ValidateDatasetName(%q) = %v, want ok", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateDatasetName(n); err == nil {
			t.Errorf("ValidateDatasetName(%q) = ok, want error", n)
		}
	}
}

func TestValidateSnapshotName(t *testing.T) {
	if err := ValidateSnapshotName("tank/a@zfs-vm:d:1"); err != nil {
		t.Error(err)
	}
	for _, n := range []string{"tank/a", "tank/a@", "tank/a@b@c", "@b", "tank/a@b;c"} {
		if ValidateSnapshotName(n) == nil {
			t.Errorf("ValidateSnapshotName(%q) = ok, want error", n)
		}
	}
}

func TestNameHelpers(t *testing.T) {
	if got := LastComponent("pool/src/OpenVZ/Instance/1007"); got != "1007" {
		t.Errorf("LastComponent = %q", got)
	}
	if got := LastComponent("tank"); got != "tank" {
		t.Errorf("LastComponent(pool) = %q", got)
	}
	if got := ParentDataset("tank/vm/1007"); got != "tank/vm" {
		t.Errorf("ParentDataset = %q", got)
	}
	if got := ParentDataset("tank"); got != "" {
		t.Errorf("ParentDataset(pool) = %q", got)
	}
}

func FuzzParseTag(f *testing.F) {
	for _, s := range []string{"zfs-vm:debian-7:3", "zfs-vm:a:b:3", "zfs-vm:x:03", "zfs-vm::1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tag, ok := ParseTag(s)
		if !ok {
			return
		}
		// Whatever parses is a valid streamline and formats back to the same name.
		if err := ValidateStreamline(tag.Streamline); err != nil {
			t.Fatalf("ParseTag(%q) accepted invalid streamline: %v", s, err)
		}
		if tag.SnapshotName() != s {
			t.Fatalf("ParseTag(%q) = %v does not round-trip (%q)", s, tag, tag.SnapshotName())
		}
		if err := ValidateSnapshotName("pool/fs@" + s); err != nil {
			t.Fatalf("a parsed tag is not a valid snapshot name: %v", err)
		}
	})
}
