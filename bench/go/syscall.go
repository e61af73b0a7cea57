// SPDX-License-Identifier: MIT

// syscall - goroutines alternating computation with blocking system calls;
// twin of bench/syscall.c.
//
// P pairs of goroutines, each pair with its own pipe (syscall.Pipe: plain
// blocking descriptors, not the netpoller's).  The writer computes W steps
// of a 64-bit LCG and writes one byte (syscall.Write), N times; the reader
// computes W steps and reads one byte with syscall.Read, a blocking system
// call (Go's entersyscall/exitsyscall; sysmon retakes the P if it blocks),
// N times.  The pipe never fills, so writes never block.  GOMAXPROCS is
// the default.
//
// Usage: syscall [-p P] [-n N] [-w W]
// (defaults: P = 8 pairs, N = 20000 bytes, W = 2000 steps)
//
// Timed: from starting the first goroutine to the end of the last.
//
// Output, one figure per line:
//
//	syscall_reads_per_s: <float> reads/s   P N / elapsed
//	syscall_ms: <float> ms                 elapsed
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

var sink uint64
var sinkMu sync.Mutex

func compute(x uint64, work int) uint64 {
	for i := 0; i < work; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

func reader(fd int, rounds, work int, seed uint64, wg *sync.WaitGroup) {
	x := seed
	buf := make([]byte, 1)
	for k := 0; k < rounds; k++ {
		x = compute(x, work)
		n, err := syscall.Read(fd, buf)
		if n != 1 || err != nil {
			fmt.Fprintf(os.Stderr, "syscall: read: %v (n=%d)\n", err, n)
			os.Exit(1)
		}
	}
	sinkMu.Lock()
	sink += x
	sinkMu.Unlock()
	wg.Done()
}

func writer(fd int, rounds, work int, seed uint64, wg *sync.WaitGroup) {
	x := seed
	buf := []byte{'x'}
	for k := 0; k < rounds; k++ {
		x = compute(x, work)
		if n, err := syscall.Write(fd, buf); n != 1 || err != nil {
			fmt.Fprintf(os.Stderr, "syscall: write: %v\n", err)
			os.Exit(1)
		}
	}
	sinkMu.Lock()
	sink += x
	sinkMu.Unlock()
	wg.Done()
}

func main() {
	pairs := flag.Int("p", 8, "pairs of goroutines")
	rounds := flag.Int("n", 20000, "bytes per pair")
	work := flag.Int("w", 2000, "LCG steps between calls")
	flag.Parse()
	if *pairs <= 0 || *rounds <= 0 || *work < 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-p P] [-n N] [-w W]   (defaults: P = 8 pairs, N = 20000 bytes, W = 2000 steps)\n", os.Args[0])
		os.Exit(2)
	}
	if *rounds > 65536 {
		fmt.Fprintln(os.Stderr, "syscall: -n at most 65536 (a pipe's capacity)")
		os.Exit(2)
	}
	maxprocs := runtime.GOMAXPROCS(0)
	fds := make([][2]int, *pairs)
	for i := range fds {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			fmt.Fprintf(os.Stderr, "syscall: pipe2: %v\n", err)
			os.Exit(1)
		}
		fds[i] = p
	}

	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *pairs; i++ {
		wg.Add(2)
		go reader(fds[i][0], *rounds, *work, uint64(i), &wg)
		go writer(fds[i][1], *rounds, *work, uint64(i)+1, &wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	fmt.Printf("# params: pairs=%d rounds=%d work=%d maxprocs=%d\n", *pairs, *rounds, *work,
		maxprocs)
	fmt.Printf("syscall_reads_per_s: %.0f reads/s\n",
		float64(*pairs)*float64(*rounds)/elapsed.Seconds())
	fmt.Printf("syscall_ms: %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
}
