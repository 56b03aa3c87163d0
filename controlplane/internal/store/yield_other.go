//go:build !linux

package store

// yieldCPU is a no-op where sched_yield is not available: see yield_linux.go.
func yieldCPU() {}
