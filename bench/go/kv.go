// SPDX-License-Identifier: MIT

// kv - Redis-protocol throughput, latency and CPU cost of a key-value server
// written in Go, measured by redis-benchmark; twin of bench/kv.c.
//
// The server runs in this process, on a free port of 127.0.0.1 with the
// default GOMAXPROCS: one goroutine per connection, reading commands with a
// bufio.Reader and writing replies into a bufio.Writer, which is flushed
// only when no further input is buffered, so that a pipeline of commands is
// executed and answered with one write.  The keys live in one map guarded
// by a sync.RWMutex.  It speaks the subset of the protocol that
// examples/kv_server serves: PING, ECHO, SET, GET, DEL, INCR, EXISTS,
// DBSIZE, FLUSHALL, QUIT, CONFIG GET and COMMAND, in multibulk or inline
// form; a line longer than 16 KiB, more than 1024 arguments or a bulk
// string over 1 MiB is a protocol error, answered before the connection is
// closed.
//
// A PING must be answered with +PONG, and a short redis-benchmark run (SET
// and GET, min(N, 10000) requests) warms the server up.  Then four measured
// runs, in this order:
//
//	redis-benchmark -h 127.0.0.1 -p PORT -c C -n N -t set -P 1 --csv
//	... -t get -P 1, -t set -P 16, -t get -P 16
//
// From each run's CSV report come requests/s and the p50 and p99
// latencies, and around each run the process's CPU time is read
// (getrusage(RUSAGE_SELF), user + system: the server's, redis-benchmark's
// own counting only towards RUSAGE_CHILDREN).  An error reply fails the run
// (redis-benchmark exits with status 1 at the first one), and after the
// last run GET of the benchmark's key must return a value of the size its
// SETs wrote (3 bytes).
//
// Usage: kv [-n N] [-c C]   (defaults: N = 100000 requests per run,
// C = 50 connections)
//
// Exit status 77 when redis-benchmark is not installed (apt-get install
// redis-tools).
//
// Output, one figure per line, for T in get, set and P in 1, 16:
//
//	kv_T_pP_rps: <float> req/s              redis-benchmark's requests/s
//	kv_T_pP_p50_us: <float> us              its median latency
//	kv_T_pP_p99_us: <float> us              its 99th percentile latency
//	kv_T_pP_cpu_us_per_req: <float> us      server CPU time / N
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	warmupN = 10000
	bufSize = 16 << 10 // the reader's buffer, and so the longest line
	maxArgs = 1024
	maxBulk = 1 << 20
)

// The measured runs: redis-benchmark's test, its CSV name, the pipeline depth.
var runs = []struct {
	test, csv string
	pipeline  int
}{{"set", "SET", 1}, {"get", "GET", 1}, {"set", "SET", 16}, {"get", "GET", 16}}

// result holds the figures of one run.
type result struct {
	rps, p50Us, p99Us, cpuUs float64
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "kv: "+format+"\n", a...)
	os.Exit(1)
}

// ---------------------------------------------------------------------------
// The server

type store struct {
	mu sync.RWMutex
	m  map[string][]byte
}

var db = store{m: make(map[string][]byte)}

var errProtocol = errors.New("Protocol error")

// readLine returns the next line without its "\r\n" (or "\n"); the slice is
// valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errProtocol
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readCommand reads one command, multibulk ("*2\r\n$3\r\nGET\r\n...") or
// inline ("GET key\r\n"); an empty inline line gives no arguments.
func readCommand(r *bufio.Reader) ([][]byte, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 || line[0] != '*' {
		fields := bytes.Fields(line)
		if len(fields) > maxArgs {
			return nil, errProtocol
		}
		args := make([][]byte, len(fields))
		for i, f := range fields {
			args[i] = append([]byte(nil), f...)
		}
		return args, nil
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n > maxArgs {
		return nil, errProtocol
	}
	if n <= 0 { // "*0" and "*-1": no command
		return nil, nil
	}
	args := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		line, err = readLine(r)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 || line[0] != '$' {
			return nil, errProtocol
		}
		size, err := strconv.Atoi(string(line[1:]))
		if err != nil || size < 0 || size > maxBulk {
			return nil, errProtocol
		}
		arg := make([]byte, size+2)
		if _, err := io.ReadFull(r, arg); err != nil {
			return nil, err
		}
		if arg[size] != '\r' || arg[size+1] != '\n' {
			return nil, errProtocol
		}
		args = append(args, arg[:size])
	}
	return args, nil
}

func writeBulk(w *bufio.Writer, b []byte) {
	w.WriteByte('$')
	w.WriteString(strconv.Itoa(len(b)))
	w.WriteString("\r\n")
	w.Write(b)
	w.WriteString("\r\n")
}

