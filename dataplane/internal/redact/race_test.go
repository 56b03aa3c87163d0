//go:build race

package redact

// raceEnabled: the race detector makes sync.Pool drop items, so regexp allocates.
const raceEnabled = true
