package net

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"brique.dev/brique/monitor/helperproc"
	"brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/netconf"
)

// Feature bits of the network device (virtio 1.2, section 5.1.3).
const (
	FeatureCsum      = 1 << 0  // VIRTIO_NET_F_CSUM (offered with an OffloadBackend)
	FeatureGuestCsum = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM (offered with an RXOffloadBackend)
	FeatureMTU       = 1 << 3  // VIRTIO_NET_F_MTU
	FeatureMAC       = 1 << 5  // VIRTIO_NET_F_MAC
	FeatureGuestTSO4 = 1 << 7  // VIRTIO_NET_F_GUEST_TSO4 (offered with an RXOffloadBackend)
	FeatureGuestTSO6 = 1 << 8  // VIRTIO_NET_F_GUEST_TSO6 (offered with an RXOffloadBackend)
	FeatureHostTSO4  = 1 << 11 // VIRTIO_NET_F_HOST_TSO4 (offered with an OffloadBackend)
	FeatureHostTSO6  = 1 << 12 // VIRTIO_NET_F_HOST_TSO6 (offered with an OffloadBackend)
	FeatureMrgRxbuf  = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF
	FeatureStatus    = 1 << 16 // VIRTIO_NET_F_STATUS
	FeatureCtrlVQ    = 1 << 17 // VIRTIO_NET_F_CTRL_VQ (not offered)
	FeatureMQ        = 1 << 22 // VIRTIO_NET_F_MQ (not offered)
)

// Configuration space layout (section 5.1.4, struct virtio_net_config).
const (
	ConfigMAC               = 0  // u8[6]
	ConfigStatus            = 6  // le16: StatusLinkUp
	ConfigMaxVirtqueuePairs = 8  // le16 (1)
	ConfigMTU               = 10 // le16
	ConfigSize              = 12

	StatusLinkUp = 1 // VIRTIO_NET_S_LINK_UP
)

// HeaderSize is the size of struct virtio_net_hdr with VIRTIO_F_VERSION_1
// (section 5.1.6): flags, gso_type, hdr_len, gso_size, csum_start,
// csum_offset, num_buffers.
const HeaderSize = 12

// Header field offsets.
const (
	HeaderFlags      = 0
	HeaderGSOType    = 1
	HeaderHdrLen     = 2
	HeaderGSOSize    = 4
	HeaderCsumStart  = 6
	HeaderCsumOffset = 8
	HeaderNumBuffers = 10
)

// Header values the driver may send when offload is negotiated.
const (
	HeaderFNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	GSONone          = 0 // VIRTIO_NET_HDR_GSO_NONE
	GSOTCPv4         = 1 // VIRTIO_NET_HDR_GSO_TCPV4
	GSOTCPv6         = 4 // VIRTIO_NET_HDR_GSO_TCPV6
)

// offloadFeatures are offered together, and only with an OffloadBackend;
// rxOffloadFeatures (towards the guest) only with an RXOffloadBackend and
// mergeable receive buffers, in which a 64 KiB frame fits.
const (
	offloadFeatures   = FeatureCsum | FeatureHostTSO4 | FeatureHostTSO6
	rxOffloadFeatures = FeatureGuestCsum | FeatureGuestTSO4 | FeatureGuestTSO6
)

// Queues: one receive and one transmit queue (no control queue, no
// multiqueue).
const (
	RXQueue   = 0
	TXQueue   = 1
	QueueSize = 256 // QueueNumMax of both queues
)

// MaxFrame is the largest Ethernet frame (header included, no FCS) the
// device moves in either direction.
const MaxFrame = 65535 + 14

// DefaultPoll is how long the device goroutines keep polling a queue after
// their last work before they ask the driver for a notification and sleep.
const DefaultPoll = 50 * time.Microsecond

