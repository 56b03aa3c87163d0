package webhook

import (
	"fmt"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
)

// Discord's documented embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
const (
	discordTitle      = 256
	discordDesc       = 4096
	discordFields     = 25
	discordFieldName  = 256
	discordFieldValue = 1024
	discordTotal      = 6000 // title, description, field names and values together
	discordMinDesc    = 512  // the description is shortened to this before fields are dropped
)

// Embed colours by severity (Discord's palette): red, orange, blue; green for good news.
const (
	colorCritical = 15158332 // #E74C3C
	colorWarning  = 15105570 // #E67E22
	colorInfo     = 3447003  // #3498DB
	colorGood     = 3066993  // #2ECC71
)

type discordMessage struct {
	Embeds []discordEmbed `json:"embeds"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
	Timestamp   string         `json:"timestamp"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

func color(a alert.Alert) int {
	switch {
	case goodNews(a.Type):
		return colorGood
	case a.Severity == alert.Critical:
		return colorCritical
	case a.Severity == alert.Warning:
		return colorWarning
	default:
		return colorInfo
	}
}

// discordPayload is the seed's shape: one embed with title, description, colour, inline
// fields and an ISO 8601 timestamp, cut to fit Discord's limits.
func discordPayload(m message) ([]byte, error) {
	e := discordEmbed{
		Title:       cut(m.title(), discordTitle),
		Description: cut(m.alert.Description, discordDesc),
		Color:       color(m.alert),
		Timestamp:   m.alert.Time.UTC().Format(time.RFC3339),
	}
	for _, f := range m.fields() {
		e.Fields = append(e.Fields, discordField{Name: cut(f.Name, discordFieldName), Value: cut(f.Value, discordFieldValue), Inline: f.Inline})
	}
	var last *discordField // the suppressed count: kept whatever else goes
	if s := m.suppressedText(); s != "" {
		last = &discordField{Name: "Suppressed", Value: s, Inline: false}
	}
	room := discordFields
	if last != nil {
		room--
	}
	if len(e.Fields) > room {
		more := len(e.Fields) - (room - 1)
		e.Fields = append(e.Fields[:room-1], discordField{Name: "More", Value: fmt.Sprintf("%d more fields not shown", more)})
	}
	if last != nil {
		e.Fields = append(e.Fields, *last)
	}
	fitDiscordTotal(&e, last != nil)
	return marshal(discordMessage{Embeds: []discordEmbed{e}})
}

// fitDiscordTotal keeps the embed within the total: the description is shortened first (to
// discordMinDesc), then fields are dropped from the end (the suppressed count last of all),
// then the description goes.
func fitDiscordTotal(e *discordEmbed, keepLast bool) {
	size := func() int {
		n := units(e.Title) + units(e.Description)
		for _, f := range e.Fields {
			n += units(f.Name) + units(f.Value)
		}
		return n
	}
	for over := size() - discordTotal; over > 0; over = size() - discordTotal {
		d := units(e.Description)
		switch {
		case d > discordMinDesc:
			e.Description = cut(e.Description, max(discordMinDesc, d-over))
		case len(e.Fields) > 1 || (len(e.Fields) == 1 && !keepLast):
			i := len(e.Fields) - 1
			if keepLast {
				i--
			}
			e.Fields = append(e.Fields[:i], e.Fields[i+1:]...)
		default:
			e.Description = cut(e.Description, max(0, d-over))
			if e.Description == "" {
				return // the title (256) and one short field always fit
			}
		}
	}
}
