package main

import (
	"testing"

	"github.com/proxy-manager/proxy-manager/pkg/deptest"
)

// The control plane must not link the QUIC stack: HTTP/3 is the data plane's business.
func TestNoForbiddenDependencies(t *testing.T) {
	deptest.Forbid(t, "github.com/quic-go")
}
