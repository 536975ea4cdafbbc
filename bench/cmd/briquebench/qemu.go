package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// qemuEnv is the Linux VM competitor: a stock distribution kernel booted by
// QEMU with an initramfs whose /init is the static hello binary.
type qemuEnv struct {
	bin       string // qemu-system-x86_64
	version   string // first line of --version
	kernel    string // /boot/vmlinuz-*
	kernelVer string // the part after vmlinuz-
	initrd    string // written by the harness
	initrdLen int64
	kernelLen int64
	memMiB    int
}

// qemuCmdline is the kernel command line: the serial port as console,
// reboot at once on panic (the kernel panics when /init exits), and few
// boot messages.
const qemuCmdline = "console=ttyS0 panic=-1 quiet"

// setupQemu finds QEMU and a kernel and writes the initramfs. The error says
// why the competitor is skipped.
func setupQemu(bin, kernel, work, binary string) (*qemuEnv, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s not found (install the Debian package qemu-system-x86): %w", bin, err)
	}
	e := &qemuEnv{bin: path, memMiB: 128}
	out, err := command(work, nil, path, "--version")
	if err != nil {
		return nil, err
	}
	e.version = strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if kernel == "" {
		if kernel, err = newestKernel("/boot"); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(kernel) // a stock kernel is readable by root only on some distributions
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	if st, err := f.Stat(); err == nil {
		e.kernelLen = st.Size()
	}
	f.Close()
	e.kernel = kernel
	e.kernelVer = strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")
	e.initrd = filepath.Join(work, "initramfs.cpio")
	if err := writeInitramfs(e.initrd, binary); err != nil {
		return nil, fmt.Errorf("writing the initramfs: %w", err)
	}
	if st, err := os.Stat(e.initrd); err == nil {
		e.initrdLen = st.Size()
	}
	return e, nil
}

// newestKernel returns the /boot/vmlinuz-* with the highest version.
func newestKernel(dir string) (string, error) {
	ms, _ := filepath.Glob(filepath.Join(dir, "vmlinuz-*"))
	if len(ms) == 0 {
		return "", fmt.Errorf("no %s/vmlinuz-* (install the Debian package linux-image-amd64)", dir)
	}
	sort.Slice(ms, func(i, j int) bool { return versionLess(filepath.Base(ms[i]), filepath.Base(ms[j])) })
	return ms[len(ms)-1], nil
}

var numRE = regexp.MustCompile(`\d+|\D+`)

// versionLess compares strings such as vmlinuz-6.1.0-9-amd64 and
// vmlinuz-6.1.0-10-amd64 with runs of digits compared as numbers.
func versionLess(a, b string) bool {
	pa, pb := numRE.FindAllString(a, -1), numRE.FindAllString(b, -1)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea == nil && eb == nil {
			return na < nb
		}
		return pa[i] < pb[i]
	}
	return len(pa) < len(pb)
}

// argv is the QEMU command line. TCG, not KVM: on these machines the
// kvm-pvm host cannot boot a stock kernel usefully and `-cpu host` fails,
// so the VM runs on QEMU's binary translator with its default CPU model.
// -net none: no network card (the initramfs has no driver for it anyway,
// and it spares loading its option ROM).
func (e *qemuEnv) argv() []string {
	return []string{e.bin, "-accel", "tcg", "-m", strconv.Itoa(e.memMiB) + "M", "-nographic", "-no-reboot", "-net", "none",
		"-kernel", e.kernel, "-initrd", e.initrd, "-append", qemuCmdline}
}

// how is the command line for the report, with the work directory elided.
func (e *qemuEnv) how() string {
	return fmt.Sprintf("`qemu-system-x86_64 -accel tcg -m %dM -nographic -no-reboot -net none -kernel %s -initrd initramfs.cpio -append %q`",
		e.memMiB, e.kernel, qemuCmdline)
}

// qemuCheck accepts a QEMU run that exited 0 (the guest rebooted after the
// kernel's panic at init's exit, and -no-reboot made QEMU exit) and whose
// serial console has a line ending with hello's. The console also carries the
// firmware's banner and the panic report.
func qemuCheck(r runResult) string {
	switch {
	case r.Err != nil, r.TimedOut, r.Exit != 0:
		return r.describe("")
	}
	for _, line := range strings.Split(r.Stdout, "\n") {
		// The line also carries what the firmware printed without a
		// newline ("Booting from ROM..") and its screen-clearing escapes.
		if lineEndsWith(line, strings.TrimSpace(helloOut)) {
			return ""
		}
	}
	return fmt.Sprintf("no hello line on the serial console: %q (stderr %q)", clip(stripTerminal(r.Stdout), 300), clip(r.Stderr, 200))
}

// panicked reports whether the console shows the kernel's panic at init's
// exit, the expected way for this VM to end.
func panicked(stdout string) bool {
	return strings.Contains(stdout, "Attempted to kill init")
}
