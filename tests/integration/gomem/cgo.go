package main

// Linked with the C library (cgo), as most Go programs that use one are:
// the Go runtime then maps its heap through the C library's mmap, which
// Lego interposes.  A pure Go program is linked statically and never
// loads liblego.

// static int gomem_cgo(void) { return 1; }
import "C"

var _ = C.gomem_cgo
