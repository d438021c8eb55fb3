//go:build !unix

package audit

import "os"

// Without flock, O_APPEND single writes still keep records whole; only the
// torn-line repair is unsynchronised across processes.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
