// Sleeper is the idle instance of briquebench's density scenario: it prints
// "ready" once it is running, then sleeps for -d and exits 0. SIGTERM or
// SIGINT end it early, also with status 0, so that the harness's teardown
// is the same for a native process, a container (where the program is PID 1
// of its namespace and the kernel would ignore a signal it does not handle)
// and a Brique unikernel (where brique run forwards the signal to the guest).
//
// The sleep is bounded so that an instance the harness failed to stop still
// goes away by itself.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	d := flag.Duration("d", 30*time.Second, "sleep `duration` after printing ready")
	flag.Parse()
	if *d <= 0 {
		fmt.Fprintln(os.Stderr, "sleeper: -d must be positive")
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	select {
	case <-sigs:
	case <-time.After(*d):
	}
}
