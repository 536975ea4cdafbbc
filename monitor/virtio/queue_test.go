package virtio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/virtiotest"
)

// setup returns an activated stub device with one queue of size n and the
// driver's view of it.
func setup(t *testing.T, n uint16, features uint64) (*virtio.Queue, *virtiotest.DriverQueue, *virtio.Transport, *virtiotest.Memory) {
	t.Helper()
	dev := &virtiotest.Stub{ID: virtio.DeviceIDNet, Sizes: []uint16{256}}
	tr, mem, _, _ := newTransport(t, dev)
	d := virtiotest.Init(t, tr, mem, features|virtio.FeatureVersion1, n)
	return dev.Activation().Queues[0], d.Queues[0], tr, mem
}

func data(mem *virtiotest.Memory, s string) virtiotest.Buf {
	a := mem.Alloc(uint64(len(s)), 8)
	copy(mem.B(a, uint64(len(s))), s)
	return virtiotest.Buf{Addr: a, Len: uint32(len(s))}
}

func room(mem *virtiotest.Memory, n uint32) virtiotest.Buf {
	return virtiotest.Buf{Addr: mem.Alloc(uint64(n), 8), Len: n, Write: true}
}

func joined(bufs [][]byte) string { return string(bytes.Join(bufs, nil)) }

func TestPopPush(t *testing.T) {
	q, dq, tr, mem := setup(t, 8, 0)
	if q.Pending() {
		t.Fatal("pending on an empty queue")
	}
	if _, ok := q.Pop(); ok {
		t.Fatal("Pop on an empty queue")
	}
	w1, w2 := room(mem, 4), room(mem, 10)
	head := dq.Add(data(mem, "hello "), data(mem, "world"), w1, w2)
	if !q.Pending() {
		t.Fatal("not pending")
	}
	c, ok := q.Pop()
	if !ok {
		t.Fatalf("Pop failed: %v", q.Err())
	}
	if c.Head != head || joined(c.Readable) != "hello world" || len(c.Writable) != 2 || c.ReadableLen() != 11 || c.WritableLen() != 14 {
		t.Fatalf("chain: head %d readable %q writable %d bufs, lens %d/%d", c.Head, joined(c.Readable), len(c.Writable), c.ReadableLen(), c.WritableLen())
	}
	buf := make([]byte, 5)
	if n := c.Gather(buf, 6); n != 5 || string(buf) != "world" {
		t.Errorf("Gather(6) = %d %q", n, buf)
	}
	if got := joined(c.ReadableFrom(3, nil)); got != "lo world" {
		t.Errorf("ReadableFrom(3) = %q", got)
	}
	if n := c.Scatter([]byte("0123456789ABCDEFG"), 1); n != 13 {
		t.Errorf("Scatter wrote %d, want 13", n)
	}
	if got := string(mem.B(w1.Addr, 4)) + string(mem.B(w2.Addr, 10)); got != "\x000123456789ABC" {
		t.Errorf("scattered %q", got)
	}
	q.Push(c, 1000) // clamped to the writable size
	id, n, ok := dq.GetUsed()
	if !ok || id != head || n != 14 {
		t.Fatalf("used: %d %d %v", id, n, ok)
	}
	if q.Pending() || tr.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatal("queue state wrong after one chain")
	}
}

func TestWrapAround(t *testing.T) {
	// Size 4: the rings wrap every 4 chains; 70000 chains also wrap the
	// 16-bit indexes.
	q, dq, _, mem := setup(t, 4, 0)
	in, out := data(mem, "x"), room(mem, 2)
	var c virtio.Chain
	for i := 0; i < 70000; i++ {
		k := 1 + i%2 // 1 or 2 chains (of 2 descriptors) in flight
		for j := 0; j < k; j++ {
			dq.Add(in, out)
		}
		for j := 0; j < k; j++ {
			if !q.PopInto(&c) {
				t.Fatalf("chain %d: Pop failed: %v", i, q.Err())
			}
			q.Push(&c, j)
		}
		for j := 0; j < k; j++ {
			if _, n, ok := dq.GetUsed(); !ok || int(n) != j {
				t.Fatalf("chain %d: used %d %v", i, n, ok)
			}
		}
	}
	if dq.UsedIdx() != dq.LastUsed() {
		t.Fatal("used index mismatch")
	}
}

