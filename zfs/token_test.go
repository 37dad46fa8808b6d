package zfs

import (
	"strings"
	"testing"
)

// Tokens from OpenZFS 2.1.11 in the lab: an incremental tk/src@a -> @b cut after 2 MB, and a
// full stream of tk/src@a into a new dataset cut after 3 MB. `zfs send -nvt` printed, for the
// first: fromguid 0x6c30c1371bb72b8f, bytes 0x1e39f0, toguid 0x1ea0e7e9389f430, toname tk/src@b.
const (
	incrementalToken = "1-dafd370be-e0-789c636064000310a501c49c50360710a715e5e7a69766a6304041bff67669f38306390a40363b92bafca4acd4e412068606a83a0cf9b4b4e2d412908c0c5c9e0d493ea9b224b518487fb094c3aabf241fe20a832f9d93ebf85e316a20c97382e5f31273538174b67e7151b243120312000030201c79"
	fullToken        = "1-8ac977daa-b8-789c636064000310a500c4ec50360710e72765a52697303030419460caa7a515a7968064b4e0f26c48f2499525a9c540fa828a0e56fd25f9e9a599290c0cfddadba5cd0f1ae46820c97382e5f31273538174b67e7151b2432203120000e3241493"
)

func TestParseResumeToken(t *testing.T) {
	tok, err := ParseResumeToken(incrementalToken)
	if err != nil {
		t.Fatal(err)
	}
	want := ResumeToken{FromGUID: 0x6c30c1371bb72b8f, ToGUID: 0x1ea0e7e9389f430, ToName: "tk/src@b", Bytes: 0x1e39f0}
	if tok != want {
		t.Errorf("incremental token = %+v, want %+v", tok, want)
	}
	tok, err = ParseResumeToken(fullToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok.FromGUID != 0 || tok.ToGUID != 7795943397410679695 || tok.ToName != "tk/src@a" {
		t.Errorf("full token = %+v", tok)
	}
	for _, bad := range []string{"", "-", "2-a-b-c", "1-0-e0-zz", "1-0-e0-789c", incrementalToken[:len(incrementalToken)-10], strings.Replace(incrementalToken, "-e0-", "-e1-", 1)} {
		if _, err := ParseResumeToken(bad); err == nil {
			t.Errorf("ParseResumeToken(%.30q) accepted", bad)
		}
	}
}

func FuzzParseResumeToken(f *testing.F) {
	f.Add(incrementalToken)
	f.Add(fullToken)
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseResumeToken(s)
		if err == nil && tok.ToName == "" {
			t.Fatalf("accepted a token without toname: %q", s)
		}
	})
}
