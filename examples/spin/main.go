// Spin checks that a goroutine spinning in a tight loop without function
// calls (so without cooperative preemption points) cannot starve the rest of
// the program: a ticker goroutine must still get its ticks and the garbage
// collector, which has to stop the spinner, must still run. It relies on
// the runtime's asynchronous preemption (signals), inside the unikernel as
// natively. GOMAXPROCS is 1 so that a native run tests the same thing.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// spins is incremented by the spinning goroutine on every iteration and
// stop is read on every iteration: both are package-level variables, so the
// compiler keeps the loop's loads and stores. stop is never set; it only
// keeps the loop from being compiled into an empty one.
var (
	spins uint64
	stop  bool
)

//go:noinline
func spin() {
	for !stop {
		spins++
	}
}

func main() {
	runtime.GOMAXPROCS(1)
	started := make(chan struct{})
	go func() {
		close(started)
		spin()
	}()
	<-started
	runtime.Gosched() // let the spinner take the only P

	ticks := make(chan int)
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		n := 0
		for range t.C {
			n++
			if n == 20 {
				break
			}
		}
		ticks <- n
	}()

	for i := 0; i < 10; i++ {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := <-ticks
	if ms.NumGC < 10 || n != 20 {
		fmt.Printf("FAIL: %d GCs, %d ticks\n", ms.NumGC, n)
		os.Exit(1)
	}
	fmt.Println("gc cycles: 10")
	fmt.Println("ticks: 20")
	fmt.Println("done")
}
