package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"
)

// backendTimeout bounds one database call made for a Store method that takes
// no context (Record, Flag, Clear, Reload, Seen).
const backendTimeout = 30 * time.Second

// NewStore is a Store whose marks live in b, a database that any number of
// receivers (`reauth webhooks`, replicas) and apps share. It reads b's
// entries into its view; Reload follows b's change feed from there. Record,
// Flag and Clear apply in b (one transaction each) and then update the view;
// the read methods (Mark, Marked, Latest, …) answer from the view, as fresh
// as the last Reload or own write. Seen asks b. The view holds every entry
// b has (one per account: clearings are not bounded as in a file, and the
// seen ids stay in b, kept DefaultSeenFor). b is not closed by the Store.
func NewStore(ctx context.Context, b Backend) (*Store, error) {
	if b == nil {
		return nil, errors.New("webhook: no backend")
	}
	s := newStore("")
	s.backend, s.versions = b, map[string]int64{}
	if _, _, err := s.reloadBackend(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// applyBackend applies p in the backend and puts what it wrote in the view
// (unless Reload has already put a newer version of the account there).
func (s *Store) applyBackend(p Proposal) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), backendTimeout)
	defer cancel()
	res, err := s.backend.Apply(ctx, p)
	if err != nil {
		return Result{Outcome: Applied}, fmt.Errorf("webhook: %w", err)
	}
	if res.Changed {
		s.mu.Lock()
		s.see(res.Change)
		s.mu.Unlock()
	}
	return res, nil
}

// see puts c into the view if it is newer than what the view has for its
// account. The view's maps are the Store's own (Marked and the others hand
// out copies), so they change in place. Called with s.mu held.
func (s *Store) see(c Change) {
	if c.Version <= s.versions[c.AccountID] {
		return
	}
	s.versions[c.AccountID] = c.Version
	s.st.set(c.AccountID, c.Entry)
}

// reloadBackend reads the changes after the view's version and reports what
// they changed, as Reload does for a file.
func (s *Store) reloadBackend(ctx context.Context) (marked, cleared []string, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	after := s.version
	s.mu.Unlock()
	changes, err := s.backend.Changes(ctx, after)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: %w", err)
	}
	if len(changes) == 0 {
		return nil, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.st
	s.st = old.clone()
	for _, c := range changes {
		s.version = max(s.version, c.Version)
		s.see(c)
	}
	marked, cleared = diff(old, s.st)
	return marked, cleared, nil
}

// Version is the change feed version the Store's view has read up to (0
// for a file or memory Store).
func (s *Store) Version() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// ImportFile imports the marks file at path (webhooks.json, as OpenStore
// keeps it) into b: its marks, unlinkings and clearings, each applied by the
// ordering rules (an entry older than what b already holds for its account
// is not written, so nothing newer is undone) and its seen event ids, in one
// transaction. The file's content is recorded in b, so the same file
// imports once however often this runs (Already, and zero counts, after the
// first). The file is only read. A missing file imports nothing; a file that
// does not parse is an error.
func ImportFile(ctx context.Context, b Backend, path string) (ImportResult, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ImportResult{}, nil
	}
	if err != nil {
		return ImportResult{}, fmt.Errorf("webhook: import: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(data, &f); err != nil {
		return ImportResult{}, fmt.Errorf("webhook: import: store %s is damaged: %w", path, err)
	}
	st := loadState(f)
	sum := sha256.Sum256(data)
	imp := Import{Source: "webhooks.json sha256:" + hex.EncodeToString(sum[:]), Path: path, Keys: f.SeenEvents}
	for _, m := range []map[string]Mark{st.marks, st.unlinked, st.cleared} {
		for id := range m {
			e, _ := st.entry(id)
			imp.Entries = append(imp.Entries, Change{AccountID: id, Entry: e})
		}
	}
	slices.SortFunc(imp.Entries, func(a, b Change) int {
		switch {
		case a.AccountID < b.AccountID:
			return -1
		case a.AccountID > b.AccountID:
			return 1
		}
		return 0
	})
	r, err := b.Import(ctx, imp)
	if err != nil {
		return r, fmt.Errorf("webhook: import %s: %w", path, err)
	}
	return r, nil
}
