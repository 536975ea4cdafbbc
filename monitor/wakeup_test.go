package monitor

import (
	"testing"
	"time"

	"brique.dev/brique/abi"
)

func TestWakeupPendingEventsReturnAtOnce(t *testing.T) {
	var w wakeup
	w.post(abi.EventDevice)
	w.post(abi.EventSignal)
	if got := w.wait(0); got != abi.EventDevice|abi.EventSignal {
		t.Fatalf("wait = %#x, want both events", got)
	}
	// Consumed: the next wait times out with no event.
	if got := w.wait(time.Microsecond); got != 0 {
		t.Fatalf("second wait = %#x, want 0 (timeout)", got)
	}
}

func TestWakeupTimeoutElapses(t *testing.T) {
	// A wait with no event lasts at least its timeout (EINTR, EAGAIN and
	// spurious futex wake-ups go back to sleep for the rest).
	var w wakeup
	start := time.Now()
	for range 100 {
		w.wait(20 * time.Microsecond)
	}
	if d := time.Since(start); d < 100*20*time.Microsecond {
		t.Fatalf("100 waits of 20us took %v: a wait returned before its timeout", d)
	}
}

func TestWakeupPostWakesASleeper(t *testing.T) {
	var w wakeup
	got := make(chan uint64)
	go func() { got <- w.wait(0) }()
	// Wait until the sleeper is (probably) in the futex; correctness does
	// not depend on it: a post before the wait is seen at once.
	for i := 0; i < 1000 && w.word.Load()&wakeSleeping == 0; i++ {
		time.Sleep(time.Millisecond)
	}
	w.post(abi.EventDevice)
	select {
	case ev := <-got:
		if ev != abi.EventDevice {
			t.Fatalf("wait = %#x, want EventDevice", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("post did not wake the sleeping wait")
	}
}
