package webhook

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// seedAlert is the seed's example (Task #19): the panel's backend is down.
func seedAlert() alert.Alert {
	return alert.Alert{Type: alert.ServiceDown, Severity: alert.Critical, Title: "Service Down Alert",
		Description: "Pterodactyl panel is not responding", RouteID: "gpanel#0", Host: "gpanel.chilla55.de",
		Backend: "pterodactyl_panel:80", RequestID: "01JF3Q5Z8X7YV2K9", Sample: "GET /api/servers <script>",
		Fields: []alert.Field{{Name: "Last Seen", Value: "2 minutes ago", Inline: true}},
		Time:   time.Date(2025, 12, 18, 14, 32, 0, 0, time.UTC)}
}

func seedMessage(format string) message {
	return message{id: "5f0c6e0a9d4b4b1c8f1e2d3c4b5a6978", hook: config.Webhook{Name: format + "-alerts", Format: format},
		alert: seedAlert(), suppressed: 7, since: 6*time.Minute + 10*time.Second}
}

// TestGolden pins each format's payload for the seed's alert, with 7 alerts held back by the
// throttle. go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	for _, format := range []string{"discord", "slack", "generic"} {
		t.Run(format, func(t *testing.T) {
			body, err := payload(seedMessage(format))
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, body)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", format+".golden")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s differs from %s (-update rewrites it):\n%s", format, golden, pretty.Bytes())
			}
		})
	}
}

// longAlert is an alert of type ty with every text far over every limit: multi-byte and
// astral characters, markup, and more fields than any format takes.
func longAlert(ty alert.Type) alert.Alert {
	long := func(n int) string { return strings.Repeat("é<b>&`x`🔥 ", n) }
	a := alert.Alert{Type: ty, Severity: alert.Critical, Title: long(100), Description: long(2000), RouteID: long(50),
		Host: "gpanel.chilla55.de", Backend: long(300), RequestID: long(300), Sample: long(300),
		Time: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	for range 40 {
		a.Fields = append(a.Fields, alert.Field{Name: long(100), Value: long(500), Inline: true})
	}
	return a
}

// TestDiscordLimits checks the embed of every event type, with long inputs, against Discord's
// documented limits, counted in UTF-16 units (at least the code points Discord may count).
func TestDiscordLimits(t *testing.T) {
	for _, ty := range append(alert.Types(), alert.Test) {
		for _, sup := range []int{0, 3} {
			m := message{hook: config.Webhook{Name: "d", Format: "discord"}, alert: longAlert(ty), suppressed: sup, since: time.Minute}
			body, err := payload(m)
			if err != nil {
				t.Fatal(err)
			}
			checkDiscord(t, body, m)
		}
	}
}

func checkDiscord(t *testing.T, body []byte, m message) {
	t.Helper()
	var msg discordMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil || len(msg.Embeds) != 1 {
		t.Fatalf("%s: not one embed: %v\n%s", m.alert.Type, err, body)
	}
	e := msg.Embeds[0]
	total := units(e.Title) + units(e.Description)
	if units(e.Title) > discordTitle || e.Title == "" {
		t.Errorf("%s: title of %d units", m.alert.Type, units(e.Title))
	}
	if units(e.Description) > discordDesc {
		t.Errorf("%s: description of %d units", m.alert.Type, units(e.Description))
	}
	if len(e.Fields) > discordFields {
		t.Errorf("%s: %d fields", m.alert.Type, len(e.Fields))
	}
	for _, f := range e.Fields {
		total += units(f.Name) + units(f.Value)
		if units(f.Name) > discordFieldName || units(f.Value) > discordFieldValue || f.Name == "" || f.Value == "" {
			t.Errorf("%s: field of %d/%d units", m.alert.Type, units(f.Name), units(f.Value))
		}
	}
	if total > discordTotal {
		t.Errorf("%s: %d units in all", m.alert.Type, total)
	}
	if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
		t.Errorf("%s: timestamp %q: %v", m.alert.Type, e.Timestamp, err)
	}
	if e.Color != color(m.alert) {
		t.Errorf("%s: colour %d", m.alert.Type, e.Color)
	}
	hasSup := len(e.Fields) > 0 && e.Fields[len(e.Fields)-1].Name == "Suppressed"
	if hasSup != (m.suppressed > 0) {
		t.Errorf("%s: suppressed %d, shown %v", m.alert.Type, m.suppressed, hasSup)
	}
	if !json.Valid(body) || !strings.HasPrefix(e.Title, emoji(m.alert)) {
		t.Errorf("%s: title %q", m.alert.Type, e.Title)
	}
}

// TestSlackLimits checks the blocks of every event type, with long inputs, against Slack's
// documented limits, and that alert text is escaped.
func TestSlackLimits(t *testing.T) {
	for _, ty := range append(alert.Types(), alert.Test) {
		m := message{hook: config.Webhook{Name: "s", Format: "slack"}, alert: longAlert(ty), suppressed: 2, since: time.Minute}
		body, err := payload(m)
		if err != nil {
			t.Fatal(err)
		}
		checkSlack(t, body, m)
	}
}

