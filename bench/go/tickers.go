// SPDX-License-Identifier: MIT

// tickers - many tickers at once: the CPU they cost and how late their
// ticks are received; twin of bench/tickers.c.
//
// N goroutines each make a ticker of period P (time.NewTicker) and receive
// its ticks until the run ends.  Each tick received is timed against the
// ticker's schedule: its lateness is the time since the latest multiple of
// P after the ticker was made (so a tick later than a whole period counts
// modulo P; the number of ticks received says how many were missed).  Once
// every ticker is running and one period has passed, the run is measured
// for D seconds: the ticks received, the process's CPU time (user +
// system, getrusage), and the lateness of every tick, in 50 us buckets.
// GOMAXPROCS is the default.
//
// Usage: tickers [-n N] [-p P_MS] [-d D_S]
//
//	(defaults: N = 100000 tickers, P = 100 ms, D = 3 s)
//
// Output, one figure per line:
//
//	tickers_ticks: <float> ticks/s       ticks received per second
//	tickers_cpu: <float> %               CPU time over wall time
//	tickers_cpu_per_tick_ns: <float> ns  CPU time per tick received
//	tickers_late_p50_us: <float> us      lateness, median (bucket top)
//	tickers_late_p99_us: <float> us      lateness, 99th percentile
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	bucketNs = 50000 // lateness histogram: 50 us buckets
	nBuckets = 400   // up to 20 ms; the last one holds the rest
)

func cpuNs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	n := flag.Int("n", 100000, "tickers")
	periodMs := flag.Int("p", 100, "period, ms")
	secs := flag.Int("d", 3, "seconds measured")
	flag.Parse()
	if *n <= 0 || *periodMs <= 0 || *secs <= 0 {
		fmt.Fprintln(os.Stderr, "tickers: -n, -p, -d: want positive integers")
		os.Exit(2)
	}
	period := time.Duration(*periodMs) * time.Millisecond
	var (
		running         int64
		measuring, done int32
		ticks           int64
		hist            [nBuckets]int64
		wg              sync.WaitGroup
	)
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		go func() {
			var local [nBuckets]uint32
			var count int64
			// Read before the ticker is made, as bench/tickers.c does.
			t0 := time.Now()
			t := time.NewTicker(period)
			atomic.AddInt64(&running, 1)
			for atomic.LoadInt32(&done) == 0 {
				<-t.C
				if atomic.LoadInt32(&measuring) == 0 {
					continue
				}
				late := time.Since(t0) % period
				b := int(late / bucketNs)
				if b >= nBuckets {
					b = nBuckets - 1
				}
				local[b]++
				count++
			}
			t.Stop()
			for b, v := range local {
				if v != 0 {
					atomic.AddInt64(&hist[b], int64(v))
				}
			}
			atomic.AddInt64(&ticks, count)
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&running) < int64(*n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(period)
	w0 := time.Now()
	c0 := cpuNs()
	atomic.StoreInt32(&measuring, 1)
	time.Sleep(time.Duration(*secs) * time.Second)
	atomic.StoreInt32(&measuring, 0)
	wall := float64(time.Since(w0).Nanoseconds())
	cpu := cpuNs() - c0
	atomic.StoreInt32(&done, 1)
	wg.Wait()

	total := atomic.LoadInt64(&ticks)
	pct := func(p float64) float64 {
		want := int64(float64(total) * p / 100)
		var seen int64
		for b := 0; b < nBuckets; b++ {
			seen += atomic.LoadInt64(&hist[b])
			if seen > want {
				return float64((b+1)*bucketNs) / 1000
			}
		}
		return float64(nBuckets*bucketNs) / 1000
	}
	perTick := 0.0
	if total > 0 {
		perTick = cpu / float64(total)
	}
	fmt.Printf("# params: n=%d p=%dms d=%ds maxprocs=%d\n", *n, *periodMs, *secs, runtime.GOMAXPROCS(0))
	fmt.Printf("tickers_ticks: %.0f ticks/s\n", float64(total)/(wall/1e9))
	fmt.Printf("tickers_cpu: %.1f %%\n", 100*cpu/wall)
	fmt.Printf("tickers_cpu_per_tick_ns: %.0f ns\n", perTick)
	fmt.Printf("tickers_late_p50_us: %.0f us\n", pct(50))
	fmt.Printf("tickers_late_p99_us: %.0f us\n", pct(99))
}
