// SPDX-License-Identifier: MIT

// pingpong - round trips between two goroutines over unbuffered channels;
// twin of bench/pingpong.c.
//
// Two unbuffered channels of int32 (C's int), A and B.  The main goroutine
// sends on A and receives on B; a second goroutine receives on A and sends
// on B.  One round trip is one send and one receive on each side.  After a
// warm-up of warmup round trips, N round trips are timed.  The whole run is
// done twice in the same process: once with GOMAXPROCS 1 and once with
// GOMAXPROCS 2.
//
// Usage: pingpong [-n N]      (default N = 2000000 round trips)
//
// Output, one figure per line:
//
//	pingpong_p1_ns_per_roundtrip: <float> ns
//	pingpong_p2_ns_per_roundtrip: <float> ns
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const warmup = 10000

// ponger receives on a and sends the value + 1 on b, total times.
func ponger(a <-chan int32, b chan<- int32, total int, wg *sync.WaitGroup) {
	for i := 0; i < total; i++ {
		v := <-a
		v++
		b <- v
	}
	wg.Done()
}

// ping sends i (modulo 2^30) on a and receives it + 1 on b, count times;
// false on a wrong reply.
func ping(a chan<- int32, b <-chan int32, count int) bool {
	for i := 0; i < count; i++ {
		v := int32(i & 0x3fffffff)
		a <- v
		if w := <-b; w != v+1 {
			return false
		}
	}
	return true
}

// run does one timed run with maxprocs Ps; it returns the Ps in use and
// the elapsed time of the n timed round trips.
func run(n, maxprocs int) (int, time.Duration) {
	runtime.GOMAXPROCS(maxprocs)
	procs := runtime.GOMAXPROCS(0)

	a := make(chan int32)
	b := make(chan int32)
	var wg sync.WaitGroup
	wg.Add(1)
	go ponger(a, b, warmup+n, &wg)

	if !ping(a, b, warmup) {
		fmt.Fprintf(os.Stderr, "maxprocs %d: round trip (wrong reply) failed\n", maxprocs)
		os.Exit(1)
	}
	t0 := time.Now()
	if !ping(a, b, n) {
		fmt.Fprintf(os.Stderr, "maxprocs %d: round trip (wrong reply) failed\n", maxprocs)
		os.Exit(1)
	}
	elapsed := time.Since(t0)

	wg.Wait()
	return procs, elapsed
}

func main() {
	n := flag.Int("n", 2000000, "round trips")
	flag.Parse()
	if *n <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N]   (default N = 2000000 round trips)\n", os.Args[0])
		os.Exit(2)
	}

	var procs [2]int
	var elapsed [2]time.Duration
	for k := 0; k < 2; k++ {
		procs[k], elapsed[k] = run(*n, k+1)
	}

	fmt.Printf("# params: n=%d warmup=%d maxprocs=%d,%d\n", *n, warmup, procs[0], procs[1])
	for k := 0; k < 2; k++ {
		fmt.Printf("pingpong_p%d_ns_per_roundtrip: %.1f ns\n", k+1,
			float64(elapsed[k].Nanoseconds())/float64(*n))
	}
}
