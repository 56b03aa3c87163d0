package proxy

import "sync"

// bufferPool lends the response copy its buffers: 32 KiB for large or unknown lengths, 4 KiB
// for responses known to fit (most API answers and pages), so that a few hundred requests in
// flight do not hold megabytes of buffers.
type bufferPool struct{ small, large sync.Pool }

const (
	copyBufferSize  = 32 << 10
	smallBufferSize = 4 << 10
)

func newBufferPool() *bufferPool {
	bp := &bufferPool{}
	bp.small.New = func() any { b := make([]byte, smallBufferSize); return &b }
	bp.large.New = func() any { b := make([]byte, copyBufferSize); return &b }
	return bp
}

// Get returns a buffer for a body of size bytes (-1: unknown). The pointer goes back to Put,
// so that lending costs no allocation.
func (bp *bufferPool) Get(size int64) *[]byte {
	if size >= 0 && size <= smallBufferSize {
		return bp.small.Get().(*[]byte)
	}
	return bp.large.Get().(*[]byte)
}

func (bp *bufferPool) Put(b *[]byte) {
	switch cap(*b) {
	case smallBufferSize:
		bp.small.Put(b)
	case copyBufferSize:
		bp.large.Put(b)
	}
}
