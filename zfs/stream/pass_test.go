package stream

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// Pass moves a stream from pipe to pipe whole, and ends when the reader of dst goes away,
// rather than waiting for a writer that no one reads.
func TestPassBetweenPipes(t *testing.T) {
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	go func() { inW.Write(data); inW.Close() }()
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(outR); got <- b }()
	n, err := Pass(outW, inR)
	outW.Close()
	if err != nil || n != int64(len(data)) || !bytes.Equal(<-got, data) {
		t.Fatalf("Pass = %d, %v; want %d bytes, the same", n, err, len(data))
	}

	// A slow writer (16 KiB at a time, as ssh writes): the batching waits, nothing is lost.
	in3R, in3W, _ := os.Pipe()
	out3R, out3W, _ := os.Pipe()
	go func() {
		for b := data[:1<<20]; len(b) > 0; b = b[16<<10:] {
			in3W.Write(b[:16<<10])
			time.Sleep(time.Millisecond)
		}
		in3W.Close()
	}()
	go func() { b, _ := io.ReadAll(out3R); got <- b }()
	n, err = Pass(out3W, in3R)
	out3W.Close()
	if err != nil || n != 1<<20 || !bytes.Equal(<-got, data[:1<<20]) {
		t.Fatalf("Pass from a slow writer = %d, %v; want 1 MiB, the same", n, err)
	}

	in2R, in2W, _ := os.Pipe()
	out2R, out2W, _ := os.Pipe()
	defer in2W.Close()
	go func() {
		for {
			if _, err := in2W.Write(data[:64<<10]); err != nil {
				return
			}
		}
	}()
	out2R.Close() // zfs receive died
	done := make(chan error)
	go func() { _, err := Pass(out2W, in2R); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("Pass into a pipe without reader: %v; want EPIPE", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Pass into a pipe without reader did not end")
	}
}

// Anything but files goes through io.Copy.
func TestPassOtherwise(t *testing.T) {
	var b bytes.Buffer
	if n, err := Pass(&b, bytes.NewReader([]byte("abc"))); n != 3 || err != nil || b.String() != "abc" {
		t.Errorf("Pass = %d, %v, %q", n, err, b.String())
	}
}
