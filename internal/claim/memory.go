package claim

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a Backend in this process's memory: the plain-files store
// (--audit-log), where one process serves everyone, and tests.
type Memory struct {
	// StaleAfter bounds a holder's silence (DefaultStaleAfter).
	StaleAfter time.Duration

	mu      sync.Mutex
	rows    map[string]Claim
	version int64
}

// NewMemory is an empty Memory backend.
func NewMemory() *Memory {
	return &Memory{StaleAfter: DefaultStaleAfter, rows: map[string]Claim{}}
}

var _ Backend = (*Memory)(nil)

type memTx struct{ m *Memory }

func (t memTx) Get(account string) (Claim, bool, error) {
	c, ok := t.m.rows[account]
	return c, ok, nil
}

func (t memTx) Put(c Claim) (int64, error) {
	t.m.version++
	c.Version = t.m.version
	t.m.rows[c.Account] = c
	return c.Version, nil
}

// Take is Backend.Take.
func (m *Memory) Take(_ context.Context, t Take) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return TakeTx(memTx{m}, t, m.StaleAfter)
}

// Update is Backend.Update.
func (m *Memory) Update(_ context.Context, u Update) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return UpdateTx(memTx{m}, u)
}

// Release is Backend.Release.
func (m *Memory) Release(_ context.Context, account, attempt string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return ReleaseTx(memTx{m}, account, attempt, now)
}

// Get is Backend.Get.
func (m *Memory) Get(_ context.Context, account string) (Claim, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rows[account]
	return c, ok, nil
}

// Changes is Backend.Changes.
func (m *Memory) Changes(_ context.Context, after int64) ([]Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Claim
	for _, c := range m.rows {
		if c.Version > after {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Claim) int { return int(a.Version - b.Version) })
	return out, nil
}

// HeldBy is Backend.HeldBy.
func (m *Memory) HeldBy(_ context.Context, keyFingerprint string) ([]Claim, error) {
	if keyFingerprint == "" {
		return nil, ErrNoFingerprint
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Claim
	for _, c := range m.rows {
		if c.Live() && c.Holder.KeyFingerprint == keyFingerprint {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, NewestFirst)
	return out, nil
}
