package monitor

import (
	"compress/gzip"
	"io"
	"sync/atomic"
	"time"

	"brique.dev/brique/image"
)

// The CPU profiler samples the guest from the outside: while profiling,
// the preemption ticker interrupts KVM_RUN every profilePeriod, and each
// interruption records the guest's RIP and the return addresses found by
// following its frame pointers (Go on amd64 keeps RBP as a frame pointer,
// the library OS included); the monitor reads the stacks through the
// guest's page tables (guestMem.virt64). The program needs no change and
// pays only the interruptions; time the vCPU spends halted or in the
// monitor is counted apart.

const (
	profilePeriod   = time.Millisecond
	profileMaxDepth = 64
	// profileMaxStacks bounds the distinct stacks kept (512 bytes each):
	// a guest could make every sample a new one.
	profileMaxStacks = 20000
)

// cpuProfile accumulates stack samples.
type cpuProfile struct {
	counts map[[profileMaxDepth]uint64]int64
	// Ticks that found the vCPU thread out of the guest: halted (idle), or
	// handling an exit in the monitor. They appear as two pseudo-functions.
	halted, monitor atomic.Int64
	// Samples whose stack was new once profileMaxStacks were kept.
	overflow int64
}

func newCPUProfile() *cpuProfile {
	return &cpuProfile{counts: make(map[[profileMaxDepth]uint64]int64)}
}

// sample records the stack of a guest interrupted at rip with frame
// pointer rbp. Return addresses are stored minus one, so they fall inside
// the call instruction (as pprof expects of symbolized locations).
func (p *cpuProfile) sample(m guestMem, rip, rbp uint64) {
	var st [profileMaxDepth]uint64
	st[0] = rip
	n := 1
	for fp := rbp; n < profileMaxDepth && fp != 0 && fp%8 == 0; n++ {
		ret, err := m.virt64(fp + 8)
		if err != nil || ret < 2 {
			break
		}
		st[n] = ret - 1
		next, err := m.virt64(fp)
		if err != nil || next <= fp {
			n++
			break
		}
		fp = next
	}
	if _, ok := p.counts[st]; !ok && len(p.counts) >= profileMaxStacks {
		p.overflow++
		return
	}
	p.counts[st]++
}

// Pseudo program counters: non-canonical addresses, which no guest RIP or
// return address can be.
const (
	pcPseudo   = 1 << 63
	pcHalted   = pcPseudo | 1
	pcMonitor  = pcPseudo | 2
	pcOverflow = pcPseudo | 3
)

// write encodes the samples as a gzipped pprof profile (profile.proto),
// symbolized with the image's function and line tables. (Encoded here:
// github.com/google/pprof/profile compiles regular expressions when its
// package initialises, 0.3 ms and 150 KB at every start of brique.)
func (p *cpuProfile) write(w io.Writer, sym *image.Symbolizer, dur time.Duration) error {
	var e pprofEncoder
	e.str("") // string 0 is the empty string
	samples, count, cpu, nanos := e.str("samples"), e.str("count"), e.str("cpu"), e.str("nanoseconds")
	valueType := func(field int, typ, unit uint64) {
		var vt protoBuf
		vt.uint(1, typ)
		vt.uint(2, unit)
		e.out.bytes(field, vt)
	}
	valueType(1, samples, count)
	valueType(1, cpu, nanos)

	period := uint64(profilePeriod)
	locs := map[uint64]uint64{}
	funcs := map[string]uint64{}
	var locMsgs, funcMsgs []protoBuf
	location := func(pc uint64) uint64 {
		if id, ok := locs[pc]; ok {
			return id
		}
		name, file, line := "(unknown)", "", 0
		switch pc {
		case pcHalted:
			name = "(vCPU halted)"
		case pcMonitor:
			name = "(vCPU in the monitor)"
		case pcOverflow:
			name = "(stacks beyond the profile's limit)"
		default:
			if fn, f, l, ok := sym.Lookup(pc); ok {
				name, file, line = fn, f, l
			}
		}
		fid, ok := funcs[name]
		if !ok {
			fid = uint64(len(funcMsgs) + 1)
			funcs[name] = fid
			var f protoBuf
			f.uint(1, fid)
			n := e.str(name)
			f.uint(2, n)
			f.uint(3, n)
			f.uint(4, e.str(file))
			funcMsgs = append(funcMsgs, f)
		}
		id := uint64(len(locMsgs) + 1)
		locs[pc] = id
		var ln protoBuf
		ln.uint(1, fid)
		ln.uint(2, uint64(line))
		var l protoBuf
		l.uint(1, id)
		if pc&pcPseudo == 0 {
			l.uint(3, pc)
		}
		l.bytes(4, ln)
		locMsgs = append(locMsgs, l)
		return id
	}
	sample := func(stack []uint64, n int64) {
		var ids, vals protoBuf
		for _, pc := range stack {
			ids.varint(location(pc))
		}
		vals.varint(uint64(n))
		vals.varint(uint64(n) * period)
		var s protoBuf
		s.bytes(1, ids)
		s.bytes(2, vals)
		e.out.bytes(2, s)
	}
	if n := p.halted.Load(); n > 0 {
		sample([]uint64{pcHalted}, n)
	}
	if n := p.monitor.Load(); n > 0 {
		sample([]uint64{pcMonitor}, n)
	}
	if p.overflow > 0 {
		sample([]uint64{pcOverflow}, p.overflow)
	}
	for st, n := range p.counts {
		k := 0
		for k < len(st) && st[k] != 0 {
			k++
		}
		sample(st[:k], n)
	}
	for _, l := range locMsgs {
		e.out.bytes(4, l)
	}
	for _, f := range funcMsgs {
		e.out.bytes(5, f)
	}
	for _, s := range e.strs {
		e.out.string(6, s)
	}
	e.out.uint(9, uint64(time.Now().Add(-dur).UnixNano()))
	e.out.uint(10, uint64(dur))
	var pt protoBuf
	pt.uint(1, cpu)
	pt.uint(2, nanos)
	e.out.bytes(11, pt)
	e.out.uint(12, period)

	zw := gzip.NewWriter(w)
	if _, err := zw.Write(e.out); err != nil {
		return err
	}
	return zw.Close()
}

// pprofEncoder holds the profile message being built and its string table.
type pprofEncoder struct {
	out  protoBuf
	strs []string
	idx  map[string]uint64
}

// str returns the index of s in the string table, adding it if needed.
func (e *pprofEncoder) str(s string) uint64 {
	if e.idx == nil {
		e.idx = map[string]uint64{}
	}
	if i, ok := e.idx[s]; ok {
		return i
	}
	i := uint64(len(e.strs))
	e.idx[s] = i
	e.strs = append(e.strs, s)
	return i
}

// protoBuf is protocol buffer wire format (varints, length-delimited
// fields): all profile.proto needs.
type protoBuf []byte

func (b *protoBuf) varint(v uint64) {
	for v >= 0x80 {
		*b = append(*b, byte(v)|0x80)
		v >>= 7
	}
	*b = append(*b, byte(v))
}

// uint writes a varint field (wire type 0); zero values are omitted, as
// proto3 does.
func (b *protoBuf) uint(field int, v uint64) {
	if v == 0 {
		return
	}
	b.varint(uint64(field)<<3 | 0)
	b.varint(v)
}

// bytes writes a length-delimited field (wire type 2).
func (b *protoBuf) bytes(field int, v []byte) {
	b.varint(uint64(field)<<3 | 2)
	b.varint(uint64(len(v)))
	*b = append(*b, v...)
}

func (b *protoBuf) string(field int, s string) { b.bytes(field, []byte(s)) }
