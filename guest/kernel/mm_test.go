package kernel

import (
	"math/rand"
	"testing"
)

// TestVMATable checks the mapping table (carve, insertVMA, findVMA,
// rangeFree) against a page-granular model under random mmap/munmap/
// mprotect-like operations. Pure logic: it runs on the host.
func TestVMATable(t *testing.T) {
	const pages = 256
	const base = uintptr(1 << 30)
	const pg = uintptr(4096)
	model := make([]uint32, pages) // 0 = unmapped, else prot+1
	nvmas = 0
	rng := rand.New(rand.NewSource(1))
	for step := 0; step < 5000; step++ {
		a := rng.Intn(pages)
		n := 1 + rng.Intn(pages-a)
		if n > 32 {
			n = 1 + rng.Intn(32)
		}
		if a+n > pages {
			n = pages - a
		}
		start, end := base+uintptr(a)*pg, base+uintptr(a+n)*pg
		switch rng.Intn(3) {
		case 0, 1: // map (replacing what was there) with a protection
			prot := uint32(rng.Intn(3))
			if !carve(start, end) || !insertVMA(start, end, prot) {
				t.Fatalf("step %d: table full (%d entries)", step, nvmas)
			}
			for i := a; i < a+n; i++ {
				model[i] = prot + 1
			}
		case 2: // unmap
			if !carve(start, end) {
				t.Fatalf("step %d: carve failed", step)
			}
			for i := a; i < a+n; i++ {
				model[i] = 0
			}
		}
		// The table is sorted, disjoint, non-empty and merged.
		for i := 0; i < nvmas; i++ {
			v := vmas[i]
			if v.start >= v.end {
				t.Fatalf("step %d: empty entry %d: %+v", step, i, v)
			}
			if i > 0 {
				p := vmas[i-1]
				if p.end > v.start {
					t.Fatalf("step %d: entries %d and %d overlap: %+v %+v", step, i-1, i, p, v)
				}
				if p.end == v.start && p.prot == v.prot {
					t.Fatalf("step %d: entries %d and %d not merged: %+v %+v", step, i-1, i, p, v)
				}
			}
		}
		// Every page agrees with the model.
		for i := 0; i < pages; i++ {
			va := base + uintptr(i)*pg + 7
			k := findVMA(va)
			switch {
			case model[i] == 0 && k >= 0:
				t.Fatalf("step %d: page %d unmapped in the model but in entry %+v", step, i, vmas[k])
			case model[i] != 0 && (k < 0 || vmas[k].prot != model[i]-1):
				t.Fatalf("step %d: page %d has prot %d in the model, table says %d", step, i, model[i]-1, k)
			}
		}
		// rangeFree agrees for a random range.
		b := rng.Intn(pages)
		m := 1 + rng.Intn(pages-b)
		free := true
		for i := b; i < b+m; i++ {
			if model[i] != 0 {
				free = false
			}
		}
		if got := rangeFree(base+uintptr(b)*pg, base+uintptr(b+m)*pg); got != free {
			t.Fatalf("step %d: rangeFree(%d, %d) = %v, model says %v", step, b, b+m, got, free)
		}
	}
	nvmas = 0
}