func writeInt(w *bufio.Writer, n int64) {
	w.WriteByte(':')
	w.WriteString(strconv.FormatInt(n, 10))
	w.WriteString("\r\n")
}

func writeArity(w *bufio.Writer, name string) {
	fmt.Fprintf(w, "-ERR wrong number of arguments for '%s' command\r\n", name)
}

// The parameters CONFIG GET knows, with their values.
var config = map[string]string{"save": "", "appendonly": "no"}

// execute runs one command and writes its reply; false for QUIT.
func execute(w *bufio.Writer, args [][]byte) bool {
	name := strings.ToLower(string(args[0]))
	switch name {
	case "ping":
		switch len(args) {
		case 1:
			w.WriteString("+PONG\r\n")
		case 2:
			writeBulk(w, args[1])
		default:
			writeArity(w, name)
		}
	case "echo":
		if len(args) != 2 {
			writeArity(w, name)
			break
		}
		writeBulk(w, args[1])
	case "set":
		if len(args) != 3 {
			if len(args) < 3 {
				writeArity(w, name)
			} else {
				w.WriteString("-ERR syntax error\r\n")
			}
			break
		}
		db.mu.Lock()
		db.m[string(args[1])] = args[2]
		db.mu.Unlock()
		w.WriteString("+OK\r\n")
	case "get":
		if len(args) != 2 {
			writeArity(w, name)
			break
		}
		// A stored value is never modified, so it can be written unlocked.
		db.mu.RLock()
		v, ok := db.m[string(args[1])]
		db.mu.RUnlock()
		if ok {
			writeBulk(w, v)
		} else {
			w.WriteString("$-1\r\n")
		}
	case "del", "exists":
		if len(args) < 2 {
			writeArity(w, name)
			break
		}
		var n int64
		if name == "del" {
			db.mu.Lock()
		} else {
			db.mu.RLock()
		}
		for _, k := range args[1:] {
			if _, ok := db.m[string(k)]; ok {
				n++
				if name == "del" {
					delete(db.m, string(k))
				}
			}
		}
		if name == "del" {
			db.mu.Unlock()
		} else {
			db.mu.RUnlock()
		}
		writeInt(w, n)
	case "incr":
		if len(args) != 2 {
			writeArity(w, name)
			break
		}
		db.mu.Lock()
		var n int64
		var err error
		if v, ok := db.m[string(args[1])]; ok {
			n, err = strconv.ParseInt(string(v), 10, 64)
		}
		if err == nil && n == 1<<63-1 {
			err = strconv.ErrRange
		}
		if err == nil {
			n++
			db.m[string(args[1])] = []byte(strconv.FormatInt(n, 10))
		}
		db.mu.Unlock()
		if err != nil {
			w.WriteString("-ERR value is not an integer or out of range\r\n")
		} else {
			writeInt(w, n)
		}
	case "dbsize":
		if len(args) != 1 {
			writeArity(w, name)
			break
		}
		db.mu.RLock()
		n := len(db.m)
		db.mu.RUnlock()
		writeInt(w, int64(n))
	case "flushall":
		if len(args) > 2 {
			writeArity(w, name)
			break
		}
		db.mu.Lock()
		db.m = make(map[string][]byte)
		db.mu.Unlock()
		w.WriteString("+OK\r\n")
	case "quit":
		w.WriteString("+OK\r\n")
		return false
	case "config":
		if len(args) != 3 || strings.ToLower(string(args[1])) != "get" {
			w.WriteString("-ERR only CONFIG GET parameter is supported\r\n")
			break
		}
		param := strings.ToLower(string(args[2]))
		if v, ok := config[param]; ok {
			w.WriteString("*2\r\n")
			writeBulk(w, []byte(param))
			writeBulk(w, []byte(v))
		} else {
			w.WriteString("*0\r\n")
		}
	case "command":
		w.WriteString("*0\r\n")
	default:
		fmt.Fprintf(w, "-ERR unknown command '%.64s'\r\n", args[0])
	}
	return true
}