// Config configures a network device.
type Config struct {
	// Backend carries the frames (TAP or user-mode). Required; the
	// device closes it in Close.
	Backend Backend
	// MAC is the device's address. Default: the backend's DefaultMAC
	// if it is a MACDefaulter (UserNet: netconf.GuestMAC, to which its
	// DHCP server gives netconf.GuestIP), a random locally administered
	// address otherwise.
	// (Any 6-byte slice, a net.HardwareAddr for example.)
	MAC []byte
	// MTU is announced to the driver (VIRTIO_NET_F_MTU). Default 1500.
	MTU int
	// NoMergeable stops the device from offering VIRTIO_NET_F_MRG_RXBUF.
	NoMergeable bool
	// Poll is the polling window (DefaultPoll if 0, none if negative).
	Poll time.Duration
	// OnError receives backend errors (optional): show them with --debug.
	OnError func(error)
}

// Stats counts the device's traffic.
type Stats struct {
	RXPackets, RXBytes, RXDropped uint64 // to the guest
	TXPackets, TXBytes, TXDropped uint64 // from the guest
	TXErrors                      uint64 // backend write errors
	// Kicks counts the driver's notifications that reached the I/O loop
	// (each one a VM exit, handled in the host kernel through the
	// doorbell); Interrupts counts the interrupts the device raised.
	Kicks, Interrupts uint64
}

// Device is a virtio network device (virtio 1.2, section 5.1): a
// virtio.Device to put on a virtio.Bus.
type Device struct {
	cfg      Config
	features uint64
	config   [ConfigSize]byte
	poll     time.Duration

	frames    chan *frame // received from the backend, waiting for the guest
	frameSize int
	free      chan *frame
	pumpDone  chan struct{}
	pollB     PollBackend // the backend, if the I/O loop serves it
	bell      int         // the I/O loop's doorbell (eventfd), or -1

	mu      sync.Mutex // Activate, Reset, Close
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  bool
	mrg     bool
	offload OffloadBackend // non-nil once the driver accepted offloads
	// rxOffload: the driver accepted GUEST_CSUM and GUEST_TSO4/6, and
	// received frames keep the backend's virtio-net header.
	rxOffload bool

	rxPackets, rxBytes, rxDropped atomic.Uint64
	txPackets, txBytes, txDropped atomic.Uint64
	txErrors                      atomic.Uint64
	kicks, irqs                   atomic.Uint64
}

// frame is a received frame, stored after room for the virtio-net header
// so that header and frame go to the guest as one stream.
type frame struct {
	buf []byte // HeaderSize + frame buffer (+1 byte to detect truncation)
	n   int    // frame length
}

