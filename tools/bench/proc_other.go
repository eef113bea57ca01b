//go:build !linux

package main

import "syscall"

// childAttr has nothing to add where the kernel offers no parent-death
// signal; the baseline still exits when its stdin closes.
func childAttr() *syscall.SysProcAttr { return nil }
