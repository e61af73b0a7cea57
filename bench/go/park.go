// SPDX-License-Identifier: MIT

// park - memory held by goroutines blocked on a channel; twin of
// bench/park.c.
//
// The main goroutine starts N goroutines that each count themselves in an
// atomic counter and then block receiving from one shared unbuffered
// channel.  It waits (polling with runtime.Gosched) until all N have
// counted themselves, then yields a few more times so that the last ones
// finish parking, and checks that runtime.NumGoroutine() is N + 1.  The
// resident set size, read from /proc/self/statm, is taken before the first
// goroutine is started and once all are parked; the difference divided by
// N is reported, together with the process's peak RSS.  Then the channel
// is closed (every receive returns) and the main goroutine waits for all
// of them on a WaitGroup.  GOMAXPROCS is the default.
//
// Usage: park [-n N]      (default N = 1000000 goroutines)
//
// Output, one figure per line:
//
//	park_bytes_per_goroutine: <float> B
//	park_peak_rss: <int> KiB
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

const settleYields = 100

// rssBytes returns the resident bytes of the process, from /proc/self/statm.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot read /proc/self/statm: %v\n", err)
		os.Exit(1)
	}
	var size, resident int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &size, &resident); err != nil {
		fmt.Fprintf(os.Stderr, "cannot parse /proc/self/statm: %v\n", err)
		os.Exit(1)
	}
	return resident * int64(os.Getpagesize())
}

func parker(c <-chan int32, wg *sync.WaitGroup, arrived *int64) {
	atomic.AddInt64(arrived, 1)
	<-c
	wg.Done()
}

func main() {
	n := flag.Int("n", 1000000, "number of goroutines")
	flag.Parse()
	if *n <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N]   (default N = 1000000)\n", os.Args[0])
		os.Exit(2)
	}

	c := make(chan int32)
	var wg sync.WaitGroup
	var arrived int64

	rssBefore := rssBytes()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go parker(c, &wg, &arrived)
	}
	for atomic.LoadInt64(&arrived) < int64(*n) {
		runtime.Gosched()
	}
	for i := 0; i < settleYields; i++ {
		runtime.Gosched()
	}
	rssParked := rssBytes()
	live := runtime.NumGoroutine()

	close(c)
	wg.Wait()

	if live != *n+1 {
		fmt.Fprintf(os.Stderr, "%d goroutines live while parked, want %d\n", live, *n+1)
		os.Exit(1)
	}

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintf(os.Stderr, "getrusage: %v\n", err)
		os.Exit(1)
	}

	fmt.Printf("# params: n=%d maxprocs=%d\n", *n, runtime.GOMAXPROCS(0))
	fmt.Printf("park_bytes_per_goroutine: %.0f B\n", float64(rssParked-rssBefore)/float64(*n))
	fmt.Printf("park_peak_rss: %d KiB\n", ru.Maxrss)
}
