package net

import (
	"errors"
	"fmt"
	"io"
	stdnet "net"
	"os"
	"testing"
)

// TestIsClosed checks that net.ErrClosed is recognised without this
// package importing package net.
func TestIsClosed(t *testing.T) {
	for _, err := range []error{
		stdnet.ErrClosed, fmt.Errorf("tap: %w", stdnet.ErrClosed), &stdnet.OpError{Op: "read", Err: stdnet.ErrClosed},
		os.ErrClosed, fmt.Errorf("x: %w", io.EOF),
	} {
		if !isClosed(err) {
			t.Errorf("isClosed(%v) = false", err)
		}
	}
	for _, err := range []error{errors.New("boom"), os.ErrDeadlineExceeded} {
		if isClosed(err) {
			t.Errorf("isClosed(%v) = true", err)
		}
	}
	if s := HardwareAddr(stdnet.HardwareAddr{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee}).String(); s != "5a:94:ef:e4:0c:ee" {
		t.Errorf("HardwareAddr.String() = %q", s)
	}
	if s := RandomMAC().String(); len(s) != 17 {
		t.Errorf("RandomMAC().String() = %q", s)
	}
}
