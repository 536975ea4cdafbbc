package helperproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FindSpec describes a helper executable for Find.
type FindSpec struct {
	// Name is the executable's name, such as "brique-netd".
	Name string
	// Env names an environment variable that, when set, gives the
	// executable's path, such as "BRIQUE_NETD".
	Env string
	// Sentinel is the error that Find's errors wrap, such as
	// net.ErrNoNetd.
	Sentinel error
	// What says, in Find's error, why the helper is needed, such as
	// "the user-mode network runs in that separate program".
	What string
	// Cmd is the helper's package in the brique module, for the build
	// hints, such as "./cmd/brique-netd".
	Cmd string
}

// Find returns the path of spec's executable: $Env if set, else next to
// the running executable (where go install and go build -o DIR put the
// commands), else in $PATH. Its errors wrap spec.Sentinel and say how to
// build the helper.
func Find(spec FindSpec) (string, error) {
	if p := os.Getenv(spec.Env); p != "" {
		if !IsExecutable(p) {
			return "", fmt.Errorf("%w: $%s is %s, which is not an executable file; build it with `go build -o %s %s` (in the brique module)", spec.Sentinel, spec.Env, p, p, spec.Cmd)
		}
		return p, nil
	}
	dir := ""
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir = filepath.Dir(exe)
		if p := filepath.Join(dir, spec.Name); IsExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(spec.Name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p, nil
	}
	how := fmt.Sprintf("`go install %s` (into $PATH)", spec.Cmd)
	if dir != "" && !strings.Contains(dir, "go-build") { // not go run's temporary directory
		how = fmt.Sprintf("`go build -o %s %s`, or put it in $PATH with %s", filepath.Join(dir, spec.Name), spec.Cmd, how)
	}
	where := "$PATH"
	if dir != "" {
		where = dir + " or $PATH"
	}
	return "", fmt.Errorf("%w in %s: %s; build it, in the brique module, with %s, or set $%s to its path",
		spec.Sentinel, where, spec.What, how, spec.Env)
}

// IsExecutable reports whether p is a regular file that someone may
// execute.
func IsExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
