package monitor

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/abi"
	"brique.dev/brique/image"
	"brique.dev/brique/monitor/kvm"
	"brique.dev/brique/monitor/osthread"
	"brique.dev/brique/monitor/virtio"
	vnet "brique.dev/brique/monitor/virtio/net"
)

// Config describes one run of an image.
type Config struct {
	Image     *image.Image
	MemoryMiB int      // guest RAM; DefaultMemoryMiB if 0
	Args      []string // argv, argv[0] included
	Env       []string // KEY=VALUE
	Stdout    io.Writer
	Stderr    io.Writer
	Debug     bool // show library OS diagnostics (unimplemented system calls, ...)
	// Signals delivers host signals (SIGINT, SIGTERM) to forward to the
	// program; a second one stops the VM at once.
	Signals <-chan os.Signal
	// Net is the VM's network (none by default).
	Net NetConfig
	// Cwd is the program's working directory in the guest ("" = "/"); it
	// must exist in the image's root file system.
	Cwd string
	// Seccomp confines the whole process to the system calls a running
	// monitor needs (seccomp.go) once the VM is set up. It cannot be
	// undone: set it only in a process that runs this one VM and exits.
	Seccomp bool
	// Volumes are host directories the guest mounts (virtio-9p devices
	// served by brique-9pd: volumes.go).
	Volumes []Volume
	// VolumeServer is the path of brique-9pd ("" = next to this
	// program, then $PATH).
	VolumeServer string
	// CPUProfile, if set, receives a pprof CPU profile of the guest
	// (profile.go) when the run ends.
	CPUProfile io.Writer
}

// DefaultMemoryMiB is the guest RAM when none is asked for.
const DefaultMemoryMiB = 64

// Result is what a finished run reports.
type Result struct {
	ExitCode   int
	Crashed    bool          // the guest crashed (report printed on Stderr)
	Setup      time.Duration // from Run's start to the first guest instruction
	Total      time.Duration
	FramesPeak uint64 // peak 4 KiB frames the guest allocated beyond its image
	Exits      uint64 // VM exits handled
	// ExitsBy splits Exits: device register accesses (virtio kicks),
	// halts (the guest had nothing to run), other hypercalls, and
	// interruptions by the monitor (preemption ticks, signals).
	ExitsBy    struct{ Device, Halt, Hypercall, Interrupt uint64 }
	Flushes    uint64        // TLB flushes the guest asked for
	Syscalls   uint64        // system calls the library OS handled
	PageFaults uint64        // page faults the library OS handled
	GuestBoot  time.Duration // guest clock when the library OS entered the Go runtime
	// FirstOutput is the time from entering the Go runtime to the
	// program's first console write (for hello: runtime init to main).
	FirstOutput time.Duration
	// GuestResident is the host memory backing guest RAM at exit (bytes):
	// the pages the guest (or the loader) touched.
	GuestResident uint64
	// Net is the network device's traffic counters (nil without one).
	Net *vnet.Stats
}

// Error kinds returned by Run.
var (
	ErrMemory = errors.New("not enough guest memory")
	ErrGuest  = errors.New("guest failure")
)