func TestIndirect(t *testing.T) {
	q, dq, _, mem := setup(t, 8, virtio.FeatureIndirectDesc)
	w := room(mem, 8)
	head := dq.AddIndirect(data(mem, "ab"), data(mem, "cd"), w)
	c, ok := q.Pop()
	if !ok {
		t.Fatalf("Pop: %v", q.Err())
	}
	if c.Head != head || joined(c.Readable) != "abcd" || c.WritableLen() != 8 {
		t.Fatalf("indirect chain: %q, %d writable", joined(c.Readable), c.WritableLen())
	}
	q.Push(c, 3)
	if _, n, ok := dq.GetUsed(); !ok || n != 3 {
		t.Fatal("no used element")
	}
}

// putDesc writes descriptor i of the table at table.
func putDesc(mem *virtiotest.Memory, table uint64, i uint16, addr uint64, n uint32, flags, next uint16) {
	b := mem.B(table+16*uint64(i), 16)
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

func TestBrokenChains(t *testing.T) {
	const (
		next  = virtio.DescFlagNext
		write = virtio.DescFlagWrite
		ind   = virtio.DescFlagIndirect
	)
	cases := []struct {
		name     string
		features uint64
		build    func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64)
	}{
		{"loop to itself", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, buf, 1, next, 0)
			dq.AddRaw(0)
		}},
		{"loop of two", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, buf, 1, next, 1)
			putDesc(mem, dq.Desc, 1, buf, 1, next, 0)
			dq.AddRaw(0)
		}},
		{"head out of range", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			dq.AddRaw(8)
		}},
		{"next out of range", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, buf, 1, next, 9)
			dq.AddRaw(0)
		}},
		{"buffer outside memory", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, 1<<20-4, 8, 0, 0)
			dq.AddRaw(0)
		}},
		{"buffer address overflow", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, ^uint64(0)-2, 8, 0, 0)
			dq.AddRaw(0)
		}},
		{"readable after writable", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, buf, 1, next|write, 1)
			putDesc(mem, dq.Desc, 1, buf, 1, 0, 0)
			dq.AddRaw(0)
		}},
		{"indirect not negotiated", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, buf, 16, ind, 0)
			dq.AddRaw(0)
		}},
		{"indirect with next", virtio.FeatureIndirectDesc, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, buf, 0, buf, 1, 0, 0)
			putDesc(mem, dq.Desc, 0, buf, 16, ind|next, 1)
			putDesc(mem, dq.Desc, 1, buf, 1, 0, 0)
			dq.AddRaw(0)
		}},
		{"indirect length not a multiple of 16", virtio.FeatureIndirectDesc, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, buf, 24, ind, 0)
			dq.AddRaw(0)
		}},
		{"indirect empty", virtio.FeatureIndirectDesc, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, buf, 0, ind, 0)
			dq.AddRaw(0)
		}},
		{"nested indirect", virtio.FeatureIndirectDesc, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, buf, 0, buf, 16, ind, 0)
			putDesc(mem, dq.Desc, 0, buf, 16, ind, 0)
			dq.AddRaw(0)
		}},
		{"loop inside an indirect table", virtio.FeatureIndirectDesc, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, buf, 0, buf, 1, next, 1)
			putDesc(mem, buf, 1, buf, 1, next, 0)
			putDesc(mem, dq.Desc, 0, buf, 32, ind, 0)
			dq.AddRaw(0)
		}},
		{"indirect next out of range", virtio.FeatureIndirectDesc, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, buf, 0, buf, 1, next, 2)
			putDesc(mem, dq.Desc, 0, buf, 32, ind, 0)
			dq.AddRaw(0)
		}},
		{"indirect table outside memory", virtio.FeatureIndirectDesc, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			putDesc(mem, dq.Desc, 0, 1<<20-16, 32, ind, 0)
			dq.AddRaw(0)
		}},
		{"available index jumps", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			dq.SetAvailIdx(9)
		}},
		{"available index goes back", 0, func(mem *virtiotest.Memory, dq *virtiotest.DriverQueue, buf uint64) {
			dq.SetAvailIdx(0xFFFF)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, dq, tr, mem := setup(t, 8, c.features)
			buf := mem.Alloc(64, 16)
			c.build(mem, dq, buf)
			done := make(chan bool)
			go func() {
				_, ok := q.Pop()
				done <- ok
			}()
			select {
			case ok := <-done:
				if ok {
					t.Fatal("bad chain accepted")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Pop hangs")
			}
			if q.Err() == nil || !(errors.Is(q.Err(), virtio.ErrChain) || errors.Is(q.Err(), virtio.ErrAvailIndex)) {
				t.Fatalf("Err() = %v", q.Err())
			}
			t.Log(q.Err())
			if tr.Status()&virtio.StatusDeviceNeedsReset == 0 {
				t.Error("status lacks DEVICE_NEEDS_RESET")
			}
			// A broken queue stays quiet.
			if q.Pending() || q.EnableNotify() || q.NeedNotify() {
				t.Error("broken queue still active")
			}
			if _, ok := q.Pop(); ok {
				t.Error("Pop after the queue broke")
			}
		})
	}
}

