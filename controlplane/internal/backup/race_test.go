//go:build race

package backup

// raceDetector is on: it makes SQLite (C translated to Go) some twenty times slower, so the
// weeks-long simulations skip themselves under it and `make test` runs them again without it.
const raceDetector = true
