package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine describes where the numbers were taken.
type machine struct {
	Date        time.Time
	CPU         string
	Kernel      string
	NProc       int
	MemTotal    string
	MemAvail    string // MemAvailable when the run began
	KVM         string
	Go          string
	Runc        string
	Qemu        string // first line of qemu-system-x86_64 --version
	GuestKernel string // the kernel the Linux VM boots
	Cgroups     string
	Commit      string
}

func describeMachine(repo string) machine {
	m := machine{
		Date:    time.Now().UTC(),
		NProc:   runtime.NumCPU(), // like nproc: the CPUs this process may run on
		CPU:     "unknown",
		Cgroups: cgroupLayout(),
	}
	if v, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPU = v
	}
	if v, ok := procField("/proc/meminfo", "MemTotal"); ok {
		f := strings.Fields(v)
		if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
			m.MemTotal = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB"
		}
	}
	if kb, err := meminfoKiB("MemAvailable"); err == nil {
		m.MemAvail = strconv.FormatFloat(float64(kb)/(1<<20), 'f', 1, 64) + " GiB"
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = cstr(u.Sysname[:]) + " " + cstr(u.Release[:]) + " " + cstr(u.Version[:]) + " " + cstr(u.Machine[:])
	}
	switch {
	case exists("/sys/module/kvm_pvm"):
		m.KVM = "kvm-pvm (paravirtual nested KVM: guest CPL 0 is emulated, see DESIGN.md §3)"
	case exists("/sys/module/kvm_intel"):
		m.KVM = "kvm_intel (VMX)"
	case exists("/sys/module/kvm_amd"):
		m.KVM = "kvm_amd (SVM)"
	case exists("/dev/kvm"):
		m.KVM = "/dev/kvm (module unknown)"
	default:
		m.KVM = "no /dev/kvm"
	}
	if out, err := command(repo, nil, "go", "version"); err == nil {
		m.Go = strings.TrimSpace(out)
	} else {
		m.Go = runtime.Version()
	}
	if out, err := command(repo, nil, "git", "describe", "--always", "--dirty", "--abbrev=12"); err == nil {
		m.Commit = strings.TrimSpace(out)
	}
	return m
}

// procField returns the value of the first "key : value" line of a /proc file.
func procField(path, key string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func cstr(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
