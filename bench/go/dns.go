// SPDX-License-Identifier: MIT

// dns - name lookups from many goroutines against a local DNS server with
// Go's own resolver (net.Resolver{PreferGo: true}); twin of bench/dns.c.
//
// It runs under scripts/dnsenv.sh: private namespaces in which
// /etc/resolv.conf names 127.0.0.1 (timeout:1 attempts:1) and
// bench/tools/dnsd answers there.  dnsd answers a name with the address
// 10.b1.b2.b3 taken from the name's FNV-1a hash, so every answer is
// checked to be the name's own; a label "d<MS>" delays the answer MS ms,
// "drop" leaves the query unanswered.  Without that server (the first
// nameserver of /etc/resolv.conf is not 127.0.0.1, or a probe lookup is
// not answered right) it exits 77.
//
// After a warm-up (G goroutines look up one name each, untimed), three
// phases, as each resolver of the C side does them:
//
//	at once   G goroutines each look up N distinct names that dnsd
//	          answers at once, one after the other;
//	delayed   the same with names that dnsd answers D ms late;
//	timeout   8 goroutines each look up a name dnsd never answers, with
//	          a 50 ms timeout (context.WithTimeout): how long until they
//	          have failed; then one goroutine looks up a name answered at
//	          once: how long that takes.
//
// Every lookup is LookupIP(ctx, "ip4", name), one A query, with a 10 s
// timeout outside the timeout phase.  A sampler goroutine counts the
// entries of /proc/self/task every millisecond during the phases; the
// peak is reported.  GOMAXPROCS is the default.
//
// Usage: dns [-c G] [-n N] [-d D]   (defaults: G = 1000 goroutines, N = 10
//
//	lookups each, D = 2 ms)
//
// Timed: each phase from starting its first goroutine to the end of its
// last; latency: each lookup's own, time.Now around the call.
//
// Output, one figure per line (the C side's rg_getaddrinfo names):
//
//	dns_lookups_per_s: <float> lookups/s       at once: G * N / elapsed
//	dns_p50_us, dns_p99_us: <float> us          at once: latency
//	dns_cpu_us_per_lookup: <float> us          at once: process CPU time
//	                                           (getrusage) / (G * N)
//	dns_delay_lookups_per_s: <float> lookups/s delayed
//	dns_delay_p50_us, dns_delay_p99_us: <float> us
//	dns_peak_threads: <int> threads            during the three phases
//	dns_timeout_ms: <float> ms                 the last timeout
//	dns_after_timeout_ms: <float> ms           the lookup after them
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	lookupTimeout = 10 * time.Second // outside the timeout phase
	dropLookups   = 8                // rg_getaddrinfo's helper threads, on the C side
	dropTimeout   = 50 * time.Millisecond
)

var resolver = &net.Resolver{PreferGo: true}

// nameAddr is dnsd's answer for name: FNV-1a of the name, lower-cased,
// without its final dot; the address is 10.b1.b2.b3, its low three bytes.
func nameAddr(name string) net.IP {
	name = strings.TrimSuffix(name, ".")
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 32
		}
		h ^= uint32(c)
		h *= 16777619
	}
	return net.IPv4(10, byte(h>>16), byte(h>>8), byte(h))
}

func lookup(name string, timeout time.Duration) (net.IP, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ips, err := resolver.LookupIP(ctx, "ip4", name)
	if err != nil {
		return nil, err
	}
	if len(ips) != 1 {
		return nil, errors.New("not one IPv4 address")
	}
	return ips[0], nil
}

var nbad int64

func bad(what, name string, err error) {
	if atomic.AddInt64(&nbad, 1) <= 5 {
		if err == nil {
			err = errors.New("wrong answer")
		}
		fmt.Fprintf(os.Stderr, "dns: %s %s: %v\n", what, name, err)
	}
}

// countThreads is the number of threads of this process: entries of
// /proc/self/task.
func countThreads() int {
	f, err := os.Open("/proc/self/task")
	if err != nil {
		return 0
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	return len(names)
}

func percentile(v []int64, pct int) int64 {
	rank := (len(v)*pct + 99) / 100
	if len(v) == 0 {
		return 0
	}
	if rank == 0 {
		rank = 1
	}
	return v[rank-1]
}

// phase runs g goroutines of n lookups each: its rate and latencies (us).
func phase(g, n int, delay int, lat []int64) (rate, p50, p99 float64) {
	var wg sync.WaitGroup
	wg.Add(g)
	t0 := time.Now()
	for i := 0; i < g; i++ {
		go func(i int) {
			defer wg.Done()
			for j := 0; j < n; j++ {
				var name string
				if delay == 0 {
					name = fmt.Sprintf("ga-%d-%d.bench.", i, j)
				} else {
					name = fmt.Sprintf("gd-%d-%d.d%d.bench.", i, j, delay)
				}
				t := time.Now()
				ip, err := lookup(name, lookupTimeout)
				lat[i*n+j] = time.Since(t).Nanoseconds()
				if err != nil || !ip.Equal(nameAddr(name)) {
					bad("lookup", name, err)
				}
			}
		}(i)
	}
	wg.Wait()
	rate = float64(g*n) / time.Since(t0).Seconds()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	return rate, float64(percentile(lat, 50)) / 1e3, float64(percentile(lat, 99)) / 1e3
}

// warmUp has g goroutines look up one name each, untimed, as the C side
// does.
func warmUp(g int) {
	var wg sync.WaitGroup
	wg.Add(g)
	for i := 0; i < g; i++ {
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("gw-%d.bench.", i)
			ip, err := lookup(name, lookupTimeout)
			if err != nil || !ip.Equal(nameAddr(name)) {
				bad("lookup", name, err)
			}
		}(i)
	}
	wg.Wait()
}

