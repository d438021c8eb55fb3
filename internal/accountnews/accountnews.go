// Package accountnews is the news that a process re-read one account from
// Mono (after a reauth: its data status, what Mono retrieved), so the other
// processes on the store — replicas on one PostgreSQL — re-read it too and
// every agent's list shows it, not only the lists of the process that
// read it. A News carries the account's id and when, never the account's
// data: each process reads Mono itself, and the table holds nothing about
// a customer.
//
// The feed is versioned like the claims' and the marks': every Publish
// takes the next version in commit order, and a reader asks for the news
// after the last version it saw (Changes), starting from Head.
package accountnews

import (
	"context"
	"errors"
	"sync"
	"time"
)

// News is one account re-read by a process.
type News struct {
	Version int64     // the feed's order: greater is later
	Account string    // the Mono account id
	Replica string    // the replica (Env.ReplicaID) that read it
	At      time.Time // when it was read (the reader's clock), to the millisecond
}

// Backend is the feed on a store.
type Backend interface {
	// Publish records that replica re-read account at at, and returns the
	// news' version. It prunes news older than KeepFor (before at).
	Publish(ctx context.Context, account, replica string, at time.Time) (int64, error)
	// Changes is the news of version greater than after, in version order:
	// at most MaxChanges of it (ask again after the last for more).
	Changes(ctx context.Context, after int64) ([]News, error)
	// Head is the newest version (0 when there has been no news): what a
	// reader starting now has already seen.
	Head(ctx context.Context) (int64, error)
}

// KeepFor is how long news is kept: a reader that was away longer re-reads
// the whole list anyway (the catalogue's refresh is minutes).
const KeepFor = 24 * time.Hour

// MaxChanges bounds one Changes answer.
const MaxChanges = 200

// ErrNoAccount is a Publish without an account id.
var ErrNoAccount = errors.New("accountnews: no account id")

// Check is what every backend checks before it writes.
func Check(account string) error {
	if account == "" {
		return ErrNoAccount
	}
	return nil
}

// Memory is a Backend in this process's memory (tests; one process needs
// no news of its own).
type Memory struct {
	mu      sync.Mutex
	news    []News
	version int64
}

// NewMemory is an empty Memory backend.
func NewMemory() *Memory { return &Memory{} }

var _ Backend = (*Memory)(nil)

// Publish is Backend.Publish.
func (m *Memory) Publish(_ context.Context, account, replica string, at time.Time) (int64, error) {
	if err := Check(account); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cutoff := at.Add(-KeepFor)
	kept := m.news[:0]
	for _, n := range m.news {
		if !n.At.Before(cutoff) {
			kept = append(kept, n)
		}
	}
	clear(m.news[len(kept):])
	m.news = kept
	m.version++
	m.news = append(m.news, News{Version: m.version, Account: account, Replica: replica, At: at.Truncate(time.Millisecond)})
	return m.version, nil
}

// Changes is Backend.Changes.
func (m *Memory) Changes(_ context.Context, after int64) ([]News, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []News
	for _, n := range m.news {
		if n.Version > after {
			out = append(out, n)
			if len(out) == MaxChanges {
				break
			}
		}
	}
	return out, nil
}

// Head is Backend.Head.
func (m *Memory) Head(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version, nil
}
