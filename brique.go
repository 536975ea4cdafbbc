// Package brique holds the sources of Brique's library OS so that the
// brique command can build images for programs outside this repository:
// the guest packages are extracted from this embedded copy into the user's
// cache and added to the build with a replace directive in a temporary
// module file (the user's go.mod and go.sum are never modified).
package brique

import "embed"

// ModulePath is the module path of the library OS.
const ModulePath = "brique.dev/brique"

// GuestSources are the packages linked into images: the guest library OS,
// the guest/monitor ABI, the network parameters they share (netconf), and
// the module files that pin the bricks' dependencies (gVisor's netstack).
//
//go:embed abi guest monitor/virtio/netconf go.mod go.sum
var GuestSources embed.FS
