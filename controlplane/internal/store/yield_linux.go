package store

import "syscall"

// yieldCPU gives the CPU to any thread the kernel has waiting for it, and returns at once when
// there is none (about a microsecond). Storing a batch is milliseconds of computation without a
// system call, and this kernel only preempts such a thread for a task woken from another CPU at
// its next tick (4 ms): a data plane sharing the core would wait that long for every batch.
func yieldCPU() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
