package idlethread

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attr is struct sched_attr (include/uapi/linux/sched/types.h), SCHED_ATTR_SIZE_VER0.
type attr struct {
	size     uint32
	policy   uint32
	flags    uint64
	nice     int32
	priority uint32
	runtime  uint64
	deadline uint64
	period   uint64
}

// setIdle lowers the calling thread to SCHED_IDLE.
func setIdle() error {
	a := attr{size: uint32(unsafe.Sizeof(attr{})), policy: unix.SCHED_IDLE}
	_, _, errno := unix.Syscall(unix.SYS_SCHED_SETATTR, 0, uintptr(unsafe.Pointer(&a)), 0)
	switch errno {
	case 0:
		return nil
	case unix.EPERM, unix.ENOSYS, unix.EINVAL:
		return fmt.Errorf("%w: sched_setattr: %w", ErrUnsupported, errno)
	default:
		return fmt.Errorf("idlethread: sched_setattr: %w", errno)
	}
}
