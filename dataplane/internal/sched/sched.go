// Package sched asks the kernel for a shorter scheduling slice for every thread of the process.
//
// On Linux 6.6 and later (EEVDF), a task woken up does not preempt the one running on its CPU
// until that one has had its slice (about 1.4 ms on a 2-CPU machine, 3 ms on larger ones), unless
// the woken task asked for a shorter slice (sched_setattr's sched_runtime for SCHED_OTHER, Linux
// 6.12). A data plane sharing its CPU with the control plane, a backend or anything else computing
// waits that long for each request that arrives then: it shows in the p99 (README, Performance).
// Asking for a short slice lets it run as soon as a request arrives, at no cost in CPU share (the
// weight, i.e. nice level, is unchanged); it runs in shorter turns instead.
package sched

import (
	"errors"
	"time"
)

// MinSlice and MaxSlice are the bounds the kernel clamps a requested slice to.
const (
	MinSlice = 100 * time.Microsecond
	MaxSlice = 100 * time.Millisecond
)

// ErrUnsupported is returned where the kernel has no per-task slice (not Linux, or older than
// 6.12): the process keeps the default slice.
var ErrUnsupported = errors.New("sched: a per-task slice needs Linux 6.12 or later")
