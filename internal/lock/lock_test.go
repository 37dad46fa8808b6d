package lock

import (
	"errors"
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
