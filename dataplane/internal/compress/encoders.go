package compress

import (
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoder is what the three libraries' writers have in common.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

var (
	_ encoder = (*brotli.Writer)(nil)
	_ encoder = (*zstd.Encoder)(nil)
	_ encoder = (*gzip.Writer)(nil)
)

// Algorithm names: the Content-Encoding token and the names accepted in configuration.
const (
	Brotli = "br"
	Zstd   = "zstd"
	Gzip   = "gzip"
)

// Levels. The configured level is one number for every algorithm (the seed's "1-9 for gzip,
// 0-11 for brotli"); 0 means the algorithm's default below. Figures from BenchmarkAlgorithms,
// 64 KiB HTML / JSON, one core of an AMD EPYC, MB/s of input and compressed size in per cent
// (README.md has the full table):
//
//	brotli 1: 133/234 MB/s 25.0/22.7%   zstd 1:  237/200 MB/s 22.5/17.8%   gzip 1: 457/474 MB/s 24.0/20.9%
//	brotli 4:  59/67  MB/s 21.9/17.2%   zstd 3:  215/265 MB/s 20.4/17.6%   gzip 5: 207/219 MB/s 20.6/18.0%
//	brotli 5:  39/44  MB/s 20.0/16.1%   zstd 6:  159/177 MB/s 19.4/17.0%   gzip 6: 178/82  MB/s 20.2/17.7%
//	brotli 6:  31/38  MB/s 18.9/15.9%   zstd 10:  40/39  MB/s 18.5/16.2%   gzip 9:   8/6   MB/s 18.3/16.5%
//	brotli 7:  19/21  MB/s 18.1/15.8%
const (
	// DefaultGzipLevel: level 5 is within half a point of 6's size and, on JSON, 2.7 times as
	// fast.
	DefaultGzipLevel = 5
	// DefaultBrotliLevel and MaxBrotliLevel: andybalholm/brotli is pure Go; each level above 4
	// costs a third or more of the throughput (59 → 39 → 31 → 19 MB/s on HTML for 4 → 7) for
	// one point of size or less. At 5 a core still compresses ~40 MB/s, about 600 64 KiB pages
	// a second; at 7 half that. Levels above MaxBrotliLevel are lowered to it.
	DefaultBrotliLevel = 4
	MaxBrotliLevel     = 5
	// DefaultZstdLevel maps to zstd.SpeedDefault; levels are mapped with
	// zstd.EncoderLevelFromZstd (1-2 fastest, 3-5 default, 6-9 better, 10+ best), and best
	// (40 MB/s) is lowered to better (MaxZstdLevel, 160-180 MB/s) like brotli's cap.
	DefaultZstdLevel = 3
	MaxZstdLevel     = 9
)

// pools holds one sync.Pool of encoders per algorithm and effective level, shared by all
// routes and snapshots, so that a reload does not throw warm encoders away.
var pools sync.Map // poolKey → *sync.Pool

type poolKey struct {
	alg   string
	level int
}

// effectiveLevel turns the configured level into the level alg runs at.
func effectiveLevel(alg string, level int) int {
	switch alg {
	case Brotli:
		if level == 0 {
			return DefaultBrotliLevel
		}
		return min(level, MaxBrotliLevel)
	case Zstd:
		if level == 0 {
			return DefaultZstdLevel
		}
		return min(level, MaxZstdLevel)
	default:
		if level == 0 {
			return DefaultGzipLevel
		}
		return min(level, gzip.BestCompression)
	}
}

// newFactory returns a constructor for encoders of alg at level, checking the options once.
func newFactory(alg string, level int) (func() encoder, error) {
	switch alg {
	case Brotli:
		return func() encoder { return brotli.NewWriterLevel(nil, level) }, nil
	case Zstd:
		opts := []zstd.EOption{
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			// One goroutine-free encoder per response: concurrency 1 encodes synchronously.
			zstd.WithEncoderConcurrency(1),
			// A window of 1 MiB bounds each pooled encoder's memory; responses are mostly
			// far smaller and browsers' decoders accept it.
			zstd.WithWindowSize(1 << 20),
			zstd.WithLowerEncoderMem(true),
		}
		if _, err := zstd.NewWriter(nil, opts...); err != nil {
			return nil, fmt.Errorf("zstd level %d: %w", level, err)
		}
		return func() encoder {
			e, _ := zstd.NewWriter(nil, opts...) // options checked above
			return e
		}, nil
	default:
		if _, err := gzip.NewWriterLevel(io.Discard, level); err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		return func() encoder {
			g, _ := gzip.NewWriterLevel(nil, level) // level checked above
			return g
		}, nil
	}
}

// poolFor returns the shared pool for alg at level.
func poolFor(alg string, level int) (*sync.Pool, error) {
	k := poolKey{alg, level}
	if p, ok := pools.Load(k); ok {
		return p.(*sync.Pool), nil
	}
	f, err := newFactory(alg, level)
	if err != nil {
		return nil, err
	}
	p, _ := pools.LoadOrStore(k, &sync.Pool{New: func() any { return f() }})
	return p.(*sync.Pool), nil
}
