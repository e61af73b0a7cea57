// SPDX-License-Identifier: MIT

// spawn - goroutine creation and completion cost; twin of bench/spawn.c.
//
// The main goroutine starts N goroutines in a loop (wg.Add(1) before each
// go statement); each one only calls wg.Done.  The main goroutine then waits
// for all of them.  The time from before the loop to after the wait,
// divided by N, is reported, together with the process's peak RSS.
// GOMAXPROCS is the default.
//
// Usage: spawn [-n N]      (default N = 1000000)
//
// Output, one figure per line:
//
//	spawn_ns_per_goroutine: <float> ns
//	spawn_peak_rss: <int> KiB
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func worker(wg *sync.WaitGroup) {
	wg.Done()
}

func main() {
	n := flag.Int("n", 1000000, "number of goroutines")
	flag.Parse()
	if *n <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N]   (default N = 1000000)\n", os.Args[0])
		os.Exit(2)
	}

	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go worker(&wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintf(os.Stderr, "getrusage: %v\n", err)
		os.Exit(1)
	}

	fmt.Printf("# params: n=%d maxprocs=%d\n", *n, runtime.GOMAXPROCS(0))
	fmt.Printf("spawn_ns_per_goroutine: %.1f ns\n", float64(elapsed.Nanoseconds())/float64(*n))
	fmt.Printf("spawn_peak_rss: %d KiB\n", ru.Maxrss)
}
