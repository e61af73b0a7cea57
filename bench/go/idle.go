// SPDX-License-Identifier: MIT

// idle - the CPU time an idle runtime costs; twin of bench/idle.c.
//
// The main goroutine starts G goroutines that block on a channel nobody
// sends on, then sleeps D seconds: every goroutine is blocked and only the
// runtime's own threads may run.  The process's CPU time over the sleep
// (getrusage, user plus system) is the runtime's idle cost.  GOMAXPROCS is
// the default.
//
// Usage: idle [-d D] [-g G]   (defaults: D = 10 seconds, G = 100)
//
// Output, one figure per line:
//
//	idle_cpu_percent: <float> %   CPU time / D, in % of one core
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

func cpuNow() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec)*1e9 + float64(ru.Utime.Usec+ru.Stime.Usec)*1e3
}

func main() {
	secs := flag.Int("d", 10, "seconds")
	gs := flag.Int("g", 100, "blocked goroutines")
	flag.Parse()
	if *secs <= 0 || *gs < 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-d D] [-g G]   (defaults: D = 10 s, G = 100)\n", os.Args[0])
		os.Exit(2)
	}
	never := make(chan int)
	for i := 0; i < *gs; i++ {
		go func() { <-never }()
	}
	time.Sleep(100 * time.Millisecond)
	c0 := cpuNow()
	t0 := time.Now()
	time.Sleep(time.Duration(*secs) * time.Second)
	cpu := cpuNow() - c0
	wall := float64(time.Since(t0).Nanoseconds())
	fmt.Printf("# params: seconds=%d goroutines=%d\n", *secs, *gs)
	fmt.Printf("idle_cpu_percent: %.4f %%\n", cpu/wall*100)
}
