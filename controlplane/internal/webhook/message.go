package webhook

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// message is one alert on its way to one webhook, with what the throttle held back before it.
type message struct {
	id         string // shared by its delivery attempts; the generic payload's id
	hook       config.Webhook
	alert      alert.Alert
	suppressed int           // alerts of this type the throttle held back since the previous message
	since      time.Duration // since the previous message of this type, when suppressed > 0
}

// title is the alert's title behind an emoji of its severity, as in the seed ("🚨 Service
// Down Alert"); an alert without a title is named by its type.
func (m message) title() string {
	t := strings.TrimSpace(m.alert.Title)
	if t == "" {
		t = strings.ReplaceAll(string(m.alert.Type), "_", " ")
		if t == "" {
			t = "alert"
		}
		t = strings.ToUpper(t[:1]) + t[1:]
	}
	return emoji(m.alert) + " " + t
}

func emoji(a alert.Alert) string {
	switch {
	case goodNews(a.Type):
		return "✅"
	case a.Severity == alert.Critical:
		return "🚨"
	case a.Severity == alert.Warning:
		return "⚠️"
	default:
		return "ℹ️"
	}
}

// goodNews are the types that report a problem's end; they are green, whatever their severity.
func goodNews(t alert.Type) bool { return t == alert.ServiceRecovered || t == alert.CircuitClosed }

// suppressedText reports the held-back alerts: "7 similar alerts in the last 12m".
func (m message) suppressedText() string {
	if m.suppressed <= 0 {
		return ""
	}
	since := m.since.Round(time.Second)
	if since >= time.Minute {
		since = since.Round(time.Minute)
	}
	noun := "alerts"
	if m.suppressed == 1 {
		noun = "alert"
	}
	return fmt.Sprintf("%d similar %s in the last %s", m.suppressed, noun, config.FormatDuration(since))
}

// fields are what Discord and Slack show below the description: the route, backend, request
// and sample the alert names (unless its own fields already do), then its own fields. The
// suppressed count is added by each format, so that it survives their limits.
func (m message) fields() []alert.Field {
	a := m.alert
	var out []alert.Field
	add := func(name, value string, inline bool) {
		if strings.TrimSpace(value) == "" {
			return
		}
		for _, f := range a.Fields {
			if strings.EqualFold(strings.TrimSpace(f.Name), name) {
				return
			}
		}
		out = append(out, alert.Field{Name: name, Value: value, Inline: inline})
	}
	route := a.Host
	if route == "" {
		route = a.RouteID
	}
	add("Service", route, true) // the seed's name for it
	add("Backend", a.Backend, true)
	add("Request ID", code(cut(a.RequestID, maxCode)), true)
	add("Sample", code(cut(a.Sample, maxCode)), false)
	for _, f := range a.Fields {
		if strings.TrimSpace(f.Value) == "" {
			continue // Discord refuses an empty value; nothing to show anyway
		}
		if strings.TrimSpace(f.Name) == "" {
			f.Name = "Detail"
		}
		out = append(out, f)
	}
	return out
}

// maxCode bounds a sample before it is quoted, so that no format's limit cuts off the closing
// backtick (Discord's field value is the smallest: 1024).
const maxCode = 900

// code shows client-sent text (a path, a WAF snippet) as inline code, so that Discord and
// Slack render no link or markup an attacker put in it.
func code(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

// units is the length of s as Discord and Slack count characters (UTF-16 code units, as
// JavaScript does: an emoji outside the BMP counts two). Cutting by them stays within a limit
// whether the receiver counts code units or code points.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// cut returns s, made valid UTF-8, shortened to at most max units and then ending in "…",
// cut between characters.
func cut(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if units(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	n := 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if n+w > max-1 { // room for the ellipsis, one unit
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
		}
		n += w
	}
	return s
}
