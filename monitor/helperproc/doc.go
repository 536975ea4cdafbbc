// Package helperproc holds what the monitor's helper programs have in
// common on the monitor's side: brique-netd (the user-mode network,
// monitor/virtio/net) and brique-9pd (host directory volumes,
// monitor/virtio/p9). Find locates a helper's executable; SeqPacket is
// the monitor's end of the message socket the helper serves.
//
// The monitor links this package: it must not import package net (see
// the TestDeps tests), and SeqPacket uses only read, write and close on
// its descriptor, which the monitor's seccomp filter allows.
package helperproc
