package lock

import (
	"errors"
	"testing"
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
