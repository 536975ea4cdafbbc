// Package kvmtest lets tests that need KVM skip cleanly where there is none,
// and fail where there must be one.
//
//	func TestBoot(t *testing.T) {
//		kvmtest.RequireKVM(t)
//		...
//	}
//
// Without KVM (no /dev/kvm, no permission, wrong API version, VM creation
// refused) RequireKVM skips the test with the precise reason. With the
// environment variable BRIQUE_REQUIRE_KVM=1, as CI sets it, the same
// situation is a test failure instead, so KVM tests can never silently skip
// where they are supposed to run.
package kvmtest

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
)

// EnvRequireKVM names the environment variable that turns a missing KVM from
// a skip into a failure when it is set to a true value ("1").
const EnvRequireKVM = "BRIQUE_REQUIRE_KVM"

var (
	probeOnce sync.Once
	probeErr  error
)

// Probe reports why KVM is unusable for tests on this machine, or nil if it
// can open /dev/kvm (API version 12) and create a VM. The result is computed
// once per process.
func Probe() error {
	probeOnce.Do(func() { probeErr = probe() })
	return probeErr
}

// RequireKVM skips t, with the reason, unless KVM is usable. If
// BRIQUE_REQUIRE_KVM is set to a true value it fails t (Fatal) instead.
func RequireKVM(t testing.TB) {
	t.Helper()
	check(t, Probe(), os.Getenv(EnvRequireKVM))
}

// check applies decide to t.
func check(t testing.TB, err error, env string) {
	t.Helper()
	skip, fatal, msg := decide(err, required(env))
	switch {
	case fatal:
		t.Fatal(msg)
	case skip:
		t.Skip(msg)
	}
}

// required interprets the value of BRIQUE_REQUIRE_KVM. Unset, empty and
// false values ("0", "false") mean not required. Anything that is not a
// boolean counts as required: a typo must not turn CI's check into a skip.
func required(env string) bool {
	if env == "" {
		return false
	}
	b, err := strconv.ParseBool(env)
	return err != nil || b
}

// decide says what to do with a test given the KVM probe result err and
// whether KVM is required: run it (both false), skip it, or fail it, and
// with which message.
func decide(err error, required bool) (skip, fatal bool, msg string) {
	if err == nil {
		return false, false, ""
	}
	if required {
		return false, true, fmt.Sprintf("KVM required (%s=1) but unusable: %v", EnvRequireKVM, err)
	}
	return true, false, fmt.Sprintf("skipping: KVM unusable: %v (set %s=1 to make this a failure)", err, EnvRequireKVM)
}

// Require skips t with reason when err is not nil (a missing privilege or
// tool the test needs next to KVM: root for TAP devices, the ip command),
// or fails it when BRIQUE_REQUIRE_KVM is set, as for KVM itself: CI must
// run those tests, not skip them.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if required(os.Getenv(EnvRequireKVM)) {
		t.Fatalf("%v (%s is set: this test must run)", err, EnvRequireKVM)
	}
	t.Skip(err)
}