// New returns a network device over cfg.Backend and starts reading frames
// from it.
func New(cfg Config) (*Device, error) {
	if cfg.Backend == nil {
		return nil, errors.New("virtio-net: no backend")
	}
	if cfg.MTU == 0 {
		cfg.MTU = netconf.MTU
	}
	if cfg.MTU < 68 || cfg.MTU > MaxFrame-14 {
		return nil, fmt.Errorf("virtio-net: MTU %d out of range [68, %d]", cfg.MTU, MaxFrame-14)
	}
	if cfg.MAC == nil {
		if d, ok := cfg.Backend.(MACDefaulter); ok {
			cfg.MAC = d.DefaultMAC()
		} else {
			cfg.MAC = RandomMAC()
		}
	}
	if len(cfg.MAC) != 6 {
		return nil, fmt.Errorf("virtio-net: MAC %x is not an Ethernet address", cfg.MAC)
	}
	if cfg.OnError == nil {
		cfg.OnError = func(error) {}
	}
	d := &Device{cfg: cfg, poll: cfg.Poll}
	if d.poll == 0 {
		d.poll = DefaultPoll
	}
	d.features = FeatureMAC | FeatureMTU | FeatureStatus
	if !cfg.NoMergeable {
		d.features |= FeatureMrgRxbuf
	}
	if _, ok := cfg.Backend.(OffloadBackend); ok {
		d.features |= offloadFeatures
	}
	_, rxo := cfg.Backend.(RXOffloadBackend)
	if _, poll := cfg.Backend.(PollBackend); rxo && poll && !cfg.NoMergeable {
		d.features |= rxOffloadFeatures
	}
	cfg.MAC = append(HardwareAddr(nil), cfg.MAC...)
	copy(d.config[ConfigMAC:], cfg.MAC)
	binary.LittleEndian.PutUint16(d.config[ConfigStatus:], StatusLinkUp)
	binary.LittleEndian.PutUint16(d.config[ConfigMaxVirtqueuePairs:], 1)
	binary.LittleEndian.PutUint16(d.config[ConfigMTU:], uint16(cfg.MTU))

	// A received frame: MTU + Ethernet header + VLAN tag.
	size := HeaderSize + max(cfg.MTU, 1500) + 14 + 4 + 1
	if d.features&rxOffloadFeatures != 0 {
		size = HeaderSize + MaxFrame + 4 + 1 // a TCP frame before segmentation
	}
	d.frameSize = size
	d.pumpDone = make(chan struct{})
	d.bell = -1
	if pb, ok := cfg.Backend.(PollBackend); ok {
		// The doorbell exists from the start: the seccomp filter that
		// confines the running monitor does not allow creating it.
		bell, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("virtio-net: eventfd: %w", err)
		}
		d.pollB, d.bell = pb, bell
		close(d.pumpDone) // the I/O loop reads the backend itself
		return d, nil
	}
	// The pump's receive buffers, at most 4 MiB in all (the I/O loop
	// above needs one frame, not these: with 64 KiB frames they would be
	// 4 MiB allocated at every boot for nothing).
	n := min(QueueSize, max(16, (4<<20)/size))
	d.frames = make(chan *frame, n)
	d.free = make(chan *frame, n)
	for range n {
		d.free <- &frame{buf: make([]byte, size)}
	}
	go d.pump()
	return d, nil
}

// Doorbell is the eventfd the I/O loop sleeps on (-1 without the loop): a
// monitor can have KVM signal it directly on queue notifications
// (KVM_IOEVENTFD), so that kicks never leave the kernel.
func (d *Device) Doorbell() int { return d.bell }

// RandomMAC returns a random locally administered unicast address.
func RandomMAC() HardwareAddr {
	m := make(HardwareAddr, 6)
	rand.Read(m)
	m[0] = m[0]&^1 | 2
	return m
}

// MAC is the device's address.
func (d *Device) MAC() HardwareAddr { return HardwareAddr(d.cfg.MAC) }

// Backend is the device's backend.
func (d *Device) Backend() Backend { return d.cfg.Backend }

// Stats returns the traffic counters.
func (d *Device) Stats() Stats {
	return Stats{
		RXPackets: d.rxPackets.Load(), RXBytes: d.rxBytes.Load(), RXDropped: d.rxDropped.Load(),
		TXPackets: d.txPackets.Load(), TXBytes: d.txBytes.Load(), TXDropped: d.txDropped.Load(),
		TXErrors: d.txErrors.Load(), Kicks: d.kicks.Load(), Interrupts: d.irqs.Load(),
	}
}

// DeviceID implements virtio.Device.
func (d *Device) DeviceID() uint32 { return virtio.DeviceIDNet }

// Features implements virtio.Device.
func (d *Device) Features() uint64 { return d.features }

// QueueMaxSizes implements virtio.Device.
func (d *Device) QueueMaxSizes() []uint16 { return []uint16{QueueSize, QueueSize} }

// ReadConfig implements virtio.Device.
func (d *Device) ReadConfig(off uint64, data []byte) {
	if off < ConfigSize {
		copy(data, d.config[off:])
	}
}

// WriteConfig implements virtio.Device: the configuration is read-only
// (VIRTIO_NET_F_CTRL_MAC_ADDR is not offered).
func (d *Device) WriteConfig(off uint64, data []byte) {}

