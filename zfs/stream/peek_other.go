//go:build !linux

package stream

import (
	"errors"
	"os"
)

// CanPeek says whether Peek works on this system (it needs Linux's tee(2)).
const CanPeek = false

// Peek is not available here: without tee(2) a pipe's bytes cannot be read without taking
// them. Callers check CanPeek and copy the stream through instead.
func Peek(src *os.File, n int) ([]byte, error) {
	return nil, errors.New("peeking into a pipe needs Linux's tee(2)")
}
