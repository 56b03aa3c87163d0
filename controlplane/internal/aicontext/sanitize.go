package aicontext

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// maskAddr masks a client address the way the logs do by default (ipmask.Default); text that is
// not an address goes through the safety pass instead.
func maskAddr(s string) string {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return maskIPs(s)
	}
	return ipmask.Mask(addr, ipmask.Default, nil)
}

// maskIPs masks every run of text in s that parses as an IP address (with or without a port or
// brackets around it). It is the report's last line of defence: error messages and configuration
// reasons are free text, and a data plane or a library may have put an address in them. It errs
// on the side of masking: a version number like 1.2.3.4 is masked too.
func maskIPs(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !addrByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && addrByte(s[j]) {
			j++
		}
		lo, hi, addr, ok := findAddr(s[i:j])
		if !ok {
			i = j
			continue
		}
		b.WriteString(s[last : i+lo])
		b.WriteString(ipmask.Mask(addr, ipmask.Default, nil))
		last = i + hi
		i = last
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// addrByte reports whether c may be part of a textual IP address.
func addrByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':'
}

// maxAddrLen is the longest textual IP address without a zone
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255").
const maxAddrLen = 45

// findAddr finds the first IP address in a run of address bytes: from the earliest start, the
// longest piece that parses. Every start is tried, so "abc1.2.3.4" gives 1.2.3.4. A run without
// '.' or ':' holds none ("cafe", "2026").
func findAddr(run string) (lo, hi int, addr netip.Addr, ok bool) {
	if !strings.ContainsAny(run, ".:") {
		return 0, 0, netip.Addr{}, false
	}
	for lo = 0; lo < len(run); lo++ {
		for hi = min(len(run), lo+maxAddrLen); hi > lo+1; hi-- {
			if a, err := netip.ParseAddr(run[lo:hi]); err == nil {
				return lo, hi, a, true
			}
		}
	}
	return 0, 0, netip.Addr{}, false
}

// cleanURL strips a URL of what may be a credential: its userinfo and query. Text that is not a
// URL is only masked.
func cleanURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return maskIPs(raw)
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return maskIPs(u.String())
}

// cleanText is free text made safe for the report: every URL in it is cut to its scheme and host
// (a webhook URL's path is its token; a backend URL may carry a password), every address masked,
// newlines folded, and the whole bounded.
func cleanText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], "://")
		if k < 0 {
			b.WriteString(s[i:])
			break
		}
		k += i
		start := k
		for start > i && isSchemeByte(s[start-1]) {
			start--
		}
		end := k + 3
		for end < len(s) && !strings.ContainsRune(" \t\r\n\"'<>`", rune(s[end])) {
			end++
		}
		// Sentence punctuation after a URL is not part of it.
		raw := strings.TrimRight(s[start:end], ".,;:)]}")
		b.WriteString(s[i:start])
		b.WriteString(shortURL(raw))
		i = start + len(raw)
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	if len(out) > maxText {
		out = out[:maxText] + "…"
	}
	return maskIPs(out)
}

// maxText bounds one free-text value.
const maxText = 300

func isSchemeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// shortURL is a URL found in free text reduced to scheme://host, with "/…" when it had more.
func shortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[url]"
	}
	out := u.Scheme + "://" + u.Host
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		out += "/…"
	}
	return out
}

// sinceText is a duration in its largest whole unit, for the summary.
func sinceText(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
