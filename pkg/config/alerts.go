package config

import "time"

// Alerts is the alerts: section of the global file: the thresholds of the detectors that need
// one (controlplane/internal/alerts). Without the section, every value is its default.
type Alerts struct {
	ErrorRate             AlertErrorRate             `yaml:"error_rate"`
	DataplaneDisconnected AlertDataplaneDisconnected `yaml:"dataplane_disconnected"`
}

// AlertErrorRate tunes high_error_rate: a route whose share of errors (5xx, proxy errors) over
// Window exceeds ThresholdPercent, with at least MinRequests requests in it.
type AlertErrorRate struct {
	Window           time.Duration `yaml:"window"`            // default 5m, 1m to 1h
	ThresholdPercent int           `yaml:"threshold_percent"` // default 5, 1 to 99
	MinRequests      int           `yaml:"min_requests"`      // default 20, at least 1
}

// AlertDataplaneDisconnected tunes dataplane_disconnected: a data plane not heard from (no
// snapshot stream, no event batch or heartbeat) for After.
type AlertDataplaneDisconnected struct {
	After time.Duration `yaml:"after"` // default 2m, at least 10s
}

// DefaultAlerts are the thresholds of the issue: 5% over 5 minutes with 20 requests at least,
// a data plane silent for 2 minutes.
var DefaultAlerts = Alerts{
	ErrorRate:             AlertErrorRate{Window: 5 * time.Minute, ThresholdPercent: 5, MinRequests: 20},
	DataplaneDisconnected: AlertDataplaneDisconnected{After: 2 * time.Minute},
}

func (a *Alerts) check(s *section) {
	setDefault(s, "error_rate", &a.ErrorRate, DefaultAlerts.ErrorRate)
	setDefault(s, "dataplane_disconnected", &a.DataplaneDisconnected, DefaultAlerts.DataplaneDisconnected)
}

func (e *AlertErrorRate) check(s *section) {
	d := DefaultAlerts.ErrorRate
	setDefault(s, "window", &e.Window, d.Window)
	setDefault(s, "threshold_percent", &e.ThresholdPercent, d.ThresholdPercent)
	setDefault(s, "min_requests", &e.MinRequests, d.MinRequests)
	if e.Window < time.Minute || e.Window > time.Hour {
		s.errorf("window", "%s is not between 1m and 1h", FormatDuration(e.Window))
	}
	if e.ThresholdPercent < 1 || e.ThresholdPercent > 99 {
		s.errorf("threshold_percent", "%d is not a percentage between 1 and 99", e.ThresholdPercent)
	}
	if e.MinRequests < 1 {
		s.errorf("min_requests", "must be at least 1")
	}
}

func (d *AlertDataplaneDisconnected) check(s *section) {
	setDefault(s, "after", &d.After, DefaultAlerts.DataplaneDisconnected.After)
	if d.After < 10*time.Second {
		s.errorf("after", "%s is shorter than 10s: a data plane reconnecting would page", FormatDuration(d.After))
	}
}
