package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// hookAlert is a generic webhook payload (docs/alerts.md, "Formats").
type hookAlert struct {
	ID          string `json:"id"`
	Webhook     string `json:"webhook"`
	Type        string `json:"type"`
	Severity    string `json:"severity"`
	Title       string `json:"title"`
	Description string `json:"description"`
	RouteID     string `json:"route_id"`
	Host        string `json:"host"`
	Backend     string `json:"backend"`
	RequestID   string `json:"request_id"`
	Sample      string `json:"sample"`
	Fields      []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline"`
	} `json:"fields"`
	Time          string `json:"time"`
	Suppressed    int    `json:"suppressed"`
	SuppressedFor string `json:"suppressed_for"`
}

func (a hookAlert) field(name string) string {
	for _, f := range a.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// discordEmbed is one embed of a Discord webhook message.
type discordEmbed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Color       int    `json:"color"`
	Fields      []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline"`
	} `json:"fields"`
	Timestamp string `json:"timestamp"`
}

// hookReceiver is the local webhook endpoint: /generic verifies each request as docs/alerts.md
// tells a receiver to, /discord checks each embed against Discord's limits; both record it.
type hookReceiver struct {
	srv *httptest.Server
	key []byte

	mu       sync.Mutex
	generic  []hookAlert
	discord  []discordEmbed
	bodies   []string // every body received, for the raw-address check
	ids      map[string]bool
	problems []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{key: make([]byte, 32), ids: map[string]bool{}}
	_, _ = rand.Read(h.key)
	key := []byte(hex.EncodeToString(h.key)) // the key is the file's text
	mux := http.NewServeMux()
	mux.HandleFunc("POST /generic", func(w http.ResponseWriter, r *http.Request) {
		body, err := verifyWebhook(r, key)
		if err != nil {
			h.problem("generic: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var a hookAlert
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil || r.Header.Get("Content-Type") != "application/json" {
			h.problem("generic: %v (Content-Type %q): %s", err, r.Header.Get("Content-Type"), body)
		}
		h.mu.Lock()
		if h.ids[a.ID] {
			h.problems = append(h.problems, "generic: message "+a.ID+" delivered twice")
		}
		h.ids[a.ID] = true
		h.generic = append(h.generic, a)
		h.bodies = append(h.bodies, string(body))
		h.mu.Unlock()
	})
	mux.HandleFunc("POST /discord", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var m struct {
			Embeds []discordEmbed `json:"embeds"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil || len(m.Embeds) != 1 {
			h.problem("discord: %v, %d embeds: %s", err, len(m.Embeds), body)
			http.Error(w, "bad embed", http.StatusBadRequest)
			return
		}
		if r.Header.Get(webhookSignatureHeader) != "" {
			h.problem("discord: a signature header on a Discord message")
		}
		if err := discordWellFormed(m.Embeds[0]); err != nil {
			h.problem("discord: %v: %s", err, body)
		}
		h.mu.Lock()
		h.discord = append(h.discord, m.Embeds[0])
		h.bodies = append(h.bodies, string(body))
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent) // what Discord answers
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

const webhookSignatureHeader = "X-Signature-256"

// verifyWebhook is the receiver of docs/alerts.md ("Signature"), as written there.
func verifyWebhook(r *http.Request, key []byte) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Webhook-Timestamp"), 10, 64)
	if err != nil {
		return nil, errors.New("no timestamp")
	}
	if age := time.Since(time.Unix(ts, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return nil, errors.New("stale timestamp: a replay?")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get(webhookSignatureHeader))) {
		return nil, errors.New("bad signature")
	}
	return body, nil
}

// discordWellFormed checks an embed against Discord's documented limits (counted in UTF-16 units).
func discordWellFormed(e discordEmbed) error {
	n := func(s string) int { return len(utf16.Encode([]rune(s))) }
	total := n(e.Title) + n(e.Description)
	switch {
	case e.Title == "" || n(e.Title) > 256:
		return fmt.Errorf("title %q", e.Title)
	case n(e.Description) > 4096:
		return errors.New("description over 4096")
	case len(e.Fields) > 25:
		return fmt.Errorf("%d fields", len(e.Fields))
	}
	for _, f := range e.Fields {
		if strings.TrimSpace(f.Name) == "" || strings.TrimSpace(f.Value) == "" || n(f.Name) > 256 || n(f.Value) > 1024 {
			return fmt.Errorf("field %q: %q", f.Name, f.Value)
		}
		total += n(f.Name) + n(f.Value)
	}
	if total > 6000 {
		return fmt.Errorf("%d characters in all", total)
	}
	if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
		return fmt.Errorf("timestamp %q: %w", e.Timestamp, err)
	}
	switch e.Color {
	case 15158332, 15105570, 3447003, 3066993:
	default:
		return fmt.Errorf("colour %d", e.Color)
	}
	return nil
}

func (h *hookReceiver) problem(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.problems = append(h.problems, fmt.Sprintf(format, args...))
}

func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.generic) + len(h.discord)
}

// await waits for a generic message that match accepts.
func (h *hookReceiver) await(t *testing.T, timeout time.Duration, what string, match func(hookAlert) bool) hookAlert {
	t.Helper()
	var found hookAlert
	eventually(t, timeout, what+" at the receiver", func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range h.generic {
			if match(a) {
				found = a
				return nil
			}
		}
		types := make([]string, 0, len(h.generic))
		for _, a := range h.generic {
			types = append(types, a.Type+"/"+a.Host)
		}
		return fmt.Errorf("received %v", types)
	})
	return found
}

// awaitDiscord waits for a Discord embed with title and colour.
func (h *hookReceiver) awaitDiscord(t *testing.T, timeout time.Duration, title string, color int) {
	t.Helper()
	eventually(t, timeout, "the Discord embed "+title, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		var titles []string
		for _, e := range h.discord {
			if strings.HasPrefix(e.Title, title) && e.Color == color {
				return nil
			}
			titles = append(titles, fmt.Sprintf("%s (%d)", e.Title, e.Color))
		}
		return fmt.Errorf("received %q", titles)
	})
}

// received counts the generic messages of type about host.
func (h *hookReceiver) received(typ, host string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.generic {
		if a.Type == typ && a.Host == host {
			n++
		}
	}
	return n
}

// rawClient finds the e2e client's unmasked address, not a part of a longer one.
var rawClient = regexp.MustCompile(`(^|[^0-9.])127\.0\.0\.1([^0-9]|$)`)

// check reports the receiver's problems and any body that carries the raw client address.
func (h *hookReceiver) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.problems {
		t.Error(p)
	}
	for _, b := range h.bodies {
		if rawClient.MatchString(b) {
			t.Errorf("a delivered body carries the raw client address 127.0.0.1: %s", b)
		}
	}
	t.Logf("%d generic and %d Discord messages received", len(h.generic), len(h.discord))
}
