package net

import "testing"

func TestLinkMTU(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features uint64
		field    uint16
		want     int
	}{
		{"no MTU feature", netFMrgRxbuf, 65520, defaultMTU},
		{"the device's Ethernet MTU", netFMTU, 1500, 1500},
		{"a smaller one", netFMTU, 1280, 1280},
		{"too small for IPv4", netFMTU | netFMrgRxbuf, 67, defaultMTU},
		{"a large one with mergeable buffers", netFMTU | netFMrgRxbuf, 65520, 65520},
		{"a large one without", netFMTU, 65520, defaultMTU},
		{"jumbo", netFMTU | netFMrgRxbuf, 9000, 9000},
		{"the largest", netFMTU | netFMrgRxbuf, 65535, 65535},
	} {
		if got := linkMTU(tc.features, tc.field); got != tc.want {
			t.Errorf("%s: linkMTU(%#x, %d) = %d, want %d", tc.name, tc.features, tc.field, got, tc.want)
		}
	}
	// A frame of the largest MTU fits a transmit chain.
	if k := (netHdrLen + 14 + 65535 + txBufLen - 1) / txBufLen; k > txChainMax {
		t.Errorf("a 65535-byte packet takes %d transmit buffers, the chain at most %d", k, txChainMax)
	}
}
