package virtio

import (
	"encoding/binary"
	"testing"
	"time"
)

const fuzzMem = 1 << 16

// watchdog runs f and fails if it does not return promptly: nothing the
// guest writes may make the device loop.
func watchdog(t *testing.T, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		panic("virtio: device code did not return within 10 s (loop on guest data?)")
	}
}

// validRing is a seed: a queue of 4 at 0 (descriptors), 0x100 (available)
// and 0x200 (used) with two chains, one indirect.
func validRing() []byte {
	m := make([]byte, 0x1000)
	le := binary.LittleEndian
	desc := func(i int, addr uint64, n uint32, flags, next uint16) {
		le.PutUint64(m[16*i:], addr)
		le.PutUint32(m[16*i+8:], n)
		le.PutUint16(m[16*i+12:], flags)
		le.PutUint16(m[16*i+14:], next)
	}
	desc(0, 0x800, 16, DescFlagNext, 1)
	desc(1, 0x900, 64, DescFlagWrite, 0)
	desc(2, 0x400, 32, DescFlagIndirect, 0)
	// indirect table at 0x400
	le.PutUint64(m[0x400:], 0x800)
	le.PutUint32(m[0x408:], 8)
	le.PutUint16(m[0x40c:], DescFlagNext)
	le.PutUint16(m[0x40e:], 1)
	le.PutUint64(m[0x410:], 0x900)
	le.PutUint32(m[0x418:], 8)
	le.PutUint16(m[0x41c:], DescFlagWrite)
	// available ring: idx 2, entries 0 and 2, used_event 1
	le.PutUint16(m[0x102:], 2)
	le.PutUint16(m[0x104:], 0)
	le.PutUint16(m[0x106:], 2)
	le.PutUint16(m[0x10c:], 1)
	return m
}

