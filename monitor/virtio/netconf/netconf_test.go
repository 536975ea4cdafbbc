package netconf

import "testing"

func TestCmdlineRoundTrip(t *testing.T) {
	want := "ip=192.168.127.2::192.168.127.1:255.255.255.0::eth0:off:192.168.127.1"
	if got := User.Cmdline(); got != want {
		t.Fatalf("Cmdline() = %q, want %q", got, want)
	}
	c, ok := ParseCmdline("console=ttyS0 " + want + " virtio_mmio.device=0x200@0xd0010000:5")
	if !ok || c != User {
		t.Fatalf("ParseCmdline = %+v %v", c, ok)
	}
	c, ok = ParseCmdline("ip=10.0.0.9::10.0.0.1:255.255.0.0")
	if !ok || c.Addr != [4]byte{10, 0, 0, 9} || c.PrefixLen != 16 || c.DNS != ([4]byte{}) {
		t.Fatalf("short form: %+v %v", c, ok)
	}
	c, ok = ParseCmdline("ip=10.0.0.9")
	if !ok || c.PrefixLen != 32 || c.Gateway != ([4]byte{}) {
		t.Fatalf("address only: %+v %v", c, ok)
	}
	for _, bad := range []string{"", "ip=", "ip=dhcp", "ip=1.2.3", "ip=1.2.3.4.5", "ip=256.1.1.1", "ip=01.2.3.4",
		"ip=1.2.3.4::1.2.3.x", "ip=1.2.3.4:::255.0.255.0", "ip=1.2.3.4::::::dhcp", "noip=1.2.3.4"} {
		if c, ok := ParseCmdline(bad); ok {
			t.Errorf("ParseCmdline(%q) = %+v, want failure", bad, c)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ParseCmdline("a b " + want) }); n > 1 {
		t.Errorf("ParseCmdline allocates %v times", n)
	}
	if got := (IPConfig{Addr: [4]byte{10, 0, 2, 15}, PrefixLen: 20}).Cmdline(); got != "ip=10.0.2.15:::255.255.240.0::eth0:off" {
		t.Errorf("Cmdline without DNS = %q", got)
	}
}
