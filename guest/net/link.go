package net

import (
	"encoding/binary"
	"errors"
	"sync"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"brique.dev/brique/guest/kernel"
	"brique.dev/brique/guest/virtio"
)

// link is a stack.LinkEndpoint over a virtio-net device: Ethernet frames
// in DMA buffers, each after a virtio_net_hdr_v1. A received frame takes
// one receive buffer, or with mergeable buffers as many 4 KiB ones as it
// needs (receive offload, a large MTU). A sent frame takes a chain of
// 4 KiB buffers: when the
// device offers checksum and TCP segmentation offload (a TAP backend),
// the stack hands over TCP segments of up to gsoMax bytes with a partial
// checksum, and the header asks the host to finish the checksum and cut
// the segment (decision 013). Otherwise the header is all zero.
type link struct {
	dev    *virtio.Device
	dma    *virtio.DMA
	mac    tcpip.LinkAddress
	rx, tx *virtio.Queue
	rxBuf  []int // head -> buffer offset
	gso    bool  // checksum and segmentation offload negotiated
	mrg    bool  // mergeable receive buffers: a frame may span several
	rxLen  int   // bytes of a receive buffer
	mtu    int   // the device's (VIRTIO_NET_F_MTU), or defaultMTU
	// A frame arriving in several receive buffers (mergeable), gathered:
	// one view per buffer, so that the frame is copied once, and so that
	// netstack's copy-on-write of a shared chunk (when it reads a header
	// of a cloned packet) copies the first buffer's view, not 64 KiB.
	rxHdr  [netHdrLen]byte
	rxWant int           // buffers still to come for it
	rxPart buffer.Buffer // its parts so far

	txMu     sync.Mutex
	txChain  [][]int // head -> offsets of the chain's buffers
	txFree   []int   // free buffer offsets
	txSG     []virtio.Buffer
	kickFrom uint16 // avail index at the last notification (WritePackets)
	acks     ackHolder
	ackTimer *time.Timer // sends the held ACKs (flushAcks)
	ackArmed bool
	out      []*stack.PacketBuffer // WritePackets' scratch: what to send for one packet

	mu   sync.Mutex
	disp stack.NetworkDispatcher
}

const (
	netFCsum     = 1 << 0  // VIRTIO_NET_F_CSUM: the device finishes checksums
	netFMTU      = 1 << 3  // VIRTIO_NET_F_MTU: the device gives the MTU
	netFMAC      = 1 << 5  // VIRTIO_NET_F_MAC
	netFHostTSO4 = 1 << 11 // VIRTIO_NET_F_HOST_TSO4: the device segments TCP/IPv4
	netFHostTSO6 = 1 << 12 // VIRTIO_NET_F_HOST_TSO6
	netFOffload  = netFCsum | netFHostTSO4 | netFHostTSO6
	// Towards the guest (a TAP host): TCP frames of up to 64 KiB with a
	// partial checksum, in mergeable receive buffers (decision 017).
	netFGuestCsum = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM
	netFGuestTSO4 = 1 << 7  // VIRTIO_NET_F_GUEST_TSO4
	netFGuestTSO6 = 1 << 8  // VIRTIO_NET_F_GUEST_TSO6
	netFMrgRxbuf  = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF
	netFRXOffload = netFGuestCsum | netFGuestTSO4 | netFGuestTSO6

	netHdrLen  = 12 // virtio_net_hdr_v1
	defaultMTU = 1500
	bufLen     = netHdrLen + header.EthernetMinimumSize + defaultMTU // a receive buffer
	bigFrame   = 65535 + header.EthernetMinimumSize                  // a frame with receive offload, or of a large MTU
	mrgBufLen  = 4096                                                // a receive buffer for such frames
	queueSize  = 256
	configMTU  = 10 // the MTU's offset in the device configuration (le16)

	txBufLen   = 4096  // a transmit buffer
	gsoMax     = 60000 // largest segment handed to the device (GSOMaxSize)
	txChainMax = (netHdrLen + bigFrame + txBufLen - 1) / txBufLen
	txBufs     = 256 // transmit buffers (1 MiB)

	// virtio_net_hdr fields (virtio 1.2, section 5.1.6).
	hdrFNeedsCsum = 1 // flags: finish the checksum at csum_start+csum_offset
	hdrGSOTCPv4   = 1 // gso_type
	hdrGSOTCPv6   = 4
)

// linkMTU is the MTU to use given the negotiated features and the
// device configuration's MTU field: the device's if it
// gives one (the user network's is larger than Ethernet's, its frames
// never leaving the host), as long as a frame fits the receive buffers
// (larger than 1500 bytes takes mergeable buffers) and the transmit
// chains.
func linkMTU(features uint64, field uint16) int {
	mtu := int(field) // (at most 65535: a frame fits bigFrame)
	if features&netFMTU == 0 || mtu < 68 || mtu > defaultMTU && features&netFMrgRxbuf == 0 {
		return defaultMTU
	}
	return mtu
}

