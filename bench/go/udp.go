// SPDX-License-Identifier: MIT

// udp - UDP echo over loopback with ReadMsgUDP and WriteMsgUDP; twin of
// bench/udp.c.
//
// A server socket on 127.0.0.1 is read by two server goroutines, each of
// which receives a datagram with ReadMsgUDP (learning its source address)
// and sends it back there with WriteMsgUDP.  C sender goroutines, each
// with its own socket, do N round trips of S bytes: send to the server,
// receive the echo (ReadMsgUDP, with a read deadline of 1 s: a datagram
// lost on the way counts as lost rather than hang), check it.  GOMAXPROCS
// is the default.
//
// Usage: udp [-c C] [-n N] [-s S]   (defaults: C = 64 senders, N = 2000
//
//	round trips each, S = 64 bytes)
//
// Timed: from the start of the first sender to the end of the last.
//
// Output, one figure per line:
//
//	udp_rps: <float> req/s       C * N / elapsed
//	udp_lost: <int> datagrams    round trips whose echo did not come
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const servers = 2

func main() {
	c := flag.Int("c", 64, "senders")
	n := flag.Int("n", 2000, "round trips per sender")
	s := flag.Int("s", 64, "bytes per datagram")
	flag.Parse()
	if *c <= 0 || *n <= 0 || *s <= 0 || *s > 65000 {
		fmt.Fprintln(os.Stderr, "udp: -c, -n, -s: want positive integers (-s at most 65000)")
		os.Exit(2)
	}
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "udp: %v\n", err)
		os.Exit(1)
	}
	saddr := srv.LocalAddr().(*net.UDPAddr)
	for i := 0; i < servers; i++ {
		go func() {
			buf := make([]byte, 65536)
			for {
				k, _, _, from, err := srv.ReadMsgUDP(buf, nil)
				if err != nil {
					return // closed at the end
				}
				srv.WriteMsgUDP(buf[:k], nil, from)
			}
		}()
	}
	var lost, bad int64
	var wg sync.WaitGroup
	wg.Add(*c)
	t0 := time.Now()
	for i := 0; i < *c; i++ {
		go func() {
			defer wg.Done()
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				atomic.AddInt64(&bad, int64(*n))
				return
			}
			defer conn.Close()
			out := make([]byte, *s)
			in := make([]byte, *s+1)
			var l, b int64
			for r := 0; r < *n; r++ {
				for j := range out {
					out[j] = byte(r)
				}
				for j := 0; j < 8 && j < *s; j++ {
					out[j] = byte(uint64(r) >> (8 * j))
				}
				conn.SetReadDeadline(time.Now().Add(time.Second))
				if k, _, err := conn.WriteMsgUDP(out, nil, saddr); err != nil || k != *s {
					b++
					continue
				}
				k, _, _, _, err := conn.ReadMsgUDP(in, nil)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					l++
				} else if err != nil || k != *s || !bytes.Equal(in[:k], out) {
					b++
				}
			}
			atomic.AddInt64(&lost, l)
			atomic.AddInt64(&bad, b)
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	srv.Close()
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "udp: errors (%d bad round trips)\n", bad)
		os.Exit(1)
	}
	fmt.Printf("# params: c=%d n=%d s=%d maxprocs=%d\n", *c, *n, *s, runtime.GOMAXPROCS(0))
	fmt.Printf("udp_rps: %.1f req/s\n", float64(*c**n)/elapsed.Seconds())
	fmt.Printf("udp_lost: %d datagrams\n", lost)
}
