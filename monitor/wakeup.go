package monitor

import (
	"sync/atomic"
	"time"
)

// wakeup is what a halted vCPU thread sleeps on: a futex word holding the
// abi.Event* bits posted since the guest last halted, plus a bit saying
// that the thread sleeps. The guest halts with deadlines as short as a few
// microseconds (Go's sysmon sleeps 20 us at a time, its scheduler 3 us),
// so the wait must keep nanosecond timeouts: a Go timer in a select wakes
// after ~1.1 ms at the earliest when nothing else runs (the runtime's
// poller sleeps whole milliseconds), which made every HTTP request take
// 1.4 ms. FUTEX_WAIT's timeout is exact to the host's timer slack.
type wakeup struct {
	word atomic.Uint32
}

const wakeSleeping = 1 << 31

// post records events and wakes the sleeping vCPU thread, if any. Any
// goroutine may call it; it costs a system call only when the vCPU sleeps.
func (w *wakeup) post(events uint32) {
	if old := w.word.Or(events); old&wakeSleeping != 0 {
		futexWake(&w.word)
	}
}

// wait returns the events posted since the last wait, sleeping until one
// is posted or timeout passes (0: no timeout; 0 events then).
func (w *wakeup) wait(timeout time.Duration) uint64 {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		v := w.word.Load()
		if v&^wakeSleeping != 0 {
			return uint64(w.word.Swap(0) &^ wakeSleeping)
		}
		var rel time.Duration
		if timeout > 0 {
			if rel = time.Until(deadline); rel <= 0 {
				return 0
			}
		}
		if !w.word.CompareAndSwap(v, v|wakeSleeping) {
			continue
		}
		futexWait(&w.word, v|wakeSleeping, rel)
		w.word.And(^uint32(wakeSleeping))
	}
}
