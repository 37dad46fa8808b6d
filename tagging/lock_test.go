package tagging

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Six tags at once on clones of one streamline (hooks at host shutdown) get six versions:
// each lists, decides and snapshots under the lock, against a fake zfs that remembers.
func TestConcurrentTagsGetDistinctVersions(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "list")
	rows := "pool\tfilesystem\t1\t1\t-\t0\t0\t0\t/pool\t-\t1\t-\n" +
		"pool/t\tfilesystem\t2\t2\t-\t0\t0\t0\t/pool/t\t-\t1\t-\n" +
		"pool/t@zfs-vm:race:1\tsnapshot\t3\t3\t-\t0\t0\t-\t-\t0\t1\t-\n"
	for i := 1; i <= 6; i++ {
		rows += fmt.Sprintf("pool/c%d\tfilesystem\t1%d\t4\tpool/t@zfs-vm:race:1\t0\t0\t5\t/pool/c%[1]d\t-\t1\t-\n", i, i)
	}
	if err := os.WriteFile(list, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, _ := filepath.Abs("testdata/fakebin")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_ZFS_LIST", list)

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Lock(ctx, filepath.Join(dir, "locks"), 30*time.Second)
			if err != nil {
				errs[i] = err
				return
			}
			defer l.Release()
			host := zfs.Local(nil)
			inv, err := host.List(ctx)
			if err == nil {
				_, err = Apply(ctx, host, inv, inv.Dataset(fmt.Sprintf("pool/c%d", i+1)), Request{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("tag %d: %v", i+1, err)
		}
	}
	b, _ := os.ReadFile(list)
	versions := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		name, _, _ := strings.Cut(l, "\t")
		if ds, snap, ok := strings.Cut(name, "@"); ok && strings.HasPrefix(ds, "pool/c") {
			versions[snap]++
		}
	}
	if len(versions) != 6 {
		t.Errorf("six tags made versions %v", versions)
	}
}

func TestLockGivesUp(t *testing.T) {
	dir := t.TempDir()
	l, err := Lock(context.Background(), dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	_, err = Lock(context.Background(), dir, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "another zfs-vm tag (pid ") {
		t.Errorf("second lock: %v", err)
	}
}
