package virtio

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"brique.dev/brique/abi"
)

// FirstIRQ is the interrupt number announced for device 0 on the command
// line (device n gets FirstIRQ+n, as on Firecracker). Brique has no
// interrupt controller: the number only keeps the syntax Linux expects.
const FirstIRQ = 5

// WindowAddr is the guest-physical base of device n's register window.
func WindowAddr(n int) uint64 {
	return abi.VirtioMMIOBase + uint64(n)*abi.VirtioMMIOStride
}

// Cmdline is the kernel command line fragment announcing a virtio-mmio
// device whose registers are at addr (size bytes) with interrupt irq, in
// the syntax of Linux's virtio_mmio driver (drivers/virtio/virtio_mmio.c,
// "virtio_mmio.device=<size>@<baseaddr>:<irq>"): size and address in hex
// with a 0x prefix, irq in decimal. Example:
// "virtio_mmio.device=0x200@0xd0010000:5".
func Cmdline(size, addr uint64, irq int) string {
	return fmt.Sprintf("virtio_mmio.device=%#x@%#x:%d", size, addr, irq)
}

// Bus holds the virtio-mmio devices of one VM, at consecutive windows from
// abi.VirtioMMIOBase. It is the monitor's single entry point: HandleMMIO
// for KVM_EXIT_MMIO, Wake for HypercallHalt, Cmdline for the boot info,
// Close at exit.
type Bus struct {
	mem     GuestMemory
	devs    []*Transport
	wake    chan struct{}
	notify  func()
	onError func(error)
	closeMu sync.Mutex
	closed  bool
}

// NewBus returns an empty bus for guest memory mem. onError, if not nil,
// receives diagnostics about driver mistakes (show them with --debug).
func NewBus(mem GuestMemory, onError func(error)) *Bus {
	return &Bus{mem: mem, wake: make(chan struct{}, 1), onError: onError}
}

// Add attaches dev at the next window and returns its transport.
func (b *Bus) Add(dev Device) (*Transport, error) {
	if len(b.devs) >= abi.VirtioMaxDevices {
		return nil, fmt.Errorf("virtio: at most %d devices", abi.VirtioMaxDevices)
	}
	t := NewTransport(dev, b.mem, TransportConfig{Interrupt: b.signal, OnError: b.onError})
	b.devs = append(b.devs, t)
	return t, nil
}

// Devices returns the transports in window order.
func (b *Bus) Devices() []*Transport { return b.devs }

// SetNotify makes interrupts call f (from device goroutines) instead of
// filling the Wake channel. Call it before the guest starts the devices.
func (b *Bus) SetNotify(f func()) { b.notify = f }

func (b *Bus) signal() {
	if b.notify != nil {
		b.notify()
		return
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Wake receives a value when a device raised an interrupt since the last
// receive (it holds at most one): a halted guest should wake up with
// abi.EventDevice. Values can be stale (the guest already saw the used
// buffers by polling); that only costs a spurious wakeup.
func (b *Bus) Wake() <-chan struct{} { return b.wake }

// Contains reports whether gpa is inside the window range of the bus
// (all VirtioMaxDevices strides, whether a device is there or not).
func (b *Bus) Contains(gpa uint64) bool {
	return gpa >= abi.VirtioMMIOBase && gpa < abi.VirtioMMIOBase+abi.VirtioMaxDevices*abi.VirtioMMIOStride
}

// HandleMMIO serves a KVM_EXIT_MMIO at gpa: data is kvm_run.mmio.data[:len]
// (filled for a read). It returns false if no device register is at gpa
// (the access is the guest's fault: the monitor reports it).
func (b *Bus) HandleMMIO(gpa uint64, data []byte, write bool) bool {
	if !b.Contains(gpa) || len(data) == 0 || len(data) > 8 {
		return false
	}
	rel := gpa - abi.VirtioMMIOBase
	n, off := rel/abi.VirtioMMIOStride, rel%abi.VirtioMMIOStride
	if off+uint64(len(data)) > abi.VirtioMMIOSize {
		return false
	}
	if n >= uint64(len(b.devs)) {
		// An empty slot reads as zero (DeviceID 0: "no device",
		// virtio 1.2 section 4.2.2), writes are ignored: how a driver
		// probes for devices.
		if !write {
			clear(data)
		}
		return true
	}
	b.devs[n].Access(off, data, write)
	return true
}

// Cmdline is the command line fragment announcing every device, separated
// by spaces ("" with no devices).
func (b *Bus) Cmdline() string {
	parts := make([]string, len(b.devs))
	for i := range b.devs {
		parts[i] = Cmdline(abi.VirtioMMIOSize, WindowAddr(i), FirstIRQ+i)
	}
	return strings.Join(parts, " ")
}

// Close resets every device (stopping its goroutines: guest memory may be
// unmapped afterwards) and closes the devices that are io.Closers (their
// backends).
func (b *Bus) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	for _, t := range b.devs {
		t.Reset()
		if c, ok := t.dev.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