// Run boots cfg.Image and runs it to completion.
func Run(cfg Config) (res Result, err error) {
	start := time.Now()
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	memMiB := cfg.MemoryMiB
	if memMiB == 0 {
		memMiB = DefaultMemoryMiB
	}
	if memMiB < abi.MinGuestRAM>>20 || memMiB > abi.MaxGuestRAM>>20 || memMiB%2 != 0 {
		return res, fmt.Errorf("%w: -m %dM: guest memory must be an even number of MiB between %d and %d", ErrMemory, memMiB, abi.MinGuestRAM>>20, abi.MaxGuestRAM>>20)
	}
	memSize := uint64(memMiB) << 20
	if err := checkVolumes(cfg.Volumes, maxVolumes(cfg.Net)); err != nil {
		return res, err
	}

	segs, err := cfg.Image.Segments(memSize)
	if err != nil {
		if errors.Is(err, image.ErrSegments) {
			need := imageSpan(cfg.Image)
			if need > memSize {
				return res, fmt.Errorf("%w: the image ends at %.1f MiB but -m is %d MiB: run with -m %dM or more", ErrMemory, float64(need)/(1<<20), memMiB, roundMiB(need+(2<<20)))
			}
		}
		return res, err
	}
	var imageEnd uint64
	for _, s := range segs {
		if s.Paddr < abi.ImageBase {
			return res, fmt.Errorf("%s: segment at %#x is below %#x: not a Brique image layout; rebuild with `brique build`", cfg.Image.Path, s.Paddr, abi.ImageBase)
		}
		if e := (s.Paddr + s.Memsz + abi.PageSize - 1) &^ (abi.PageSize - 1); e > imageEnd {
			imageEnd = e
		}
	}
	// The image is loaded at its link address (4 MiB); RAM below it and
	// above its end is the guest's to allocate.
	if imageEnd > memSize {
		return res, fmt.Errorf("%w: the image ends at %.1f MiB but -m is %d MiB: run with -m %dM or more", ErrMemory, float64(imageEnd)/(1<<20), memMiB, roundMiB(imageEnd+(2<<20)))
	}

	sys, err := kvm.Open()
	if err != nil {
		return res, err
	}
	defer sys.Close()
	// KVM_GET_SUPPORTED_CPUID takes a few hundred microseconds: ask for
	// it while the memory is set up.
	type cpuidResult struct {
		e   []kvm.CPUIDEntry
		err error
	}
	cpuidc := make(chan cpuidResult, 1)
	go func() {
		e, err := sys.SupportedCPUID()
		cpuidc <- cpuidResult{e, err}
	}()
	vm, err := sys.CreateVM()
	if err != nil {
		return res, err
	}
	defer vm.Close()

	raw, err := unix.Mmap(-1, 0, int(memSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return res, fmt.Errorf("allocating %d MiB of guest memory: %w", memMiB, err)
	}
	defer unix.Munmap(raw)
	// Transparent huge pages: the host backs guest RAM in 2 MiB pages as
	// it is touched, instead of taking a fault per 4 KiB page (measured:
	// ~1 ms less per boot of hello, docs/benchmarks.md). Populating all of
	// RAM up front costs more than it saves for a small program.
	_ = unix.Madvise(raw, unix.MADV_HUGEPAGE)
	mem := guestMem(raw)
	// One bus for every virtio device.
	devLog := cfg.Net.Log
	bus := virtio.NewBus(virtio.Memory(raw), func(err error) {
		if devLog != nil {
			fmt.Fprintf(devLog, "brique: virtio: %v\n", err)
		}
	})
	defer bus.Close() // before the memory goes (defers run in reverse)
	netCmdline, netReady, netDev, err := setupNet(cfg.Net, bus)
	if err != nil {
		return res, err
	}
	volCmdline, volServer, err := setupVolumes(cfg.Volumes, cfg.VolumeServer, bus, cfg.Stderr, devLog, traceExits)
	if volServer != nil {
		// After the devices (their sockets closing ends brique-9pd),
		// reap the server; a failure while the VM ran was reported.
		defer func() {
			bus.Close()
			if err := volServer.Close(); err != nil && devLog != nil {
				fmt.Fprintf(devLog, "brique: %v\n", err)
			}
		}()
	}
	if err != nil {
		return res, err
	}
	if err := vm.SetUserMemory(0, 0, 0, raw); err != nil {
		return res, err
	}
	// Queue notifications of devices with a doorbell go straight from KVM
	// to the device's I/O thread (ioeventfd): the vCPU does not return to
	// the monitor for them.
	for i, t := range bus.Devices() {
		if db, ok := t.Device().(interface{ Doorbell() int }); ok && db.Doorbell() >= 0 {
			if err := vm.SetIoEventFD(virtio.WindowAddr(i)+virtio.RegQueueNotify, 4, db.Doorbell()); err != nil && devLog != nil {
				fmt.Fprintf(devLog, "brique: virtio: KVM_IOEVENTFD (kicks will go through the monitor): %v\n", err)
			}
		}
	}
	for _, s := range segs {
		copy(mem[s.Paddr:], s.Data)
	}
	buildPageTables(mem)
	buildGDT(mem)

	// The vCPU: KVM_RUN must be issued from one OS thread, which the
	// preemption timer signals.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The guest halts for a few microseconds at a time (its Go runtime's
	// sysmon and scheduler sleeps): the host's default timer slack for a
	// thread (50 us) made each such halt last ~100 us.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	// Named for top -H and the benchmark's CPU accounting.
	// The thread goes back to Go's pool when Run returns: under its old
	// name (were it the main thread, the process itself would show as
	// brique-vcpu0 in ps and pidof).
	if old := osthread.Name(); old != "" {
		defer osthread.SetName(old)
	}
	osthread.SetName("brique-vcpu0")
	cpu, err := vm.CreateVCPU(0)
	if err != nil {
		return res, err
	}
	defer cpu.Close()
	cr := <-cpuidc
	if cr.err != nil {
		return res, cr.err
	}
	if err := cpu.SetCPUID2(guestCPUID(cr.e)); err != nil {
		return res, err
	}
	sregs, err := cpu.GetSregs()
	if err != nil {
		return res, err
	}
	cpuState(&sregs)
	if err := cpu.SetSregs(&sregs); err != nil {
		return res, err
	}
	khz, err := cpu.GetTSCKHz()
	if err != nil {
		return res, err
	}
	tsc, err := cpu.GetMSRs([]uint32{msrTSC})
	if err != nil {
		return res, err
	}
	wall := time.Now()
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return res, err
	}
	var flags uint64
	if cfg.Debug {
		flags |= abi.BootFlagDebug
	}
	if os.Getenv("BRIQUE_STRACE") != "" {
		flags |= abi.BootFlagStrace | abi.BootFlagDebug
	}
	if os.Getenv("BRIQUE_SYSCOUNT") != "" {
		flags |= abi.BootFlagSyscount | abi.BootFlagDebug
	}
	var cmdline string
	if cfg.Cwd != "" {
		if strings.ContainsAny(cfg.Cwd, " \t\n") || !strings.HasPrefix(cfg.Cwd, "/") {
			return res, fmt.Errorf("working directory %q: must be an absolute path without spaces", cfg.Cwd)
		}
		cmdline = "brique.cwd=" + cfg.Cwd
	}
	for _, words := range []string{bus.Cmdline(), netCmdline, volCmdline} {
		if words != "" {
			cmdline = strings.TrimSpace(cmdline + " " + words)
		}
	}
	if err := writeBootInfo(mem, imageEnd, uint64(khz)*1000, tsc[0].Data, wall.UnixNano(), cfg.Args, cfg.Env, seed, flags, cmdline); err != nil {
		return res, err
	}
	mem.put64(abi.BootInfoAddr+abi.BootInfoSpinNS, uint64(haltSpin(cfg.Net.Mode)))
	regs := kvm.Regs{RIP: cfg.Image.File.Entry, RSP: abi.BootStackTop, RFLAGS: 2}
	if err := cpu.SetRegs(&regs); err != nil {
		return res, err
	}

	v := &vcpu{cfg: cfg, mem: mem, cpu: cpu, run: cpu.RunData(), tid: unix.Gettid(), pid: unix.Getpid(), sigq: make(chan unix.Signal, 4), bus: bus}
	if netReady != nil {
		// brique-netd may still be starting: the guest boots meanwhile
		// (netgate.go).
		v.netGate = startNetGate(netReady, v.abortRun)
		gate := v.netGate
		defer func() {
			// A program that ended before the daemon was ready still
			// learns whether its network could be set up.
			if gerr := gate.wait(); gerr != nil && err == nil {
				err = gerr
			}
		}()
	}
	if cfg.CPUProfile != nil {
		v.prof = newCPUProfile()
	}
	bus.SetNotify(func() { v.events.post(abi.EventDevice) })
	res.Setup = time.Since(start)
	code, crashed, err := v.loop()
	if v.prof != nil {
		sym, serr := image.NewSymbolizer(cfg.Image)
		if serr == nil {
			serr = v.prof.write(cfg.CPUProfile, sym, time.Since(start))
		}
		if serr != nil && err == nil {
			err = fmt.Errorf("writing the CPU profile: %w", serr)
		}
	}
	res.ExitCode, res.Crashed = code, crashed
	res.Total = time.Since(start)
	res.Exits = v.exits
	res.ExitsBy = v.exitsBy
	res.Flushes = v.flushes
	res.FramesPeak, _ = mem.u64(abi.BootInfoAddr + abi.BootInfoFramesPeak)
	res.Syscalls, _ = mem.u64(abi.BootInfoAddr + abi.BootInfoSyscalls)
	res.PageFaults, _ = mem.u64(abi.BootInfoAddr + abi.BootInfoFaults)
	res.GuestResident = resident(raw)
	if netDev != nil {
		st := netDev.Stats()
		res.Net = &st
	}
	bootNS, _ := mem.u64(abi.BootInfoAddr + abi.BootInfoBootNS)
	res.GuestBoot = time.Duration(bootNS)
	if out, _ := mem.u64(abi.BootInfoAddr + abi.BootInfoFirstOutNS); out > bootNS {
		res.FirstOutput = time.Duration(out - bootNS)
	}
	return res, err
}

