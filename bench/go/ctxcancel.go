// SPDX-License-Identifier: MIT

// ctxcancel - how long one cancel takes to reach many waiting goroutines;
// twin of bench/ctxcancel.c.
//
// N goroutines wait, a third in each way: in a select on two channels
// (the Done channel of a shared context and a channel nobody sends on); in
// Read on a net.Conn of their own (one end of a socket pair) that nobody
// writes to, ended by a watcher goroutine that waits for ctx.Done() and
// sets a read deadline in the past (Go 1.19 has no context.AfterFunc; the
// watchers start with their readers); in a select of ctx.Done() and a
// one-minute timer.  Once all are waiting (an atomic count, then a few
// yields), the main goroutine cancels the context and waits for every
// goroutine to return (a WaitGroup); the time from the cancel to the end
// of that wait is reported.  Each round makes a new context and new
// goroutines (the connections stay); the median of R rounds is printed.
// GOMAXPROCS is the default.
//
// Usage: ctxcancel [-n N] [-r R] [-k select|recv|sleep]
//
//	(defaults: N = 10000 goroutines, R = 5 rounds, a third waiting
//	each way; -k: every goroutine waits that way)
//
// Output, one figure per line:
//
//	ctxcancel_us: <float> us     median time from cancel to all returned
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// socketConn is one end of a new socket pair, as a net.Conn; the other
// end stays open (and unused) so that Read waits.
func socketConn() (net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fds[0]), "socketpair")
	c, err := net.FileConn(f) // a dup of fds[0]
	f.Close()
	return c, err
}

func main() {
	n := flag.Int("n", 10000, "goroutines")
	rounds := flag.Int("r", 5, "rounds")
	k := flag.String("k", "", "select|recv|sleep: every goroutine waits that way")
	flag.Parse()
	kind := -1
	for i, name := range []string{"select", "recv", "sleep"} {
		if *k == name {
			kind = i
		}
	}
	if *k != "" && kind < 0 {
		fmt.Fprintln(os.Stderr, "ctxcancel: -k: want select, recv or sleep")
		os.Exit(2)
	}
	if *n <= 0 || *rounds <= 0 {
		fmt.Fprintln(os.Stderr, "ctxcancel: -n, -r: want positive integers")
		os.Exit(2)
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	conns := make([]net.Conn, *n/3+1)
	for i := range conns {
		c, err := socketConn()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ctxcancel:", err)
			os.Exit(1)
		}
		conns[i] = c
	}
	var failed int32
	never := make(chan int)
	us := make([]float64, *rounds)
	for r := 0; r < *rounds; r++ {
		ctx, cancel := context.WithCancel(context.Background())
		var waiting int64
		var wg sync.WaitGroup
		wg.Add(*n)
		for i := 0; i < *n; i++ {
			j := i
			if kind >= 0 {
				j = kind + 3*(i/3)
			}
			switch j % 3 {
			case 0:
				go func() {
					atomic.AddInt64(&waiting, 1)
					select {
					case <-ctx.Done():
					case <-never:
					}
					wg.Done()
				}()
			case 1:
				c := conns[j/3]
				c.SetReadDeadline(time.Time{})
				go func() {
					<-ctx.Done()
					c.SetReadDeadline(time.Unix(1, 0))
				}()
				go func() {
					var b [1]byte
					atomic.AddInt64(&waiting, 1)
					if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
						atomic.StoreInt32(&failed, 1)
					}
					wg.Done()
				}()
			case 2:
				go func() {
					atomic.AddInt64(&waiting, 1)
					t := time.NewTimer(time.Minute)
					select {
					case <-ctx.Done():
					case <-t.C:
						atomic.StoreInt32(&failed, 1)
					}
					t.Stop()
					wg.Done()
				}()
			}
		}
		for atomic.LoadInt64(&waiting) < int64(*n) {
			runtime.Gosched()
		}
		for i := 0; i < 100; i++ {
			runtime.Gosched()
		}
		t0 := time.Now()
		cancel()
		wg.Wait()
		us[r] = float64(time.Since(t0).Nanoseconds()) / 1000.0
	}
	if atomic.LoadInt32(&failed) != 0 {
		fmt.Fprintln(os.Stderr, "ctxcancel: a goroutine failed")
		os.Exit(1)
	}
	sort.Float64s(us)
	mix := *k
	if mix == "" {
		mix = "mix"
	}
	fmt.Printf("# params: n=%d r=%d k=%s maxprocs=%d\n", *n, *rounds, mix, runtime.GOMAXPROCS(0))
	fmt.Printf("ctxcancel_us: %.1f us\n", us[*rounds/2])
}
