package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"brique.dev/brique/abi"
	"brique.dev/brique/monitor/virtio"
	"brique.dev/brique/monitor/virtio/p9"
)

// Volume is a host directory the guest sees (brique run -v
// HOSTDIR:GUESTDIR[:ro]). Each volume is one virtio-9p device, with mount
// tag "vol0", "vol1", ... in order, served over 9P2000.L by brique-9pd,
// which confines the guest to the directory
// (docs/decisions/009-volumes-9p.md).
type Volume struct {
	Host     string // an existing directory of the host
	Guest    string // where the guest mounts it: absolute, clean, not "/"
	ReadOnly bool   // every change fails with EROFS
}

func (v Volume) String() string {
	s := v.Host + ":" + v.Guest
	if v.ReadOnly {
		s += ":ro"
	}
	return s
}

// VolumeCmdlineKey starts the guest command line word that announces a
// volume, one word per volume: brique.vol=<tag>:<guestdir>[:ro], for
// example "brique.vol=vol0:/data:ro". The guest mounts the virtio-9p
// device whose configuration space holds <tag> at <guestdir>.
const VolumeCmdlineKey = "brique.vol="

// MaxGuestDirLen is the longest guest directory (the guest kernel's
// limit, guest/kernel/volume.go).
const MaxGuestDirLen = 256

// ErrVolume is wrapped by the errors about volumes.
var ErrVolume = errors.New("volume")

// VolumeTag is the mount tag of the i-th volume.
func VolumeTag(i int) string { return "vol" + strconv.Itoa(i) }

// maxVolumes is how many volumes fit on the bus next to the network
// device of net.
func maxVolumes(net NetConfig) int {
	if net.Mode == "" || net.Mode == "none" {
		return abi.VirtioMaxDevices
	}
	return abi.VirtioMaxDevices - 1
}

// Check validates one volume and says, in one line, what is wrong: the
// guest directory must be absolute, clean, not "/", without spaces or
// ':' (the command line syntax), at most MaxGuestDirLen bytes, and the
// host directory must exist.
func (v Volume) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrVolume, v, fmt.Sprintf(format, args...))
	}
	g := v.Guest
	switch {
	case v.Host == "":
		return bad("no host directory (want HOSTDIR:GUESTDIR[:ro])")
	case !strings.HasPrefix(g, "/"):
		return bad("the guest directory %q must be an absolute path", g)
	case g == "/":
		return bad("the guest directory cannot be / (the image's root file system): mount the volume on a directory, like /data")
	case path.Clean(g) != g:
		return bad("the guest directory %q is not clean: write %s", g, path.Clean(g))
	case strings.ContainsAny(g, " \t\n:"):
		return bad("the guest directory %q must not contain spaces or ':'", g)
	case len(g) > MaxGuestDirLen:
		return bad("the guest directory is longer than %d bytes", MaxGuestDirLen)
	}
	st, err := os.Stat(v.Host)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return bad("the host directory %s does not exist", v.Host)
	case err != nil:
		return bad("%v", err)
	case !st.IsDir():
		return bad("%s is not a directory", v.Host)
	}
	return nil
}

// CheckVolumes checks every volume (Check) and that no two share a guest
// directory.
func CheckVolumes(vols []Volume) error {
	seen := map[string]Volume{}
	for _, v := range vols {
		if err := v.Check(); err != nil {
			return err
		}
		if w, dup := seen[v.Guest]; dup {
			return fmt.Errorf("%w %s: %s is already the guest directory of volume %s", ErrVolume, v, v.Guest, w)
		}
		seen[v.Guest] = v
	}
	return nil
}

// checkVolumes is CheckVolumes, and room on the bus for max volumes.
func checkVolumes(vols []Volume, max int) error {
	if len(vols) > max {
		return fmt.Errorf("%w: %d volumes, at most %d fit (a VM has %d virtio device slots and the other devices, such as the network, use %d): share a parent directory instead", ErrVolume, len(vols), max, abi.VirtioMaxDevices, abi.VirtioMaxDevices-max)
	}
	return CheckVolumes(vols)
}

// volumeCmdline is the guest command line words announcing vols.
func volumeCmdline(vols []Volume) string {
	words := make([]string, len(vols))
	for i, v := range vols {
		words[i] = VolumeCmdlineKey + VolumeTag(i) + ":" + v.Guest
		if v.ReadOnly {
			words[i] += ":ro"
		}
	}
	return strings.Join(words, " ")
}

// setupVolumes opens the host directories of vols, starts brique-9pd
// (server, or found next to this program or in $PATH) to serve them, and
// puts one virtio-9p device per volume on bus. It returns the guest
// command line words announcing them and the server (to Close once the
// bus is closed). It must run before the seccomp
// filter (it starts a process); afterwards the devices only read and
// write their sockets. The server's standard error goes to stderr (it
// writes there only if it fails, or with trace); log receives the
// devices' diagnostics (nil: none).
func setupVolumes(vols []Volume, server string, bus *virtio.Bus, stderr, log io.Writer, trace bool) (string, *p9.Server, error) {
	if len(vols) == 0 {
		return "", nil, nil
	}
	var exports []p9.Export
	defer func() {
		for _, e := range exports {
			e.Dir.Close() // the server has its own
		}
	}()
	for _, v := range vols {
		// The server gets this very directory, whatever happens to the
		// path afterwards.
		fd, err := unix.Open(v.Host, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", nil, fmt.Errorf("%w %s: opening %s: %v", ErrVolume, v, v.Host, err)
		}
		exports = append(exports, p9.Export{Dir: os.NewFile(uintptr(fd), v.Host), ReadOnly: v.ReadOnly})
	}
	srv, socks, err := p9.LaunchServer(server, exports, p9.ServerOptions{
		Debug:  trace,
		Stderr: stderr,
		OnExit: func(err error) {
			fmt.Fprintf(stderr, "brique: volumes: %v: the guest's volumes no longer respond\n", err)
		},
	})
	if err != nil {
		return "", nil, err
	}
	for i, s := range socks {
		dev, err := p9.New(p9.Config{Tag: VolumeTag(i), Backend: s, MaxMessage: srv.MaxMessage(), OnError: func(err error) {
			if log != nil {
				fmt.Fprintf(log, "brique: %s (%s): %v\n", VolumeTag(i), vols[i].Guest, err)
			}
		}})
		if err != nil {
			s.Close()
		} else if _, err = bus.Add(dev); err != nil {
			dev.Close()
		}
		if err != nil {
			for _, s := range socks[i+1:] {
				s.Close()
			}
			return "", srv, fmt.Errorf("%w %s: %v", ErrVolume, vols[i], err)
		}
	}
	return volumeCmdline(vols), srv, nil
}
