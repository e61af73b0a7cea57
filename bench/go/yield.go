// SPDX-License-Identifier: MIT

// yield - cost of one goroutine switch through runtime.Gosched; twin of
// bench/yield.c.
//
// GOMAXPROCS 1.  The main goroutine starts two goroutines that each call
// runtime.Gosched N times, then waits for both on a WaitGroup.  With a
// single P every Gosched hands the P to the other goroutine, so each call
// is one switch.  The time from just before starting the two goroutines to
// after the wait, divided by 2*N, is reported.
//
// Usage: yield [-n N]      (default N = 10000000 per goroutine)
//
// Output:
//
//	yield_ns_per_switch: <float> ns
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func yielder(n int, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	wg.Done()
}

func main() {
	n := flag.Int("n", 10000000, "yields per goroutine")
	flag.Parse()
	if *n <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N]   (default N = 10000000 per goroutine)\n", os.Args[0])
		os.Exit(2)
	}

	runtime.GOMAXPROCS(1)

	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go yielder(*n, &wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	fmt.Printf("# params: n=%d maxprocs=%d\n", *n, runtime.GOMAXPROCS(0))
	fmt.Printf("yield_ns_per_switch: %.1f ns\n", float64(elapsed.Nanoseconds())/(2*float64(*n)))
}
