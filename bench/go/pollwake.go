// SPDX-License-Identifier: MIT

// pollwake - the wake-up of a goroutine waiting for a descriptor's
// readiness through RawConn; twin of bench/pollwake.c.
//
// Two pipes (os.Pipe: non-blocking, in the netpoller).  An echo goroutine
// reads a byte from the first pipe and writes it to the second; the main
// goroutine writes a byte to the first and reads it back from the second,
// N times.  Every read goes through RawConn.Read, whose function tries
// read(2) and says "not done" on EAGAIN, so that Go waits for readiness
// and calls it again.  Each round trip is two wake-ups through the
// netpoller.  GOMAXPROCS is the default.
//
// Usage: pollwake [-n N]      (default N = 100000 round trips)
//
// Output, one figure per line:
//
//	pollwake_ns_per_roundtrip: <float> ns
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// readByte reads one byte from rc: read(2), and on EAGAIN a wait for
// readiness and again.
func readByte(rc syscall.RawConn, b []byte) error {
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		n, e := syscall.Read(int(fd), b)
		if e == syscall.EAGAIN {
			return false
		}
		if e == nil && n != 1 {
			e = fmt.Errorf("read returned %d", n)
		}
		rerr = e
		return true
	})
	if err != nil {
		return err
	}
	return rerr
}

func rawConn(f *os.File) syscall.RawConn {
	rc, err := f.SyscallConn()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pollwake: %v\n", err)
		os.Exit(1)
	}
	return rc
}

func main() {
	n := flag.Int("n", 100000, "round trips")
	flag.Parse()
	if *n <= 0 {
		fmt.Fprintln(os.Stderr, "pollwake: -n: want a positive integer")
		os.Exit(2)
	}
	pingR, pingW, err1 := os.Pipe()
	pongR, pongW, err2 := os.Pipe()
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "pollwake: pipe failed")
		os.Exit(1)
	}
	pingRC, pongRC := rawConn(pingR), rawConn(pongR)
	done := make(chan error)
	go func() {
		b := make([]byte, 1)
		for i := 0; i < *n; i++ {
			if err := readByte(pingRC, b); err != nil {
				done <- err
				return
			}
			if _, err := pongW.Write(b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b := []byte{'x'}
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		if _, err := pingW.Write(b); err != nil {
			fmt.Fprintf(os.Stderr, "pollwake: main: %v\n", err)
			os.Exit(1)
		}
		if err := readByte(pongRC, b); err != nil {
			fmt.Fprintf(os.Stderr, "pollwake: main: %v\n", err)
			os.Exit(1)
		}
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(*n)
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "pollwake: echo: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("# params: n=%d maxprocs=%d\n", *n, runtime.GOMAXPROCS(0))
	fmt.Printf("pollwake_ns_per_roundtrip: %.1f ns\n", ns)
}
