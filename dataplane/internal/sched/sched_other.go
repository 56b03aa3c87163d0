//go:build !linux

package sched

import "time"

// SetSlice is not available outside Linux.
func SetSlice(time.Duration) error { return ErrUnsupported }

// Slice is not available outside Linux.
func Slice(int) (time.Duration, error) { return 0, ErrUnsupported }
