// Package net is Brique's virtio network device (virtio 1.2, section 5.1
// "Network Device") and its backends.
//
// # Device
//
// One receive queue (0) and one transmit queue (1) of up to 256 entries;
// no control queue, no multiqueue. Features offered (section 5.1.3):
//
//   - VIRTIO_NET_F_MAC: the MAC address is in the configuration space;
//   - VIRTIO_NET_F_STATUS: link status, always VIRTIO_NET_S_LINK_UP;
//   - VIRTIO_NET_F_MTU: the MTU (1500 by default) is in the configuration
//     space;
//   - VIRTIO_NET_F_MRG_RXBUF: a received frame may span several receive
//     buffers (num_buffers in the header), so the driver can post small
//     (e.g. 2 KiB or 4 KiB page) buffers; without it every receive chain
//     must hold a 12-byte header plus a full frame (1526 bytes at MTU
//     1500) and smaller chains are skipped (the frame is dropped). It can
//     be turned off with Config.NoMergeable;
//   - and from the transport: VIRTIO_F_VERSION_1 (required),
//     VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC.
//
// Offloads are offered only over a TAP device (docs/decisions/013 and
// 017): towards the host VIRTIO_NET_F_CSUM, HOST_TSO4 and HOST_TSO6 (the
// guest's partial checksums and large TCP segments go to the TAP device
// with their header, and the host kernel finishes them); towards the
// guest GUEST_CSUM, GUEST_TSO4 and GUEST_TSO6, with mergeable buffers
// (once the driver accepts them, TUNSETOFFLOAD lets the host hand over
// TCP segments of up to 64 KiB with a partial checksum, and their header
// goes to the driver). Otherwise the 12-byte struct virtio_net_hdr
// (section 5.1.6, VERSION_1 layout: flags, gso_type, hdr_len, gso_size,
// csum_start, csum_offset, num_buffers) is all zeros except num_buffers;
// the socket (user-mode) backend negotiates no offload.
//
// Frames go through two goroutines per active device: receive (backend to
// receive queue) and transmit (transmit queue to backend). Each polls its
// queue while busy and for Config.Poll (DefaultPoll) after its last work,
// then asks the driver for a notification and sleeps (virtio.Queue.Wait),
// so a busy guest kicks rarely. A pump goroutine reads the backend into a
// bounded pool of frames; when the guest does not take them, frames are
// dropped like on a NIC with a full ring (Stats.RXDropped).
//
// # Backends
//
//   - TAP (OpenTAP): a Linux TAP interface opened through /dev/net/tun
//     with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, created if it does not exist
//     (needs CAP_NET_ADMIN) or attached to an existing one (ip tuntap add
//     dev NAME mode tap user $USER lets a user attach without privilege).
//     Failures say which of these is the problem.
//   - Socket (NewSocket, NewSocketFD): one end of a unix SOCK_SEQPACKET
//     (or SOCK_DGRAM) socket pair, one Ethernet frame per message, no
//     header. It uses only read, write and close.
//   - User mode (StartUserNet, or LaunchUserNet then WaitReady): a
//     socket backend whose other end is served by the brique-netd
//     daemon (cmd/brique-netd, package usernet), which runs
//     gvisor-tap-vsock's virtual network (the one of podman machine and
//     lima): no privilege, a gateway with DHCP and DNS, outgoing TCP/UDP
//     through host sockets, the host's loopback at 192.168.127.254, and
//     port forwards in the docker -p syntax (ParsePortForward).
//     Addresses: package netconf. The network runs in its own process
//     because linking gVisor would add ~6-13 ms to every monitor start
//     and ~6.5 MB to its binary (docs/decisions/008-netd.md); FindNetd
//     locates the daemon.
//
// A Backend moves whole Ethernet frames; a new one needs ReadPacket,
// WritePacket and Close.
//
// This package imports neither gVisor nor package net (which would make
// the monitor a dynamically linked cgo binary, ~0.7 ms more per start):
// go list -deps shows only the standard library and x/sys.
package net