func openLink(base uintptr) (*link, error) {
	regs := virtio.MMIO(base)
	dev, err := virtio.Init(regs, netFMAC|netFMTU|netFOffload|netFRXOffload|netFMrgRxbuf|virtio.FeatureEventIdx)
	if err != nil {
		return nil, err
	}
	mrg := dev.Features&netFMrgRxbuf != 0
	// The configuration's first 12 bytes: MAC, status, queue pairs, MTU
	// (three reads, each a VM exit).
	var config [12]byte
	for w := 0; w < len(config); w += 4 {
		binary.LittleEndian.PutUint32(config[w:], regs.Read32(virtio.RegConfig+uint32(w)))
	}
	mtu := linkMTU(dev.Features, binary.LittleEndian.Uint16(config[configMTU:]))
	rxLen := bufLen
	if mrg && (dev.Features&netFRXOffload == netFRXOffload || mtu > defaultMTU) {
		rxLen = mrgBufLen // a 64 KiB frame takes 17
	}
	// Rings (~14 KiB per queue), one receive buffer per descriptor and
	// the transmit buffers.
	pages := (2*(queueSize*(16+2+8)+64) + queueSize*((rxLen+7)&^7) + txBufs*txBufLen + 2*4095) / 4096
	a, _, e := syscall.Syscall(kernel.SysDMA, uintptr(pages), 0, 0)
	if e != 0 {
		return nil, e
	}
	dma := &virtio.DMA{Mem: kernel.Mem(a, uintptr(pages)*4096), Phys: uint64(a)}
	l := &link{dev: dev, dma: dma, gso: dev.Features&netFOffload == netFOffload, mrg: mrg, rxLen: rxLen, mtu: mtu}
	l.ackTimer = time.AfterFunc(time.Hour, l.flushAcks)
	l.ackTimer.Stop()
	if l.rx, err = dev.SetupQueue(0, queueSize, dma); err != nil {
		return nil, err
	}
	if l.tx, err = dev.SetupQueue(1, queueSize, dma); err != nil {
		return nil, err
	}
	if dev.Features&netFMAC == 0 {
		return nil, errors.New("virtio-net device has no MAC address")
	}
	l.mac = tcpip.LinkAddress(config[:6])
	l.rxBuf = make([]int, l.rx.Size())
	l.txChain = make([][]int, l.tx.Size())
	for range txBufs {
		off, err := dma.Alloc(txBufLen, txBufLen)
		if err != nil {
			return nil, err
		}
		l.txFree = append(l.txFree, off)
	}
	dev.Ready()
	before := l.rx.AvailIdx()
	for i := 0; i < l.rx.Size(); i++ {
		off, err := dma.Alloc(rxLen, 8)
		if err != nil {
			return nil, err
		}
		h, err := l.rx.Add(virtio.Buffer{Off: off, Len: rxLen, Write: true})
		if err != nil {
			return nil, err
		}
		l.rxBuf[h] = off
	}
	l.rx.Kick(before)
	return l, nil
}

// receive delivers received frames to the stack, forever (its own
// goroutine).
func (l *link) receive() {
	for {
		n := 0
		before := l.rx.AvailIdx()
		// Read the device's index before looking for completions: a
		// frame that lands after the loop then ends the wait at once.
		idx := l.rx.UsedIdx()
		for {
			h, size, ok := l.rx.Used()
			if !ok {
				break
			}
			if int(h) < len(l.rxBuf) {
				off := l.rxBuf[h]
				if size <= uint32(l.rxLen) {
					l.gather(l.dma.Mem[off : off+int(size)])
				} else {
					l.dropPart() // a broken length: drop the frame it belongs to
				}
				nh, err := l.rx.Add(virtio.Buffer{Off: off, Len: l.rxLen, Write: true})
				if err == nil {
					l.rxBuf[nh] = off
				}
			}
			n++
		}
		if n > 0 {
			l.rx.Kick(before)
			continue
		}
		syscall.Syscall(kernel.SysWaitDevice, l.rx.UsedIdxAddr(), uintptr(idx), 0)
	}
}

