//go:build !linux

package idlethread

func setIdle() error { return ErrUnsupported }
