//go:build unix

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock so appends from several reauth processes
// sharing one log (e.g. `reauth serve` and a local `reauth`) never interleave
// with the torn-line repair in endTornLine.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
