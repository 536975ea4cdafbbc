package p9test_test

import (
	"bytes"
	"testing"

	"brique.dev/brique/monitor/virtio/p9/internal/p9test"
)

func TestMsg(t *testing.T) {
	got := p9test.Msg(p9test.Twrite, 0x0102, uint32(5), uint64(6), uint16(7), uint8(8), "ab", []byte("cd"))
	want := []byte{
		28, 0, 0, 0, p9test.Twrite, 0x02, 0x01, // size[4] type[1] tag[2]
		5, 0, 0, 0,
		6, 0, 0, 0, 0, 0, 0, 0,
		7, 0,
		8,
		2, 0, 'a', 'b',
		'c', 'd',
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Msg = % x\nwant   % x", got, want)
	}
	if p9test.Type(got) != p9test.Twrite || p9test.Type(got[:4]) != -1 {
		t.Errorf("Type = %d, %d", p9test.Type(got), p9test.Type(got[:4]))
	}
	if v := p9test.Version(8192); !bytes.Equal(v, p9test.Msg(p9test.Tversion, 0xFFFF, uint32(8192), "9P2000.L")) {
		t.Errorf("Version = % x", v)
	}
	if a := p9test.Attach(3, 1); len(a) != 7+4+4+2+2+4 || a[11] != 0xFF {
		t.Errorf("Attach = % x", a)
	}
}
