package config

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Size is a number of bytes.
type Size int64

// Size units. Decimal units (KB, MB, GB, TB) are powers of 1000 as in SI and in disk sizes;
// binary units (KiB, MiB, GiB, TiB) are powers of 1024. Units are matched without regard to
// case ("mb" is MB); bits make no sense for these limits, so there is no ambiguity.
var sizeUnits = map[string]int64{
	"b":   1,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"tb":  1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// ParseSize parses a size as written in the configuration: a whole number of bytes
// ("1048576"), or a number and a unit ("512KB", "10MB", "10MiB", "1.5GB", "64 KiB").
// KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024. The one-letter forms of
// nginx ("10m", "1k") are refused because they hide which of the two is meant.
func ParseSize(s string) (Size, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("size %q must not be negative", orig)
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if num == "" || strings.Count(num, ".") > 1 || num == "." {
		return 0, fmt.Errorf("invalid size %q: expected a number of bytes or a number and a unit such as 10MB or 10MiB", orig)
	}
	if len(num) > 40 {
		return 0, fmt.Errorf("size %q is too large", orig)
	}
	mult := int64(1)
	if unit != "" {
		m, ok := sizeUnits[strings.ToLower(unit)]
		if !ok {
			return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB; KB=1000, KiB=1024 bytes)", orig, unit)
		}
		mult = m
	}
	// Exact arithmetic: "1.5KiB" is 1536 bytes, "0.3B" is not a whole number of bytes.
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q", orig)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", orig)
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", orig)
	}
	return Size(n.Int64()), nil
}

// String writes the size in the largest binary or decimal unit that divides it, or in bytes.
func (s Size) String() string {
	if s <= 0 {
		return fmt.Sprintf("%dB", int64(s))
	}
	for _, u := range []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}} {
		if int64(s)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}
