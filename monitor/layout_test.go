package monitor

import "testing"

func TestVirt64FollowsThePageTables(t *testing.T) {
	m := make(guestMem, 8<<20)
	buildPageTables(m)
	// Identity map: 4 KiB pages in the first 2 MiB, 2 MiB pages above.
	m.put64(0x3008, 0x1122334455667788)
	m.put64(0x600010, 0x99)
	for _, c := range []struct{ va, want uint64 }{{0x3008, 0x1122334455667788}, {0x600010, 0x99}} {
		got, err := m.virt64(c.va)
		if err != nil || got != c.want {
			t.Errorf("virt64(%#x) = %#x, %v; want %#x", c.va, got, err, c.want)
		}
	}
	// A region mapped elsewhere by a 4 KiB page (as the library OS maps
	// mmap regions): point VA 0x40_0000_0000 at frame 0x5000.
	const va = 0x40_0000_0000
	pdpt, pd, pt := uint64(0x700000), uint64(0x701000), uint64(0x702000)
	m.put64(pml4Addr+8*(va>>39&511), pdpt|ptP|ptRW|ptUS)
	m.put64(pdpt+8*(va>>30&511), pd|ptP|ptRW|ptUS)
	m.put64(pd+8*(va>>21&511), pt|ptP|ptRW|ptUS)
	m.put64(pt+8*(va>>12&511), 0x5000|ptP|ptRW|ptUS)
	m.put64(0x5018, 42)
	if got, err := m.virt64(va + 0x18); err != nil || got != 42 {
		t.Errorf("virt64 through a 4 KiB mapping = %d, %v; want 42", got, err)
	}
	if _, err := m.virt64(va + 0x1000); err == nil {
		t.Error("virt64 of an unmapped page succeeded")
	}
}
