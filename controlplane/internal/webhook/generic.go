package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// The generic format's headers. The signature covers the timestamp and the body, so that a
// receiver can reject a replayed request (docs/alerts.md#signature).
const (
	HeaderSignature = "X-Signature-256"     // "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))
	HeaderTimestamp = "X-Webhook-Timestamp" // unix seconds when the attempt was signed
)

// maxSecretSize bounds what is read from a secret_file.
const maxSecretSize = 4096

type genericMessage struct {
	ID          string         `json:"id"` // the same on every attempt: receivers deduplicate by it
	Webhook     string         `json:"webhook"`
	Type        string         `json:"type"`
	Severity    string         `json:"severity"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	RouteID     string         `json:"route_id,omitempty"`
	Host        string         `json:"host,omitempty"`
	Backend     string         `json:"backend,omitempty"`
	RequestID   string         `json:"request_id,omitempty"`
	Sample      string         `json:"sample,omitempty"`
	Fields      []genericField `json:"fields"`
	Time        string         `json:"time"`                     // RFC 3339, UTC
	Suppressed  int            `json:"suppressed"`               // alerts of this type held back by the throttle since the previous message
	Since       string         `json:"suppressed_for,omitempty"` // over how long, with suppressed > 0
}

type genericField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// genericPayload is the alert's fields as JSON, as they are: no limits, no markup.
func genericPayload(m message) ([]byte, error) {
	a := m.alert
	g := genericMessage{ID: m.id, Webhook: m.hook.Name, Type: string(a.Type), Severity: a.Severity.String(), Title: a.Title,
		Description: a.Description, RouteID: a.RouteID, Host: a.Host, Backend: a.Backend, RequestID: a.RequestID,
		Sample: a.Sample, Fields: []genericField{}, Time: a.Time.UTC().Format(time.RFC3339), Suppressed: m.suppressed}
	for _, f := range a.Fields {
		g.Fields = append(g.Fields, genericField(f))
	}
	if m.suppressed > 0 {
		g.Since = m.since.Round(time.Second).String()
	}
	return marshal(g)
}

// Sign returns the X-Signature-256 value of body sent at ts: "sha256=" and the hex HMAC-SHA256
// under secret of the decimal unix seconds, ".", and the body's exact bytes.
func Sign(secret, body []byte, ts time.Time) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// readSecret reads a secret_file: its content without the trailing newline an editor or
// `docker secret create` from echo leaves. It is read for every message, so that a rotated
// secret applies without a reload; the error names the path only.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read secret_file: %w", err)
	}
	defer f.Close() //nolint:errcheck // read only
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("read secret_file: %w", err)
	}
	if len(b) > maxSecretSize {
		return nil, fmt.Errorf("read secret_file %s: longer than %d bytes", path, maxSecretSize)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, errors.New("read secret_file " + path + ": empty")
	}
	return b, nil
}

// marshal is JSON without HTML escaping: receivers get "<" as it is, and the body is the
// exact bytes signed.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
