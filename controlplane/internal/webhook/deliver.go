package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// Result is how the delivery of one message went.
type Result struct {
	Webhook   string    `json:"webhook"`
	MessageID string    `json:"message_id"`
	Delivered bool      `json:"delivered"`
	Attempts  []Attempt `json:"attempts"`
}

// Attempt is one try.
type Attempt struct {
	Attempt    int       `json:"attempt"`
	Time       time.Time `json:"time"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

// maxResponse bounds what is read of a receiver's answer (an error message, Discord's
// retry_after).
const maxResponse = 64 << 10

// recordTimeout bounds the write of one attempt's record, also during shutdown.
const recordTimeout = 5 * time.Second

// payload builds m's body in its webhook's format.
func payload(m message) ([]byte, error) {
	switch m.hook.Format {
	case "discord":
		return discordPayload(m)
	case "slack":
		return slackPayload(m)
	case "generic":
		return genericPayload(m)
	default:
		return nil, fmt.Errorf("unknown format %q", m.hook.Format)
	}
}

// deliver sends m, retrying failures that may pass (no answer, timeout, 408, 429, 5xx) with
// exponential backoff and jitter, or after a 429's Retry-After; every attempt is recorded.
func (d *Dispatcher) deliver(ctx context.Context, m message) Result {
	res := Result{Webhook: m.hook.Name, MessageID: m.id}
	body, err := payload(m)
	var secret []byte
	if err == nil && m.hook.Format == "generic" {
		secret, err = readSecret(m.hook.SecretFile)
	}
	if err != nil { // nothing to send: recorded as a failed first attempt, not retried
		d.record(ctx, m, &res, Attempt{Attempt: 1, Time: d.opts.Now(), Error: err.Error()})
		d.log.Error("webhook message not sent", zap.String("webhook", m.hook.Name), zap.String("event", string(m.alert.Type)), zap.Error(err))
		return res
	}
	for n := 1; n <= d.opts.Attempts; n++ {
		at, wait, retry := d.attempt(ctx, m, n, body, secret)
		d.record(ctx, m, &res, at)
		if at.Error == "" {
			res.Delivered = true
			d.log.Info("webhook delivered", zap.String("webhook", m.hook.Name), zap.String("event", string(m.alert.Type)),
				zap.Int("attempt", n), zap.Int("status", at.StatusCode), zap.Int("suppressed", m.suppressed))
			return res
		}
		if !retry || n == d.opts.Attempts {
			break
		}
		if wait == 0 {
			wait = d.backoff(n)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			n = d.opts.Attempts // stop: the last attempt's error says why
		}
	}
	last := res.Attempts[len(res.Attempts)-1]
	d.log.Warn("webhook delivery failed", zap.String("webhook", m.hook.Name), zap.String("event", string(m.alert.Type)),
		zap.Int("attempts", len(res.Attempts)), zap.Int("status", last.StatusCode), zap.String("error", last.Error))
	return res
}

// attempt makes one try. It returns the attempt, how long a 429 asked to wait (0: not said),
// and whether trying again may help.
func (d *Dispatcher) attempt(ctx context.Context, m message, n int, body, secret []byte) (Attempt, time.Duration, bool) {
	start := d.opts.Now()
	at := Attempt{Attempt: n, Time: start}
	actx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, m.hook.URL, bytes.NewReader(body))
	if err != nil {
		at.Error = "build request: " + redact(err, m.hook.URL)
		return at, 0, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "proxy-manager-webhooks")
	if secret != nil {
		now := d.opts.Now()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(HeaderSignature, Sign(secret, body, now))
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		at.DurationMS = d.opts.Now().Sub(start).Milliseconds()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			at.Error = fmt.Sprintf("no answer within %s", d.opts.Timeout)
		} else {
			at.Error = redact(err, m.hook.URL)
		}
		return at, 0, ctx.Err() == nil
	}
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	closeErr := resp.Body.Close()
	at.DurationMS = d.opts.Now().Sub(start).Milliseconds()
	at.StatusCode = resp.StatusCode
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if err := errors.Join(readErr, closeErr); err != nil {
			d.log.Debug("webhook answer not read", zap.String("webhook", m.hook.Name), zap.Error(err))
		}
		return at, 0, false
	case code == http.StatusTooManyRequests:
		wait := retryAfter(resp.Header.Get("Retry-After"), answer, d.opts.Now())
		at.Error = statusError(resp, answer)
		if wait > d.opts.MaxRetryAfter {
			at.Error += fmt.Sprintf(" (asked to wait %s, longer than %s: given up)", wait.Round(time.Second), d.opts.MaxRetryAfter)
			return at, 0, false
		}
		if wait == 0 {
			wait = d.backoff(n)
		}
		return at, wait, true
	default:
		at.Error = statusError(resp, answer)
		return at, 0, code >= 500 || code == http.StatusRequestTimeout
	}
}

// record stores one attempt and adds it to res. The write outlives a cancelled ctx (shutdown),
// so the last attempt is not lost.
func (d *Dispatcher) record(ctx context.Context, m message, res *Result, at Attempt) {
	res.Attempts = append(res.Attempts, at)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	err := d.rec.SaveWebhookDelivery(rctx, store.WebhookDelivery{MessageID: m.id, Time: at.Time, Webhook: m.hook.Name,
		Event: string(m.alert.Type), RouteID: m.alert.RouteID, Host: m.alert.Host, Attempt: at.Attempt, StatusCode: at.StatusCode,
		Error: at.Error, Duration: time.Duration(at.DurationMS) * time.Millisecond, Suppressed: m.suppressed})
	if err != nil {
		d.log.Error("record webhook delivery", zap.String("webhook", m.hook.Name), zap.Error(err))
	}
}

// backoff is the wait after attempt n failed: Backoff·2^(n-1), between half and all of it.
func (d *Dispatcher) backoff(n int) time.Duration {
	full := d.opts.Backoff << (n - 1)
	return full/2 + rand.N(full/2+1)
}

// retryAfter reads a 429's wait: the Retry-After header (seconds, fractional as Discord may
// send, or an HTTP date), else Discord's JSON body {"retry_after": seconds}. 0 when neither.
func retryAfter(header string, body []byte, now time.Time) time.Duration {
	if header = strings.TrimSpace(header); header != "" {
		if s, err := strconv.ParseFloat(header, 64); err == nil && s >= 0 {
			return seconds(s)
		}
		if t, err := http.ParseTime(header); err == nil {
			return max(0, t.Sub(now))
		}
	}
	var discord struct {
		RetryAfter float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &discord) == nil && discord.RetryAfter > 0 {
		return seconds(discord.RetryAfter)
	}
	return 0
}

// seconds converts a receiver's number of seconds, bounded to a day (a huge one would overflow).
func seconds(s float64) time.Duration {
	const day = 24 * time.Hour
	if s >= day.Seconds() {
		return day
	}
	return time.Duration(s * float64(time.Second))
}

// statusError is a failed answer: "HTTP 503 Service Unavailable: <first line of the body>".
func statusError(resp *http.Response, body []byte) string {
	msg := "HTTP " + resp.Status
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if line = strings.TrimSpace(line); line != "" {
		msg += ": " + cut(line, 200)
	}
	return msg
}

// redact is err's text without the webhook's URL: a Discord or Slack webhook URL is its own
// credential, and Go's HTTP errors quote it (`Post "https://...": ...`).
func redact(err error, rawURL string) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	s := err.Error()
	if rawURL != "" {
		s = strings.ReplaceAll(s, rawURL, "<webhook url>")
	}
	return s
}
