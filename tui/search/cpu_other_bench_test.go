//go:build !unix

package search

import "time"

// processCPU is not measured off unix; the cpu-ms/key metric then reads 0.
func processCPU() time.Duration { return 0 }
