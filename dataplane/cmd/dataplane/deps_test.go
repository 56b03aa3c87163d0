package main

import (
	"testing"

	"github.com/proxy-manager/proxy-manager/pkg/deptest"
)

// The data plane is stateless: it must not link a database. Everything it knows arrives in snapshots.
func TestNoForbiddenDependencies(t *testing.T) {
	deptest.Forbid(t, "modernc.org/sqlite", "modernc.org/libc", "github.com/mattn/go-sqlite3", "database/sql")
}
