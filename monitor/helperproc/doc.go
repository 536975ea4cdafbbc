// Package helperproc holds what the monitor's helper programs have in
// common on the monitor's side: brique-netd (the user-mode network,
// monitor/virtio/net) and brique-9pd (host directory volumes,
// monitor/virtio/p9). Find and Resolve locate a helper's executable;
// SocketPair makes the message sockets it serves, and SeqPacket is the
// monitor's end of one; Start starts the helper (its standard error
// through StderrFile) and reaps it (Process).
//
// The monitor links this package: it must not import package net (see
// the TestDeps tests), and SeqPacket uses only read, write and close on
// its descriptor, which the monitor's seccomp filter allows. Start forks
// and executes: call it before the filter is installed.
package helperproc