const msrTSC = 0x10

// traceExits (BRIQUE_TRACE=1) prints every VM exit on stderr, for
// debugging the library OS.
var traceExits = os.Getenv("BRIQUE_TRACE") != ""

// preemptOff (BRIQUE_PREEMPT=0) disables the preemption timer, for
// debugging: a goroutine spinning without function calls then freezes the
// program, as it would with GODEBUG=asyncpreemptoff=1.
var preemptOff = os.Getenv("BRIQUE_PREEMPT") == "0"

func roundMiB(n uint64) uint64 {
	m := (n + (1 << 20) - 1) >> 20
	return (m + 1) &^ 1
}

// imageSpan is the highest address any PT_LOAD segment wants, unchecked
// (only used to phrase an error).
func imageSpan(img *image.Image) uint64 {
	var end uint64
	for _, p := range img.File.Progs {
		if e := p.Paddr + p.Memsz; p.Type == 1 && e > end && e > p.Paddr {
			end = e
		}
	}
	return end
}

// haltSpin is how long the guest may spin through a wait rather than halt
// (abi.BootInfoSpinNS): 30 us, which covers the Go runtime's short sleeps
// (a halt costs a ~25 us VM exit on kvm-pvm), except on the user network,
// where every packet also needs brique-netd on the host's CPUs and a
// spinning vCPU takes CPU from it (measured with wrk -c32 through
// brique run -p: 13.5k requests/s without spinning, 10.5k with).
func haltSpin(netMode string) time.Duration {
	if netMode == "user" {
		return 0
	}
	return 30 * time.Microsecond
}

