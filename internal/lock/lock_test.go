package lock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTryAcquire(t *testing.T) {
	dir := t.TempDir()
	l, err := TryAcquire(dir, "peer1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryAcquire(dir, "peer1"); !errors.Is(err, ErrBusy) {
		t.Errorf("second acquire: %v, want ErrBusy", err)
	}
	other, err := TryAcquire(dir, "peer2")
	if err != nil {
		t.Errorf("another peer's lock: %v", err)
	} else {
		other.Release()
	}
	if Holder(dir, "peer1") == "" {
		t.Error("holder pid not recorded")
	}
	l.Release()
	l2, err := TryAcquire(dir, "peer1")
	if err != nil {
		t.Errorf("after release: %v", err)
	} else {
		l2.Release()
	}
}

func TestAcquireWaits(t *testing.T) {
	dir := t.TempDir()
	l, _ := TryAcquire(dir, "p")
	go func() { time.Sleep(300 * time.Millisecond); l.Release() }()
	l2, err := Acquire(dir, "p", 5*time.Second)
	if err != nil {
		t.Fatalf("Acquire did not get the lock once released: %v", err)
	}
	l2.Release()
	l3, _ := TryAcquire(dir, "p")
	defer l3.Release()
	if _, err := Acquire(dir, "p", 300*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Errorf("Acquire past its bound: %v", err)
	}
	if got := Name("host", "root@b:22"); got != "host-root_b_22" {
		t.Errorf("Name = %q", got)
	}
}

func TestPeerName(t *testing.T) {
	same := [][2]string{
		{PeerName("b", "", "tank/bk"), PeerName("B", "22", "tank/bk")},
	}
	for _, s := range same {
		if s[0] != s[1] {
			t.Errorf("%q != %q", s[0], s[1])
		}
	}
	differ := [][2]string{
		{PeerName("b", "", "tank/bk"), PeerName("b", "", "tank/other")},
		{PeerName("b", "", "tank/bk"), PeerName("b", "2222", "tank/bk")},
		{PeerName("b", "", ""), PeerName("c", "", "")},
	}
	for _, d := range differ {
		if d[0] == d[1] {
			t.Errorf("two peers share the lock %q", d[0])
		}
	}
	long := PeerName("b", "", strings.Repeat("tank/x", 40))
	if len(long) > maxName || long == PeerName("b", "", strings.Repeat("tank/x", 41)) {
		t.Errorf("long name %q (%d bytes)", long, len(long))
	}
}

func TestTryAcquireRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "p.lock")); err != nil {
		t.Fatal(err)
	}
	l, err := TryAcquire(dir, "p")
	if err == nil {
		l.Release()
		t.Fatal("took a lock through a symbolic link")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("the link's target was written: %q", b)
	}
}

// Without root, /run/zfs-vm cannot be made: locks go to $XDG_RUNTIME_DIR instead, or to the
// directory the operator set.
func TestRuntimeDir(t *testing.T) {
	tmp := t.TempDir()
	system := filepath.Join(tmp, "run", "zfs-vm")
	if got, err := runtimeDir("", system, ""); err != nil || got != system {
		t.Errorf("writable system dir: %q, %v", got, err)
	}
	// A path below a regular file can never be created, not even by root.
	os.WriteFile(filepath.Join(tmp, "file"), nil, 0o644)
	denied := filepath.Join(tmp, "file", "zfs-vm")
	xdg := filepath.Join(tmp, "user")
	os.Mkdir(xdg, 0o700)
	got, err := runtimeDir("", denied, xdg)
	if err != nil || got != filepath.Join(xdg, "zfs-vm") {
		t.Errorf("fallback: %q, %v", got, err)
	}
	if st, err := os.Stat(got); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("user runtime dir %v, %v", st, err)
	}
	if _, err := runtimeDir("", denied, ""); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR is not set (set ZFS_VM_RUNTIME_DIR)") {
		t.Errorf("no fallback: %v", err)
	}
	mine := filepath.Join(tmp, "mine")
	if got, err := runtimeDir(mine, denied, xdg); err != nil || got != mine {
		t.Errorf("operator's dir: %q, %v", got, err)
	}
}

// PrivateDir makes the user's own directory, and refuses one planted in its place: a
// symbolic link, or a directory others may write.
func TestPrivateDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	want := filepath.Join(tmp, fmt.Sprintf("zfs-vm-%d", os.Getuid()))
	if d, err := PrivateDir(); err != nil || d != want {
		t.Fatalf("PrivateDir() = %q, %v; want %q", d, err, want)
	}
	if st, _ := os.Stat(want); st.Mode().Perm() != 0o700 {
		t.Errorf("mode %v; want 0700", st.Mode().Perm())
	}
	os.Remove(want)
	os.Symlink(t.TempDir(), want)
	if _, err := PrivateDir(); err == nil {
		t.Error("a symbolic link was taken")
	}
	os.Remove(want)
	os.Mkdir(want, 0o777)
	os.Chmod(want, 0o777)
	if _, err := PrivateDir(); err == nil {
		t.Error("a directory others may write was taken")
	}
}