// serve answers one connection's commands until it closes or says QUIT;
// replies are flushed once the reader has no further input buffered.
func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, bufSize)
	w := bufio.NewWriterSize(c, bufSize)
	for {
		args, err := readCommand(r)
		if err == errProtocol {
			w.WriteString("-ERR Protocol error\r\n")
			w.Flush()
			return
		}
		if err != nil {
			w.Flush()
			return
		}
		if len(args) > 0 && !execute(w, args) {
			w.Flush()
			return
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// ---------------------------------------------------------------------------
// The driver

// cpuNs is the process's CPU time so far (user + system), in nanoseconds.
func cpuNs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

// match tells whether s matches want, where '?' stands for any byte.
func match(s, want []byte) bool {
	if len(s) != len(want) {
		return false
	}
	for i := range s {
		if want[i] != '?' && want[i] != s[i] {
			return false
		}
	}
	return true
}

// expect checks that addr answers req with want (see match).
func expect(addr, what, req, want string) {
	got := make([]byte, len(want))
	n := 0
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err = c.Write([]byte(req)); err == nil {
			n, err = io.ReadFull(c, got)
		}
		c.Close()
	}
	if err != nil || !match(got, []byte(want)) {
		fail("%s: unexpected reply '%s'", what,
			strings.NewReplacer("\r", " ", "\n", " ").Replace(string(got[:n])))
	}
}

// csvFields splits a line of redis-benchmark's CSV into unquoted fields.
func csvFields(line string) []string {
	f := strings.Split(strings.TrimRight(line, "\r\n"), ",")
	for i := range f {
		if len(f[i]) >= 2 && f[i][0] == '"' && f[i][len(f[i])-1] == '"' {
			f[i] = f[i][1 : len(f[i])-1]
		}
	}
	return f
}

// benchRun does the i-th of runs with n requests.
func benchRun(port, i, n, conns int) result {
	res := result{-1, -1, -1, 0}
	cmd := exec.Command("redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", strconv.Itoa(conns), "-n", strconv.Itoa(n), "-t", runs[i].test,
		"-P", strconv.Itoa(runs[i].pipeline), "--csv")
	cmd.Stderr = os.Stderr
	cpu0 := cpuNs()
	out, err := cmd.Output()
	cpu1 := cpuNs()
	os.Stderr.Write(out) // redis-benchmark's report, for the record
	if err != nil {
		fail("redis-benchmark failed (an error reply? see its messages above): %v", err)
	}

	col := map[string]int{}
	num := func(f []string, name string) float64 {
		c, ok := col[name]
		if !ok || c >= len(f) {
			return -1
		}
		v, err := strconv.ParseFloat(f[c], 64)
		if err != nil {
			return -1
		}
		return v
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		f := csvFields(line)
		switch {
		case strings.HasPrefix(line, `"test",`):
			for c, name := range f {
				col[name] = c
			}
		case len(col) > 0 && f[0] == runs[i].csv:
			res.rps = num(f, "rps")
			res.p50Us = num(f, "p50_latency_ms") * 1e3
			res.p99Us = num(f, "p99_latency_ms") * 1e3
		}
	}
	if res.rps <= 0 || res.p50Us < 0 || res.p99Us < 0 {
		fail("redis-benchmark's CSV has no rps, p50 and p99 for %s", runs[i].csv)
	}
	res.cpuUs = (cpu1 - cpu0) / 1e3 / float64(n)
	return res
}

func main() {
	n := flag.Int("n", 100000, "requests per run")
	conns := flag.Int("c", 50, "connections")
	flag.Parse()
	if *n <= 0 || *conns <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N] [-c C]   (defaults: N = 100000 requests per run, C = 50 connections)\n", os.Args[0])
		os.Exit(2)
	}
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		fmt.Fprintf(os.Stderr, "kv: redis-benchmark not found in PATH; install it (apt-get install redis-tools)\n")
		os.Exit(77)
	}
	procs := runtime.GOMAXPROCS(0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen on 127.0.0.1: %v", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				fail("accept: %v", err)
			}
			go serve(c)
		}
	}()
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port

	expect(addr, "PING", "*1\r\n$4\r\nPING\r\n", "+PONG\r\n")
	warm := *n
	if warm > warmupN {
		warm = warmupN
	}
	benchRun(port, 0, warm, *conns) // set, P 1
	benchRun(port, 1, warm, *conns) // get, P 1
	res := make([]result, len(runs))
	for i := range runs {
		res[i] = benchRun(port, i, *n, *conns)
	}
	// redis-benchmark's SETs write 3 random bytes of its own choosing.
	expect(addr, "GET key:__rand_int__", "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n",
		"$3\r\n???\r\n")

	fmt.Printf("# params: n=%d conns=%d maxprocs=%d\n", *n, *conns, procs)
	// get before set, as the names read best; the runs did set first.
	for p := 0; p < 2; p++ {
		for t := 1; t >= 0; t-- {
			r, run := res[2*p+t], runs[2*p+t]
			pre := fmt.Sprintf("kv_%s_p%d", run.test, run.pipeline)
			fmt.Printf("%s_rps: %.0f req/s\n", pre, r.rps)
			fmt.Printf("%s_p50_us: %.0f us\n", pre, r.p50Us)
			fmt.Printf("%s_p99_us: %.0f us\n", pre, r.p99Us)
			fmt.Printf("%s_cpu_us_per_req: %.2f us\n", pre, r.cpuUs)
		}
	}
}
