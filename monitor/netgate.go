package monitor

import "brique.dev/brique/abi"

// netGate lets the guest boot while brique-netd is still starting (~10 ms,
// most of it gVisor's package initialisation), instead of after: the two
// overlap. What the sequential start guaranteed still holds where a user
// can see it: the program's first console output waits for the daemon,
// so once a server has printed that it listens, its forwarded ports
// listen too. If the daemon fails (a forwarded port in use, for
// example), the run stops with its error, even if the program already
// runs; a program that ends first still gets the error reported.
// (docs/decisions/018-user-network-mtu.md)
type netGate struct {
	done chan struct{}
	err  error // set before done is closed
}

// startNetGate waits for ready in the background; on failure it calls
// abort with the error.
func startNetGate(ready func() error, abort func(error)) *netGate {
	g := &netGate{done: make(chan struct{})}
	go func() {
		err := ready()
		if err != nil {
			abort(err) // before done: the run stops with it
		}
		g.err = err
		close(g.done)
	}()
	return g
}

// wait blocks until the daemon is ready or failed, and says which.
func (g *netGate) wait() error {
	<-g.done
	return g.err
}

// abortRun makes the vCPU loop return err at its next turn: it wakes a
// halted vCPU and interrupts a running one. Any goroutine may call it.
func (v *vcpu) abortRun(err error) {
	v.aborted.CompareAndSwap(nil, &err)
	v.events.post(abi.EventDevice)
	v.kick()
}

// abortErr is the error abortRun recorded, if any.
func (v *vcpu) abortErr() error {
	if p := v.aborted.Load(); p != nil {
		return *p
	}
	return nil
}
