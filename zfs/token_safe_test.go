package zfs_test

import (
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

// The name inside a resume token is the sender's text: printed escaped.
func TestResumeTokenSafeName(t *testing.T) {
	tok, err := zfs.ParseResumeToken(zfstest.ResumeToken("tank/a@x\x1b]0;owned\x07\u202e", 7, 5, 100))
	if err != nil {
		t.Fatal(err)
	}
	if tok.ToGUID != 7 || tok.FromGUID != 5 || tok.Bytes != 100 {
		t.Errorf("token %+v", tok)
	}
	if got, want := tok.SafeName(), `tank/a@x\x1b]0;owned\x07\u202e`; got != want {
		t.Errorf("SafeName() = %q, want %q", got, want)
	}
}
