package webhook

import (
	"fmt"
	"strings"
	"time"
)

// Slack's documented Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
const (
	slackHeader     = 150  // header block text
	slackTextMax    = 3000 // section text, context element text, the notification text
	slackFields     = 10   // fields of one section
	slackFieldText  = 2000 // each field
	slackFieldLabel = 200  // our bound on a field's name, so that its value keeps room
)

type slackMessage struct {
	Text   string       `json:"text"` // the notification and the fallback of clients without blocks
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning to (links,
// mentions), so that alert text is shown as it is.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// mrkdwn is s escaped and within max units. The raw text is cut, not the escaped one, so that
// a cut never splits an entity; an escape grows the text, so it is cut again until it fits.
func mrkdwn(s string, max int) string {
	raw := cut(s, max)
	for e := slackEscape.Replace(raw); units(e) > max; e = slackEscape.Replace(raw) {
		raw = cut(raw, units(raw)-(units(e)-max))
	}
	return slackEscape.Replace(raw)
}

// slackPayload is a Block Kit message: a header with the title, a section with the
// description, a section of up to ten fields, and a context line with the severity, the
// event type and the time.
func slackPayload(m message) ([]byte, error) {
	title := m.title()
	msg := slackMessage{Text: mrkdwn(title, slackTextMax)}
	msg.Blocks = append(msg.Blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: cut(title, slackHeader), Emoji: true}})
	if strings.TrimSpace(m.alert.Description) != "" {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: mrkdwn(m.alert.Description, slackTextMax)}})
	}
	fields := m.fields()
	sup := m.suppressedText()
	room := slackFields
	if sup != "" {
		room--
	}
	var out []slackText
	for i, f := range fields {
		if i == room-1 && len(fields) > room {
			out = append(out, slackText{Type: "mrkdwn", Text: fmt.Sprintf("*More*\n%d more fields not shown", len(fields)-i)})
			break
		}
		out = append(out, slackField(f.Name, f.Value))
	}
	if sup != "" {
		out = append(out, slackField("Suppressed", sup))
	}
	if len(out) > 0 {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Fields: out})
	}
	t := m.alert.Time.UTC()
	ctx := fmt.Sprintf("%s · %s · <!date^%d^{date_short_pretty} {time_secs}|%s>", m.alert.Severity, m.alert.Type, t.Unix(), t.Format(time.RFC3339))
	msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: ctx}}})
	return marshal(msg)
}

// slackField is "*Name*\nvalue", within a field's limit.
func slackField(name, value string) slackText {
	label := "*" + mrkdwn(name, slackFieldLabel) + "*\n"
	return slackText{Type: "mrkdwn", Text: label + mrkdwn(value, slackFieldText-units(label))}
}
