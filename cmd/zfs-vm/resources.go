package main

import (
	"runtime"
	"syscall"
)

// logResources logs, with -d, the CPU time and peak memory of zfs-vm's own process (not
// of the zfs and ssh processes it runs): what the benchmarks report as zfs-vm's cost.
func logResources() {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return
	}
	maxrss := int64(ru.Maxrss) // KiB on Linux and FreeBSD
	if runtime.GOOS == "darwin" {
		maxrss /= 1024
	}
	log.Debugf("resources: user %.3fs sys %.3fs maxrss %d KiB",
		float64(ru.Utime.Sec)+float64(ru.Utime.Usec)/1e6, float64(ru.Stime.Sec)+float64(ru.Stime.Usec)/1e6, maxrss)
}