// timeouts looks up dropLookups unanswered names at once, then one
// answered name: the time until the last failed, and the lookup's.
func timeouts() (timeoutMs, afterMs float64) {
	var wg sync.WaitGroup
	took := make([]time.Duration, dropLookups)
	wg.Add(dropLookups)
	for k := 0; k < dropLookups; k++ {
		go func(k int) {
			defer wg.Done()
			name := fmt.Sprintf("gt-%d.drop.bench.", k)
			t := time.Now()
			_, err := lookup(name, dropTimeout)
			took[k] = time.Since(t)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				if err == nil {
					err = errors.New("answered")
				}
				bad("unanswered lookup", name, err)
			}
		}(k)
	}
	wg.Wait()
	var worst time.Duration
	for _, d := range took {
		if d > worst {
			worst = d
		}
	}
	name := "gafter.bench."
	t := time.Now()
	ip, err := lookup(name, lookupTimeout)
	after := time.Since(t)
	if err != nil || !ip.Equal(nameAddr(name)) {
		bad("lookup", name, err)
	}
	return float64(worst.Nanoseconds()) / 1e6, float64(after.Nanoseconds()) / 1e6
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// checkServer exits 77, saying why, unless dnsd is the resolver's server.
func checkServer() {
	ns := ""
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "nameserver" {
				ns = fs[1]
				break
			}
		}
		f.Close()
	}
	if ns != "127.0.0.1" {
		fmt.Fprintln(os.Stderr, "dns: /etc/resolv.conf does not name 127.0.0.1 first: "+
			"run under scripts/dnsenv.sh BUILD/bench/tools/dnsd")
		os.Exit(77)
	}
	ip, err := lookup("probe.bench.", 2*time.Second)
	if err != nil || !ip.Equal(nameAddr("probe.bench.")) {
		if err == nil {
			err = errors.New("a wrong address")
		}
		fmt.Fprintf(os.Stderr, "dns: no dnsd answering on 127.0.0.1:53 (%v)\n", err)
		os.Exit(77)
	}
}

func main() {
	g := flag.Int("c", 1000, "goroutines")
	n := flag.Int("n", 10, "lookups per goroutine")
	d := flag.Int("d", 2, "ms dnsd delays each answer in the delayed phase")
	flag.Parse()
	if *g < dropLookups || *g > 1000000 || *n <= 0 || *n > 1000000 || *d <= 0 || *d > 60000 ||
		flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-c G] [-n N] [-d D]\n", os.Args[0])
		os.Exit(2)
	}
	checkServer()
	lat := make([]int64, *g**n)

	var sampling int32 = 1
	var sampled sync.WaitGroup
	peak := countThreads()
	sampled.Add(1)
	go func() {
		for atomic.LoadInt32(&sampling) != 0 {
			if t := countThreads(); t > peak {
				peak = t
			}
			time.Sleep(time.Millisecond)
		}
		sampled.Done()
	}()

	warmUp(*g)
	c0 := cpuNs()
	rate, p50, p99 := phase(*g, *n, 0, lat)
	cpu := float64(cpuNs()-c0) / 1e3 / float64(*g**n)
	drate, dp50, dp99 := phase(*g, *n, *d, lat)
	tms, ams := timeouts()

	atomic.StoreInt32(&sampling, 0)
	sampled.Wait()
	if nbad > 0 {
		fmt.Fprintf(os.Stderr, "dns: errors (%d bad lookups)\n", nbad)
		os.Exit(1)
	}
	fmt.Printf("# params: c=%d n=%d d=%d maxprocs=%d\n", *g, *n, *d, runtime.GOMAXPROCS(0))
	fmt.Printf("dns_lookups_per_s: %.1f lookups/s\n", rate)
	fmt.Printf("dns_p50_us: %.1f us\n", p50)
	fmt.Printf("dns_p99_us: %.1f us\n", p99)
	fmt.Printf("dns_cpu_us_per_lookup: %.1f us\n", cpu)
	fmt.Printf("dns_delay_lookups_per_s: %.1f lookups/s\n", drate)
	fmt.Printf("dns_delay_p50_us: %.1f us\n", dp50)
	fmt.Printf("dns_delay_p99_us: %.1f us\n", dp99)
	fmt.Printf("dns_peak_threads: %d threads\n", peak)
	fmt.Printf("dns_timeout_ms: %.1f ms\n", tms)
	fmt.Printf("dns_after_timeout_ms: %.1f ms\n", ams)
}