func checkSlack(t *testing.T, body []byte, m message) {
	t.Helper()
	var msg slackMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("%s: %v\n%s", m.alert.Type, err, body)
	}
	var types []string
	for _, b := range msg.Blocks {
		types = append(types, b.Type)
		switch b.Type {
		case "header":
			if b.Text.Type != "plain_text" || units(b.Text.Text) > slackHeader || b.Text.Text == "" {
				t.Errorf("%s: header %q", m.alert.Type, b.Text.Text)
			}
		case "section":
			if b.Text != nil && (units(b.Text.Text) > slackTextMax || b.Text.Type != "mrkdwn") {
				t.Errorf("%s: section text of %d units", m.alert.Type, units(b.Text.Text))
			}
			if len(b.Fields) > slackFields {
				t.Errorf("%s: %d fields", m.alert.Type, len(b.Fields))
			}
			for _, f := range b.Fields {
				if units(f.Text) > slackFieldText || f.Type != "mrkdwn" {
					t.Errorf("%s: field of %d units", m.alert.Type, units(f.Text))
				}
			}
		case "context":
			if len(b.Elements) != 1 || !strings.Contains(b.Elements[0].Text, m.alert.Time.UTC().Format(time.RFC3339)) {
				t.Errorf("%s: context %+v", m.alert.Type, b.Elements)
			}
		}
		for _, x := range append(b.Fields, b.Elements...) {
			if strings.Contains(strings.SplitN(x.Text, "<!date", 2)[0], "<") {
				t.Errorf("%s: unescaped '<' in %q", m.alert.Type, x.Text)
			}
		}
	}
	if want := "header section section context"; strings.Join(types, " ") != want {
		t.Errorf("%s: blocks %v, want %s", m.alert.Type, types, want)
	}
	if units(msg.Text) > slackTextMax || msg.Text == "" {
		t.Errorf("%s: text of %d units", m.alert.Type, units(msg.Text))
	}
	fields := msg.Blocks[2].Fields
	if m.suppressed > 0 && !strings.HasPrefix(fields[len(fields)-1].Text, "*Suppressed*\n") {
		t.Errorf("%s: last field %q", m.alert.Type, fields[len(fields)-1].Text)
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly ten", 11, "exactly ten"},
		{"one two three", 8, "one two…"},
		{"🔥🔥🔥", 4, "🔥…"}, // an astral character is two units
		{"ab\xffcd", 10, "ab\uFFFDcd"},
		{"abc", 0, ""},
	}
	for _, tc := range tests {
		got := cut(tc.in, tc.max)
		if got != tc.want || units(got) > max(tc.max, 0) {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// TestSign pins the signature against a value computed independently:
// printf '1766068320.{"a":1}' | openssl dgst -sha256 -hmac s3cret (docs/alerts.md's example).
func TestSign(t *testing.T) {
	got := Sign([]byte("s3cret"), []byte(`{"a":1}`), time.Unix(1766068320, 0))
	if want := "sha256=65174efc3e7730c7b64daef8a5b594bf06d1652d4cfe03b9826eff670e4b932d"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// TestDiscordTrimOrder: above 25 fields the last shown counts the rest and the suppressed count
// stays last; over 6000 in all, the description gives way first (down to 512), then fields.
func TestDiscordTrimOrder(t *testing.T) {
	many := alert.Alert{Type: alert.WAFBlockSpike, Severity: alert.Warning, Title: "spike", Time: time.Unix(0, 0)}
	for i := range 30 {
		many.Fields = append(many.Fields, alert.Field{Name: fmt.Sprint("f", i), Value: "v"})
	}
	heavy := func(fields int) alert.Alert {
		a := alert.Alert{Type: alert.HighErrorRate, Title: "errors", Description: strings.Repeat("d", 4096), Time: time.Unix(0, 0)}
		for i := range fields {
			a.Fields = append(a.Fields, alert.Field{Name: fmt.Sprint("f", i), Value: strings.Repeat("v", 1000)})
		}
		return a
	}
	tests := []struct {
		desc       string
		a          alert.Alert
		suppressed int
		want       string // description length, then the fields' names
	}{
		{"30 fields", many, 0, "0 f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19 f20 f21 f22 f23 More=6 more fields not shown"},
		{"30 fields and suppressed", many, 4, "0 f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19 f20 f21 f22 More=7 more fields not shown Suppressed=4 similar alerts in the last 1m"},
		// Title "ℹ️ errors" is 9 units: 9 + 4096 + 5×1002 is over; the description is shortened
		// just enough, 6000 − 9 − 5010 = 981.
		{"description first", heavy(5), 0, "981 f0 f1 f2 f3 f4"},
		// With 8 fields the description stops at 512 and the last fields go: 9 + 512 + 5×1002 fits.
		{"then fields", heavy(8), 0, "512 f0 f1 f2 f3 f4"},
	}
	for _, tc := range tests {
		body, err := payload(message{hook: config.Webhook{Format: "discord"}, alert: tc.a, suppressed: tc.suppressed, since: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		var msg discordMessage
		if err := json.Unmarshal(body, &msg); err != nil {
			t.Fatal(err)
		}
		e := msg.Embeds[0]
		got := []string{fmt.Sprint(units(e.Description))}
		for _, f := range e.Fields {
			if f.Name == "More" || f.Name == "Suppressed" {
				got = append(got, f.Name+"="+f.Value)
				continue
			}
			got = append(got, f.Name)
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.desc, s, tc.want)
		}
	}
}
