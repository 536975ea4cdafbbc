// Package virtio is the driver side of virtio 1.2 over MMIO (section 4.2,
// version 2 registers) with split virtqueues (section 2.7) and
// VIRTIO_F_EVENT_IDX, for the Brique guest. It runs in ordinary goroutines
// (user context), not in the library OS's restricted context: rings and
// buffers live in a DMA region whose guest-physical address is known
// (identity-mapped memory handed out by the library OS), and registers are
// reached through Regs, which on Brique is a store or load to the device's
// MMIO window (a VM exit each: used only to set up and to kick a sleeping
// device).
//
// Status: groundwork for the network brick (docs/decisions/006); tested
// against Brique's device model (monitor/virtio) on the host.
package virtio
