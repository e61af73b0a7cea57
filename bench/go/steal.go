// SPDX-License-Identifier: MIT

// steal - an imbalanced load for the steal order; twin of bench/steal.c.
//
// One goroutine spawns N short tasks, computing S steps of a 64-bit LCG
// before each; each task computes W steps.  Every task is born on the spawner's P, so the
// other Ps live on what they steal.  GOMAXPROCS 4, as ringo's run on its
// synthetic two-node topology; Go has one steal order (ringo's "flat").
//
// Usage: steal [-n N] [-w W] [-s S]
// (defaults: N = 200000 tasks, W = 2000 steps, S = 1000 steps)
//
// Timed: from the first spawn to the end of the last task.
//
// Output, one figure per line:
//
//	steal_tasks_per_s: <float> tasks/s   N / elapsed
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var sink uint64

func task(x uint64, work int, wg *sync.WaitGroup) {
	for i := 0; i < work; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	atomic.AddUint64(&sink, x)
	wg.Done()
}

func main() {
	ntasks := flag.Int("n", 200000, "tasks")
	work := flag.Int("w", 2000, "LCG steps per task")
	pace := flag.Int("s", 1000, "LCG steps before each spawn")
	flag.Parse()
	if *ntasks <= 0 || *work <= 0 || *pace <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N] [-w W] [-s S]   (defaults: N = 200000 tasks, W = 2000 steps, S = 1000 steps)\n", os.Args[0])
		os.Exit(2)
	}
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *ntasks; i++ {
		x := uint64(i)
		for k := 0; k < *pace; k++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		atomic.AddUint64(&sink, x)
		wg.Add(1)
		go task(uint64(i), *work, &wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	fmt.Printf("# params: tasks=%d work=%d pace=%d maxprocs=4\n", *ntasks, *work, *pace)
	fmt.Printf("steal_tasks_per_s: %.0f tasks/s\n", float64(*ntasks)/elapsed.Seconds())
}
