// Command idlepoll keeps one CPU out of its idle state during the fixed-rate runs of make bench.
//
// On this VM a halted vCPU takes 0.1-1 ms to wake, which every request would pay on both sides. A
// busy loop at SCHED_IDLE priority (run.sh starts it under `chrt -i 0`) keeps the vCPU awake, but a
// loop that never enters the kernel is only preempted at the next scheduler tick (4 ms at HZ=250)
// when the task it should give way to is woken from the other CPU: this kernel sets no IPI for that
// wake-up, and the flag it sets is only looked at on the way back to user space. Calling
// sched_yield in the loop goes through that check every microsecond or so, so a woken proxy gets the
// CPU at once (measured: the origin's p99 at 2,000 req/s went from about 2.2 ms to 0.3-0.6 ms).
package main

import (
	"runtime"
	"syscall"
)

func main() {
	runtime.LockOSThread()
	for {
		syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
}
