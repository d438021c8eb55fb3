package audit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
)

// ImportResult is what ImportFile did, for the app to tell the agent.
type ImportResult struct {
	Source   string    // the mark the store keeps: "file:" and the file's absolute path
	Imported int       // records stored by this run (0 on every run after the first)
	Already  bool      // the file had been imported before: nothing was read
	Refused  int       // records the front's checks refused (e.g. a raw token as fingerprint): not stored
	Warnings []Warning // lines the reader skipped (torn, garbage)
}

// ImportFile imports the JSON-lines audit file at path into the Log's
// backend once: every record passes the front's checks (redaction, cleaning)
// and is stored, in file order and chained, in one transaction with a mark
// naming the file, so a second run imports nothing (Already) and a run that
// fails stores nothing. The file is only read, never changed. A missing file
// imports nothing and is not an error. The backend must be an Importer.
func (l *Log) ImportFile(ctx context.Context, path string) (ImportResult, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ImportResult{}, fmt.Errorf("audit: import: %w", err)
	}
	res := ImportResult{Source: "file:" + abs}
	imp, ok := l.b.(Importer)
	if !ok {
		return res, fmt.Errorf("audit: import: this store (%T) cannot import", l.b)
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	var recs iter.Seq2[Record, error] = func(yield func(Record, error) bool) {
		f, err := os.Open(abs)
		if err != nil {
			yield(Record{}, fmt.Errorf("audit: import: %w", err))
			return
		}
		defer f.Close()
		stopped := false
		warns, err := scan(f, func(r Record) bool {
			r, cerr := l.check(r)
			if errors.Is(cerr, ErrSecret) {
				res.Refused++
				return true
			}
			if !yield(r, cerr) || cerr != nil {
				stopped = true
				return false
			}
			return true
		})
		res.Warnings = warns
		if err != nil && !stopped {
			yield(Record{}, err)
		}
	}
	n, err := imp.Import(ctx, res.Source, recs)
	if errors.Is(err, ErrAlreadyImported) {
		return ImportResult{Source: res.Source, Already: true}, nil
	}
	if err != nil {
		return ImportResult{Source: res.Source}, fmt.Errorf("audit: import %s: %w", abs, err)
	}
	res.Imported = n
	return res, nil
}

// String says what happened in one line for the agent.
func (r ImportResult) String() string {
	switch {
	case r.Already:
		return "audit: " + r.Source[len("file:"):] + " was imported before; nothing to import"
	case r.Imported == 0 && r.Refused == 0 && len(r.Warnings) == 0:
		return "audit: nothing to import"
	}
	s := fmt.Sprintf("audit: imported %d records from %s (the file is kept)", r.Imported, r.Source[len("file:"):])
	if r.Refused > 0 {
		s += fmt.Sprintf("; %d refused (they held a secret)", r.Refused)
	}
	if len(r.Warnings) > 0 {
		s += fmt.Sprintf("; %d unreadable lines skipped", len(r.Warnings))
	}
	return s
}
