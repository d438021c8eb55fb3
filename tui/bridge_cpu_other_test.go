//go:build !unix

package tui

import "time"

// cpuTime is not measured here: the benchmark reports 0 cores.
func cpuTime() time.Duration { return 0 }
