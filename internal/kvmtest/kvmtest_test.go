package kvmtest

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestRequired(t *testing.T) {
	for env, want := range map[string]bool{
		"":      false,
		"0":     false,
		"false": false,
		"1":     true,
		"true":  true,
		"yes":   true, // not a boolean: fail safe, treat as required
	} {
		if got := required(env); got != want {
			t.Errorf("required(%q) = %v, want %v", env, got, want)
		}
	}
}

func TestDecide(t *testing.T) {
	reason := errors.New("/dev/kvm not found: this machine has no KVM (enable virtualization or run on a KVM host)")
	for _, c := range []struct {
		name        string
		err         error
		required    bool
		skip, fatal bool
		msg         string
	}{
		{"usable", nil, false, false, false, ""},
		{"usable, required", nil, true, false, false, ""},
		{"unusable", reason, false, true, false,
			"skipping: KVM unusable: " + reason.Error() + " (set BRIQUE_REQUIRE_KVM=1 to make this a failure)"},
		{"unusable, required", reason, true, false, true,
			"KVM required (BRIQUE_REQUIRE_KVM=1) but unusable: " + reason.Error()},
	} {
		skip, fatal, msg := decide(c.err, c.required)
		if skip != c.skip || fatal != c.fatal || msg != c.msg {
			t.Errorf("%s: decide = (%v, %v, %q), want (%v, %v, %q)", c.name, skip, fatal, msg, c.skip, c.fatal, c.msg)
		}
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of stopping
// the goroutine. Embedding testing.TB satisfies its unexported method; any
// method not overridden here would panic on the nil interface.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped, r.msg = true, sprint(args) }
func (r *recorder) Fatal(args ...any) { r.failed, r.msg = true, sprint(args) }

func sprint(args []any) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.(string))
	}
	return b.String()
}

func TestCheck(t *testing.T) {
	reason := errors.New("open /dev/kvm: permission denied — add your user to the kvm group or run as root")
	for _, c := range []struct {
		err           error
		env           string
		skipped, fail bool
	}{
		{nil, "", false, false},
		{nil, "1", false, false},
		{reason, "", true, false},
		{reason, "0", true, false},
		{reason, "1", false, true},
	} {
		r := &recorder{}
		check(r, c.err, c.env)
		if r.skipped != c.skipped || r.failed != c.fail {
			t.Errorf("check(%v, env %q): skipped %v failed %v, want %v %v", c.err, c.env, r.skipped, r.failed, c.skipped, c.fail)
		}
		if c.err != nil && !strings.Contains(r.msg, reason.Error()) {
			t.Errorf("check(%v, env %q): message %q lacks the reason", c.err, c.env, r.msg)
		}
	}
}

// TestRequireKVM runs the real helper on this machine: it must agree with
// Probe, skip (or fail, with BRIQUE_REQUIRE_KVM=1) exactly when KVM is
// unusable, and the probe's reason must be specific.
func TestRequireKVM(t *testing.T) {
	orig := os.Getenv(EnvRequireKVM)
	err := Probe()
	t.Logf("Probe() = %v", err)
	if err != nil && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" &&
		!strings.Contains(err.Error(), "/dev/kvm") && !strings.Contains(err.Error(), "create a VM") {
		t.Errorf("Probe error %q does not say what is wrong", err)
	}
	for _, env := range []string{"", "1"} {
		t.Setenv(EnvRequireKVM, env)
		r := &recorder{}
		RequireKVM(r)
		if r.skipped != (err != nil && env == "") || r.failed != (err != nil && env == "1") {
			t.Errorf("%s=%q, probe %v: skipped %v failed %v", EnvRequireKVM, env, err, r.skipped, r.failed)
		}
	}
	t.Setenv(EnvRequireKVM, orig)
	// And on the real *testing.T: returns normally when KVM is usable, skips
	// (or fails under CI's BRIQUE_REQUIRE_KVM=1) when it is not.
	RequireKVM(t)
	if err != nil {
		t.Fatal("RequireKVM returned although KVM is unusable")
	}
}
