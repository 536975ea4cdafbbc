package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// runcEnv is an OCI bundle whose rootfs holds one static binary, and a
// private runc state directory (--root) so the harness never sees or
// touches containers it did not create.
type runcEnv struct {
	bin     string // runc executable
	version string // first line of `runc --version`
	root    string // runc --root
	bundle  string
	prefix  string // container IDs are prefix + run number
	seq     int
}

// setupRunc writes the bundle that runs binary (see writeBundle).
func setupRunc(bin, work, binary string) (*runcEnv, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s not found (install the Debian package runc): %w", bin, err)
	}
	out, err := command(work, nil, path, "--version")
	if err != nil {
		return nil, err
	}
	e := &runcEnv{
		bin:     path,
		version: strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]),
		root:    filepath.Join(work, "runc-state"),
		bundle:  filepath.Join(work, "bundle"),
		prefix:  fmt.Sprintf("briquebench-%d-", os.Getpid()),
	}
	return e, e.writeBundle(e.bundle, binary)
}

// writeBundle writes an OCI bundle in dir whose rootfs holds only binary:
// `runc spec` (the installed runc's default configuration: namespaces,
// /proc, /dev, /sys mounts, no seccomp), with the process set to /NAME ARGS,
// no terminal and a read-only root.
func (e *runcEnv) writeBundle(dir, binary string, args ...string) error {
	return e.writeBundleMounts(dir, binary, nil, args...)
}

// ociMount is one entry of an OCI configuration's mounts.
type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options,omitempty"`
}

// writeBundleMounts is writeBundle with extra mounts after runc spec's
// defaults; their mount points are created in the rootfs.
func (e *runcEnv) writeBundleMounts(dir, binary string, mounts []ociMount, args ...string) error {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	for _, m := range mounts {
		if err := os.MkdirAll(filepath.Join(rootfs, m.Destination), 0o755); err != nil {
			return err
		}
	}
	name := filepath.Base(binary)
	data, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, name), data, 0o755); err != nil {
		return err
	}
	if _, err := command(dir, nil, e.bin, "spec", "--bundle", dir); err != nil {
		return err
	}
	return editBundle(dir, func(cfg map[string]any) error {
		proc, _ := cfg["process"].(map[string]any)
		root, _ := cfg["root"].(map[string]any)
		if proc == nil || root == nil {
			return fmt.Errorf("runc spec wrote no process or root section in %s", filepath.Join(dir, "config.json"))
		}
		proc["args"] = append([]string{"/" + name}, args...)
		proc["terminal"] = false
		root["path"] = "rootfs"
		root["readonly"] = true
		if len(mounts) > 0 {
			ms, _ := cfg["mounts"].([]any)
			for _, m := range mounts {
				ms = append(ms, m)
			}
			cfg["mounts"] = ms
		}
		return nil
	})
}

// editBundle reads the bundle's config.json, lets edit change it and
// writes it back.
func editBundle(dir string, edit func(cfg map[string]any) error) error {
	cfgPath := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("runc spec wrote an unreadable %s: %w", cfgPath, err)
	}
	if err := edit(cfg); err != nil {
		return err
	}
	raw, err = json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(cfgPath, raw, 0o644)
}

// argv returns the command line of the next container run and its ID.
func (e *runcEnv) argv() ([]string, string) { return e.argvBundle(e.bundle) }

// argvBundle is argv for the bundle in dir.
func (e *runcEnv) argvBundle(dir string) ([]string, string) {
	e.seq++
	id := fmt.Sprintf("%s%d", e.prefix, e.seq)
	return []string{e.bin, "--root", e.root, "run", "--bundle", dir, id}, id
}

// remove deletes container id whatever state it is in. `runc run` deletes
// a container that exited by itself; this catches killed or failed runs.
func (e *runcEnv) remove(id string) {
	cmd := exec.Command(e.bin, "--root", e.root, "delete", "--force", id)
	cmd.Run() // "container does not exist" is the normal case
}

// leftovers lists containers still known to runc in the private state
// directory, and deletes them.
func (e *runcEnv) leftovers() []string {
	out, err := exec.Command(e.bin, "--root", e.root, "list", "-q").Output()
	if err != nil {
		return nil
	}
	ids := strings.Fields(string(out))
	for _, id := range ids {
		e.remove(id)
	}
	return ids
}

// cgroupLayout describes the host's cgroup hierarchy (runc puts each
// container in its own cgroup).
func cgroupLayout() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "cgroup v2 (unified)"
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		return "cgroup v1 (hybrid: cgroup2 also mounted at /sys/fs/cgroup/unified)"
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		return "cgroup v1"
	}
	return "no cgroup hierarchy mounted at /sys/fs/cgroup"
}
