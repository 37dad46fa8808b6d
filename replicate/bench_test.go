package replicate

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// synthListing writes a `zfs list` output of n snapshots over n/10 datasets: templates with
// 10 versions each, every other dataset a clone of a template's version with its own
// versions, and every 5th snapshot a foreign one. keep(i) decides whether snapshot i is
// listed (to make a receiver that has part of them).
func synthListing(n int, keep func(i int) bool) []byte {
	var b bytes.Buffer
	datasets := n / 10
	guid := uint64(1)
	txg := uint64(1)
	fmt.Fprintf(&b, "tank\tfilesystem\t%d\t1\t-\t0\t0\t0\t/tank\t-\t1\t-\n", guid)
	i := 0
	for d := 0; d < datasets; d++ {
		name := fmt.Sprintf("tank/img%05d", d)
		origin := "-"
		if d%2 == 1 {
			origin = fmt.Sprintf("tank/img%05d@zfs-vm:s%d:%d", d-1, (d-1)/2, 5)
		}
		txg++
		fmt.Fprintf(&b, "%s\tfilesystem\t%d\t%d\t%s\t0\t0\t0\t/%s\t-\t1\t-\n", name, 1000000000+d, txg, origin, name)
		for v := 1; v <= 10; v++ {
			txg++
			snap := fmt.Sprintf("zfs-vm:s%d:%d", d/2, v+(d%2)*10)
			if v%5 == 0 && d%2 == 1 {
				snap = fmt.Sprintf("daily-%d", v)
			}
			if keep(i) {
				fmt.Fprintf(&b, "%s@%s\tsnapshot\t%d\t%d\t-\t0\t0\t-\t-\t0\t1\t-\n", name, snap, 2000000000+i, txg)
			}
			i++
		}
	}
	return b.Bytes()
}

// BenchmarkPlan parses a sender and a receiver listing and plans, for 10k, 100k and 1M
// snapshots (over a tenth as many datasets, with clone trees), the receiver holding 90%.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		src := synthListing(n, func(int) bool { return true })
		// The receiver lacks the newest version of every dataset (90% present).
		dst := synthListing(n, func(i int) bool { return i%10 != 9 })
		b.Run(fmt.Sprintf("snapshots=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			streams := 0
			for b.Loop() {
				s, err := zfs.ParseList(bytes.NewReader(src))
				if err != nil {
					b.Fatal(err)
				}
				d, err := zfs.ParseList(bytes.NewReader(dst))
				if err != nil {
					b.Fatal(err)
				}
				p := Compute(s, d, Options{})
				streams = len(p.Streams)
			}
			b.ReportMetric(float64(streams), "streams")
		})
	}
}
