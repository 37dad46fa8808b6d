package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zfs-vm.prom")
	t1 := time.Unix(1700000000, 0)
	err := Update(path, []PeerRun{
		{Peer: "b", OK: true, Time: t1, Bytes: 1024, Streams: 2, Duration: 1500 * time.Millisecond, Streamlines: map[string]uint64{"debian-12": 1024}},
		{Peer: "c", OK: true, Time: t1, Bytes: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A later failed run of b keeps its last success; c is not touched.
	t2 := time.Unix(1700003600, 0)
	if err := Update(path, []PeerRun{{Peer: "b", OK: false, Time: t2, Failures: 1}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	for _, want := range []string{
		"# TYPE zfs_vm_sync_bytes gauge",
		`zfs_vm_sync_last_success_timestamp_seconds{peer="b"} 1700000000`,
		`zfs_vm_sync_last_run_timestamp_seconds{peer="b"} 1700003600`,
		`zfs_vm_sync_failures{peer="b"} 1`,
		`zfs_vm_sync_bytes{peer="b"} 0`,
		`zfs_vm_sync_bytes{peer="c"} 5`,
		`zfs_vm_sync_last_success_timestamp_seconds{peer="c"} 1700000000`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `streamline="debian-12"`) {
		t.Errorf("b's old per-streamline series survived its new run:\n%s", got)
	}
}

func TestBehindAndLastSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zfs-vm.prom")
	t1, newest := time.Unix(1700000000, 0), time.Unix(1690000000, 0)
	err := Update(path, []PeerRun{
		{Peer: "b", OK: true, Time: t1, Behind: map[string]int{"debian": 2}, Newest: map[string]time.Time{"debian": newest}},
		{Peer: "c", OK: false, Time: t1, Behind: map[string]int{"debian": 0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{
		"# TYPE zfs_vm_versions_behind gauge",
		`zfs_vm_versions_behind{peer="b",streamline="debian"} 2`,
		`zfs_vm_versions_behind{peer="c",streamline="debian"} 0`,
		`zfs_vm_newest_version_timestamp_seconds{peer="b",streamline="debian"} 1690000000`,
	} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
	last := LastSuccess(path)
	if len(last) != 1 || !last["b"].Equal(t1) {
		t.Errorf("LastSuccess = %v, want only b at %v", last, t1)
	}
	if got := LastSuccess(filepath.Join(t.TempDir(), "none.prom")); len(got) != 0 {
		t.Errorf("no file: %v", got)
	}
}

// Peers whose runs end at the same moment each keep their series: the read-modify-write of
// the file is locked.
func TestConcurrentUpdatesKeepEveryPeer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zfs-vm.prom")
	const peers = 40
	var wg sync.WaitGroup
	errs := make(chan error, peers)
	for i := 0; i < peers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- Update(path, []PeerRun{{Peer: fmt.Sprintf("p%d", i), OK: true, Time: time.Unix(1700000000, 0)}})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	lost := 0
	for i := 0; i < peers; i++ {
		if !strings.Contains(string(b), fmt.Sprintf(`zfs_vm_sync_last_run_timestamp_seconds{peer="p%d"}`, i)) {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d peers' series lost", lost, peers)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.prom")); len(m) != 1 {
		t.Errorf("files node_exporter would read: %v", m)
	}
}