// guestCPUID is what KVM supports, unchanged. On kvm-pvm, CPUID executed
// at CPL 3 is not intercepted (the guest sees the host's CPUID), so the
// guest kernel must cope with whatever the CPU offers: it saves FP state
// with XSAVE for every component enabled in XCR0 (guest/kernel/fpu.go).
func guestCPUID(in []kvm.CPUIDEntry) []kvm.CPUIDEntry { return in }

// vcpu runs the guest's only vCPU.
type vcpu struct {
	cfg     Config
	mem     guestMem
	cpu     *kvm.VCPU
	run     *kvm.RunData
	sym     *image.Symbolizer
	tid     int
	pid     int
	exits   uint64
	exitsBy struct{ Device, Halt, Hypercall, Interrupt uint64 }

	running atomic.Bool           // in KVM_RUN (not halted in the monitor)
	aborted atomic.Pointer[error] // abortRun's error: the loop stops with it
	// netGate holds the program's first console output until the user
	// network is ready (nil: no user network, or it was ready).
	netGate *netGate
	sigs    int              // host signals received
	events  wakeup           // what ends a halt: devices and host signals post here
	sigq    chan unix.Signal // host signals not yet given to the guest
	tick    *time.Ticker     // preemption period; stopped while the guest halts
	period  time.Duration    // the ticker's period
	prof    *cpuProfile      // CPU profile samples (nil: not profiling)
	due     atomic.Bool      // profiling: this interruption should also preempt
	halted  atomic.Bool      // in the halt hypercall
	bus     *virtio.Bus      // virtio devices (its empty slots read as zero)
	flushes uint64
}

