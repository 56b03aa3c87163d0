package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Webhook deliveries (migration 0012): one row per attempt to deliver an alert to a webhook.
const (
	insertWebhookDeliverySQL = `INSERT INTO webhook_deliveries (message_id, timestamp, timestamp_ms, webhook, event_type,
  route_key, host, attempt, status_code, error, duration_ms, suppressed_count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	selectWebhookDeliveriesSQL = `SELECT delivery_id, message_id, timestamp_ms, webhook, event_type, route_key, host, attempt,
  status_code, error, duration_ms, suppressed_count
FROM webhook_deliveries
WHERE (?1 = '' OR webhook = ?1) AND (?2 = '' OR event_type = ?2)
ORDER BY timestamp DESC, delivery_id DESC LIMIT ?3`
)

// WebhookDelivery is one attempt to deliver an alert to a webhook.
type WebhookDelivery struct {
	ID         int64         `json:"delivery_id"`
	MessageID  string        `json:"message_id"` // shared by the attempts of one alert to one webhook
	Time       time.Time     `json:"time"`       // when the attempt began
	Webhook    string        `json:"webhook"`    // its name; the URL is a credential and is not stored
	Event      string        `json:"event"`
	RouteID    string        `json:"route_id,omitempty"`
	Host       string        `json:"host,omitempty"`
	Attempt    int           `json:"attempt"`
	StatusCode int           `json:"status_code,omitempty"` // 0 when no response came
	Error      string        `json:"error,omitempty"`       // "" on success
	Duration   time.Duration `json:"-"`
	DurationMS int64         `json:"duration_ms"`
	Suppressed int           `json:"suppressed_count"` // alerts of its type throttled since the previous message
}

// WebhookDeliveryQuery selects deliveries; empty Webhook and Event select all.
type WebhookDeliveryQuery struct {
	Webhook string
	Event   string
	Limit   int
}

// SaveWebhookDelivery records one delivery attempt.
func (s *Store) SaveWebhookDelivery(ctx context.Context, d WebhookDelivery) error {
	var status any
	if d.StatusCode != 0 {
		status = d.StatusCode
	}
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, insertWebhookDeliverySQL, d.MessageID, d.Time.Unix(), d.Time.UnixMilli(), d.Webhook,
			d.Event, d.RouteID, d.Host, d.Attempt, status, d.Error, d.Duration.Milliseconds(), d.Suppressed)
		return err
	})
	if err != nil {
		return fmt.Errorf("save delivery to webhook %s: %w", d.Webhook, err)
	}
	return nil
}

// WebhookDeliveries returns the deliveries q selects, newest first.
func (s *Store) WebhookDeliveries(ctx context.Context, q WebhookDeliveryQuery) (out []WebhookDelivery, err error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("read webhook deliveries: limit %d must be positive", q.Limit)
	}
	rows, err := s.read.QueryContext(ctx, selectWebhookDeliveriesSQL, q.Webhook, q.Event, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("read webhook deliveries: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	out = []WebhookDelivery{}
	for rows.Next() {
		var (
			d      WebhookDelivery
			ms     int64
			status sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.MessageID, &ms, &d.Webhook, &d.Event, &d.RouteID, &d.Host, &d.Attempt, &status,
			&d.Error, &d.DurationMS, &d.Suppressed); err != nil {
			return nil, fmt.Errorf("read webhook deliveries: scan: %w", err)
		}
		d.Time = time.UnixMilli(ms).UTC()
		d.StatusCode = int(status.Int64)
		d.Duration = time.Duration(d.DurationMS) * time.Millisecond
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read webhook deliveries: %w", err)
	}
	return out, nil
}
