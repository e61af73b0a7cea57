// SPDX-License-Identifier: MIT

// echo - TCP round trips between client and server goroutines of one
// process, over loopback; twin of bench/echo.c.
//
// The main goroutine listens on 127.0.0.1 (a free port) and starts an
// acceptor goroutine, which starts one server goroutine per accepted
// connection: it echoes what it receives (Read into a 4 KiB buffer, Write of
// all of it) until the client closes.  The main goroutine then starts C
// client goroutines; each connects (TCP_NODELAY on both ends, Go's default),
// reports on a WaitGroup that it is ready and waits for a start channel to
// be closed.  Then each does N rounds: send S bytes, receive S bytes, check
// them; the time of each round (time.Now before the write and after the
// last byte) goes to the client's own slice of one sample array.
// GOMAXPROCS is the default.
//
// Usage: echo [-c C] [-n N] [-s S]
// (defaults: C = 100 connections, N = 5000 rounds each, S = 64 bytes)
//
// Timed: from closing the start channel to the end of the last client.
//
// Output, one figure per line:
//
//	echo_rps: <float> req/s       C * N / elapsed
//	echo_p50_us: <float> us       median round trip
//	echo_p99_us: <float> us       99th percentile round trip
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

const serverBuf = 4096

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "echo: %s: %v\n", what, err)
	os.Exit(1)
}

func server(c net.Conn) {
	buf := make([]byte, serverBuf)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
}

func acceptor(ln net.Listener, conns int) {
	for i := 0; i < conns; i++ {
		c, err := ln.Accept()
		if err != nil {
			fail("accept", err)
		}
		go server(c)
	}
}

func client(id int, addr string, rounds, size int, lat []int64, start <-chan struct{},
	ready, done *sync.WaitGroup) {
	req := make([]byte, size)
	resp := make([]byte, size)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fail("connect", err)
	}
	ready.Done()
	<-start

	for r := 0; r < rounds; r++ {
		t0 := time.Now()
		for i := range req {
			req[i] = byte('a' + (id+r)%26)
		}
		if _, err := c.Write(req); err != nil {
			fail("write", err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			fail("read", err)
		}
		lat[r] = time.Since(t0).Nanoseconds()
		if !bytes.Equal(req, resp) {
			fmt.Fprintf(os.Stderr, "echo: client %d round %d: wrong reply\n", id, r)
			os.Exit(1)
		}
	}
	c.Close()
	done.Done()
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
	conns := flag.Int("c", 100, "connections")
	rounds := flag.Int("n", 5000, "rounds per connection")
	size := flag.Int("s", 64, "bytes per message")
	flag.Parse()
	if *conns <= 0 || *rounds <= 0 || *size <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-c C] [-n N] [-s S]   (defaults: C = 100 connections, N = 5000 rounds each, S = 64 bytes)\n", os.Args[0])
		os.Exit(2)
	}
	maxprocs := runtime.GOMAXPROCS(0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen on 127.0.0.1", err)
	}
	go acceptor(ln, *conns)

	lat := make([]int64, *conns**rounds)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := 0; i < *conns; i++ {
		ready.Add(1)
		done.Add(1)
		go client(i, ln.Addr().String(), *rounds, *size, lat[i**rounds:(i+1)**rounds],
			start, &ready, &done)
	}
	ready.Wait()

	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("# params: conns=%d rounds=%d size=%d maxprocs=%d\n", *conns, *rounds, *size,
		maxprocs)
	fmt.Printf("echo_rps: %.0f req/s\n", float64(len(lat))/elapsed.Seconds())
	fmt.Printf("echo_p50_us: %.1f us\n", float64(percentile(lat, 50))/1e3)
	fmt.Printf("echo_p99_us: %.1f us\n", float64(percentile(lat, 99))/1e3)
}
