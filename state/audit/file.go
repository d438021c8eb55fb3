package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// File is the JSON-lines backend: one record per line in a file, each batch
// written with a single write on an O_APPEND descriptor and fsynced before
// Append returns. It keeps no hash chain (Walk returns ErrNoChain): it is
// today's format, the source ImportFile reads, and the benchmarks' baseline.
type File struct {
	path string

	mu  sync.Mutex // guards f and end
	f   *os.File
	end int64 // file size after our last write (-1: unknown)
}

// ErrNoChain is returned by a backend that keeps no hash chain (the file).
var ErrNoChain = errors.New("audit: this store keeps no hash chain (the JSON-lines file); import it into a database to verify")

// OpenFile opens (creating if needed) the JSON-lines file at path as a
// Backend. Parent directories are created 0700 and the file 0600; an
// existing file readable by others is tightened.
func OpenFile(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	// O_RDWR rather than O_WRONLY only so Append can pread the last byte and
	// end a line torn by a crash; every write still goes to the end (O_APPEND).
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// An existing file readable by others is tightened, not trusted.
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	return &File{path: path, f: f, end: -1}, nil
}

// Path is the file's path.
func (b *File) Path() string { return b.path }

// Append writes the batch as one write (under flock, after ending a line a
// crashed writer tore) and fsyncs it.
func (b *File) Append(_ context.Context, batch []Record) error {
	var buf []byte
	for _, r := range batch {
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		buf = append(append(buf, line...), '\n')
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil {
		return ErrClosed
	}
	if err := b.write(buf); err != nil {
		return err
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync: %w", err)
	}
	return nil
}

func (b *File) write(buf []byte) error {
	if err := lockFile(b.f); err != nil {
		return fmt.Errorf("audit: lock: %w", err)
	}
	defer unlockFile(b.f)
	if err := b.endTornLine(); err != nil {
		b.end = -1
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := b.f.Write(buf); err != nil {
		b.end = -1
		return fmt.Errorf("audit: write: %w", err)
	}
	if b.end >= 0 {
		b.end += int64(len(buf))
	}
	return nil
}

// endTornLine writes a newline when the file does not end with one: a writer
// (this or another process) crashed mid-record. Without it the next record
// would be glued onto the fragment and lost with it. Called under the flock.
func (b *File) endTornLine() error {
	fi, err := b.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 || fi.Size() == b.end {
		// Empty, or nobody has written since our last whole line.
		b.end = fi.Size()
		return nil
	}
	b.end = -1
	last := make([]byte, 1)
	if _, err := b.f.ReadAt(last, fi.Size()-1); err != nil && err != io.EOF {
		return err
	}
	if last[0] == '\n' {
		b.end = fi.Size()
		return nil
	}
	if _, err = b.f.Write([]byte{'\n'}); err != nil {
		return err
	}
	b.end = fi.Size() + 1
	return nil
}

// Query scans the whole file (every line is decoded: this is the cost the
// databases remove), skipping lines Read would warn about.
func (b *File) Query(ctx context.Context, q Query) ([]Record, error) {
	f, err := os.Open(b.path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var recs []Record
	_, err = scan(f, func(r Record) bool {
		if q.Match(r) {
			recs = append(recs, r)
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.NewestFirst {
		slices.Reverse(recs)
	}
	if q.Limit > 0 && len(recs) > q.Limit {
		recs = recs[:q.Limit]
	}
	return recs, nil
}

// Walk: the file keeps no chain.
func (b *File) Walk(context.Context, func(Stored) error) error { return ErrNoChain }

// Close fsyncs what was written and closes the file.
func (b *File) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil {
		return nil
	}
	err := b.f.Sync()
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	b.f = nil
	return err
}

// Match reports whether r is one q selects (ignoring Limit and order).
func (q Query) Match(r Record) bool {
	switch {
	case q.Account != "" && !strings.EqualFold(r.Account, q.Account),
		q.Agent != "" && r.Agent.User != q.Agent,
		q.Session != "" && r.Session != q.Session,
		!q.Since.IsZero() && r.Time.Before(q.Since),
		!q.Until.IsZero() && !r.Time.Before(q.Until):
		return false
	}
	return true
}
