// SPDX-License-Identifier: MIT

// http - HTTP/1.1 keep-alive throughput, latency and CPU cost of a
// net/http server answering "Hello, World!", measured by wrk; twin of
// bench/http.c.
//
// The server runs in this process: net/http on a free port of 127.0.0.1,
// with the default GOMAXPROCS, its handler setting Content-Type
// text/plain and writing "Hello, World!" (net/http adds Content-Length).
// Then
//
//	wrk -t T -c C -d Ds --latency http://127.0.0.1:PORT/
//
// runs against it, and its report is parsed: requests/s, the number of
// requests and the latency percentiles of its "Latency Distribution".  The
// server's CPU time over the wrk run is this process's (getrusage
// RUSAGE_SELF, user + system, before and after; wrk is a child, whose time
// RUSAGE_SELF does not count), divided by the requests wrk made.  There
// is one run, on Go's netpoller; the C side measures each of ringo's two
// backends and prints epoll's figures under names of their own.
//
// Usage: http [-d D] [-c C] [-t T]
// (defaults: D = 10 seconds, C = 100 connections, T = 1 wrk thread)
//
// Exit status 77 when wrk is not installed (apt-get install wrk).
//
// Output, one figure per line:
//
//	http_rps: <float> req/s            wrk's Requests/sec
//	http_p50_us: <float> us            wrk's 50% latency
//	http_p99_us: <float> us            wrk's 99% latency
//	http_cpu_us_per_req: <float> us    the server's CPU time per request
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "http: "+format+"\n", a...)
	os.Exit(1)
}

// wrkTimeUs converts a wrk time such as "56.00us", "1.23ms" or "2.01s" to
// microseconds; -1 if it is not one.
func wrkTimeUs(s string) float64 {
	units := []struct {
		suffix string
		scale  float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil {
				return -1
			}
			return v * u.scale
		}
	}
	return -1
}

// cpuSeconds is the user + system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("Hello, World!"))
}

func main() {
	dur := flag.Int("d", 10, "seconds")
	conns := flag.Int("c", 100, "connections")
	threads := flag.Int("t", 1, "wrk threads")
	flag.Parse()
	if *dur <= 0 || *conns <= 0 || *threads <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-d D] [-c C] [-t T]   (defaults: D = 10 seconds, C = 100 connections, T = 1 wrk thread)\n", os.Args[0])
		os.Exit(2)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fmt.Fprintf(os.Stderr, "http: wrk not found in PATH; install it (apt-get install wrk)\n")
		os.Exit(77)
	}
	procs := runtime.GOMAXPROCS(0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen on 127.0.0.1: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(hello)}
	go srv.Serve(ln)

	url := fmt.Sprintf("http://%s/", ln.Addr().String())
	cmd := exec.Command("wrk", "-t", strconv.Itoa(*threads), "-c", strconv.Itoa(*conns),
		"-d", fmt.Sprintf("%ds", *dur), "--latency", url)
	cmd.Stderr = os.Stderr
	cpu0 := cpuSeconds()
	out, err := cmd.Output()
	cpu := cpuSeconds() - cpu0
	os.Stderr.Write(out) // wrk's report, for the record
	if err != nil {
		fail("wrk failed (see its messages above): %v", err)
	}

	rps, p50, p99, requests := -1.0, -1.0, -1.0, -1.0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			requests, _ = strconv.ParseFloat(f[0], 64)
		case len(f) >= 1 && strings.HasPrefix(sc.Text(), "Non-2xx or 3xx responses:"):
			fail("the server gave error responses")
		case len(f) == 2 && f[0] == "50%":
			p50 = wrkTimeUs(f[1])
		case len(f) == 2 && f[0] == "99%":
			p99 = wrkTimeUs(f[1])
		}
	}
	if rps <= 0 || requests <= 0 || p50 < 0 || p99 < 0 {
		fail("wrk's report has no Requests/sec, request count or 50%%/99%% latency")
	}

	fmt.Printf("# params: duration=%d conns=%d wrk_threads=%d maxprocs=%d\n", *dur, *conns,
		*threads, procs)
	fmt.Printf("http_rps: %.0f req/s\n", rps)
	fmt.Printf("http_p50_us: %.1f us\n", p50)
	fmt.Printf("http_p99_us: %.1f us\n", p99)
	fmt.Printf("http_cpu_us_per_req: %.2f us\n", cpu*1e6/requests)
}
