// Package streamtest reads the send streams kept as test fixtures (gzipped, in
// zfs/stream/testdata), for the tests of the stream package and of its callers.
package streamtest

import (
	"compress/gzip"
	"io"
	"os"
	"testing"
)

// Gunzip returns the content of the gzipped file at path, failing t if it cannot be read.
func Gunzip(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
