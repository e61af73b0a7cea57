// SPDX-License-Identifier: MIT

// mutex - throughput of one contended sync.Mutex; twin of bench/mutex.c.
//
// GOMAXPROCS 2.  The main goroutine starts G goroutines; together they
// increment one shared counter N times, each doing N/G increments (the
// first N%G goroutines one more), every increment under one sync.Mutex.
// The main goroutine then waits for all of them on a WaitGroup and checks
// the counter.  The time from just before starting the goroutines to after
// the wait, divided by N, is reported, and its inverse as a rate.
//
// Usage: mutex [-n N] [-g G]   (defaults: N = 10000000 increments in all,
//
//	G = 8 goroutines)
//
// Output, one figure per line:
//
//	mutex_ns_per_op: <float> ns
//	mutex_ops_per_s: <float> ops/s
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

type params struct {
	mu      sync.Mutex
	counter int64 // mu
	wg      sync.WaitGroup
}

func incrementer(p *params, iters int64) {
	for i := int64(0); i < iters; i++ {
		p.mu.Lock()
		p.counter++
		p.mu.Unlock()
	}
	p.wg.Done()
}

func main() {
	n := flag.Int64("n", 10000000, "increments in all")
	g := flag.Int64("g", 8, "goroutines")
	flag.Parse()
	if *n <= 0 || *g <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N] [-g G]   (defaults: N = 10000000 increments in all, G = 8 goroutines)\n", os.Args[0])
		os.Exit(2)
	}

	runtime.GOMAXPROCS(2)

	var p params
	t0 := time.Now()
	for i := int64(0); i < *g; i++ {
		iters := *n / *g
		if i < *n%*g {
			iters++
		}
		p.wg.Add(1)
		go incrementer(&p, iters)
	}
	p.wg.Wait()
	elapsed := time.Since(t0)

	if p.counter != *n {
		fmt.Fprintf(os.Stderr, "counter is %d, want %d\n", p.counter, *n)
		os.Exit(1)
	}
	ns := float64(elapsed.Nanoseconds())
	fmt.Printf("# params: n=%d g=%d maxprocs=%d\n", *n, *g, runtime.GOMAXPROCS(0))
	fmt.Printf("mutex_ns_per_op: %.1f ns\n", ns/float64(*n))
	fmt.Printf("mutex_ops_per_s: %.0f ops/s\n", float64(*n)/(ns/1e9))
}
