package monitor

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"

	"brique.dev/brique/image"
)

// The CPU profiler samples the guest from the outside: while profiling,
// the preemption ticker interrupts KVM_RUN every profilePeriod, and each
// interruption records the guest's RIP and the return addresses found by
// following its frame pointers (Go on amd64 keeps RBP as a frame pointer,
// the library OS included); the monitor reads the stacks through the
// guest's page tables (guestMem.virt64). The
// program needs no change and pays only the interruptions; time the vCPU
// spends halted or in the monitor is not sampled.

const (
	profilePeriod   = time.Millisecond
	profileMaxDepth = 64
)

// cpuProfile accumulates stack samples.
type cpuProfile struct {
	counts map[[profileMaxDepth]uint64]int64
	// Ticks that found the vCPU thread out of the guest: halted (idle), or
	// handling an exit in the monitor. They appear as two pseudo-functions.
	halted, monitor atomic.Int64
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
	p.counts[st]++
}

// write encodes the samples as a gzipped pprof profile, symbolized with
// the image's function and line tables.
func (p *cpuProfile) write(w io.Writer, sym *image.Symbolizer, dur time.Duration) error {
	prof := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        int64(profilePeriod),
		DurationNanos: int64(dur),
	}
	locs := make(map[uint64]*profile.Location)
	funcs := make(map[string]*profile.Function)
	location := func(pc uint64) *profile.Location {
		if l, ok := locs[pc]; ok {
			return l
		}
		l := &profile.Location{ID: uint64(len(prof.Location) + 1), Address: pc}
		name, file, line, ok := sym.Lookup(pc)
		if !ok {
			name = "(unknown)"
		}
		f, ok := funcs[name]
		if !ok {
			f = &profile.Function{ID: uint64(len(prof.Function) + 1), Name: name, SystemName: name, Filename: file}
			funcs[name] = f
			prof.Function = append(prof.Function, f)
		}
		l.Line = []profile.Line{{Function: f, Line: int64(line)}}
		locs[pc] = l
		prof.Location = append(prof.Location, l)
		return l
	}
	for _, ps := range []struct {
		name string
		n    int64
	}{{"(vCPU halted)", p.halted.Load()}, {"(vCPU in the monitor)", p.monitor.Load()}} {
		if ps.n == 0 {
			continue
		}
		f := &profile.Function{ID: uint64(len(prof.Function) + 1), Name: ps.name, SystemName: ps.name}
		prof.Function = append(prof.Function, f)
		l := &profile.Location{ID: uint64(len(prof.Location) + 1), Line: []profile.Line{{Function: f}}}
		prof.Location = append(prof.Location, l)
		prof.Sample = append(prof.Sample, &profile.Sample{Value: []int64{ps.n, ps.n * int64(profilePeriod)}, Location: []*profile.Location{l}})
	}
	for st, n := range p.counts {
		s := &profile.Sample{Value: []int64{n, n * int64(profilePeriod)}}
		for _, pc := range st {
			if pc == 0 {
				break
			}
			s.Location = append(s.Location, location(pc))
		}
		prof.Sample = append(prof.Sample, s)
	}
	if err := prof.CheckValid(); err != nil {
		return err
	}
	return prof.Write(w)
}
