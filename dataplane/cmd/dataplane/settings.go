package main

import (
	"fmt"
	"os"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/sched"
	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

// defaultSchedSlice is the data plane's scheduler slice (package sched).
const defaultSchedSlice = 0

// settings are the process settings, from the environment or flags (flags win).
type settings struct {
	controlPlane    string
	tokenFile       string
	nodeID          string
	listenAddr      string
	tlsAddr         string
	h3Addr          string
	opsAddr         string
	profiling       bool
	eventBuffer     int
	ipHashKeyFile   string
	shutdownTimeout time.Duration
	schedSlice      time.Duration
	logLevel        string
	logFormat       string
}

func parseSettings(args []string) (settings, error) {
	var s settings
	host, err := os.Hostname()
	if err != nil {
		return s, fmt.Errorf("hostname for the default node id: %w", err)
	}
	fs := envflag.New("dataplane")
	fs.StringVar(&s.controlPlane, "controlplane", "PROXY_CONTROLPLANE_ADDR", "controlplane:9090", "control plane gRPC address")
	fs.StringVar(&s.tokenFile, "token-file", "PROXY_GRPC_TOKEN_FILE", "/run/secrets/proxy_grpc_token", "file holding the gRPC bearer token")
	fs.StringVar(&s.nodeID, "node-id", "PROXY_NODE_ID", host, "this data plane's name (unique per replica)")
	fs.StringVar(&s.listenAddr, "listen", "PROXY_LISTEN_ADDR", ":80", "plain HTTP address: redirects to HTTPS, ACME challenges, hosts without a certificate")
	fs.StringVar(&s.tlsAddr, "tls-addr", "PROXY_TLS_ADDR", ":443", "HTTPS address (TCP: HTTP/1.1 and HTTP/2); empty turns HTTPS off")
	fs.StringVar(&s.h3Addr, "h3-addr", "PROXY_H3_ADDR", ":443", "HTTP/3 address (UDP); empty turns HTTP/3 off")
	fs.StringVar(&s.opsAddr, "ops-addr", "PROXY_OPS_ADDR", "127.0.0.1:9901", "health probe address (not published)")
	fs.BoolVar(&s.profiling, "pprof", "PROXY_PPROF", false, "serve Go profiles at /debug/pprof/ on the ops address")
	fs.IntVar(&s.eventBuffer, "event-buffer", "PROXY_EVENT_BUFFER", events.DefaultCapacity, "events kept while the control plane is unreachable")
	fs.StringVar(&s.ipHashKeyFile, "ip-hash-key-file", "PROXY_IP_HASH_KEY_FILE", "", "secret for mask_ip_method: hash, from which each UTC day's key derives (a Docker secret; 16 bytes or more)")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", "PROXY_SHUTDOWN_TIMEOUT", 30*time.Second, "how long in-flight requests may take on shutdown")
	fs.DurationVar(&s.schedSlice, "sched-slice", "PROXY_SCHED_SLICE", defaultSchedSlice, "scheduler slice to ask Linux for (6.12+), so a request arriving while another process computes on the CPU is served at once; 0 keeps the kernel's")
	fs.StringVar(&s.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", "LOG_FORMAT", "json", "json or pretty")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if s.nodeID == "" {
		return s, fmt.Errorf("empty node id: set PROXY_NODE_ID")
	}
	if s.schedSlice != 0 && (s.schedSlice < sched.MinSlice || s.schedSlice > sched.MaxSlice) {
		return s, fmt.Errorf("PROXY_SCHED_SLICE=%v: want 0 or %v to %v", s.schedSlice, sched.MinSlice, sched.MaxSlice)
	}
	if s.eventBuffer < 1000 {
		return s, fmt.Errorf("PROXY_EVENT_BUFFER=%d: want at least 1000", s.eventBuffer)
	}
	return s, nil
}
