//go:build unix

package search

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (all threads). Beside
// wall time it shows how much of a slow run was other load on the machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