// loop runs the vCPU until the program exits or crashes.
func (v *vcpu) loop() (code int, crashed bool, err error) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	// The ticker exists before the seccomp filter: creating the first
	// timer sets up the Go runtime's netpoller (epoll_create1, eventfd2).
	v.period = abi.PreemptPeriodNS
	if v.prof != nil {
		v.period = profilePeriod
	}
	tick := time.NewTicker(v.period)
	v.tick = tick
	go v.ticker(tick, done, &wg)
	if v.cfg.Seccomp {
		if err := EnterSeccomp(); err != nil {
			close(done)
			wg.Wait()
			return abi.ExitMonitor, false, err
		}
	}
	defer func() {
		close(done)
		wg.Wait()
	}()

	for {
		if err := v.abortErr(); err != nil {
			return abi.ExitMonitor, false, err
		}
		if len(v.sigq) > 0 {
			if c, stop := v.hostSignals(); stop {
				return c, false, nil
			}
		}
		v.running.Store(true)
		err := v.cpu.Run()
		v.running.Store(false)
		v.exits++
		if traceExits {
			v.trace(err)
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				v.exitsBy.Interrupt++
				if c, stop := v.hostSignals(); stop {
					return c, false, nil
				}
				if v.prof != nil {
					if r, err := v.cpu.GetRegs(); err == nil {
						v.prof.sample(v.mem, r.RIP, r.RBP)
					}
					if !v.due.Swap(false) {
						continue
					}
				}
				if err := v.preempt(); err != nil {
					return abi.ExitMonitor, false, err
				}
				continue
			}
			return abi.ExitMonitor, false, err
		}
		switch r := v.run.ExitReason(); r {
		case kvm.ExitMMIO:
			mm := v.run.MMIO()
			if v.bus.Contains(mm.PhysAddr) {
				v.exitsBy.Device++
				n := int(mm.Len)
				if n > 8 {
					n = 8
				}
				data := mm.Data
				if !v.bus.HandleMMIO(mm.PhysAddr, data[:n], mm.Write()) {
					return v.crashReport(fmt.Sprintf("the guest accessed a virtio window at %#x where no register is (%d bytes)", mm.PhysAddr, mm.Len))
				}
				if !mm.Write() {
					v.run.SetMMIOData(data[:n])
				}
				continue
			}
			if !mm.Write() || mm.PhysAddr < abi.HypercallBase || mm.PhysAddr >= abi.HypercallBase+abi.HypercallSize || mm.Len != 8 {
				return v.crashReport(fmt.Sprintf("the guest accessed unbacked memory at %#x (%d bytes, write=%v)", mm.PhysAddr, mm.Len, mm.Write()))
			}
			nr := (mm.PhysAddr - abi.HypercallBase) / 8
			if nr == abi.HypercallHalt {
				v.exitsBy.Halt++
			} else {
				v.exitsBy.Hypercall++
			}
			arg := leU64(mm.Data[:])
			code, exit, crashed, err := v.hypercall(nr, arg)
			if exit || err != nil {
				return code, crashed, err
			}
		case kvm.ExitShutdown:
			return v.crashReport("the guest CPU shut down (triple fault): the library OS could not handle an exception")
		case kvm.ExitInternalError:
			ie := v.run.InternalError()
			return v.crashReport(fmt.Sprintf("KVM internal error (%s): the guest executed code the hypervisor cannot run (on kvm-pvm: an SSE instruction at CPL 0)", ie))
		case kvm.ExitFailEntry:
			return v.crashReport(fmt.Sprintf("KVM could not enter the guest (hardware reason %#x): bad CPU state", v.run.FailEntry().HardwareEntryFailureReason))
		case kvm.ExitIO, kvm.ExitHLT:
			return v.crashReport(fmt.Sprintf("unexpected %s exit: the guest executed a privileged instruction", r))
		default:
			return v.crashReport(fmt.Sprintf("unexpected VM exit %s", r))
		}
	}
}