// gather takes one used receive buffer: a whole frame after its
// virtio-net header, or with mergeable buffers the first or a further
// part of one (the header's num_buffers says how many).
func (l *link) gather(b []byte) {
	if l.rxWant > 0 { // a further part
		if int(l.rxPart.Size())+len(b) > bigFrame {
			l.dropPart() // a broken device
			return
		}
		l.rxPart.Append(buffer.NewViewWithData(b))
		if l.rxWant--; l.rxWant == 0 {
			f := l.rxPart
			l.rxPart = buffer.Buffer{}
			l.deliver(f)
		}
		return
	}
	if len(b) <= netHdrLen {
		return
	}
	copy(l.rxHdr[:], b)
	if nb := int(binary.LittleEndian.Uint16(b[10:])); l.mrg && nb > 1 {
		l.rxWant = min(nb, l.rx.Size()) - 1
		l.rxPart = buffer.MakeWithData(b[netHdrLen:])
		return
	}
	l.deliver(buffer.MakeWithData(b[netHdrLen:]))
}

// dropPart drops the frame being gathered, if any.
func (l *link) dropPart() {
	l.rxWant = 0
	l.rxPart.Release()
}

// deliver hands a received frame (copied out of the DMA buffers) to the
// stack, which takes it over; l.rxHdr is its virtio-net header.
func (l *link) deliver(frame buffer.Buffer) {
	hdr := &l.rxHdr
	size := int(frame.Size())
	l.mu.Lock()
	d := l.disp
	l.mu.Unlock()
	if size < header.EthernetMinimumSize || d == nil {
		frame.Release()
		return
	}
	if hdr[0]&hdrFNeedsCsum != 0 {
		// Receive offload: the host left the checksum partial (the
		// pseudo-header's sum at csum_start+csum_offset), as for a TCP
		// segment of up to 64 KiB it did not cut. Finish it, so that
		// netstack checks every frame as usual (it cannot be told which
		// frames to trust: the link's RX checksum capability is all or
		// nothing).
		start := int(binary.LittleEndian.Uint16(hdr[6:]))
		at := start + int(binary.LittleEndian.Uint16(hdr[8:]))
		if at+2 > size {
			frame.Release()
			return
		}
		sum := ^frame.Checksum(start)
		// (The field is in the first view, with the headers, so PullUp
		// returns a view of it in place: the frame's chunks are its
		// own, not shared. Were it to straddle two views, PullUp would
		// merge them first.)
		field, _ := frame.PullUp(at, 2)
		binary.BigEndian.PutUint16(field.AsSlice(), sum)
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: frame})
	defer pkt.DecRef()
	if !l.ParseHeader(pkt) {
		return
	}
	d.DeliverNetworkPacket(header.Ethernet(pkt.LinkHeader().Slice()).Type(), pkt)
}

// WritePackets sends frames, notifying the device once for the batch. A
// pure TCP ACK may be held back (acks.go).
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.reclaim()
	l.kickFrom = l.tx.AvailIdx()
	n := 0
	for _, pkt := range pkts.AsSlice() {
		l.out = l.acks.filter(pkt, l.out[:0])
		// A held ACK released goes first. Once the ring stayed full
		// (put waited txWait), nothing more is tried: pkt is not sent
		// (the stack retries it), the released ACK is lost.
		ok := true
		for _, p := range l.out {
			if ok {
				ok = l.put(p)
			}
			if p != pkt {
				p.DecRef()
			}
		}
		clear(l.out)
		if !ok {
			break
		}
		n++
	}
	if l.acks.pending() && !l.ackArmed {
		l.ackTimer.Reset(ackDelay)
		l.ackArmed = true
	}
	l.tx.Kick(l.kickFrom)
	if n == 0 && pkts.Len() > 0 {
		return 0, &tcpip.ErrWouldBlock{}
	}
	return n, nil
}

// flushAcks sends the ACKs held back longer than ackDelay (its timer).
func (l *link) flushAcks() {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.ackArmed = false
	if !l.acks.pending() {
		return
	}
	l.reclaim()
	l.kickFrom = l.tx.AvailIdx()
	l.out = l.acks.flush(l.out[:0])
	ok := true
	for _, p := range l.out {
		if ok {
			ok = l.put(p) // (a full ring: the rest are dropped, not waited for again)
		}
		p.DecRef()
	}
	clear(l.out)
	l.tx.Kick(l.kickFrom)
}

// put queues one frame for the device (not notified yet). It reports
// false when the ring stayed full (txWait); a frame too big for the
// device is dropped and counts as sent.
func (l *link) put(pkt *stack.PacketBuffer) bool {
	size := netHdrLen + pkt.Size()
	k := (size + txBufLen - 1) / txBufLen
	if k > txChainMax {
		return true // too big for the device: drop it
	}
	if !l.room(k) {
		return false
	}
	offs := l.txFree[len(l.txFree)-k:]
	l.txSG = l.txSG[:0]
	for i, off := range offs {
		l.txSG = append(l.txSG, virtio.Buffer{Off: off, Len: min(txBufLen, size-i*txBufLen)})
	}
	l.fill(offs, pkt)
	h, err := l.tx.Add(l.txSG...)
	if err != nil {
		return false
	}
	l.txChain[h] = append(l.txChain[h][:0], offs...)
	l.txFree = l.txFree[:len(l.txFree)-k]
	return true
}

