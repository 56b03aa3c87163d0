package headers

import (
	"maps"
	"slices"
)

// preset is a named set of response headers.
type preset struct {
	set      map[string]string // canonical name → value, replacing the backend's
	ifAbsent map[string]string // set only when the backend sent none
	remove   []string
}

// The values the presets expand to. They are part of the configuration's documented
// behaviour: change them only with the README.
const (
	// HSTS for a year, subdomains included; "preload" is left to an explicit add, since
	// submitting a domain to the preload list is a decision that is hard to undo.
	hstsValue = "max-age=31536000; includeSubDomains"
	// StrictCSP is security-strict's Content-Security-Policy: everything from the page's own
	// origin only, no plugins, no framing by other sites, forms and <base> kept on the origin.
	// Inline scripts and styles are blocked; a site that needs them (Vaultwarden,
	// Pterodactyl) sets its own Content-Security-Policy with response.add.
	StrictCSP = "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
	// StrictPermissionsPolicy turns off the powerful browser features a community site has
	// no use for.
	StrictPermissionsPolicy = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
	corsMethods             = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsHeaders             = "Accept, Authorization, Content-Type, X-Requested-With, X-Request-ID"
)

// serverHeaders are removed by the security presets: they name the backend's software and
// version.
var serverHeaders = []string{"Server", "X-Powered-By"}

var corsPermissive = map[string]string{
	hdrAllowOrigin:                  "*",
	"Access-Control-Allow-Methods":  corsMethods,
	"Access-Control-Allow-Headers":  corsHeaders,
	"Access-Control-Expose-Headers": "X-Request-ID",
	"Access-Control-Max-Age":        "86400",
}

// presets are the values of headers.preset.
//
//   - security-strict: HSTS, StrictCSP, X-Frame-Options DENY, nosniff, Referrer-Policy
//     no-referrer, StrictPermissionsPolicy, Cross-Origin-Opener-Policy same-origin; removes
//     Server and X-Powered-By.
//   - security-basic: HSTS, X-Frame-Options SAMEORIGIN, nosniff, Referrer-Policy
//     strict-origin-when-cross-origin; removes Server and X-Powered-By.
//   - cors-permissive: any origin ("*"), the usual methods and headers, a day of preflight
//     caching; preflights are answered by the proxy.
//   - api: cors-permissive, nosniff and Cache-Control no-store, with "JSON content-type
//     enforcement" meaning: a response that comes without a Content-Type is sent as
//     application/json instead of being sniffed (net/http would otherwise guess, possibly
//     text/html, which turns a reflected string into script), and nosniff forbids browsers
//     to reinterpret it. Requests are not rejected by media type: uploads (multipart) and
//     form posts are legitimate on APIs, and the backend knows what it accepts.
var presets = map[string]preset{
	"security-strict": {
		set: map[string]string{
			"Strict-Transport-Security":  hstsValue,
			"Content-Security-Policy":    StrictCSP,
			"X-Frame-Options":            "DENY",
			"X-Content-Type-Options":     "nosniff",
			"Referrer-Policy":            "no-referrer",
			"Permissions-Policy":         StrictPermissionsPolicy,
			"Cross-Origin-Opener-Policy": "same-origin",
		},
		remove: serverHeaders,
	},
	"security-basic": {
		set: map[string]string{
			"Strict-Transport-Security": hstsValue,
			"X-Frame-Options":           "SAMEORIGIN",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "strict-origin-when-cross-origin",
		},
		remove: serverHeaders,
	},
	"cors-permissive": {set: corsPermissive},
	"api": {
		set: merge(corsPermissive, map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
		}),
		ifAbsent: map[string]string{"Content-Type": "application/json"},
	},
}

func merge(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

func presetNames() []string {
	return slices.Sorted(maps.Keys(presets))
}
