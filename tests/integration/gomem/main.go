// A Go program for it_runtimes: MiB of 1 MiB slices (argument 1) written
// and summed, three rounds, each followed by a collection and
// debug.FreeOSMemory, which hands the freed heap back with madvise made
// through a raw system call (not the C library's, so not Lego's wrapper),
// and a fresh 64 MiB slice that must read zeros.  Prints a checksum; its
// peak resident memory (VmHWM) goes to standard error.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

func fill(n int, seed uint64) [][]uint64 {
	var s [][]uint64
	x := seed
	for i := 0; i < n; i++ {
		b := make([]uint64, 1<<17)
		for j := range b {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			b[j] = x
		}
		s = append(s, b)
	}
	return s
}

func sum(s [][]uint64) uint64 {
	var t uint64
	for i, b := range s {
		for j, v := range b {
			t += v * uint64(i*131072+j+1)
		}
	}
	return t
}

func main() {
	mb, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: gomem MiB")
		os.Exit(2)
	}
	var total uint64
	for r := 0; r < 3; r++ {
		s := fill(mb, uint64(r+1)*0x9e3779b97f4a7c15)
		total += sum(s)
		s = nil
		runtime.GC()
		debug.FreeOSMemory()
		z := make([]byte, 64<<20)
		for i := range z {
			if z[i] != 0 {
				fmt.Println("fresh memory not zero at", i)
				os.Exit(1)
			}
		}
	}
	fmt.Printf("checksum %x\n", total)
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				fmt.Fprintln(os.Stderr, strings.Fields(l)[1])
			}
		}
	}
}