func FuzzQueue(f *testing.F) {
	hdr := func(size uint8, feat uint8, desc, avail, used uint16) []byte {
		b := []byte{size, feat, 0, 0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint16(b[2:], desc)
		binary.LittleEndian.PutUint16(b[4:], avail)
		binary.LittleEndian.PutUint16(b[6:], used)
		return b
	}
	f.Add(append(hdr(2, 3, 0, 0x100, 0x200), validRing()...))
	f.Add(append(hdr(2, 0, 0, 0x100, 0x200), validRing()...))
	loop := validRing()
	binary.LittleEndian.PutUint16(loop[14:], 0) // descriptor 0 -> 0
	binary.LittleEndian.PutUint16(loop[30:], 0)
	binary.LittleEndian.PutUint16(loop[28:], DescFlagNext)
	f.Add(append(hdr(2, 3, 0, 0x100, 0x200), loop...))
	f.Add(append(hdr(8, 3, 0x10, 0x11, 0x12), make([]byte, 64)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		var h [8]byte
		copy(h[:], in)
		body := in[min(len(in), 8):]
		mem := make(Memory, fuzzMem)
		copy(mem, body)
		q := newQueue(0, 256, nil)
		q.size = uint16(1) << (h[0] % 10) // 1 .. 512: above 256 is refused
		if h[0]&0x80 != 0 {
			q.size = uint16(h[0]) // not a power of 2: refused
		}
		q.descAddr = uint64(binary.LittleEndian.Uint16(h[2:]))
		q.availAddr = uint64(binary.LittleEndian.Uint16(h[4:]))
		q.usedAddr = uint64(binary.LittleEndian.Uint16(h[6:]))
		if q.setup(mem) != nil {
			return
		}
		q.ready = true
		var feat uint64
		if h[1]&1 != 0 {
			feat |= FeatureEventIdx
		}
		if h[1]&2 != 0 {
			feat |= FeatureIndirectDesc
		}
		q.activate(feat)
		watchdog(t, func() {
			var c Chain
			scratch := make([]byte, 256)
			for i := 0; i < 4*int(q.size)+8; i++ {
				q.EnableNotify()
				if !q.PopInto(&c) {
					break
				}
				q.DisableNotify()
				if c.ReadableLen() < 0 || c.WritableLen() < 0 || c.Head >= q.size {
					t.Fatalf("bad chain %+v", c)
				}
				c.Gather(scratch, i%3)
				c.Scatter(scratch, i%5)
				_ = c.ReadableFrom(1, nil)
				// the guest changes memory under the device
				if len(body) > 0 {
					mem[(i*7919)%fuzzMem] ^= body[i%len(body)]
				}
				if i%4 == 3 {
					q.Unpop(1)
					continue
				}
				q.Fill(&c, c.WritableLen()/2+i)
				if i%2 == 0 {
					q.Flush()
				}
				q.NeedNotify()
			}
			q.Flush()
			q.NeedNotify()
			q.Pending()
		})
	})
}

// FuzzTransport feeds register accesses (and guest memory) to a transport
// with a device that processes its queues on activation.
func FuzzTransport(f *testing.F) {
	op := func(b []byte, write bool, size uint8, off uint16, v uint32) []byte {
		k := size & 0x0F
		if write {
			k |= 0x80
		}
		var e [7]byte
		e[0] = k
		binary.LittleEndian.PutUint16(e[1:], off)
		binary.LittleEndian.PutUint32(e[3:], v)
		return append(b, e[:]...)
	}
	var init []byte
	init = op(init, true, 4, RegStatus, 3)
	init = op(init, true, 4, RegDriverFeaturesSel, 1)
	init = op(init, true, 4, RegDriverFeatures, 1)
	init = op(init, true, 4, RegStatus, 11)
	init = op(init, true, 4, RegQueueNum, 4)
	init = op(init, true, 4, RegQueueDriverLow, 0x100)
	init = op(init, true, 4, RegQueueDeviceLow, 0x200)
	init = op(init, true, 4, RegQueueReady, 1)
	init = op(init, true, 4, RegStatus, 15)
	init = op(init, true, 4, RegQueueNotify, 0)
	init = op(init, false, 4, RegInterruptStatus, 0)
	init = op(init, true, 4, RegStatus, 0)
	f.Add(uint16(len(init)), append(init, validRing()...))
	f.Add(uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, nops uint16, in []byte) {
		n := min(int(nops), len(in))
		ops, body := in[:n], in[n:]
		mem := make(Memory, fuzzMem)
		copy(mem, body)
		dev := &fuzzDevice{}
		tr := NewTransport(dev, mem, TransportConfig{})
		watchdog(t, func() {
			for len(ops) >= 7 {
				k, off, v := ops[0], uint64(binary.LittleEndian.Uint16(ops[1:])), binary.LittleEndian.Uint32(ops[3:])
				ops = ops[7:]
				size := int(k&0x0F) % 9
				if k&0x80 != 0 {
					tr.Write(off, size, uint64(v))
				} else {
					tr.Read(off, size)
				}
				data := make([]byte, size)
				tr.Access(off, data, k&0x40 != 0)
			}
			tr.Reset()
		})
	})
}

// fuzzDevice drains its queues when activated and when reset.
type fuzzDevice struct{ queues []*Queue }

func (d *fuzzDevice) DeviceID() uint32                 { return 1 }
func (d *fuzzDevice) Features() uint64                 { return 0xFFFFFF }
func (d *fuzzDevice) QueueMaxSizes() []uint16          { return []uint16{4, 256} }
func (d *fuzzDevice) ReadConfig(off uint64, b []byte)  { copy(b, []byte("0123456789")[min(off, 10):]) }
func (d *fuzzDevice) WriteConfig(off uint64, b []byte) {}
func (d *fuzzDevice) Activate(a Activation) error {
	d.queues = a.Queues
	for _, q := range a.Queues {
		for i := 0; i < 600; i++ {
			c, ok := q.Pop()
			if !ok {
				break
			}
			q.Push(c, 1)
			if q.NeedNotify() {
				a.Interrupt()
			}
		}
		q.EnableNotify()
	}
	return nil
}
func (d *fuzzDevice) Reset() { d.queues = nil }
