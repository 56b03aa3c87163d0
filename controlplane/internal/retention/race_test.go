//go:build race

package retention

// raceDetector is on: it makes SQLite (C translated to Go) some twenty times slower, so timings
// mean nothing; `make test` runs the timing test again without it.
const raceDetector = true