func TestZeroLengthAndLongChain(t *testing.T) {
	q, dq, _, mem := setup(t, 8, 0)
	// A chain using all 8 descriptors, with zero-length ones, is fine.
	bufs := []virtiotest.Buf{data(mem, "a"), {Addr: 0, Len: 0}, data(mem, "b"), data(mem, "c"), {Len: 0, Write: true}, room(mem, 1), room(mem, 1), room(mem, 1)}
	dq.Add(bufs...)
	c, ok := q.Pop()
	if !ok {
		t.Fatalf("Pop: %v", q.Err())
	}
	if joined(c.Readable) != "abc" || len(c.Writable) != 3 {
		t.Fatalf("chain %q, %d writable", joined(c.Readable), len(c.Writable))
	}
}

func TestUnpopFillFlush(t *testing.T) {
	q, dq, _, mem := setup(t, 8, 0)
	for i := 0; i < 3; i++ {
		dq.Add(room(mem, 4))
	}
	var a, b, c virtio.Chain
	q.PopInto(&a)
	q.PopInto(&b)
	q.PopInto(&c)
	q.Unpop(1)
	var c2 virtio.Chain
	if !q.PopInto(&c2) || c2.Head != c.Head {
		t.Fatal("Unpop did not give the chain back")
	}
	q.Unpop(1)
	q.Fill(&a, 4)
	q.Fill(&b, 2)
	if dq.UsedIdx() != 0 {
		t.Fatal("Fill published")
	}
	q.Flush()
	if dq.UsedIdx() != 2 {
		t.Fatalf("used idx %d after Flush", dq.UsedIdx())
	}
	if id, n, _ := dq.GetUsed(); id != a.Head || n != 4 {
		t.Error("first used element wrong")
	}
	if id, n, _ := dq.GetUsed(); id != b.Head || n != 2 {
		t.Error("second used element wrong")
	}
}

func TestNotifySuppressionNoEventIdx(t *testing.T) {
	q, dq, _, mem := setup(t, 8, 0)
	if q.NeedNotify() {
		t.Error("notify with nothing published")
	}
	w := room(mem, 4)
	dq.Add(w)
	c, _ := q.Pop()
	q.Push(c, 1)
	if !q.NeedNotify() {
		t.Error("no notify for a published buffer")
	}
	if q.NeedNotify() {
		t.Error("second notify for the same buffer")
	}
	dq.SetNoInterrupt(true)
	dq.Add(w)
	c, _ = q.Pop()
	q.Push(c, 1)
	if q.NeedNotify() {
		t.Error("notify despite VIRTQ_AVAIL_F_NO_INTERRUPT")
	}
	// Driver notifications: the device toggles VIRTQ_USED_F_NO_NOTIFY.
	q.DisableNotify()
	if !(dq.UsedFlags() == virtio.UsedFlagNoNotify) || dq.NeedKick() {
		t.Error("DisableNotify did not set NO_NOTIFY")
	}
	if q.EnableNotify() {
		t.Error("EnableNotify reports pending buffers on an empty queue")
	}
	if dq.UsedFlags() != 0 || !dq.NeedKick() {
		t.Error("EnableNotify did not clear NO_NOTIFY")
	}
	dq.Add(w)
	if !q.EnableNotify() {
		t.Error("EnableNotify missed a pending buffer")
	}
}

