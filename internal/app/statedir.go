package app

import (
	"errors"
	"os"
	"path/filepath"
)

// The files reauth keeps in its state directory.
const (
	AuditFileName   = "audit.jsonl"      // the audit log
	MarksFileName   = "webhooks.json"    // what Mono's webhooks said, beside the audit log
	LogFileName     = "reauth.log"       // the app's log
	HostKeyFileName = "ssh_host_ed25519" // reauth serve's host key
)

// StateDir is where reauth keeps its files: $XDG_STATE_HOME/reauth when
// XDG_STATE_HOME is an absolute path (the XDG spec says to ignore a
// relative one), else ~/.local/state/reauth. It is the only place that
// decides; every default path below resolves from it.
func StateDir() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "reauth"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("no state directory: set XDG_STATE_HOME (absolute) or HOME")
	}
	return filepath.Join(home, ".local", "state", "reauth"), nil
}

// StatePath is name inside StateDir.
func StatePath(name string) (string, error) {
	dir, err := StateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// Files names the files the runtime writes. An empty field takes its
// default under StateDir; the webhook marks always sit beside the audit log
// (a receiver and the app agree on them through --audit-log alone).
type Files struct {
	// Database is the store (--database-url, REAUTH_DATABASE_URL): a
	// postgres:// URL, or a SQLite file ("": reauth.db in StateDir). See
	// OpenStorage.
	Database string
	AuditLog string // --audit-log, REAUTH_AUDIT_LOG: a JSON-lines audit file instead of a database
	LogFile  string // --log-file, REAUTH_LOG_FILE
	// OldFilesDir is where a database store looks, on opening, for the
	// audit.jsonl and webhooks.json an older reauth kept, to import them
	// once: "" is StateDir, NoOldFiles looks nowhere (a test reading
	// another process's store must not import its own user's files).
	OldFilesDir string
}

// NoOldFiles is the Files.OldFilesDir that imports nothing.
const NoOldFiles = "-"

func (f Files) oldFilesDir() string {
	switch f.OldFilesDir {
	case NoOldFiles:
		return ""
	case "":
		dir, err := StateDir()
		if err != nil {
			return ""
		}
		return dir
	}
	return f.OldFilesDir
}

// Audit is the audit log's path.
func (f Files) Audit() (string, error) {
	if f.AuditLog != "" {
		return f.AuditLog, nil
	}
	p, err := StatePath(AuditFileName)
	if err != nil {
		return "", ConfigError{"no audit log location: " + err.Error()}
	}
	return p, nil
}

// Marks is the webhook marks file: webhooks.json beside the audit log.
func (f Files) Marks() (string, error) {
	a, err := f.Audit()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(a), MarksFileName), nil
}

// Log is the log file's path.
func (f Files) Log() (string, error) {
	if f.LogFile != "" {
		return f.LogFile, nil
	}
	p, err := StatePath(LogFileName)
	if err != nil {
		return "", ConfigError{"no log file location: " + err.Error()}
	}
	return p, nil
}
