package replicate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// A real token (OpenZFS 2.1.11): an incremental from guid 0x6c30c1371bb72b8f to
// guid 0x1ea0e7e9389f430, toname tk/src@b.
const labToken = "1-dafd370be-e0-789c636064000310a501c49c50360710a715e5e7a69766a6304041bff67669f38306390a40363b92bafca4acd4e412068606a83a0cf9b4b4e2d412908c0c5c9e0d493ea9b224b518487fb094c3aabf241fe20a832f9d93ebf85e316a20c97382e5f31273538174b67e7151b243120312000030201c79"

func withToken(t *testing.T, rows []string, dataset, token string) *zfs.Inventory {
	t.Helper()
	inv := inventory(t, rows...)
	inv.Dataset(dataset).ResumeToken = token
	return inv
}

func TestFindResumes(t *testing.T) {
	from, to := uint64(0x6c30c1371bb72b8f), uint64(0x1ea0e7e9389f430)
	// The token's snapshots, by guid, as the versions zfs-vm sends (names do not matter to
	// FindResumes; the token's tk/src@b names the dataset only).
	src := []string{"tk", "tk/src", fmt.Sprintf("tk/src@zfs-vm:t:1 #%d", from), fmt.Sprintf("tk/src@zfs-vm:t:2 #%d", to)}
	cases := []struct {
		name  string
		src   []string
		dst   []string
		opt   Options
		want  string // "resume <target>", "abort <target>", or "note"
		token string
	}{
		{"the sender still has the snapshot: resume", src, []string{"bk", "bk/src"}, Options{DestParent: "bk"}, "resume bk/src", labToken},
		{"the snapshot is gone but the dataset maps here: abort", src[:3], []string{"bk", "bk/src"}, Options{DestParent: "bk"}, "abort bk/src", labToken},
		{"another sender's receive: leave it", []string{"p", "p/x"}, []string{"bk", "bk/src"}, Options{DestParent: "bk"}, "note", labToken},
		{"unreadable token: leave it", src, []string{"bk", "bk/src"}, Options{DestParent: "bk"}, "note", "1-garbage"},
	}
	for _, c := range cases {
		resumes, notes := FindResumes(inventory(t, c.src...), withToken(t, c.dst, "bk/src", c.token), c.opt)
		got := "note"
		if len(resumes) == 1 {
			got = "resume " + resumes[0].Target
			if resumes[0].Stale() {
				got = "abort " + resumes[0].Target
			}
		} else if len(notes) != 1 {
			got = fmt.Sprintf("%d resumes, %d notes", len(resumes), len(notes))
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s (notes %v)", c.name, got, c.want, notes)
		}
		if got == "resume bk/src" && (resumes[0].From == nil || resumes[0].From.Name != "zfs-vm:t:1") {
			t.Errorf("%s: base not found", c.name)
		}
		if got == "note" && !strings.Contains(strings.Join(notes, ""), "leaving it") {
			t.Errorf("%s: note %v", c.name, notes)
		}
	}
}
