package vol

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/hugelgupf/p9/p9"

	"brique.dev/brique/guest/kernel"
	"brique.dev/brique/guest/svc"
	"brique.dev/brique/guest/virtio"
)

const (
	// virtio9PID is the device ID of the 9P transport (virtio 1.2, 5
	// "Device Types": 9).
	virtio9PID = 9
	// featureMountTag is VIRTIO_9P_MOUNT_TAG (include/uapi/linux/virtio_9p.h).
	featureMountTag = 1 << 0
	// cmdlineKey starts the word announcing a volume (monitor/volumes.go).
	cmdlineKey = "brique.vol="

	// msize is the 9P message size asked for: the most brique-9pd and the
	// device accept (256 KiB; against 128 KiB, sequential writes are 30%
	// and reads 45% faster; it costs 2 MiB of guest memory per volume).
	msize = 256 << 10
	// slots is how many requests can be in flight per volume (the
	// service thread has one; the rest is headroom).
	slots     = 4
	queueSize = 2 * slots
)

// spec is one volume as the command line announces it.
type spec struct {
	tag, dir string
	readOnly bool
}

// parseCmdline returns the volumes announced on cmdline, in order, parsed
// as the kernel parses them (guest/kernel/volume.go), so that indices
// agree.
func parseCmdline(cmdline string) []spec {
	var out []spec
	for _, w := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(w, cmdlineKey)
		if !ok {
			continue
		}
		tag, rest, ok := strings.Cut(v, ":")
		if !ok {
			continue
		}
		dir, mode, _ := strings.Cut(rest, ":")
		if len(dir) < 2 || dir[0] != '/' || len(dir) > 256 {
			continue
		}
		out = append(out, spec{tag: tag, dir: dir, readOnly: mode == "ro"})
	}
	return out
}

// findDevice returns the register window of the virtio-9p device with
// mount tag tag announced on the command line, or 0.
func findDevice(cmdline, tag string) uintptr {
	for _, m := range virtio.Find(cmdline, virtio9PID) {
		if mountTag(m) == tag {
			return uintptr(m)
		}
	}
	return 0
}

// mountTag reads a 9P device's tag from its configuration space (struct
// virtio_9p_config: le16 tag_len, then the tag), 32 bits at a time.
func mountTag(r virtio.Regs) string {
	byteAt := func(i uint32) byte {
		return byte(r.Read32(virtio.RegConfig+(i&^3)) >> (8 * (i & 3)))
	}
	n := uint32(byteAt(0)) | uint32(byteAt(1))<<8
	if n == 0 || n > 64 {
		return ""
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byteAt(2 + uint32(i))
	}
	return string(b)
}

// dmaPages is the DMA memory of one volume: the queue's rings and the
// request buffers.
const dmaPages = (queueSize*(16+2+8) + 3*64 + 2*slots*(msize+8) + 4095) / 4096

// mount drives the virtio-9p device at regs with buffers in dma: it
// negotiates msize and attaches the volume's root.
func (v *volume) mount(regs virtio.Regs, dma *virtio.DMA, wait waitFunc) error {
	dev, err := virtio.Init(regs, featureMountTag|virtio.FeatureEventIdx)
	if err != nil {
		return err
	}
	q, err := dev.SetupQueue(0, queueSize, dma)
	if err != nil {
		return err
	}
	dev.Ready()
	t, err := newTransport(q, dma, slots, msize, wait)
	if err != nil {
		return err
	}
	c, err := p9.NewClient(t, p9.WithMessageSize(msize))
	if err != nil {
		return fmt.Errorf("9P version: %w", err)
	}
	if got := t.negotiated(); got < msize {
		return fmt.Errorf("the server's msize is %d bytes, %d needed", got, msize)
	}
	root, err := c.Attach("")
	if err != nil {
		return fmt.Errorf("9P attach: %w", err)
	}
	qid, _, _, err := root.GetAttr(p9.AttrMaskAll)
	if err != nil {
		return fmt.Errorf("the root's attributes: %w", err)
	}
	v.client, v.root, v.rootQID = c, root, qid
	return nil
}

// waitDevice is a waitFunc on Brique: SysWaitDevice, which releases the P
// (the interrupt of the device's completion, or a signal, wakes it).
func waitDevice(q *virtio.Queue, idx uint16) {
	// Most replies come within tens of microseconds: poll that long
	// first, which saves the vCPU a halt and a wake-up (two VM exits).
	start := time.Now()
	for time.Since(start) < pollReply {
		if q.UsedIdx() != idx {
			return
		}
		runtime.Gosched()
	}
	syscall.Syscall(kernel.SysWaitDevice, q.UsedIdxAddr(), uintptr(idx), 0)
}

// pollReply is how long waitDevice polls before sleeping.
const pollReply = 100 * time.Microsecond

func init() {
	if !svc.OnBrique() {
		return // the package's own tests, on the host
	}
	if err := start(kernel.Cmdline()); err != nil {
		fmt.Fprintf(os.Stderr, "brique: volumes: %v\n", err)
	}
}

// errNoDevice: a volume's device is missing.
var errNoDevice = errors.New("no virtio-9p device with its mount tag")

func start(cmdline string) error {
	specs := parseCmdline(cmdline)
	if len(specs) == 0 {
		return nil
	}
	s := newServer(kernelMem, allocObject)
	for i, sp := range specs {
		v := &volume{index: i, tag: sp.tag, dir: sp.dir, readOnly: sp.readOnly, dev: volumeDev(i)}
		v.err = func() error {
			base := findDevice(cmdline, sp.tag)
			if base == 0 {
				return errNoDevice
			}
			a, _, e := syscall.Syscall(kernel.SysDMA, dmaPages, 0, 0)
			if e != 0 {
				return fmt.Errorf("DMA memory: %w", e)
			}
			dma := &virtio.DMA{Mem: kernel.Mem(a, dmaPages*4096), Phys: uint64(a)}
			return v.mount(virtio.MMIO(base), dma, waitDevice)
		}()
		if v.err != nil {
			fmt.Fprintf(os.Stderr, "brique: volume %s (%s): %v; its calls fail with EIO\n", sp.dir, sp.tag, v.err)
		}
		s.vols = append(s.vols, v)
	}
	if _, _, e := syscall.RawSyscall(kernel.SysSvcRegister, kernel.SvcVolume, 0, 0); e != 0 {
		return fmt.Errorf("register the volume service: %v", e)
	}
	// The service thread waits for requests holding its P
	// (docs/decisions/010): give the program one more.
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	go s.serve()
	return nil
}

// volumeDev is the st_dev of volume i's files: an anonymous device
// (major 0), one per volume.
func volumeDev(i int) uint64 { return 0x90 + uint64(i) }

// kernelMem is the program's memory, which the kernel checked and mapped
// before forwarding the call (the calling thread is blocked meanwhile).
func kernelMem(addr, n uint64) []byte { return kernel.Mem(uintptr(addr), uintptr(n)) }

// allocObject reserves an object number for a new descriptor.
func allocObject() (int64, syscall.Errno) {
	id, _, e := syscall.RawSyscall(kernel.SysSvcAlloc, kernel.SvcVolume, 0, 0)
	return int64(id), e
}
