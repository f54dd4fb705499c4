package main

import "golang.org/x/sys/unix"

// noCoreDumps makes the process not dumpable: no core file can hold a
// visit's pages (which live in memory only), and no other process of the
// same user can open them through /proc.
func noCoreDumps() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
