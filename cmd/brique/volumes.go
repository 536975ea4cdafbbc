package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"brique.dev/brique"
	"brique.dev/brique/monitor"
	"brique.dev/brique/monitor/virtio/p9"
)

// volumeUsage is the help of -v and --volume.
const volumeUsage = "share a host directory with the guest: `HOSTDIR:GUESTDIR[:ro]` mounts HOSTDIR at GUESTDIR (absolute, not /), read-only with :ro (repeatable; served over 9P by brique-9pd)"

// volumeFlags collects -v and --volume.
type volumeFlags struct{ list []monitor.Volume }

// addVolumeFlags registers -v and --volume on fs.
func addVolumeFlags(fs *flag.FlagSet) *volumeFlags {
	v := &volumeFlags{}
	fs.Var(v, "v", volumeUsage)
	fs.Var(v, "volume", "same as -v")
	return v
}

func (v *volumeFlags) String() string {
	if v == nil {
		return ""
	}
	s := make([]string, len(v.list))
	for i, vol := range v.list {
		s[i] = vol.String()
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value: it parses one volume, checks it and that its
// guest directory is not already taken.
func (v *volumeFlags) Set(s string) error {
	vol, err := parseVolume(s)
	if err != nil {
		return err
	}
	if err := monitor.CheckVolumes(append(v.list[:len(v.list):len(v.list)], vol)); err != nil {
		return err
	}
	v.list = append(v.list, vol)
	return nil
}

// parseVolume parses HOSTDIR:GUESTDIR[:ro|:rw] (docker's syntax). A
// relative HOSTDIR is relative to the current directory. The directories
// are checked by monitor.Volume.Check.
func parseVolume(s string) (monitor.Volume, error) {
	parts := strings.Split(s, ":")
	var v monitor.Volume
	switch {
	case len(parts) == 3 && parts[2] == "ro":
		v.ReadOnly = true
	case len(parts) == 3 && parts[2] == "rw":
	case len(parts) == 3:
		return v, fmt.Errorf("%q: the mode is ro or rw, not %q", s, parts[2])
	case len(parts) != 2:
		return v, fmt.Errorf("%q: want HOSTDIR:GUESTDIR[:ro] (directories cannot contain ':')", s)
	}
	if parts[0] == "" || parts[1] == "" {
		return v, fmt.Errorf("%q: want HOSTDIR:GUESTDIR[:ro], both directories given", s)
	}
	host, err := filepath.Abs(parts[0])
	if err != nil {
		return v, fmt.Errorf("%q: %v", s, err)
	}
	v.Host, v.Guest = host, parts[1]
	return v, nil
}

// server is the path of brique-9pd for the monitor: "" lets it look
// next to brique and in $PATH (and report a missing one).
func (v *volumeFlags) server(stderr io.Writer) string {
	if len(v.list) == 0 {
		return ""
	}
	if p, err := p9.FindServer(); err == nil {
		return p
	}
	return cachedHelper(p9.ServerName, "./cmd/brique-9pd", stderr)
}

// cachedHelper is the fallback of netdPath and volumeFlags.server for a
// helper command that is not installed: when brique runs inside its own
// module (go run ./cmd/brique), it builds the helper (package pkg) into
// the user cache, again when brique is newer than that build (the sources
// changed since). "" if it cannot.
func cachedHelper(name, pkg string, stderr io.Writer) string {
	out, err := exec.Command("go", "list", "-m").Output()
	if err != nil || strings.TrimSpace(string(out)) != brique.ModulePath {
		return ""
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(cache, "brique", "bin", name)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		// Built by an earlier run: keep it unless this brique is newer.
		self, err := os.Executable()
		if sst, serr := os.Stat(self); err != nil || serr != nil || !sst.ModTime().After(st.ModTime()) {
			return p
		}
	}
	fmt.Fprintf(stderr, "brique: building %s into %s\n", name, p)
	cmd := exec.Command("go", "build", "-o", p, pkg)
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return ""
	}
	return p
}
