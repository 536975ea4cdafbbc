// Goroutines exercises the scheduler-facing parts of the runtime:
// goroutines, channels, timers, the garbage collector, maps and time.Now.
// Its output is deterministic so it can be compared with a native run.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

func main() {
	start := time.Now()

	// A pipeline of goroutines connected by channels.
	src := make(chan int)
	sq := make(chan int)
	go func() {
		for i := 1; i <= 1000; i++ {
			src <- i
		}
		close(src)
	}()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range src {
				sq <- v * v
			}
		}()
	}
	go func() { wg.Wait(); close(sq) }()
	sum := 0
	for v := range sq {
		sum += v
	}
	fmt.Println("sum of squares 1..1000:", sum)

	// Timers and tickers.
	tick := time.NewTicker(2 * time.Millisecond)
	n := 0
	for range tick.C {
		n++
		if n == 5 {
			break
		}
	}
	tick.Stop()
	<-time.After(3 * time.Millisecond)
	time.Sleep(time.Millisecond)
	fmt.Println("ticks:", n)

	// Allocation and the garbage collector.
	m := map[string][]byte{}
	for i := 0; i < 20000; i++ {
		m[fmt.Sprint("key", i%500)] = make([]byte, 1024)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println("map keys:", len(keys), keys[0], keys[len(keys)-1])
	fmt.Println("gc ran:", ms.NumGC > 0)

	// Mutex contention across goroutines.
	var mu sync.Mutex
	counter := 0
	var wg2 sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for j := 0; j < 1000; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	fmt.Println("counter:", counter)

	el := time.Since(start)
	fmt.Println("time moves forward:", el > 0 && time.Now().Year() >= 2025)
}