// Activate implements virtio.Device: it starts the receive and transmit
// goroutines.
func (d *Device) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("virtio-net: device closed")
	}
	if d.stop != nil {
		return errors.New("virtio-net: already active")
	}
	if len(a.Queues) != 2 {
		return fmt.Errorf("virtio-net: %d queues", len(a.Queues))
	}
	if d.pollB != nil && !(a.Queues[RXQueue].Ready() && a.Queues[TXQueue].Ready()) {
		// The I/O loop serves both queues, and kicks reach it only
		// through its doorbell.
		return errors.New("virtio-net: the driver must set up both the receive and the transmit queue")
	}
	d.mrg = a.Features&FeatureMrgRxbuf != 0
	d.offload = nil
	if ob, ok := d.cfg.Backend.(OffloadBackend); ok && a.Features&offloadFeatures == offloadFeatures {
		d.offload = ob
	}
	d.rxOffload = false
	if rb, ok := d.cfg.Backend.(RXOffloadBackend); ok && d.features&rxOffloadFeatures != 0 {
		// All three or nothing: the host's frames are IPv4 and IPv6.
		on := d.mrg && a.Features&rxOffloadFeatures == rxOffloadFeatures
		if err := rb.SetRXOffload(on); err != nil {
			d.cfg.OnError(fmt.Errorf("virtio-net: %w", err))
			on = false
		}
		d.rxOffload = on
	}
	// Frames received while the driver was not running are stale.
	for drained := false; !drained; {
		select {
		case f := <-d.frames:
			d.free <- f
		default:
			drained = true
		}
	}
	if d.pollB != nil {
		buf := make([]byte, d.frameSize)
		for range 4096 {
			if _, err := d.pollB.TryReadFrame(buf); err != nil {
				break
			}
		}
	}
	d.stop = make(chan struct{})
	irq := func() {
		d.irqs.Add(1)
		a.Interrupt()
	}
	if rq, tq := a.Queues[RXQueue], a.Queues[TXQueue]; d.pollB != nil {
		rq.OnKick(d.ring)
		tq.OnKick(d.ring)
		d.wg.Add(1)
		go d.ioLoop(d.pollB, rq, tq, irq, d.stop)
		return nil
	}
	if q := a.Queues[RXQueue]; q.Ready() {
		d.wg.Add(1)
		go d.rxLoop(q, irq, d.stop)
	}
	if q := a.Queues[TXQueue]; q.Ready() {
		d.wg.Add(1)
		go d.txLoop(q, irq, d.stop)
	}
	return nil
}

// Reset implements virtio.Device: it stops the device goroutines.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked()
}

func (d *Device) resetLocked() {
	if d.stop != nil {
		close(d.stop)
		if d.bell >= 0 {
			d.ring()
		}
		d.wg.Wait()
		d.stop = nil
	}
}

// Close stops the device and closes its backend.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.resetLocked()
	err := d.cfg.Backend.Close()
	<-d.pumpDone
	if d.bell >= 0 {
		unix.Close(d.bell)
	}
	return err
}

// pump moves frames from the backend to the frames channel. It never
// blocks on the guest: when all buffers wait for the guest, frames are
// dropped, like a NIC whose receive ring is full.
func (d *Device) pump() {
	defer close(d.pumpDone)
	spare := &frame{buf: make([]byte, d.frameSize)}
	for {
		var f *frame
		select {
		case f = <-d.free:
		default:
			f = spare // read and drop
		}
		n, err := d.cfg.Backend.ReadPacket(f.buf[HeaderSize:])
		if err != nil {
			if f != spare {
				d.free <- f
			}
			if isClosed(err) {
				return
			}
			d.cfg.OnError(fmt.Errorf("virtio-net: receiving: %w", err))
			time.Sleep(10 * time.Millisecond) // do not spin on a persistent error
			continue
		}
		if f == spare || n <= 0 || n >= len(f.buf)-HeaderSize {
			// dropped, empty or truncated (longer than MTU)
			d.rxDropped.Add(1)
			if f != spare {
				d.free <- f
			}
			continue
		}
		f.n = n
		d.frames <- f // never blocks: as many slots as frames
	}
}

