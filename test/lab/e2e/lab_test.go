//go:build lab

// Package e2e is the end-to-end suite: it boots two Debian VMs with real OpenZFS (see
// ../vm.sh), installs the freshly built zfs-vm in both, and drives it over real ssh.
// Run it with `make test-lab` or `go test -tags lab ./test/lab/e2e`.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// vm is one lab VM, reached as root over ssh on its forwarded loopback port.
type vm struct {
	name string
	port string
	key  string
}

var (
	labDir string // test/lab
	vmA    *vm
	vmB    *vm
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	labDir = filepath.Dir(filepath.Dir(file))
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab setup:", err)
		code = 1
	}
	if os.Getenv("ZFS_VM_LAB_KEEP") == "" {
		for _, n := range []string{"a", "b"} {
			exec.Command(filepath.Join(labDir, "vm.sh"), "stop", n).Run()
		}
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	t0 := time.Now()
	bin := labBinary()
	build := exec.Command("go", "build", "-o", bin, "./cmd/zfs-vm")
	build.Dir = filepath.Join(labDir, "..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return 1, fmt.Errorf("building zfs-vm: %v\n%s", err, out)
	}
	// Building (or finding) the image first keeps the two boots from building it twice.
	img, err := exec.Command(filepath.Join(labDir, "build-image.sh")).Output()
	if err != nil {
		return 1, fmt.Errorf("lab image: %v", err)
	}
	fmt.Fprintf(os.Stderr, "lab: image %s ready after %s\n", strings.TrimSpace(string(img)), time.Since(t0).Round(time.Second))
	var wg sync.WaitGroup
	vms := map[string]*vm{}
	errs := make(chan error, 2)
	var mu sync.Mutex
	for _, n := range []string{"a", "b"} {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			cmd := exec.Command(filepath.Join(labDir, "vm.sh"), "start", n)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				errs <- fmt.Errorf("VM %s: %v", n, err)
				return
			}
			mu.Lock()
			vms[n] = &vm{name: n, port: strings.TrimSpace(string(out)), key: filepath.Join(labRunDir(), n, "key")}
			mu.Unlock()
		}(n)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 1, err
	}
	vmA, vmB = vms["a"], vms["b"]
	fmt.Fprintf(os.Stderr, "lab: VMs up after %s\n", time.Since(t0).Round(time.Second))
	for _, v := range []*vm{vmA, vmB} {
		if err := v.checkZFSSeries(labZFSSeries()); err != nil {
			return 1, err
		}
	}
	for _, pair := range [][2]*vm{{vmA, vmB}, {vmB, vmA}} {
		self, other := pair[0], pair[1]
		if out, err := exec.Command(filepath.Join(labDir, "vm.sh"), "install", self.name, bin, other.name).CombinedOutput(); err != nil {
			return 1, fmt.Errorf("installing zfs-vm in %s: %v\n%s", self.name, err, out)
		}
		// A VM kept from an earlier run (ZFS_VM_LAB_KEEP) may still have pools.
		if _, err := self.run("zpool list -H -o name | xargs -r -n1 zpool destroy -f; rm -f /var/tmp/*.img"); err != nil {
			return 1, err
		}
	}
	code := m.Run()
	fmt.Fprintf(os.Stderr, "lab: suite done after %s\n", time.Since(t0).Round(time.Second))
	return code, nil
}

// labZFSSeries is the OpenZFS series the lab was asked to run (make's ZFS=, 2.1 by default).
func labZFSSeries() string {
	if s := os.Getenv("ZFS_VM_LAB_ZFS"); s != "" {
		return s
	}
	return "2.1"
}

// labBinary is the zfs-vm the suite builds and installs in the VMs, one per series so that
// runs of both series can go on at once.
func labBinary() string { return filepath.Join(os.TempDir(), "zfs-vm-lab-bin-"+labZFSSeries()) }

// labRunDir is where vm.sh keeps the VMs' state; the same default as vm.sh's.
func labRunDir() string {
	if d := os.Getenv("ZFS_VM_LAB_RUN"); d != "" {
		return d
	}
	return "/tmp/zfs-vm-lab-" + labZFSSeries()
}

// checkZFSSeries makes sure the VM runs the OpenZFS series asked for, userland and kernel
// module alike, so that a run meant for 2.3 can never pass on 2.1 by mistake.
func (v *vm) checkZFSSeries(series string) error {
	out, err := v.run("zfs version")
	if err != nil {
		return fmt.Errorf("zfs version on %s: %v: %s", v.name, err, out)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "zfs-"+series+".") || !strings.HasPrefix(lines[1], "zfs-kmod-"+series+".") {
		return fmt.Errorf("VM %s runs %q, not OpenZFS %s", v.name, strings.TrimSpace(out), series)
	}
	fmt.Fprintf(os.Stderr, "lab: %s runs %s\n", v.name, strings.Join(lines, " "))
	return nil
}

func (v *vm) sshArgs() []string {
	return []string{"-i", v.key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-p", v.port}
}

// run runs a bash script as root in the VM and returns its combined output.
func (v *vm) run(script string, stdin ...string) (string, error) {
	args := append(v.sshArgs(), "root@127.0.0.1")
	if len(stdin) > 0 {
		args = append(args, script)
	} else {
		args = append(args, "bash -s")
	}
	cmd := exec.Command("ssh", args...)
	if len(stdin) > 0 {
		cmd.Stdin = strings.NewReader(stdin[0])
	} else {
		cmd.Stdin = strings.NewReader("set -e -o pipefail\n" + script)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// must runs a script that must succeed.
func (v *vm) must(t *testing.T, script string) string {
	t.Helper()
	out, err := v.run(script)
	if err != nil {
		t.Fatalf("on %s: %v\nscript:\n%s\noutput:\n%s", v.name, err, script, out)
	}
	return out
}

// fails runs a script that must fail, and returns its output.
func (v *vm) fails(t *testing.T, script string) string {
	t.Helper()
	out, err := v.run(script)
	if err == nil {
		t.Fatalf("on %s: expected failure\nscript:\n%s\noutput:\n%s", v.name, script, out)
	}
	return out
}

// pool creates a fresh file-backed pool in the VM and destroys it when the test ends.
func (v *vm) pool(t *testing.T, name string) string {
	t.Helper()
	v.must(t, fmt.Sprintf("truncate -s 1G /var/tmp/%[1]s.img && zpool create -O compression=off %[1]s /var/tmp/%[1]s.img", name))
	t.Cleanup(func() {
		v.run(fmt.Sprintf("zpool destroy -f %[1]s; rm -f /var/tmp/%[1]s.img", name))
	})
	return name
}
