// Package monitor is Brique's virtual machine monitor: it runs one Brique
// image on KVM with one vCPU, entirely from Go (ioctls through package
// kvm). It loads the image's PT_LOAD segments at their physical addresses,
// builds the page tables, GDT and TSS and the boot info page (package abi),
// starts the vCPU directly in 64-bit mode at CPL 3, and serves the guest's
// hypercalls: console writes, halt-until-deadline, exit, crash reports and
// TLB flushes. It preempts the guest every abi.PreemptPeriodNS by
// interrupting KVM_RUN with a signal and redirecting the vCPU to the
// guest's upcall entry.
//
// Nothing the guest does may crash the monitor: every guest address is
// bounds-checked (guestMem) and every failure becomes a report on stderr and
// an exit status (abi.ExitCrash, abi.ExitOOM).
//
// Requires linux/amd64 and /dev/kvm.
package monitor