func isClosed(err error) bool {
	if errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF) {
		return true
	}
	// net.ErrClosed, recognised by its text: importing package net would
	// make the monitor a dynamically linked cgo binary (~0.7 ms more at
	// every start; docs/decisions/008-netd.md).
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == netErrClosedText {
			return true
		}
	}
	return false
}

const netErrClosedText = "use of closed network connection"

// rxLoop delivers received frames to the receive queue.
func (d *Device) rxLoop(q *virtio.Queue, irq func(), stop <-chan struct{}) {
	defer d.wg.Done()
	chains := make([]virtio.Chain, 1, 8)
	var pending *frame
	defer func() {
		if pending != nil {
			d.free <- pending
		}
	}()
	for {
		if pending == nil {
			select {
			case pending = <-d.frames:
			case <-stop:
				return
			}
		}
		delivered := 0
		var full, noRoom bool
		for pending != nil {
			var ok bool
			if ok, noRoom, chains = d.deliver(q, pending, chains); !ok {
				full = true
				break
			}
			d.free <- pending
			pending = nil
			delivered++
			select {
			case pending = <-d.frames:
			case <-stop:
				q.Flush()
				return
			default:
			}
		}
		q.Flush()
		if delivered > 0 && q.NeedNotify() {
			irq()
		}
		if full {
			// Out of receive buffers: sleep until the driver adds some.
			wait := q.Wait
			if noRoom {
				wait = q.WaitMore
			}
			if !wait(stop, d.poll) {
				return
			}
		}
	}
}

// deliver copies f into receive buffers. It reports false if there are
// not enough buffers yet (nothing consumed); noRoom says that buffers were
// available but too small together (wait for more). A frame that can never
// fit is dropped (true).
func (d *Device) deliver(q *virtio.Queue, f *frame, chains []virtio.Chain) (ok, noRoom bool, _ []virtio.Chain) {
	stream := f.buf[:HeaderSize+f.n]
	if !d.rxOffload {
		clear(stream[:HeaderSize])
	} else {
		// The backend's header describes the frame (flags, GSO);
		// num_buffers is the device's.
		stream[HeaderNumBuffers], stream[HeaderNumBuffers+1] = 0, 0
	}
	if !d.mrg {
		c := &chains[0]
		if !q.PopInto(c) {
			return false, false, chains
		}
		if c.WritableLen() < len(stream) {
			// The driver must post buffers for a whole frame; keep the
			// chain for a smaller frame and drop this one.
			q.Unpop(1)
			d.rxDropped.Add(1)
			return true, false, chains
		}
		binary.LittleEndian.PutUint16(stream[HeaderNumBuffers:], 1)
		c.Scatter(stream, 0)
		q.Fill(c, len(stream))
		d.rxPackets.Add(1)
		d.rxBytes.Add(uint64(f.n))
		return true, false, chains
	}
	// Mergeable buffers: as many chains as the frame needs.
	k, room := 0, 0
	for room < len(stream) {
		if k == len(chains) {
			chains = append(chains, virtio.Chain{})
		}
		if !q.PopInto(&chains[k]) {
			q.Unpop(k)
			if k >= int(q.Size()) {
				d.rxDropped.Add(1) // the whole ring is too small
				return true, false, chains
			}
			return false, k > 0, chains
		}
		room += chains[k].WritableLen()
		k++
		if k > int(q.Size()) { // cannot happen: Pop yields at most Size chains
			q.Unpop(k)
			d.rxDropped.Add(1)
			return true, false, chains
		}
	}
	binary.LittleEndian.PutUint16(stream[HeaderNumBuffers:], uint16(k))
	off := 0
	for i := 0; i < k; i++ {
		n := chains[i].Scatter(stream[off:], 0)
		q.Fill(&chains[i], n)
		off += n
	}
	d.rxPackets.Add(1)
	d.rxBytes.Add(uint64(f.n))
	return true, false, chains
}

