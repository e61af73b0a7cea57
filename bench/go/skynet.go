// SPDX-License-Identifier: MIT

// skynet - the skynet benchmark (github.com/atemerev/skynet): a tree of
// goroutines that sum the numbers 0 .. N-1 through channels; twin of
// bench/skynet.c.
//
// The root goroutine covers the numbers [0, N).  A goroutine that covers a
// single number sends it to its parent; any other makes one unbuffered
// channel of int64, starts div children, each covering a tenth of its
// range, receives their div sums, and sends the total to its parent (the
// channel is then garbage).  The main goroutine starts the root and
// receives the result, which must be N(N-1)/2.  N must be a power of div;
// with N = 1000000 there are 1111111 goroutines.  GOMAXPROCS is the
// default.  The time from before starting the root to after receiving its
// sum is reported, together with the process's peak RSS.
//
// Usage: skynet [-n N]      (default N = 1000000 leaves)
//
// Output, one figure per line:
//
//	skynet_ms: <float> ms
//	skynet_peak_rss: <int> KiB
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

const div = 10

func skynet(parent chan<- int64, num, size int64) {
	if size == 1 {
		parent <- num
		return
	}

	c := make(chan int64)
	step := size / div
	for i := int64(0); i < div; i++ {
		go skynet(c, num+i*step, step)
	}

	var sum int64
	for i := 0; i < div; i++ {
		sum += <-c
	}

	parent <- sum
}

func main() {
	n := flag.Int64("n", 1000000, "leaves (a power of 10)")
	flag.Parse()
	if *n <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N]   (default N = 1000000, a power of %d)\n",
			os.Args[0], div)
		os.Exit(2)
	}
	r := *n
	for r%div == 0 {
		r /= div
	}
	if r != 1 {
		fmt.Fprintf(os.Stderr, "%s: -n: want a power of %d, got %d\n", os.Args[0], div, *n)
		os.Exit(2)
	}

	c := make(chan int64)
	t0 := time.Now()
	go skynet(c, 0, *n)
	sum := <-c
	elapsed := time.Since(t0)

	if want := *n * (*n - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "skynet: wrong sum %d, want %d\n", sum, want)
		os.Exit(1)
	}

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintf(os.Stderr, "getrusage: %v\n", err)
		os.Exit(1)
	}

	fmt.Printf("# params: n=%d div=%d maxprocs=%d\n", *n, div, runtime.GOMAXPROCS(0))
	fmt.Printf("skynet_ms: %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("skynet_peak_rss: %d KiB\n", ru.Maxrss)
}
