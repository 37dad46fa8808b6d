package replicate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
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
	src := []string{"tk", "tk/src", "tk/src@zfs-vm:a:1 #11", "tk/src@zfs-vm:a:2 #12", "tk/src@foreign #13",
		"tk/other", "tk/other@zfs-vm:b:1 #21", "tk/lab", fmt.Sprintf("tk/lab@a #%d", from), fmt.Sprintf("tk/lab@b #%d", to)}
	dst := []string{"bk", "bk/src", "bk/src@zfs-vm:a:1 #11", "bk/other", "bk/elsewhere", "bk/lab"}
	a2 := zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 1000)
	bk := Options{DestParent: "bk"}
	cases := []struct {
		name    string
		dataset string // receiver dataset holding the token
		token   string
		opt     Options
		want    string // "resume", "resume new", "abort" or a fragment of the note
	}{
		{"an incremental this run sends: resume", "bk/src", a2, bk, "resume"},
		{"its streamline selected: resume", "bk/src", a2, Options{DestParent: "bk", Streamlines: []string{"a"}}, "resume"},
		{"another streamline selected: leave it", "bk/src", a2, Options{DestParent: "bk", Streamlines: []string{"b"}}, "which this run does not send (another streamline)"},
		{"a full stream into a new dataset: resume", "bk/other", zfstest.ResumeToken("tk/other@zfs-vm:b:1", 21, 0, 10), bk, "resume new"},
		{"the plan sends it elsewhere: leave it", "bk/elsewhere", a2, bk, "which this run sends to bk/src"},
		{"not a zfs-vm snapshot: leave it", "bk/src", zfstest.ResumeToken("tk/src@foreign", 13, 11, 10), bk, "which is not a zfs-vm version"},
		{"a real token of a foreign snapshot: leave it", "bk/lab", labToken, bk, "which is not a zfs-vm version"},
		{"gone from the sender, maps here: abort", "bk/src", zfstest.ResumeToken("tk/src@zfs-vm:a:3", 99, 12, 10), bk, "abort"},
		{"gone, not a zfs-vm snapshot: leave it", "bk/src", zfstest.ResumeToken("tk/src@mine", 99, 12, 10), bk, "which is not a zfs-vm version"},
		{"gone, another streamline: leave it", "bk/src", zfstest.ResumeToken("tk/src@zfs-vm:a:3", 99, 12, 10), Options{DestParent: "bk", Streamlines: []string{"b"}}, "another streamline"},
		{"another sender's receive: leave it", "bk/src", zfstest.ResumeToken("p/x@zfs-vm:a:3", 99, 0, 10), bk, "which is not from this sender"},
		{"unreadable token: leave it", "bk/src", "1-garbage", bk, "cannot read"},
		// The token is the receiver's: its toguid decides what zfs send -t sends, whatever
		// its toname says.
		{"named as a version this run sends, the guid another streamline's: leave it", "bk/src",
			zfstest.ResumeToken("tk/src@zfs-vm:a:2", 21, 11, 10), Options{DestParent: "bk", Streamlines: []string{"a"}}, "which this run does not send (another streamline)"},
		{"named as a version, the guid a foreign snapshot's: leave it", "bk/src",
			zfstest.ResumeToken("tk/src@zfs-vm:a:2", 13, 11, 10), bk, "which is not a zfs-vm version"},
		{"named as this target's version, the guid another dataset's: leave it", "bk/src",
			zfstest.ResumeToken("tk/src@zfs-vm:a:2", 21, 0, 10), bk, "which this run sends to bk/other"},
	}
	for _, c := range cases {
		resumes, notes := FindResumes(zfstest.Inventory(t, src...), withToken(t, dst, c.dataset, c.token), c.opt)
		var got string
		switch {
		case len(resumes) == 1 && len(notes) == 0:
			got = "resume"
			if resumes[0].Stale() {
				got = "abort"
			} else if resumes[0].Props.New {
				got = "resume new"
			}
		case len(resumes) == 0 && len(notes) == 1:
			got = notes[0]
		default:
			got = fmt.Sprintf("%d resumes, %d notes %v", len(resumes), len(notes), notes)
		}
		if got != c.want && !(strings.Contains(c.want, " ") && strings.Contains(got, c.want) && strings.HasSuffix(got, "leaving it")) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		if got == "resume" && (resumes[0].From == nil || resumes[0].From.Name != "zfs-vm:a:1") {
			t.Errorf("%s: base not found", c.name)
		}
	}
}

