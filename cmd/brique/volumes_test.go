package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"brique.dev/brique/monitor"
)

func TestParseVolume(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	for _, c := range []struct {
		in   string
		want monitor.Volume
		err  string
	}{
		{in: dir + ":/data", want: monitor.Volume{Host: dir, Guest: "/data"}},
		{in: dir + ":/data:ro", want: monitor.Volume{Host: dir, Guest: "/data", ReadOnly: true}},
		{in: dir + ":/data:rw", want: monitor.Volume{Host: dir, Guest: "/data"}},
		{in: "rel/dir:/data", want: monitor.Volume{Host: filepath.Join(wd, "rel/dir"), Guest: "/data"}},
		{in: dir + ":/data:rx", err: "the mode is ro or rw"},
		{in: dir, err: "want HOSTDIR:GUESTDIR"},
		{in: dir + ":/a:b:ro", err: "want HOSTDIR:GUESTDIR"},
		{in: ":/data", err: "both directories"},
		{in: dir + ":", err: "both directories"},
		{in: "", err: "want HOSTDIR:GUESTDIR"},
	} {
		got, err := parseVolume(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseVolume(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("parseVolume(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// TestVolumeFlags: -v and --volume collect volumes, checked as they come.
func TestVolumeFlags(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	parse := func(args ...string) (*volumeFlags, error) {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		v := addVolumeFlags(fs)
		return v, fs.Parse(args)
	}
	v, err := parse("-v", dir+":/data", "--volume", other+":/ro:ro", "-v="+dir+":/again")
	if err != nil {
		t.Fatal(err)
	}
	want := []monitor.Volume{{Host: dir, Guest: "/data"}, {Host: other, Guest: "/ro", ReadOnly: true}, {Host: dir, Guest: "/again"}}
	if len(v.list) != 3 || v.list[0] != want[0] || v.list[1] != want[1] || v.list[2] != want[2] {
		t.Errorf("volumes %+v, want %+v", v.list, want)
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"-v", dir + ":/data", "-v", other + ":/data"}, "already the guest directory"},
		{[]string{"-v", filepath.Join(dir, "missing") + ":/data"}, "does not exist"},
		{[]string{"-v", file + ":/data"}, "is not a directory"},
		{[]string{"-v", dir + ":data"}, "absolute"},
		{[]string{"-v", dir + ":/"}, "cannot be /"},
		{[]string{"-v", dir + ":/data/../x"}, "not clean"},
		{[]string{"-v", dir + ":/my data"}, "spaces"},
		{[]string{"-v"}, "needs an argument"},
	} {
		_, err := parse(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want a one-line error with %q", c.args, err, c.err)
		}
	}
}

// TestRunVolumeUsage: a bad -v is a usage error of brique run (status 2),
// before anything is built.
func TestRunVolumeUsage(t *testing.T) {
	var stderr strings.Builder
	code := run([]string{"run", "-v", "/nonexistent/dir:/data", "./nonexistent"}, io.Discard, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "does not exist") {
		t.Errorf("status %d, stderr %q", code, stderr.String())
	}
}