// ticker interrupts KVM_RUN every preemption period (and on host signals)
// by signalling the vCPU thread: KVM_RUN then returns EINTR.
func (v *vcpu) ticker(t *time.Ticker, done <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	defer t.Stop()
	ratio := int(abi.PreemptPeriodNS / v.period)
	n := 0
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if n++; n >= ratio {
				n = 0
				v.due.Store(!preemptOff)
			}
			switch {
			case v.running.Load():
				if v.prof != nil || !preemptOff {
					v.kick()
				}
			case v.prof != nil && v.halted.Load():
				v.prof.halted.Add(1)
			case v.prof != nil:
				v.prof.monitor.Add(1)
			}
		case s, ok := <-v.cfg.Signals:
			if !ok {
				v.cfg.Signals = nil
				continue
			}
			v.pendingSignal(s)
			v.due.Store(true)
			v.events.post(abi.EventSignal)
			v.kick()
		}
	}
}

func (v *vcpu) kick() {
	_ = unix.Tgkill(v.pid, v.tid, unix.SIGURG)
}

func (v *vcpu) pendingSignal(s os.Signal) {
	sig, ok := s.(unix.Signal)
	if !ok {
		return
	}
	select {
	case v.sigq <- sig:
	default:
	}
}

// hostSignals forwards queued host signals to the guest; a second one
// stops the VM (exit 128+sig).
func (v *vcpu) hostSignals() (int, bool) {
	for {
		select {
		case sig := <-v.sigq:
			v.sigs++
			if v.sigs > 1 {
				fmt.Fprintf(v.cfg.Stderr, "brique: second %v: stopping the VM\n", sig)
				return 128 + int(sig), true
			}
			v.mem.put64(abi.BootInfoAddr+abi.BootInfoSignal, uint64(sig))
		default:
			return 0, false
		}
	}
}

// preempt redirects the vCPU to the guest's upcall entry, unless the guest
// is inside code that must not be interrupted (then it asks the guest to
// reschedule when it leaves it).
func (v *vcpu) preempt() error {
	m := v.mem
	entry, _ := m.u64(abi.BootInfoAddr + abi.BootInfoUpcallEntry)
	area, _ := m.u64(abi.BootInfoAddr + abi.BootInfoUpcallArea)
	if entry == 0 || area == 0 {
		return nil // still booting
	}
	if _, err := m.slice(area, abi.UpcallSize); err != nil {
		return fmt.Errorf("guest published a bad upcall area: %w", err)
	}
	if busy, _ := m.u64(area + abi.UpcallBusy); busy != 0 {
		m.put64(area+abi.UpcallWanted, 1)
		return nil
	}
	regs, err := v.cpu.GetRegs()
	if err != nil {
		return err
	}
	// Not in the sled, not in a CPL 0 stub (on the IST stack), and not at
	// the upcall entry itself: KVM_RUN returns EINTR without running the
	// guest when a signal is already pending, and a second redirect would
	// overwrite the saved context.
	if regs.RIP < abi.PageSize || (regs.RSP >= abi.ISTStackTop-0x2000 && regs.RSP <= abi.ISTStackTop) ||
		(regs.RIP >= entry && regs.RIP < entry+abi.NoPreemptLen) {
		m.put64(area+abi.UpcallWanted, 1)
		return nil
	}
	for i := uint64(0); i < 2; i++ {
		a, _ := m.u64(abi.BootInfoAddr + abi.BootInfoNoPreempt + 8*i)
		if regs.RIP >= a && regs.RIP < a+abi.NoPreemptLen {
			m.put64(area+abi.UpcallWanted, 1)
			return nil
		}
	}
	m.put64(area+abi.UpcallRIP, regs.RIP)
	m.put64(area+abi.UpcallRSP, regs.RSP)
	m.put64(area+abi.UpcallRFLAGS, regs.RFLAGS)
	regs.RIP = entry
	return v.cpu.SetRegs(&regs)
}

func leU64(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// trace prints one VM exit (BRIQUE_TRACE=1).
func (v *vcpu) trace(err error) {
	r, _ := v.cpu.GetRegs()
	if err == nil && v.run.ExitReason() == kvm.ExitMMIO {
		mm := v.run.MMIO()
		fmt.Fprintf(v.cfg.Stderr, "brique: trace: exit %d: hypercall %d arg %#x\n", v.exits, (mm.PhysAddr-abi.HypercallBase)/8, leU64(mm.Data[:]))
		return
	}
	fmt.Fprintf(v.cfg.Stderr, "brique: trace: exit %d: err=%v reason=%v RIP %s\n", v.exits, err, v.run.ExitReason(), v.describe(r.RIP))
}
