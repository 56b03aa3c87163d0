package adminhttp

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzParseLogQuery checks that any query string either is refused as a bad parameter or gives
// a query within bounds.
func FuzzParseLogQuery(f *testing.F) {
	for _, s := range []string{"", "status=5xx&limit=5000", "since=7d&until=1h", "since=2026-11-22T08:00:00Z",
		"request_id=abc&live=1", "status=6xx", "limit=-1", "since=1795330000&route=api"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/api/logs", nil)
		r.URL.RawQuery = raw
		q, _, err := parseLogQuery(r, now)
		if err != nil {
			var bad badParam
			if !errors.As(err, &bad) {
				t.Fatalf("%q: error %v is not a bad parameter", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > logsMaxLimit {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
		if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
			t.Fatalf("%q: since %v not before until %v", raw, q.Since, q.Until)
		}
		if q.Status.Code != 0 && (q.Status.Code < 100 || q.Status.Code > 599) || q.Status.Class < 0 || q.Status.Class > 5 {
			t.Fatalf("%q: status %+v", raw, q.Status)
		}
	})
}
