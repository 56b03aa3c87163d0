package adminhttp

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/healthcheck"
)

// BackendHealth is the state of the active health checks; *healthcheck.Checker is one.
type BackendHealth interface {
	Statuses() []healthcheck.Status
}

// CertificateExpiry is the expiry of the certificates in force; *certmon.Monitor is one.
type CertificateExpiry interface {
	Certificates() []certmon.Cert
}

// maxWarnDays bounds warn_days (a hundred years: every certificate).
const maxWarnDays = 36500

type healthJSON struct {
	RouteID           string                   `json:"route_id"`
	Site              string                   `json:"site"`
	Backend           string                   `json:"backend"`
	URL               string                   `json:"url"`
	Method            string                   `json:"method"`
	State             healthcheck.State        `json:"state"`
	SuccessRatio      float64                  `json:"success_ratio"`
	ChecksLastMinute  int                      `json:"checks_last_minute"`
	AvgResponseTimeMS float64                  `json:"avg_response_time_ms"`
	Since             time.Time                `json:"since"`
	LastCheck         *time.Time               `json:"last_check"`
	LastError         string                   `json:"last_error"`
	Transitions       []healthcheck.Transition `json:"transitions"`
}

type certJSON struct {
	Domain      string        `json:"domain"`
	SANs        []string      `json:"sans"`
	Issuer      string        `json:"issuer"`
	NotBefore   time.Time     `json:"not_before"`
	NotAfter    time.Time     `json:"not_after"`
	DaysLeft    int           `json:"days_left"`
	Level       certmon.Level `json:"level"`
	CertPath    string        `json:"cert_path"`
	KeyPath     string        `json:"key_path"`
	Fingerprint string        `json:"sha256_fingerprint"`
}

// handleHealthChecks serves the backend health and certificate API:
//
//	GET /api/health               every checked route with its state over the last minute
//	GET /api/certs[?warn_days=N]  every certificate in force, those expiring first first; with
//	                              warn_days, only those with at most N days left (expired too)
func handleHealthChecks(mux *http.ServeMux, h BackendHealth, c CertificateExpiry) {
	if h != nil {
		mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, healthResponse(h.Statuses()))
		})
	}
	if c != nil {
		mux.HandleFunc("GET /api/certs", func(w http.ResponseWriter, r *http.Request) {
			resp, err := certsResponse(c.Certificates(), r.URL.Query())
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, resp)
		})
	}
}

func healthResponse(statuses []healthcheck.Status) map[string]any {
	routes := make([]healthJSON, 0, len(statuses))
	summary := map[healthcheck.State]int{healthcheck.Healthy: 0, healthcheck.Degraded: 0, healthcheck.Down: 0, healthcheck.Unknown: 0}
	for _, s := range statuses {
		j := healthJSON{RouteID: s.RouteID, Site: s.Site, Backend: s.BackendURL, URL: s.URL, Method: s.Method, State: s.State,
			SuccessRatio: math.Round(s.SuccessRatio*1000) / 1000, ChecksLastMinute: s.Checks,
			AvgResponseTimeMS: math.Round(float64(s.AvgResponseTime.Microseconds())/100) / 10,
			Since:             ms(s.Since), LastError: s.LastError, Transitions: s.Transitions}
		if !s.LastCheck.IsZero() {
			t := ms(s.LastCheck)
			j.LastCheck = &t
		}
		if j.Transitions == nil {
			j.Transitions = []healthcheck.Transition{}
		}
		for i := range j.Transitions {
			j.Transitions[i].At = ms(j.Transitions[i].At)
			j.Transitions[i].SuccessRatio = math.Round(j.Transitions[i].SuccessRatio*1000) / 1000
		}
		summary[s.State]++
		routes = append(routes, j)
	}
	return map[string]any{"routes": routes, "summary": summary}
}

func certsResponse(certs []certmon.Cert, q map[string][]string) (map[string]any, error) {
	warn := -1
	if v, ok := q["warn_days"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 0 || n > maxWarnDays {
			return nil, fmt.Errorf("warn_days: %q is not a number of days (0-%d)", v[0], maxWarnDays)
		}
		warn = n
	}
	out := make([]certJSON, 0, len(certs))
	for _, c := range certs {
		if warn >= 0 && c.DaysLeft > warn {
			continue
		}
		sans := c.SANs
		if sans == nil {
			sans = []string{}
		}
		out = append(out, certJSON{Domain: c.Domain, SANs: sans, Issuer: c.Issuer, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
			DaysLeft: c.DaysLeft, Level: c.Level, CertPath: c.CertPath, KeyPath: c.KeyPath, Fingerprint: c.Fingerprint})
	}
	slices.SortFunc(out, func(a, b certJSON) int {
		return cmp.Or(a.NotAfter.Compare(b.NotAfter), strings.Compare(a.Domain, b.Domain))
	})
	resp := map[string]any{"certificates": out}
	if warn >= 0 {
		resp["warn_days"] = warn
	}
	return resp, nil
}

// ms is t in UTC to the millisecond: checks are seconds apart, nanoseconds are noise.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
