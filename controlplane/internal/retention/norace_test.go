//go:build !race

package retention

const raceDetector = false
