package virtio

import (
	"strconv"
	"strings"
)

// Find returns the register windows of the virtio-mmio devices with the
// given device ID that the command line announces (words
// "virtio_mmio.device=<size>@<addr>:<irq>", the syntax of Linux's
// virtio_mmio driver, which the monitor writes) and that answer with the
// virtio magic value, in command line order.
func Find(cmdline string, deviceID uint32) []MMIO {
	var out []MMIO
	for _, w := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(w, "virtio_mmio.device=")
		if !ok {
			continue
		}
		_, rest, ok := strings.Cut(v, "@")
		if !ok {
			continue
		}
		addr, _, _ := strings.Cut(rest, ":")
		a, err := strconv.ParseUint(strings.TrimPrefix(addr, "0x"), 16, 64)
		if err != nil || a == 0 {
			continue
		}
		m := MMIO(uintptr(a))
		if m.Read32(RegMagicValue) == MagicValue && m.Read32(RegDeviceID) == deviceID {
			out = append(out, m)
		}
	}
	return out
}
