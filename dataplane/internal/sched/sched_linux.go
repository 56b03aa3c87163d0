package sched

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attr is struct sched_attr (include/uapi/linux/sched/types.h), SCHED_ATTR_SIZE_VER1.
type attr struct {
	size     uint32
	policy   uint32
	flags    uint64
	nice     int32
	priority uint32
	runtime  uint64 // for SCHED_OTHER: the slice, in ns (Linux 6.12)
	deadline uint64
	period   uint64
	utilMin  uint32
	utilMax  uint32
}

// SetSlice sets the slice of every thread of the process to d (clamped to MinSlice..MaxSlice);
// threads started later inherit it. The nice level is kept. It needs no privilege.
func SetSlice(d time.Duration) error {
	d = min(max(d, MinSlice), MaxSlice)
	tids, err := threads()
	if err != nil {
		return err
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0) // the raw value: 20 - nice
	if err != nil {
		return fmt.Errorf("sched: getpriority: %w", err)
	}
	for _, tid := range tids {
		a := attr{size: uint32(unsafe.Sizeof(attr{})), policy: unix.SCHED_NORMAL, nice: int32(20 - prio), runtime: uint64(d)}
		_, _, errno := unix.Syscall(unix.SYS_SCHED_SETATTR, uintptr(tid), uintptr(unsafe.Pointer(&a)), 0)
		switch {
		case errno == unix.ESRCH: // the thread exited meanwhile
		case errno == unix.EINVAL || errno == unix.E2BIG:
			return ErrUnsupported
		case errno != 0:
			return fmt.Errorf("sched: sched_setattr thread %d: %w", tid, errno)
		}
	}
	// Kernels before 6.12 accept the call and ignore the slice: check that it took.
	got, err := Slice(tids[0])
	if err != nil {
		return err
	}
	if got != d {
		return ErrUnsupported
	}
	return nil
}

// Slice reads thread tid's slice from /proc (the "se.slice" line of its sched file, Linux 6.6).
func Slice(tid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/sched", tid))
	if err != nil {
		return 0, fmt.Errorf("sched: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "se.slice" {
			continue
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("sched: se.slice %q: %w", strings.TrimSpace(value), err)
		}
		return time.Duration(ns), nil
	}
	return 0, ErrUnsupported
}

// threads lists the process's thread ids.
func threads() ([]int, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("sched: list threads: %w", err)
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			return nil, fmt.Errorf("sched: thread %q: %w", e.Name(), errors.ErrUnsupported)
		}
		tids = append(tids, tid)
	}
	return tids, nil
}
