// SPDX-License-Identifier: MIT

// fileread - N goroutines, each reading its own small file from disk;
// twin of bench/fileread.c.
//
// Before the timed region, N files of S bytes are made in a new directory
// under $TMPDIR (default /var/tmp): file i holds the bytes
// 'a' + (i + j) % 26.  They are written, flushed to disk with one syncfs
// (posix_fadvise cannot drop dirty pages) and dropped from the page cache
// with posix_fadvise(POSIX_FADV_DONTNEED), so that the reads go to the
// disk.  Then N goroutines each os.Open their file, Read it until end of
// file into a buffer of S + 1 bytes, Close it and check its length and
// content (a wrong file is exit status 1).  A sampler goroutine counts the
// entries of /proc/self/task every millisecond from just before the first
// goroutine starts to after the last one ends; the peak is reported.  The
// files and the directory are removed at exit.  GOMAXPROCS is the default.
//
// Usage: fileread [-n N] [-s S]   (defaults: N = 10000 files, S = 4096 bytes)
//
// Timed: from starting the first goroutine to the end of the last.
//
// Output, one figure per line:
//
//	fileread_ms: <float> ms
//	fileread_peak_threads: <int> threads
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	fadvDontneed = 4   // POSIX_FADV_DONTNEED
	sysSyncfs    = 306 // syncfs(2) on x86-64; missing from package syscall
)

var dir string

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "fileread: "+format+"\n", a...)
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(1)
}

func expected(file, at int) byte {
	return byte('a' + (file+at)%26)
}

// makeFiles writes the files, flushes them, then drops them from the page
// cache.
func makeFiles(n, size int) []string {
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/var/tmp"
	}
	d, err := os.MkdirTemp(tmp, "ringo-fileread.")
	if err != nil {
		fail("mkdtemp %s: %v", tmp, err)
	}
	dir = d

	paths := make([]string, n)
	buf := make([]byte, size)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("f%d", i))
		for j := range buf {
			buf[j] = expected(i, j)
		}
		if err := os.WriteFile(paths[i], buf, 0644); err != nil {
			fail("create %v", err)
		}
	}

	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fail("open %s: %v", dir, err)
	}
	if _, _, e := syscall.Syscall(sysSyncfs, uintptr(fd), 0, 0); e != 0 {
		fail("syncfs %s: %v", dir, e)
	}
	syscall.Close(fd)

	for _, p := range paths {
		fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			fail("open %s: %v", p, err)
		}
		if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, uintptr(fd), 0, 0,
			fadvDontneed, 0, 0); e != 0 {
			fail("posix_fadvise %s: %v", p, e)
		}
		syscall.Close(fd)
	}
	return paths
}

// countThreads is the number of threads of this process: entries of
// /proc/self/task.
func countThreads() int {
	f, err := os.Open("/proc/self/task")
	if err != nil {
		fail("open /proc/self/task: %v", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		fail("read /proc/self/task: %v", err)
	}
	return len(names)
}

func reader(i int, path string, size int, wg *sync.WaitGroup) {
	buf := make([]byte, size+1)
	f, err := os.Open(path)
	if err != nil {
		fail("%v", err)
	}
	got := 0
	for got <= size {
		n, err := f.Read(buf[got:])
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("%v", err)
		}
	}
	f.Close()
	if got != size {
		fail("%s: read %d bytes, want %d", path, got, size)
	}
	for j := 0; j < size; j++ {
		if buf[j] != expected(i, j) {
			fail("%s: wrong byte at %d", path, j)
		}
	}
	wg.Done()
}

func main() {
	n := flag.Int("n", 10000, "files")
	size := flag.Int("s", 4096, "bytes per file")
	flag.Parse()
	if *n <= 0 || *size <= 0 || flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-n N] [-s S]   (defaults: N = 10000 files, S = 4096 bytes)\n", os.Args[0])
		os.Exit(2)
	}
	maxprocs := runtime.GOMAXPROCS(0)
	paths := makeFiles(*n, *size)

	var sampling int32 = 1
	var peak int
	var sampled sync.WaitGroup
	peak = countThreads()
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

	var wg sync.WaitGroup
	t0 := time.Now()
	for i, p := range paths {
		wg.Add(1)
		go reader(i, p, *size, &wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	atomic.StoreInt32(&sampling, 0)
	sampled.Wait()
	os.RemoveAll(dir)

	fmt.Printf("# params: files=%d size=%d maxprocs=%d\n", *n, *size, maxprocs)
	fmt.Printf("fileread_ms: %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("fileread_peak_threads: %d threads\n", peak)
}
