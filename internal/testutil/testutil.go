// Package testutil holds helpers shared by Brique's host-side tests: running
// commands with a timeout and capturing their output, writing small Go
// modules into temporary directories, and snapshotting directories to check
// that nothing in them changed.
package testutil

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModulePath is the module path of the Brique repository.
const ModulePath = "brique.dev/brique"

// RepoRoot returns the root directory of the Brique repository, found by
// walking up from the current directory (a test's package directory) to
// the go.mod declaring ModulePath.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module "+ModulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the current directory", ModulePath)
		}
		dir = parent
	}
}

// MustRepoRoot is RepoRoot for tests.
func MustRepoRoot(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Cmd describes a command to run.
type Cmd struct {
	Dir     string        // working directory ("" = current)
	Env     []string      // full environment (nil = the test's environment)
	Timeout time.Duration // default 2 minutes
}

// Result is the outcome of a finished command.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	Code     int  // exit status; -1 if it did not exit normally
	TimedOut bool // killed because it ran longer than the timeout
}

// String shows the command, its exit status and its output, for failure
// messages.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "command: %s\nexit status: %d", strings.Join(r.Args, " "), r.Code)
	if r.TimedOut {
		b.WriteString(" (killed: timed out)")
	}
	fmt.Fprintf(&b, "\n--- stdout ---\n%s\n--- stderr ---\n%s\n--- end ---", r.Stdout, r.Stderr)
	return b.String()
}

// Lines returns s split into lines, without the final empty line.
func Lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Run runs name with args and returns its outcome. It fails the test only
// if the command cannot be started at all; a non-zero exit status or a
// timeout is reported in the Result for the caller to judge.
func (c Cmd) Run(t testing.TB, name string, args ...string) Result {
	t.Helper()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: append([]string{name}, args...), Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("running %s: %v", strings.Join(r.Args, " "), err)
	}
	if ctx.Err() != nil {
		r.TimedOut = true
		r.Code = -1
	}
	return r
}

// Env returns the test's environment without the variables named in drop,
// followed by add (KEY=VALUE entries).
func Env(drop []string, add ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		skip := false
		for _, d := range drop {
			if k == d {
				skip = true
				break
			}
		}
		if !skip {
			env = append(env, kv)
		}
	}
	return append(env, add...)
}

// WriteFiles writes files (slash-separated relative path → contents) under
// dir, creating directories as needed.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Snapshot maps every entry under a directory (relative slash path) to a
// description of it: "dir", or the file's mode, size and SHA-256.
type Snapshot map[string]string

// TakeSnapshot records the contents of dir.
func TakeSnapshot(t testing.TB, dir string) Snapshot {
	t.Helper()
	s := Snapshot{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			s[rel] = "dir"
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		s[rel] = fmt.Sprintf("%v %d bytes sha256 %s", info.Mode(), len(b), hex.EncodeToString(sum[:8]))
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", dir, err)
	}
	return s
}

// Diff describes how s differs from an earlier snapshot old ("" if equal).
func (s Snapshot) Diff(old Snapshot) string {
	var out []string
	for k, v := range s {
		ov, ok := old[k]
		switch {
		case !ok:
			out = append(out, "new: "+k+" ("+v+")")
		case ov != v:
			out = append(out, "changed: "+k+" ("+ov+" -> "+v+")")
		}
	}
	for k := range old {
		if _, ok := s[k]; !ok {
			out = append(out, "removed: "+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// SyncBuffer is a bytes.Buffer safe for concurrent use, for output written
// by one goroutine and read by another. If Limit is positive, bytes beyond
// the first Limit are counted in Dropped but not kept.
type SyncBuffer struct {
	Limit   int
	Dropped int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := p
	if b.Limit > 0 {
		if room := b.Limit - b.buf.Len(); len(q) > room {
			q = q[:max(room, 0)]
			b.Dropped += len(p) - len(q)
		}
	}
	b.buf.Write(q)
	return len(p), nil
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