// txLoop sends the frames the driver puts in the transmit queue.
func (d *Device) txLoop(q *virtio.Queue, irq func(), stop <-chan struct{}) {
	defer d.wg.Done()
	var c virtio.Chain
	var bufs [][]byte
	for {
		n := 0
		for q.PopInto(&c) {
			bufs = d.transmit(&c, bufs[:0])
			q.Fill(&c, 0)
			n++
			if n%32 == 0 { // let the driver reclaim buffers of a long burst
				q.Flush()
				if q.NeedNotify() {
					irq()
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}
		q.Flush()
		if n > 0 && q.NeedNotify() {
			irq()
		}
		if !q.Wait(stop, d.poll) {
			return
		}
	}
}

// transmit sends the frame in c (after its virtio-net header).
func (d *Device) transmit(c *virtio.Chain, bufs [][]byte) [][]byte {
	n := c.ReadableLen() - HeaderSize
	if n < 14 || n > MaxFrame {
		// no header, runt (not even an Ethernet header) or giant
		d.txDropped.Add(1)
		return bufs
	}
	// Without offload the header asks for nothing and is ignored. With
	// it, the header goes to the backend, which checks it again (the
	// host kernel refuses a header that does not match the frame).
	var hdr [HeaderSize]byte
	if d.offload != nil {
		c.Gather(hdr[:], 0)
		if !validOffloadHeader(hdr[:], n) {
			d.txDropped.Add(1)
			return bufs
		}
		hdr[HeaderNumBuffers], hdr[HeaderNumBuffers+1] = 0, 0 // receive-only field
	}
	// (Both backends copy the pieces into one buffer for their write.)
	bufs = c.ReadableFrom(HeaderSize, bufs)
	var err error
	if d.offload != nil && (hdr[HeaderFlags] != 0 || hdr[HeaderGSOType] != GSONone) {
		err = d.offload.WritePacketOffload(hdr[:], bufs)
	} else {
		err = d.cfg.Backend.WritePacket(bufs)
	}
	switch {
	case err == nil:
		d.txPackets.Add(1)
		d.txBytes.Add(uint64(n))
	case errors.Is(err, helperproc.ErrFull):
		d.txDropped.Add(1) // the backend stayed full: dropped, as by a NIC
	default:
		d.txErrors.Add(1)
		if !isClosed(err) {
			d.cfg.OnError(fmt.Errorf("virtio-net: sending: %w", err))
		}
	}
	clear(bufs) // do not keep views of guest memory
	return bufs
}

// validOffloadHeader checks a transmit header against a frame of n bytes:
// only the flags and segmentation types the device offers, a checksum
// field inside the frame, and for a segmented frame a segment size and
// header length that make sense.
func validOffloadHeader(h []byte, n int) bool {
	le := binary.LittleEndian
	switch h[HeaderFlags] {
	case 0:
	case HeaderFNeedsCsum:
		start, off := int(le.Uint16(h[HeaderCsumStart:])), int(le.Uint16(h[HeaderCsumOffset:]))
		if start < 14 || start+off+2 > n {
			return false
		}
	default:
		return false
	}
	switch h[HeaderGSOType] {
	case GSONone:
		return true
	case GSOTCPv4, GSOTCPv6:
		hl, size := int(le.Uint16(h[HeaderHdrLen:])), int(le.Uint16(h[HeaderGSOSize:]))
		return h[HeaderFlags] == HeaderFNeedsCsum && size > 0 && hl > 14 && hl < n
	default:
		return false
	}
}
