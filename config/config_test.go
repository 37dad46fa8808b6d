package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedExampleParses(t *testing.T) {
	c, err := Load("../packaging/zfs-vm.toml", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Peers) != 0 || c.HookMode() != "lineage" || c.HookTimeout() != DefaultHookTimeout || DefaultHookTimeout > 30*time.Second {
		t.Errorf("example is not inert: %+v", c)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse("z.toml", []byte(`
[defaults]
sudo = true
schedule = "daily"
direction = "push"
compress = "zstd"
mountable = true
streams = 4

[[peer]]
name = "backup1"
host = "zfs-vm@backup1:2222"
streamlines = ["debian-12"]
dest = "backup/images"

[[peer]]
name = "mirror"
host = "mirror"
direction = "pull"
sudo = false
schedule = "*-*-* 02:00"
compress = "none"
bwlimit = "10MiB"
mountable = false
streams = 1

[hooks]
tag = "selected"
containers = ["1007"]
timeout = "1m30s"
`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Peer("backup1")
	if !*b.Sudo || b.Schedule != "daily" || b.Direction != "push" || b.Dest != "backup/images" {
		t.Errorf("backup1 resolved to %+v", b)
	}
	m, _ := c.Peer("mirror")
	if *m.Sudo || m.Schedule != "*-*-* 02:00" || m.Direction != "pull" {
		t.Errorf("mirror resolved to %+v", m)
	}
	if !*b.Mountable || *m.Mountable {
		t.Errorf("mountable: backup1 %v (from [defaults]), mirror %v", *b.Mountable, *m.Mountable)
	}
	if tb, tm := b.Transport(), m.Transport(); tb.Compress != "zstd" || tb.RateLimit != 0 || tm.Compress != "" || tm.RateLimit != 10<<20 {
		t.Errorf("transports: backup1 %+v, mirror %+v", tb, tm)
	}
	if b.Streams != 4 || m.Streams != 1 {
		t.Errorf("streams: backup1 %d (from [defaults]), mirror %d", b.Streams, m.Streams)
	}
	if c.HookMode() != "selected" || c.Hooks.Containers[0] != "1007" || c.HookTimeout() != 90*time.Second {
		t.Errorf("hooks %+v", c.Hooks)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown key", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\nbandwith = 5\n", "z.toml:5: peer.bandwith: unknown key"},
		{"unknown table", "[hook]\ntag = \"off\"\n", "z.toml:1: hook: unknown key"},
		{"wrong type", "[[peer]]\nname = \"a\"\nhost = \"h\"\nsudo = \"yes\"\n", "z.toml:4: peer.sudo: incompatible types"},
		{"not TOML", "this is not toml\n", "z.toml:1:"},
		{"bad direction", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"both\"\n", "z.toml:4: peer.direction: peer a: \"both\": use push or pull"},
		{"bad host", "[[peer]]\nname = \"a\"\nhost = \"-oProxyCommand=x\"\ndirection = \"push\"\n", "z.toml:3: peer.host"},
		{"duplicate peer", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\n[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\n", "peer \"a\" is defined twice"},
		{"unit-unsafe name", "[[peer]]\nname = \"a/b\"\nhost = \"h\"\ndirection = \"push\"\n", "it names a systemd unit"},
		{"bad streamline", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\nstreamlines = [\"x:y\"]\n", "peer.streamlines"},
		{"bad compressor", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\ncompress = \"gzip\"\n", "z.toml:5: peer.compress: peer a: compressor \"gzip\": use zstd or none"},
		{"bad bwlimit", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\nbwlimit = \"fast\"\n", "z.toml:5: peer.bwlimit: peer a: bandwidth limit \"fast\""},
		{"too many streams", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\nstreams = 9\n", "z.toml:5: peer.streams: peer a: 9: use 1 to 8"},
		{"bad hook mode", "[hooks]\ntag = \"always\"\n", "z.toml:2: hooks.tag"},
		{"mountable without dest", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"pull\"\nmountable = true\n", "z.toml:5: peer.mountable: peer a: mountable needs dest"},
		{"mountable without dest by default", "[defaults]\nmountable = true\n[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"pull\"\n", "peer.mountable: peer a: mountable needs dest"},
		{"bad hook timeout", "[hooks]\ntimeout = \"soon\"\n", "z.toml:2: hooks.timeout: \"soon\": use a duration"},
		{"zero hook timeout", "[hooks]\ntimeout = \"0s\"\n", "z.toml:2: hooks.timeout"},
		{"age not a duration", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\nwarn_age = \"1d\"\n", `z.toml:5: peer.warn_age: peer a: warn_age "1d": want a duration such as 90m or 36h`},
		{"default age not a duration", "[defaults]\ncrit_age = \"soon\"\n[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\n", `peer.crit_age: peer a: crit_age "soon"`},
		{"crit age below warn age", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\nwarn_age = \"2h\"\ncrit_age = \"1h\"\n", "z.toml:6: peer.crit_age: peer a: crit_age 1h is below warn_age 2h"},
		{"crit behind below warn behind", "[defaults]\nwarn_behind = 3\n[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\ncrit_behind = 2\n", "peer.crit_behind: peer a: crit_behind 2 is below warn_behind 3"},
		{"negative behind", "[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\nwarn_behind = -1\n", "0 or more"},
	}
	for _, c := range cases {
		_, err := Parse("z.toml", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", c.name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\n")
	f.Add("[hooks]\ntag = \"off\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse("f.toml", []byte(text))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, p := range c.Peers {
			if _, ok := c.Peer(p.Name); !ok {
				t.Fatalf("peer %q not found", p.Name)
			}
		}
	})
}

func TestResolved(t *testing.T) {
	yes := true
	d := PeerDefaults{Sudo: &yes, SSHOptions: []string{"-4"}, Schedule: "daily", Streamlines: []string{"a"},
		Dest: "tank/d", Direction: "pull", SendOptions: []string{"raw"}, Compress: "zstd", BWLimit: "1M",
		WarnBehind: 1, CritBehind: 3, WarnAge: "2h", CritAge: "1d", Mountable: &yes}
	got := Peer{Name: "p"}.Resolved(d)
	want := Peer{Name: "p", Sudo: &yes, SSHOptions: []string{"-4"}, Schedule: "daily", Streamlines: []string{"a"},
		Dest: "tank/d", Direction: "pull", SendOptions: []string{"raw"}, Compress: "zstd", BWLimit: "1M",
		WarnBehind: 1, CritBehind: 3, WarnAge: "2h", CritAge: "1d", Mountable: &yes}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults not applied:\n got %+v\nwant %+v", got, want)
	}
	no := false
	own := Peer{Name: "p", Sudo: &no, SSHOptions: []string{}, Schedule: "weekly", Streamlines: []string{"b"},
		Dest: "tank/o", Direction: "push", SendOptions: []string{"compressed"}, Compress: "none", BWLimit: "2M",
		WarnBehind: 2, CritBehind: 4, WarnAge: "3h", CritAge: "4h", Mountable: &no}
	if got := own.Resolved(d); !reflect.DeepEqual(got, own) {
		t.Errorf("the peer's own values were replaced:\n got %+v\nwant %+v", got, own)
	}
	bare := Peer{Name: "p"}.Resolved(PeerDefaults{})
	if bare.Sudo == nil || *bare.Sudo || bare.Schedule != DefaultSchedule || bare.Mountable == nil || *bare.Mountable {
		t.Errorf("fallbacks: sudo %v schedule %q mountable %v", bare.Sudo, bare.Schedule, bare.Mountable)
	}
}

func TestSSHOptions(t *testing.T) {
	good := [][]string{
		nil,
		{"-o", "ConnectTimeout=10"},
		{"-oProxyJump=j", "-i", "/root/.ssh/id", "-4", "-C"},
		{"-Cp", "2222"},
		{"-o", "ServerAliveInterval 5", "-J", "user@jump"},
	}
	for _, o := range good {
		if err := checkSSHOptions(o); err != nil {
			t.Errorf("%q: %v", o, err)
		}
	}
	bad := map[string][]string{
		`"ConnectTimeout=10" would be taken by ssh as the host name`:         {"ConnectTimeout=10"},
		`"ProxyJump=j" would be taken by ssh as the host name`:               {"-o", "BatchMode=yes", "ProxyJump=j"},
		`"-o" needs an argument after it`:                                    {"-o"},
		`"backup" is not an ssh option (ssh would take it as the host name)`: {"-C", "backup"},
		`"--" is not an ssh option`:                                          {"--"},
	}
	for want, o := range bad {
		err := checkSSHOptions(o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", o, err, want)
		}
	}
	_, err := Parse("z.toml", []byte("[defaults]\nssh_options = [\"ConnectTimeout=10\"]\n[[peer]]\nname = \"a\"\nhost = \"h\"\ndirection = \"push\"\n"))
	if err == nil || !strings.Contains(err.Error(), "peer.ssh_options: peer a: \"ConnectTimeout=10\" would be taken by ssh as the host name") {
		t.Errorf("a bare Key=value in the defaults: %v", err)
	}
}
