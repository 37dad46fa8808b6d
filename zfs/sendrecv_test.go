package zfs

import (
	"strings"
	"testing"
)

func TestSendArgs(t *testing.T) {
	cases := []struct {
		name string
		make func() (SendArgs, error)
		want string // argv joined, or "error"
	}{
		{"full", func() (SendArgs, error) { return NewFullSend("t/a@zfs-vm:d:1") }, "zfs send t/a@zfs-vm:d:1"},
		{"-i", func() (SendArgs, error) { return NewIncrementalSend("t/a@x", "t/a@y", false) }, "zfs send -i t/a@x t/a@y"},
		{"-I", func() (SendArgs, error) { return NewIncrementalSend("t/a@x", "t/a@z", true) }, "zfs send -I t/a@x t/a@z"},
		{"clone", func() (SendArgs, error) { return NewCloneSend("t/tmpl@v2", "t/c1@v4") }, "zfs send -i t/tmpl@v2 t/c1@v4"},
		{"incremental across datasets", func() (SendArgs, error) { return NewIncrementalSend("t/a@x", "t/b@y", false) }, "error"},
		{"clone within a dataset", func() (SendArgs, error) { return NewCloneSend("t/a@x", "t/a@y") }, "error"},
		{"not a snapshot", func() (SendArgs, error) { return NewFullSend("t/a") }, "error"},
		{"option injection", func() (SendArgs, error) { return NewFullSend("-R@x") }, "error"},
	}
	for _, c := range cases {
		a, err := c.make()
		got := "error"
		if err == nil {
			got = strings.Join(a.Argv(), " ")
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	a, _ := NewIncrementalSend("t/a@x", "t/a@z", true)
	if got := strings.Join(a.EstimateArgv(), " "); got != "zfs send -n -P -I t/a@x t/a@z" {
		t.Errorf("estimate argv %q", got)
	}
}

func TestParseEstimate(t *testing.T) {
	out := "incremental\tt/a@x\tt/a@z\t1234\nsize\t1234\n"
	if n, err := ParseEstimate(out); err != nil || n != 1234 {
		t.Errorf("ParseEstimate = %d, %v", n, err)
	}
	if _, err := ParseEstimate("nothing"); err == nil {
		t.Error("ParseEstimate accepted garbage")
	}
}

func TestReceiveArgs(t *testing.T) {
	r, err := NewReceive("tank/vm/c1", "tank/vm/tmpl@zfs-vm:d:2")
	if err != nil {
		t.Fatal(err)
	}
	r = r.WithProps(ReceiveProps{New: true})
	if got := strings.Join(r.Argv(), " "); got != "zfs receive -s -u -x mountpoint -x sharenfs -x sharesmb -o canmount=noauto -o origin=tank/vm/tmpl@zfs-vm:d:2 tank/vm/c1" {
		t.Errorf("argv %q", got)
	}
	for _, bad := range [][2]string{{"-F", ""}, {"tank/a", "tank/b"}, {"", ""}} {
		if _, err := NewReceive(bad[0], bad[1]); err == nil {
			t.Errorf("NewReceive(%q, %q) accepted", bad[0], bad[1])
		}
	}
	r, _ = NewReceive("tank/a", "")
	for _, w := range r.Argv() {
		if w == "-F" {
			t.Error("receive uses -F")
		}
	}
}

// The sender's mount and share properties never reach a received filesystem, and the
// filesystem-only ones are never named for a volume (OpenZFS 2.1 refuses that).
func TestReceiveProps(t *testing.T) {
	const fsDrops = "-x mountpoint -x sharenfs -x sharesmb "
	cases := []struct {
		name  string
		props ReceiveProps
		want  string
	}{
		{"new filesystem", ReceiveProps{New: true}, fsDrops + "-o canmount=noauto"},
		{"new filesystem, mountable", ReceiveProps{New: true, Mountable: true}, fsDrops + "-x canmount"},
		{"existing filesystem", ReceiveProps{}, fsDrops + "-x canmount"},
		{"existing filesystem, mountable", ReceiveProps{Mountable: true}, fsDrops + "-x canmount"},
		{"new volume", ReceiveProps{Volume: true, New: true}, "-o volmode=default"},
		{"existing volume", ReceiveProps{Volume: true}, ""},
	}
	for _, c := range cases {
		r, _ := NewReceive("tank/a", "")
		got := strings.Join(r.WithProps(c.props).Argv(), " ")
		want := strings.TrimSpace("zfs receive -s -u "+c.want) + " tank/a"
		if got != want {
			t.Errorf("%s: argv %q, want %q", c.name, got, want)
		}
	}
}

func TestResumeAndAbortArgs(t *testing.T) {
	a, err := NewResumeSend(incrementalToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.ReportingArgv(), " "); got != "zfs send -P -v -t "+incrementalToken {
		t.Errorf("resume argv %q", got)
	}
	if _, err := NewResumeSend("1-x-y-; reboot"); err == nil {
		t.Error("a bad token was accepted")
	}
	if argv, err := AbortArgv("tank/vm/c1"); err != nil || strings.Join(argv, " ") != "zfs receive -A tank/vm/c1" {
		t.Errorf("abort argv %v %v", argv, err)
	}
}

func TestParseProgress(t *testing.T) {
	if n, ok := ParseProgress("00:00:03\t12582912\ttank/a@zfs-vm:d:1"); !ok || n != 12582912 {
		t.Errorf("ParseProgress = %d, %v", n, ok)
	}
	for _, l := range []string{"size\t100", "full\ttank/a@x\t100", "cannot send: x", "0:0:3\t1\tx"} {
		if _, ok := ParseProgress(l); ok {
			t.Errorf("ParseProgress(%q) accepted", l)
		}
	}
	if !IsSizeReport("00:00:03\t1\tt/a@b") || IsSizeReport("warning: cannot send") {
		t.Error("IsSizeReport")
	}
}

func TestSendOptions(t *testing.T) {
	flags, err := SendOptions([]string{"compressed", "raw"})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewIncrementalSend("t/a@x", "t/a@y", true)
	if got := strings.Join(a.WithOptions(flags).ReportingArgv(), " "); got != "zfs send -P -v -c -w -I t/a@x t/a@y" {
		t.Errorf("argv %q", got)
	}
	if _, err := SendOptions([]string{"-R"}); err == nil {
		t.Error("a replication stream flag was accepted")
	}
}
