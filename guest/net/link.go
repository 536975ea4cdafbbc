package net

import (
	"errors"
	"sync"
	"syscall"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"brique.dev/brique/guest/kernel"
	"brique.dev/brique/guest/virtio"
)

// link is a stack.LinkEndpoint over a virtio-net device: Ethernet frames
// in DMA buffers, one descriptor per frame, a virtio_net_hdr_v1 (all
// zero: no offloads) in front of each.
type link struct {
	dev    *virtio.Device
	dma    *virtio.DMA
	mac    tcpip.LinkAddress
	rx, tx *virtio.Queue
	rxBuf  []int // head -> buffer offset

	txMu   sync.Mutex
	txBuf  []int // head -> buffer offset
	txFree []int // free buffer offsets

	mu   sync.Mutex
	disp stack.NetworkDispatcher
}

const (
	netFMAC   = 1 << 5
	netHdrLen = 12 // virtio_net_hdr_v1
	frameMax  = header.EthernetMinimumSize + mtu
	bufLen    = netHdrLen + frameMax
	queueSize = 256
	mtu       = 1500
)

func openLink(base uintptr) (*link, error) {
	regs := virtio.MMIO(base)
	dev, err := virtio.Init(regs, netFMAC|virtio.FeatureEventIdx)
	if err != nil {
		return nil, err
	}
	// Rings (~14 KiB per queue) and one buffer per descriptor.
	pages := (2*(queueSize*(16+2+8)+64) + 2*queueSize*((bufLen+7)&^7) + 4095) / 4096
	a, _, e := syscall.Syscall(kernel.SysDMA, uintptr(pages), 0, 0)
	if e != 0 {
		return nil, e
	}
	dma := &virtio.DMA{Mem: kernel.Mem(a, uintptr(pages)*4096), Phys: uint64(a)}
	l := &link{dev: dev, dma: dma}
	if l.rx, err = dev.SetupQueue(0, queueSize, dma); err != nil {
		return nil, err
	}
	if l.tx, err = dev.SetupQueue(1, queueSize, dma); err != nil {
		return nil, err
	}
	if dev.Features&netFMAC == 0 {
		return nil, errors.New("virtio-net device has no MAC address")
	}
	var mac [6]byte
	for i := range mac {
		mac[i] = byte(regs.Read32(virtio.RegConfig+uint32(i&^3)) >> (8 * (i & 3)))
	}
	l.mac = tcpip.LinkAddress(mac[:])
	l.rxBuf = make([]int, l.rx.Size())
	l.txBuf = make([]int, l.tx.Size())
	for i := 0; i < l.tx.Size(); i++ {
		off, err := dma.Alloc(bufLen, 8)
		if err != nil {
			return nil, err
		}
		l.txFree = append(l.txFree, off)
	}
	dev.Ready()
	before := l.rx.AvailIdx()
	for i := 0; i < l.rx.Size(); i++ {
		off, err := dma.Alloc(bufLen, 8)
		if err != nil {
			return nil, err
		}
		h, err := l.rx.Add(virtio.Buffer{Off: off, Len: bufLen, Write: true})
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
				if size > netHdrLen && size <= bufLen {
					l.deliver(l.dma.Mem[off+netHdrLen : off+int(size)])
				}
				nh, err := l.rx.Add(virtio.Buffer{Off: off, Len: bufLen, Write: true})
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

func (l *link) deliver(frame []byte) {
	if len(frame) < header.EthernetMinimumSize {
		return
	}
	l.mu.Lock()
	d := l.disp
	l.mu.Unlock()
	if d == nil {
		return
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(append([]byte(nil), frame...))})
	defer pkt.DecRef()
	if !l.ParseHeader(pkt) {
		return
	}
	d.DeliverNetworkPacket(header.Ethernet(pkt.LinkHeader().Slice()).Type(), pkt)
}

// WritePackets sends frames, notifying the device once for the batch.
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.reclaim()
	before := l.tx.AvailIdx()
	n := 0
	for _, pkt := range pkts.AsSlice() {
		if len(l.txFree) == 0 {
			l.reclaim()
			if len(l.txFree) == 0 {
				break
			}
		}
		off := l.txFree[len(l.txFree)-1]
		buf := l.dma.Mem[off : off+bufLen]
		clear(buf[:netHdrLen])
		size := netHdrLen
		for _, s := range pkt.AsSlices() {
			if size+len(s) > bufLen {
				size = -1
				break
			}
			size += copy(buf[size:], s)
		}
		if size < 0 {
			n++ // too big for the device: drop it
			continue
		}
		h, err := l.tx.Add(virtio.Buffer{Off: off, Len: size})
		if err != nil {
			break
		}
		l.txFree = l.txFree[:len(l.txFree)-1]
		l.txBuf[h] = off
		n++
	}
	l.tx.Kick(before)
	if n == 0 && pkts.Len() > 0 {
		return 0, &tcpip.ErrWouldBlock{}
	}
	return n, nil
}

// reclaim takes back the buffers of sent frames.
func (l *link) reclaim() {
	for {
		h, _, ok := l.tx.Used()
		if !ok {
			return
		}
		if int(h) < len(l.txBuf) {
			l.txFree = append(l.txFree, l.txBuf[h])
		}
	}
}

func (l *link) MTU() uint32                      { return mtu }
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
