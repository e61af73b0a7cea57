// SPDX-License-Identifier: MIT

// ctxcancel - how long one cancel takes to reach many waiting goroutines;
// twin of bench/ctxcancel.c.
//
// N goroutines each wait in a select on two channels: the Done channel of
// a shared context and a channel nobody sends on.  Once all are waiting
// (an atomic count, then a few yields), the main goroutine cancels the
// context and waits for every goroutine to return (a WaitGroup); the time
// from the cancel to the end of that wait is reported.  Each round makes
// a new context and new goroutines; the median of R rounds is printed.
// GOMAXPROCS is the default.
//
// Usage: ctxcancel [-n N] [-r R]   (defaults: N = 10000 goroutines,
//
//	R = 5 rounds)
//
// Output, one figure per line:
//
//	ctxcancel_us: <float> us     median time from cancel to all returned
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := flag.Int("n", 10000, "goroutines")
	rounds := flag.Int("r", 5, "rounds")
	flag.Parse()
	if *n <= 0 || *rounds <= 0 {
		fmt.Fprintln(os.Stderr, "ctxcancel: -n, -r: want positive integers")
		os.Exit(2)
	}
	never := make(chan int)
	us := make([]float64, *rounds)
	for r := 0; r < *rounds; r++ {
		ctx, cancel := context.WithCancel(context.Background())
		var waiting int64
		var wg sync.WaitGroup
		wg.Add(*n)
		for i := 0; i < *n; i++ {
			go func() {
				atomic.AddInt64(&waiting, 1)
				select {
				case <-ctx.Done():
				case <-never:
				}
				wg.Done()
			}()
		}
		for atomic.LoadInt64(&waiting) < int64(*n) {
			runtime.Gosched()
		}
		for i := 0; i < 100; i++ {
			runtime.Gosched()
		}
		t0 := time.Now()
		cancel()
		wg.Wait()
		us[r] = float64(time.Since(t0).Nanoseconds()) / 1000.0
	}
	sort.Float64s(us)
	fmt.Printf("# params: n=%d r=%d maxprocs=%d\n", *n, *rounds, runtime.GOMAXPROCS(0))
	fmt.Printf("ctxcancel_us: %.1f us\n", us[*rounds/2])
}
