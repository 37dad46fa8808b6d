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

// Peek waits for the bytes asked for, arriving in several writes, returns them, and leaves
// them in the pipe for its next reader; a writer that closes first gets what there was.
func TestPeekLeavesTheBytesInThePipe(t *testing.T) {
	data := make([]byte, 1000)
	rand.Read(data)
	cases := []struct {
		name    string
		writes  []int // lengths written, 20 ms apart
		close   bool  // then the writer closes
		want    int
		wantErr error
	}{
		{"in one write", []int{1000}, false, RecordSize, nil},
		{"in three writes", []int{100, 150, 750}, false, RecordSize, nil},
		{"cut short", []int{100, 50}, true, 150, io.ErrUnexpectedEOF},
		{"empty", nil, true, 0, io.EOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			wrote := make(chan int)
			go func() {
				n := 0
				for _, m := range c.writes {
					time.Sleep(20 * time.Millisecond)
					w.Write(data[n : n+m])
					n += m
				}
				if c.close {
					time.Sleep(20 * time.Millisecond)
					w.Close()
				}
				wrote <- n
			}()
			got, err := Peek(r, RecordSize)
			if !errors.Is(err, c.wantErr) || !bytes.Equal(got, data[:c.want]) {
				t.Fatalf("Peek = %d bytes, %v; want %d bytes of what was written, %v", len(got), err, c.want, c.wantErr)
			}
			n := <-wrote
			w.Close()
			rest, _ := io.ReadAll(r)
			if !bytes.Equal(rest, data[:n]) {
				t.Errorf("the pipe's reader got %d bytes, want the %d written", len(rest), n)
			}
		})
	}
}

// Peek waits for the rest of a record in the kernel (Go's poller), not in a loop: waiting
// 400 ms beside a partial record costs it a small part of that in CPU time.
func TestPeekWaitsWithoutSpinning(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	w.Write(make([]byte, 100))
	go func() {
		time.Sleep(400 * time.Millisecond)
		w.Write(make([]byte, RecordSize))
	}()
	before := cpuTime(t)
	if got, err := Peek(r, RecordSize); err != nil || len(got) != RecordSize {
		t.Fatalf("Peek = %d bytes, %v", len(got), err)
	}
	if used := cpuTime(t) - before; used > 100*time.Millisecond {
		t.Errorf("Peek used %v of CPU time waiting 400 ms", used)
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
