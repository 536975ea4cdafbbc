// Package virtio is the device side of virtio 1.2 over MMIO for the Brique
// monitor: the register window of "Virtio Over MMIO" version 2 (virtio
// 1.2, section 4.2.2), the device status and feature negotiation (sections
// 2.1, 2.2, 3.1), and split virtqueues (section 2.7) with indirect
// descriptors (2.7.5.3) and VIRTIO_F_EVENT_IDX notification suppression
// (2.7.7, 2.7.10). Legacy (version 1, pre-VIRTIO_F_VERSION_1) drivers and
// packed virtqueues are not supported. Device types live in subpackages
// (net: section 5.1; p9: the 9P transport, device ID 9).
//
// # Pieces
//
//   - Bus: the devices of one VM at abi.VirtioMMIOBase + n*abi.VirtioMMIOStride,
//     with one wakeup channel and the command line fragment.
//   - Transport: one device's registers (Read/Write/Access), the status
//     state machine, feature negotiation, queue setup and validation.
//   - Device: what a device type implements (ID, features, configuration
//     space, queue sizes, Activate, Reset).
//   - Queue: Pop (descriptor chains as views of guest memory: readable
//     then writable buffers), Push/Fill/Flush (used ring), NeedNotify
//     (should the driver be told), EnableNotify/DisableNotify/Wait (should
//     the driver tell us).
//   - GuestMemory / Memory: bounds-checked access to guest RAM.
//
// Everything the guest writes is validated: ring indexes are taken modulo
// the queue size, a chain has at most queue-size descriptors (loops end
// there), indirect tables are bounded, buffers must lie inside guest
// memory, and a driver that breaks the rules gets a broken queue and
// StatusDeviceNeedsReset, never a panic or a hang of the monitor
// (FuzzQueue, FuzzTransport).
//
// # Cost model
//
// On the machines Brique runs on, a register access is a KVM_EXIT_MMIO of
// ~27 us, and there is no interrupt controller. So registers are touched
// only to set a device up and to kick a sleeping device. Each device runs
// its queues on its own goroutines: they poll while there is work (and for
// a short window after it), then EnableNotify and sleep until the driver
// writes QueueNotify. With VIRTIO_F_EVENT_IDX the driver knows from
// avail_event whether a kick is needed. In the other direction the guest
// polls its used rings when it schedules; when it halts (HypercallHalt) it
// sets used_event first, and a device whose NeedNotify is then true raises
// an interrupt: the Bus's Wake channel, which ends the halt with
// abi.EventDevice. Reading a register has no side effect (InterruptStatus
// is cleared only by InterruptACK), so the nil-check load Go emits before
// a store is harmless.
//
// # Wiring into monitor.Run
//
// 0. For the user-mode network, start its daemon early (it takes ~7 ms
// to be ready, which the monitor can spend loading the image and setting
// up the VM), before the seccomp filter (it forks and executes). The
// network itself (gVisor, gvisor-tap-vsock) runs in brique-netd, so the
// monitor never links it (docs/decisions/008-netd.md):
//
//	netd, err := net.FindNetd() // $BRIQUE_NETD, next to brique, or $PATH
//	un, err := net.LaunchUserNet(netd, fwds, net.UserNetOptions{Debug: cfg.Debug, Stderr: cfg.Stderr})
//	...
//	if err := un.WaitReady(); err != nil { ... } // port forwards listen; before the first KVM_RUN
//
// (net.StartUserNet does both at once.) On error paths before the device
// owns it, un.Close() ends the daemon.
//
// 1. After guest RAM (raw) is mapped, build the bus and its devices. Close
// the bus before unmapping RAM (defers run last-in first-out, so defer
// bus.Close() after defer unix.Munmap(raw)):
//
//	bus := virtio.NewBus(virtio.Memory(raw), func(err error) {
//		if cfg.Debug { fmt.Fprintf(cfg.Stderr, "brique: %v\n", err) }
//	})
//	defer bus.Close() // stops device goroutines, closes backends (un: the daemon exits)
//	dev, err := net.New(net.Config{Backend: un})          // or a net.OpenTAP(name)
//	_, err = bus.Add(dev)
//
// 2. Put bus.Cmdline() (for example
// "virtio_mmio.device=0x200@0xd0010000:5"), and for the user-mode network
// netconf.User.Cmdline() ("ip=192.168.127.2::192.168.127.1:255.255.255.0::eth0:off:192.168.127.1"),
// on the guest command line (abi.BootInfoCmdlineOff/Len).
//
// 3. In the vCPU loop, serve MMIO exits in the device windows before the
// hypercall check:
//
//	case kvm.ExitMMIO:
//		mm := v.run.MMIO()
//		if bus.Contains(mm.PhysAddr) {
//			n := min(int(mm.Len), 8)
//			data := mm.Data
//			if !bus.HandleMMIO(mm.PhysAddr, data[:n], mm.Write()) {
//				return v.crashReport(...) // no device register there
//			}
//			if !mm.Write() {
//				v.run.SetMMIOData(data[:n])
//			}
//			continue
//		}
//
// 4. In the halt hypercall, also wake on the bus:
//
//	select {
//	case <-tc:
//		return 0
//	case <-v.wake:
//		return abi.EventSignal
//	case <-bus.Wake():
//		return abi.EventDevice
//	}
//
// A pending value makes the select return at once, so an interrupt raised
// while the guest ran is not lost (at worst the guest wakes once for
// nothing). (The monitor itself uses SetNotify and a futex instead of a
// select: a Go timer cannot sleep less than about a millisecond, and the
// guest halts for microseconds.)
package virtio
