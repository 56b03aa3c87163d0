// Package e2e is the end-to-end suite: it builds both binaries (with the race detector), starts
// them as processes with a temporary configuration, and drives them with real clients: Go's HTTP
// client, grpcurl (through `go tool`), and SQLite queries on the control plane's database.
// `make test` runs it with every other module's tests.
package e2e
