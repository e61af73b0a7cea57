// SPDX-License-Identifier: MIT

// sleep - oversleep of many goroutines sleeping at once; twin of
// bench/sleep.c.
//
// G goroutines each sleep D microseconds N times in a row (time.Sleep),
// reading time.Now before and after each sleep; the oversleep, the time
// slept beyond D, goes to the goroutine's own slice of one sample array.
// The main goroutine waits for them on a WaitGroup; the G N samples are
// then sorted and their percentiles taken (nearest rank).  GOMAXPROCS is
// the default.
//
// Usage: sleep [-g G] [-n N] [-d D]
// (defaults: G = 10000 goroutines, N = 100 sleeps each, D = 1000 us)
//
// Timed: from starting the first goroutine to the end of the last.
//
// Output, one figure per line:
//
//	sleep_p50_us: <float> us      median oversleep
//	sleep_p99_us: <float> us      99th percentile oversleep
//	sleep_ms: <float> ms          elapsed (at least N D)
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

func sleeper(mine []int64, d time.Duration, wg *sync.WaitGroup) {
	for k := range mine {
		t0 := time.Now()
		time.Sleep(d)
		mine[k] = int64(time.Since(t0) - d)
	}
	wg.Done()
}

// percentile is the pct-th percentile (nearest rank) of the sorted v.
func percentile(v []int64, pct int) int64 {
	if len(v) == 0 {
		return 0
	}
	rank := (len(v)*pct + 99) / 100
	if rank == 0 {
		rank = 1
	}
	return v[rank-1]
}

func main() {
	gs := flag.Int("g", 10000, "goroutines")
	sleeps := flag.Int("n", 100, "sleeps per goroutine")
	durUs := flag.Int("d", 1000, "microseconds per sleep")
	flag.Parse()
	if *gs <= 0 || *sleeps <= 0 || *durUs <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-g G] [-n N] [-d D]   (defaults: G = 10000 goroutines, N = 100 sleeps each, D = 1000 us)\n", os.Args[0])
		os.Exit(2)
	}
	maxprocs := runtime.GOMAXPROCS(0)
	d := time.Duration(*durUs) * time.Microsecond

	over := make([]int64, *gs**sleeps)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *gs; i++ {
		wg.Add(1)
		go sleeper(over[i**sleeps:(i+1)**sleeps], d, &wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	sort.Slice(over, func(i, j int) bool { return over[i] < over[j] })
	fmt.Printf("# params: goroutines=%d sleeps=%d duration_us=%d maxprocs=%d\n", *gs, *sleeps,
		*durUs, maxprocs)
	fmt.Printf("sleep_p50_us: %.1f us\n", float64(percentile(over, 50))/1e3)
	fmt.Printf("sleep_p99_us: %.1f us\n", float64(percentile(over, 99))/1e3)
	fmt.Printf("sleep_ms: %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
}
