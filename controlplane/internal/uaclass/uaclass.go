// Package uaclass sorts user agents into the four classes the analytics count: bot, browser, api
// and mobile. It looks for well-known tokens only; a user agent is what the client says it is, so
// the classes are an estimate for dashboards, never a security decision.
package uaclass

import "bytes"

// Class is a user-agent class.
type Class string

// The classes, as stored in analytics_user_agents.user_agent_type.
const (
	Bot     Class = "bot"     // crawlers, link previews, monitors, scanners
	Browser Class = "browser" // desktop web browsers
	Mobile  Class = "mobile"  // browsers on phones and tablets, and native mobile apps' HTTP stacks
	API     Class = "api"     // scripts, libraries, command-line tools, and requests without a user agent
)

// Classes lists every class in a stable order.
var Classes = [...]Class{Browser, Mobile, API, Bot}

// maxScan bounds the work on a hostile, huge user agent: the tokens that decide are near the start.
const maxScan = 512

// Checked in this order: a crawler says "Mozilla/5.0 (compatible; Googlebot...)" and a mobile
// crawler "Mobile", so bot tokens win over everything.
var (
	botTokens = []string{"bot", "crawl", "spider", "slurp", "facebookexternalhit", "mediapartners",
		"bingpreview", "headlesschrome", "phantomjs", "lighthouse", "pingdom", "uptime", "monitor",
		"preview", "feedfetcher", "scanner", "zgrab", "masscan", "nmap", "nikto", "sqlmap", "nuclei",
		"archive.org", "httrack", "scrapy"}
	// Native mobile HTTP stacks: iOS apps (CFNetwork, Alamofire), Android apps (Dalvik, okhttp).
	mobileAppTokens = []string{"cfnetwork", "dalvik", "okhttp", "alamofire", "darwin/"}
	mobileTokens    = []string{"mobile", "android", "iphone", "ipad", "ipod", "windows phone", "opera mini", "silk/"}
	browserPrefixes = []string{"mozilla/", "opera/"}
)

// Of returns the class of a User-Agent header value.
func Of(ua string) Class {
	if ua == "" {
		return API
	}
	// Lower-case a bounded prefix once, on the stack, so each token is one bytes.Contains.
	var buf [maxScan]byte
	n := copy(buf[:], ua)
	low := buf[:n]
	for i, c := range low {
		if 'A' <= c && c <= 'Z' {
			low[i] = c + 'a' - 'A'
		}
	}
	switch {
	case containsAny(low, botTokens):
		return Bot
	case containsAny(low, mobileAppTokens):
		return Mobile
	case !hasPrefixAny(low, browserPrefixes):
		return API
	case containsAny(low, mobileTokens):
		return Mobile
	default:
		return Browser
	}
}

func containsAny(s []byte, tokens []string) bool {
	for _, t := range tokens {
		if bytes.Contains(s, []byte(t)) {
			return true
		}
	}
	return false
}

func hasPrefixAny(s []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(s, []byte(p)) {
			return true
		}
	}
	return false
}
