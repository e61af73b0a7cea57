// SPDX-License-Identifier: MIT

// preempt - how long a goroutine that never calls into the runtime can
// hold the only P; twin of bench/preempt.c.
//
// GOMAXPROCS 1.  One goroutine spins on a 64-bit LCG while a volatile
// global flag stays 0 (an atomic load, so that the compiler keeps the
// loop; no call, no scheduling point), so only asynchronous preemption
// gives the P back.  The main goroutine does T trials of "sleep 1 ms,
// measure how late it woke", then sets the flag.  Go's time slice is fixed
// at 10 ms, so there is no 1 ms run.
//
// Usage: preempt [-t T]   (default: T = 20 trials)
//
// Output, one figure per line:
//
//	preempt_max_ms: <float> ms   worst oversleep
//	preempt_p50_ms: <float> ms   median oversleep
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

var stop int32
var sink uint64

func spinner(wg *sync.WaitGroup) {
	x := uint64(1)
	for atomic.LoadInt32(&stop) == 0 {
		x = x*6364136223846793005 + 1442695040888963407
		sink = x
	}
	wg.Done()
}

func main() {
	trials := flag.Int("t", 20, "trials")
	flag.Parse()
	if *trials <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-t T]   (default: T = 20 trials)\n", os.Args[0])
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	lat := make([]int64, *trials)
	var wg sync.WaitGroup
	wg.Add(1)
	go spinner(&wg)
	for i := range lat {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		lat[i] = int64(time.Since(t0) - time.Millisecond)
	}
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	rank := (len(lat)*50 + 99) / 100
	if rank == 0 {
		rank = 1
	}
	fmt.Printf("# params: trials=%d maxprocs=1\n", *trials)
	fmt.Printf("preempt_max_ms: %.2f ms\n", float64(lat[len(lat)-1])/1e6)
	fmt.Printf("preempt_p50_ms: %.2f ms\n", float64(lat[rank-1])/1e6)
}