// What a resume does when it runs: only a token that zfs send -t rejects, or whose snapshot
// the sender no longer has, is discarded; a link that fails again keeps what arrived.
func TestExecutorResume(t *testing.T) {
	src := zfstest.Inventory(t, "tk", "tk/src", "tk/src@zfs-vm:a:1 #11", "tk/src@zfs-vm:a:2 #12")
	dst := []string{"bk", "bk/src", "bk/src@zfs-vm:a:1 #11"}
	cases := []struct {
		name               string
		token              string
		sendFail, recvFail string
		want               string   // "done", "kept", "refused" or "discarded"
		sendFlags          []string // Options.SendFlags
	}{
		{"the resume completes", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10), "", "", "done", nil},
		{"the link drops again", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10), "",
			"cannot receive resume stream: checksum mismatch or incomplete stream.", "kept", nil},
		{"the sender's ssh fails", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10), "Connection reset by peer", "", "kept", nil},
		{"the link drops under zfs send -t", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10), "cannot resume send: Broken pipe", "", "kept", nil},
		{"zfs send -t rejects the token", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10),
			"cannot resume send: 'tk/src@zfs-vm:a:2' used in the initial send no longer exists", "", "discarded", nil},
		{"the sender no longer has the snapshot", zfstest.ResumeToken("tk/src@zfs-vm:a:3", 99, 12, 10), "", "", "discarded", nil},
		// On a push the token is the peer's, and zfs send -t takes raw from it.
		{"raw configured, the token's raw", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10, "compressok", "rawok"), "", "", "done", []string{"-c", "-w"}},
		{"raw configured, the peer stripped rawok", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10, "compressok"), "", "", "refused", []string{"-c", "-w"}},
		{"raw not configured, the token's raw", zfstest.ResumeToken("tk/src@zfs-vm:a:2", 12, 11, 10, "rawok"), "", "", "refused", nil},
	}
	fakebin, _ := filepath.Abs("testdata/fakebin")
	t.Setenv("PATH", fakebin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			data, zlog := filepath.Join(dir, "data"), filepath.Join(dir, "zfs.log")
			os.WriteFile(data, []byte("the rest of the stream"), 0o644)
			t.Setenv("FAKE_SEND_DATA", data)
			t.Setenv("FAKE_RECV_OUT", filepath.Join(dir, "out"))
			t.Setenv("FAKE_ZFS_LOG", zlog)
			t.Setenv("FAKE_SEND_FAIL", c.sendFail)
			t.Setenv("FAKE_RECV_FAIL", c.recvFail)
			resumes, notes := FindResumes(src, withToken(t, dst, "bk/src", c.token), Options{DestParent: "bk", SendFlags: c.sendFlags})
			if len(resumes) != 1 {
				t.Fatalf("FindResumes: %d resumes, notes %v", len(resumes), notes)
			}
			log, _ := test.NewNullLogger()
			ex := &Executor{Sender: zfs.Local(log), Receiver: zfs.Local(log), Log: log}
			done, _, errs, kept := ex.Resume(t.Context(), resumes)
			b, _ := os.ReadFile(zlog)
			aborted := strings.Contains(string(b), "zfs receive -A bk/src")
			var got string
			switch {
			case done == 1 && len(errs) == 0 && !aborted && len(kept) == 0:
				got = "done"
			case done == 0 && len(errs) == 1 && !aborted && kept["bk/src"] != nil && strings.Contains(errs[0].Error(), "does not match"):
				got = "refused"
				if strings.Contains(string(b), "zfs send") || strings.Contains(errs[0].Error(), "\n") {
					t.Errorf("a refused token ran zfs send, or its error is not one line: %v", errs[0])
				}
			case done == 0 && len(errs) == 1 && !aborted && kept["bk/src"] != nil:
				got = "kept"
				if !strings.Contains(errs[0].Error(), "what arrived is kept for the next run (zfs receive -A bk/src discards it)") {
					t.Errorf("error does not say the state is kept: %v", errs[0])
				}
			case done == 0 && len(errs) == 0 && aborted && len(kept) == 0:
				got = "discarded"
			default:
				got = fmt.Sprintf("done %d, errors %v, aborted %v, kept %v", done, errs, aborted, kept)
			}
			if got != c.want {
				t.Errorf("got %s, want %s\nzfs calls:\n%s", got, c.want, b)
			}
		})
	}
}
