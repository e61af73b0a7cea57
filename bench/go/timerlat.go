// SPDX-License-Identifier: MIT

// timerlat - how late a sleeping goroutine wakes while other goroutines
// compute or yield; twin of bench/timerlat.c.
//
// One goroutine sleeps 2 ms N times and records how late it woke, while
// spinners (a 64-bit LCG while an atomic flag stays 0: no call, no
// scheduling point) and yielders (runtime.Gosched in a loop) keep the Ps
// busy.  Four scenarios, each with its GOMAXPROCS and its own goroutines,
// stopped before the next:
//
//	spin1     GOMAXPROCS 1, one spinner
//	spin1y1   GOMAXPROCS 1, one spinner and one yielder
//	spin2     GOMAXPROCS 1, two spinners
//	p2spin4   GOMAXPROCS 2, four spinners
//
// Usage: timerlat [-n N]   (default: N = 100 sleeps per scenario)
//
// Output, for each scenario S, one figure per line:
//
//	timerlat_S_p50_us: <float> us   median lateness
//	timerlat_S_p99_us: <float> us   99th percentile
//	timerlat_S_max_us: <float> us   worst
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

const sleepDur = 2 * time.Millisecond

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

func yielder(wg *sync.WaitGroup) {
	for atomic.LoadInt32(&stop) == 0 {
		runtime.Gosched()
	}
	wg.Done()
}

// percentile is bench.h's: nearest rank over sorted v.
func percentile(v []int64, pct int) int64 {
	rank := (len(v)*pct + 99) / 100
	if rank == 0 {
		rank = 1
	}
	return v[rank-1]
}

func main() {
	n := flag.Int("n", 100, "sleeps per scenario")
	flag.Parse()
	if *n <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N]   (default N = 100 sleeps per scenario)\n", os.Args[0])
		os.Exit(2)
	}
	scenarios := []struct {
		name                      string
		procs, spinners, yielders int
	}{
		{"spin1", 1, 1, 0},
		{"spin1y1", 1, 1, 1},
		{"spin2", 1, 2, 0},
		{"p2spin4", 2, 4, 0},
	}
	fmt.Printf("# params: n=%d sleep_us=%d\n", *n, sleepDur.Microseconds())
	lat := make([]int64, *n)
	for _, sc := range scenarios {
		var wg sync.WaitGroup
		runtime.GOMAXPROCS(sc.procs)
		atomic.StoreInt32(&stop, 0)
		for i := 0; i < sc.spinners; i++ {
			wg.Add(1)
			go spinner(&wg)
		}
		for i := 0; i < sc.yielders; i++ {
			wg.Add(1)
			go yielder(&wg)
		}
		time.Sleep(sleepDur)
		for i := range lat {
			t0 := time.Now()
			time.Sleep(sleepDur)
			lat[i] = int64(time.Since(t0) - sleepDur)
		}
		atomic.StoreInt32(&stop, 1)
		wg.Wait()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("timerlat_%s_p50_us: %.1f us\n", sc.name, float64(percentile(lat, 50))/1e3)
		fmt.Printf("timerlat_%s_p99_us: %.1f us\n", sc.name, float64(percentile(lat, 99))/1e3)
		fmt.Printf("timerlat_%s_max_us: %.1f us\n", sc.name, float64(lat[len(lat)-1])/1e3)
	}
}
