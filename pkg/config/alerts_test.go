package config

import (
	"strings"
	"testing"
	"time"
)

func TestAlerts(t *testing.T) {
	def := DefaultAlerts
	for _, tc := range []struct {
		desc, yaml string
		want       Alerts
		wantErr    string
	}{
		{desc: "no section: the issue's defaults", yaml: "whitelist: []\n", want: def},
		{desc: "empty section", yaml: "alerts: {}\n", want: def},
		{desc: "window only", yaml: "alerts:\n  error_rate: {window: 10m}\n",
			want: Alerts{ErrorRate: AlertErrorRate{Window: 10 * time.Minute, ThresholdPercent: 5, MinRequests: 20}, DataplaneDisconnected: def.DataplaneDisconnected}},
		{desc: "every key", yaml: "alerts:\n  error_rate: {window: 2m, threshold_percent: 10, min_requests: 50}\n  dataplane_disconnected: {after: 30s}\n",
			want: Alerts{ErrorRate: AlertErrorRate{Window: 2 * time.Minute, ThresholdPercent: 10, MinRequests: 50}, DataplaneDisconnected: AlertDataplaneDisconnected{After: 30 * time.Second}}},
		{desc: "window too short", yaml: "alerts:\n  error_rate: {window: 10s}\n", wantErr: "global.yaml:2:24: alerts.error_rate.window: 10s is not between 1m and 1h"},
		{desc: "percent", yaml: "alerts:\n  error_rate:\n    threshold_percent: 100\n", wantErr: "global.yaml:3:24: alerts.error_rate.threshold_percent: 100 is not a percentage"},
		{desc: "min requests", yaml: "alerts:\n  error_rate: {min_requests: 0}\n", wantErr: "alerts.error_rate.min_requests: must be at least 1"},
		{desc: "after too short", yaml: "alerts:\n  dataplane_disconnected: {after: 5s}\n", wantErr: "global.yaml:2:35: alerts.dataplane_disconnected.after: 5s is shorter than 10s"},
		{desc: "unknown key", yaml: "alerts:\n  error_rates: {}\n", wantErr: "global.yaml:2:3"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			g, err := ParseGlobal("global.yaml", []byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Alerts != tc.want {
				t.Errorf("alerts %+v, want %+v", g.Alerts, tc.want)
			}
		})
	}
}

func TestAlertsWithoutGlobalFile(t *testing.T) {
	if g := emptyGlobal(); g.Alerts != DefaultAlerts {
		t.Errorf("alerts %+v, want the defaults", g.Alerts)
	}
}
