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

// zfs send -t takes raw from the token's rawok, which the receiver wrote: a token must
// agree with the send options both ways.
func TestResumeTokenMatchesRaw(t *testing.T) {
	cases := []struct {
		flags   []string
		raw, ok bool
	}{
		{nil, false, true},
		{[]string{"compressok", "largeblockok", "embedok"}, false, true},
		{[]string{"rawok"}, true, true},
		{[]string{"compressok", "rawok"}, true, true},
		{nil, true, false},                    // a peer stripped rawok: the plaintext would go
		{[]string{"compressok"}, true, false}, // the same, with other flags left
		{[]string{"rawok"}, false, false},     // not the stream this configuration started
		// zfs send -t tests rawok with nvlist_exists, whatever its type: a uint64 rawok
		// sends raw too, so it counts as raw here.
		{[]string{"rawok=u64"}, false, false},
		{[]string{"rawok=u64"}, true, true},
	}
	for _, c := range cases {
		tok, err := zfs.ParseResumeToken(zfstest.ResumeToken("tank/a@zfs-vm:a:1", 7, 5, 100, c.flags...))
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.MatchesRaw(c.raw); (err == nil) != c.ok {
			t.Errorf("token with %v, raw %v: MatchesRaw = %v, want ok %v", c.flags, c.raw, err, c.ok)
		}
	}
}
