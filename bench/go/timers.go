// SPDX-License-Identifier: MIT

// timers - the cost of timer objects with many alive: create, reset and
// stop, and the memory each live timer holds; twin of bench/timers.c.
//
// The main goroutine creates N timers due in an hour (time.NewTimer), then
// resets each of them to another time within the next hour, in a
// scrambled order (index i * 7919 mod N), then stops each of them.  Each
// phase is timed on its own and reported per timer; the resident set size
// grown over the creation, divided by N, is the bytes per live timer.
// GOMAXPROCS is the default.
//
// Usage: timers [-n N]      (default N = 1000000 timers)
//
// Output, one figure per line:
//
//	timers_create_ns: <float> ns
//	timers_reset_ns: <float> ns
//	timers_stop_ns: <float> ns
//	timers_bytes_per_timer: <float> B
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, resident int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &size, &resident); err != nil {
		return -1
	}
	return resident * int64(os.Getpagesize())
}

func main() {
	n := flag.Int("n", 1000000, "timers")
	flag.Parse()
	if *n <= 0 {
		fmt.Fprintln(os.Stderr, "timers: -n: want a positive integer")
		os.Exit(2)
	}
	ts := make([]*time.Timer, *n)
	rss0 := rssBytes()
	t0 := time.Now()
	for i := range ts {
		ts[i] = time.NewTimer(time.Hour)
	}
	create := float64(time.Since(t0).Nanoseconds()) / float64(*n)
	bytes := float64(rssBytes()-rss0) / float64(*n)
	t0 = time.Now()
	for i := 0; i < *n; i++ {
		ts[(i*7919)%*n].Reset(time.Hour - time.Duration(i%1000)*time.Millisecond)
	}
	reset := float64(time.Since(t0).Nanoseconds()) / float64(*n)
	t0 = time.Now()
	for i := 0; i < *n; i++ {
		ts[(i*7919)%*n].Stop()
	}
	stop := float64(time.Since(t0).Nanoseconds()) / float64(*n)
	fmt.Printf("# params: n=%d maxprocs=%d\n", *n, runtime.GOMAXPROCS(0))
	fmt.Printf("timers_create_ns: %.1f ns\n", create)
	fmt.Printf("timers_reset_ns: %.1f ns\n", reset)
	fmt.Printf("timers_stop_ns: %.1f ns\n", stop)
	fmt.Printf("timers_bytes_per_timer: %.1f B\n", bytes)
}