func TestEventIdx(t *testing.T) {
	q, dq, _, mem := setup(t, 8, virtio.FeatureEventIdx)
	w := room(mem, 4)
	push := func(n int) {
		for i := 0; i < n; i++ {
			dq.Add(w)
			c, ok := q.Pop()
			if !ok {
				t.Fatal(q.Err())
			}
			q.Push(c, 1)
			dq.GetUsed()
		}
	}
	// used_event = 0: notify when the used index passes 0 (first buffer).
	push(1)
	if !q.NeedNotify() {
		t.Error("no notify when used index reaches used_event+1")
	}
	// used_event = 3: the driver wants to hear when entry 3 is used,
	// i.e. when the used index goes from <=3 to >3.
	dq.SetUsedEvent(3)
	push(1) // used idx 2
	if q.NeedNotify() {
		t.Error("notify at used idx 2 (event 3)")
	}
	push(1) // 3
	if q.NeedNotify() {
		t.Error("notify at used idx 3 (event 3)")
	}
	push(2) // 5: crossed 3 -> 4 within the batch
	if !q.NeedNotify() {
		t.Error("no notify after passing used_event")
	}
	push(1)
	if q.NeedNotify() {
		t.Error("notify again without a new used_event")
	}
	// VIRTQ_AVAIL_F_NO_INTERRUPT is ignored with EVENT_IDX.
	dq.SetNoInterrupt(true)
	dq.SetUsedEvent(6)
	push(1)
	if !q.NeedNotify() {
		t.Error("used_event ignored")
	}
	// Driver notifications: avail_event follows the device's progress.
	if q.EnableNotify() {
		t.Error("pending on an empty queue")
	}
	if dq.AvailEvent() != 7 {
		t.Errorf("avail_event %d", dq.AvailEvent())
	}
	dq.Kick()
	dq.Add(w)
	if !dq.NeedKick() {
		t.Error("driver does not kick for the entry at avail_event")
	}
	dq.KickIfNeeded()
	dq.Add(w)
	if dq.NeedKick() {
		t.Error("driver kicks again before the device re-enabled notifications")
	}
	if !q.EnableNotify() {
		t.Error("EnableNotify missed pending buffers")
	}
}

func TestWait(t *testing.T) {
	for _, ev := range []uint64{0, virtio.FeatureEventIdx} {
		q, dq, _, mem := setup(t, 8, ev)
		w := room(mem, 4)
		stop := make(chan struct{})
		got := make(chan bool)
		go func() {
			for {
				ok := q.Wait(stop, 0)
				if !ok {
					close(got)
					return
				}
				for {
					c, ok := q.Pop()
					if !ok {
						break
					}
					q.Push(c, 0)
					got <- true
				}
			}
		}()
		for i := 0; i < 20; i++ {
			dq.Add(w)
			dq.KickIfNeeded()
			select {
			case <-got:
			case <-time.After(5 * time.Second):
				t.Fatalf("event idx %v: buffer %d not processed (lost wakeup)", ev != 0, i)
			}
			dq.GetUsed()
		}
		// With polling, buffers are taken without a kick.
		close(stop)
		if _, ok := <-got; ok {
			t.Fatal("extra buffer")
		}
		stop2 := make(chan struct{})
		res := make(chan bool)
		go func() { res <- q.Wait(stop2, time.Second) }()
		time.Sleep(10 * time.Millisecond)
		dq.Add(w) // no kick
		select {
		case ok := <-res:
			if !ok {
				t.Fatal("Wait returned false")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("polling Wait missed a buffer")
		}
		close(stop2)
	}
}

func TestWaitMore(t *testing.T) {
	for _, ev := range []uint64{0, virtio.FeatureEventIdx} {
		q, dq, _, mem := setup(t, 8, ev)
		dq.Add(room(mem, 4))
		var c virtio.Chain
		if !q.PopInto(&c) {
			t.Fatal(q.Err())
		}
		q.Unpop(1) // too small for what the device wanted
		stop := make(chan struct{})
		res := make(chan bool)
		go func() { res <- q.WaitMore(stop, 0) }()
		select {
		case <-res:
			t.Fatal("WaitMore returned with no new buffer")
		case <-time.After(20 * time.Millisecond):
		}
		dq.Add(room(mem, 4))
		if !dq.KickIfNeeded() {
			t.Fatalf("event idx %v: the driver was not asked to kick for the new buffer", ev != 0)
		}
		select {
		case ok := <-res:
			if !ok {
				t.Fatal("WaitMore = false")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitMore missed the new buffer")
		}
		// Wait (not More) returns at once: buffers are pending.
		if !q.Wait(stop, 0) {
			t.Fatal("Wait = false")
		}
		close(stop)
	}
}
