package main

import "syscall"

// childAttr puts a server subprocess in its own process group, so that a
// Ctrl-C reaches bench alone and bench stops its children in order, and has
// the kernel send it SIGTERM should bench die without doing so.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