// txWait bounds how long a sender waits for the device to return transmit
// buffers before it drops the frame (a stopped device).
const txWait = 100 * time.Millisecond

// room reports whether k transmit buffers and descriptors are free,
// waiting for the device to return some if not: a full ring holds the
// sender back, as a NIC's queue would, instead of dropping frames, which
// TCP would then have to recover (measured: SACK recovery took a sixth of
// the guest's time in a bulk transfer).
func (l *link) room(k int) bool {
	var deadline time.Time
	for {
		idx := l.tx.UsedIdx()
		l.reclaim()
		if k <= len(l.txFree) && k <= l.tx.Free() {
			return true
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(txWait)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		// A pending notification: Kick before sleeping, or the device
		// may never see the frames queued so far in this batch.
		l.tx.Kick(l.kickFrom)
		l.kickFrom = l.tx.AvailIdx()
		syscall.Syscall(kernel.SysWaitDevice, l.tx.UsedIdxAddr(), uintptr(idx), uintptr(left))
	}
}

// fill writes pkt's virtio-net header and bytes across the buffers at offs.
func (l *link) fill(offs []int, pkt *stack.PacketBuffer) {
	hdr := l.dma.Mem[offs[0] : offs[0]+netHdrLen]
	clear(hdr)
	if g := pkt.GSOOptions; l.gso && g.Type != stack.GSONone {
		le := binary.LittleEndian
		if g.NeedsCsum {
			// The stack left the TCP pseudo-header sum in the checksum
			// field; the host finishes it.
			hdr[0] = hdrFNeedsCsum
			le.PutUint16(hdr[6:], uint16(header.EthernetMinimumSize)+g.L3HdrLen)
			le.PutUint16(hdr[8:], g.CsumOffset)
		}
		if pkt.Data().Size() > int(g.MSS) {
			switch g.Type {
			case stack.GSOTCPv4:
				hdr[1] = hdrGSOTCPv4
			case stack.GSOTCPv6:
				hdr[1] = hdrGSOTCPv6
			}
			le.PutUint16(hdr[2:], uint16(pkt.HeaderSize()))
			le.PutUint16(hdr[4:], g.MSS)
		}
	}
	i, pos := 0, netHdrLen
	vl, skip := pkt.AsViewList() // (AsSlices would allocate per frame)
	for v := vl.Front(); v != nil; v = v.Next() {
		s := v.AsSlice()
		if skip >= len(s) {
			skip -= len(s)
			continue
		}
		s, skip = s[skip:], 0
		for len(s) > 0 {
			if pos == txBufLen {
				i, pos = i+1, 0
			}
			c := copy(l.dma.Mem[offs[i]+pos:offs[i]+txBufLen], s)
			s, pos = s[c:], pos+c
		}
	}
}

// reclaim takes back the buffers of sent frames.
func (l *link) reclaim() {
	for {
		h, _, ok := l.tx.Used()
		if !ok {
			return
		}
		if int(h) < len(l.txChain) {
			l.txFree = append(l.txFree, l.txChain[h]...)
			l.txChain[h] = l.txChain[h][:0]
		}
	}
}

// GSOMaxSize implements stack.GSOEndpoint.
func (l *link) GSOMaxSize() uint32 { return gsoMax }

// SupportedGSO implements stack.GSOEndpoint: segmentation by the host when
// the device offers it.
func (l *link) SupportedGSO() stack.SupportedGSO {
	if l.gso {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

func (l *link) MTU() uint32                      { return uint32(l.mtu) }
func (l *link) SetMTU(uint32)                    {}
func (l *link) MaxHeaderLength() uint16          { return header.EthernetMinimumSize }
func (l *link) LinkAddress() tcpip.LinkAddress   { return l.mac }
func (l *link) SetLinkAddress(tcpip.LinkAddress) {}
func (l *link) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}
func (l *link) Attach(d stack.NetworkDispatcher) {
	l.mu.Lock()
	l.disp = d
	l.mu.Unlock()
}
func (l *link) IsAttached() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.disp != nil
}
func (l *link) Wait()                                   {}
func (l *link) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }
func (l *link) Close()                                  {}
func (l *link) SetOnCloseAction(func())                 {}

func (l *link) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	src := pkt.EgressRoute.LocalLinkAddress
	if src == "" {
		src = l.mac
	}
	eth.Encode(&header.EthernetFields{SrcAddr: src, DstAddr: pkt.EgressRoute.RemoteLinkAddress, Type: pkt.NetworkProtocolNumber})
}

func (l *link) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}
