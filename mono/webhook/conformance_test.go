package webhook_test

import (
	"cmp"
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/mono/webhook/webhooktest"
)

// The memory Store: one Store is all there is.
func memoryFixture(t *testing.T) webhooktest.Fixture {
	s := webhook.NewMemoryStore()
	return webhooktest.Fixture{Open: func(*testing.T) *webhook.Store { return s }}
}

// The file Store: every Open is another process's OpenStore of one file.
// Shared through Reload and durable; not concurrent (one process owns the
// file: two writers lose marks, which is what the database backends fix).
func fileFixture(t *testing.T) webhooktest.Fixture {
	path := filepath.Join(t.TempDir(), "reauth", "webhooks.json")
	return webhooktest.Fixture{Shared: true, Durable: true, Open: func(t *testing.T) *webhook.Store {
		t.Helper()
		s, err := webhook.OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

func TestMemoryStoreConformance(t *testing.T) { webhooktest.Run(t, memoryFixture) }

func TestFileStoreConformance(t *testing.T) { webhooktest.Run(t, fileFixture) }

// Mono retries in any order: each account's events are ordered by Mono's
// timestamp (by receipt when there is none), and an older event never
// undoes a newer one (webhooktest.OrderingCases, which every store runs).
func TestEventsAreOrderedPerAccount(t *testing.T) {
	webhooktest.Ordering(t, memoryFixture(t))
}

// The same rules run by a database backend, shown here on a toy one (a map
// under a mutex): a Store on a Backend gives the ordering cases the same
// outcomes, and two receivers on it lose nothing.
func TestBackendStoreConformance(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Fixture {
		b := newToyBackend()
		return webhooktest.Fixture{Shared: true, Durable: true, Concurrent: true, Open: func(t *testing.T) *webhook.Store {
			t.Helper()
			s, err := webhook.NewStore(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}}
	})
}

// toyBackend is a Backend in memory: one lock for a transaction.
type toyBackend struct {
	mu      sync.Mutex
	entries map[string]webhook.Change
	seen    map[string]bool
	version int64
	imports map[string]bool
}

func newToyBackend() *toyBackend {
	return &toyBackend{entries: map[string]webhook.Change{}, seen: map[string]bool{}, imports: map[string]bool{}}
}

type toyTx struct{ b *toyBackend }

func (t toyTx) Remember(key string) (bool, error) {
	if t.b.seen[key] {
		return false, nil
	}
	t.b.seen[key] = true
	return true, nil
}

func (t toyTx) Entry(id string) (webhook.Mark, bool, error) {
	c, ok := t.b.entries[id]
	return c.Entry, ok, nil
}

func (t toyTx) Put(id string, m webhook.Mark) (int64, error) {
	t.b.version++
	t.b.entries[id] = webhook.Change{AccountID: id, Entry: m, Version: t.b.version}
	return t.b.version, nil
}

func (b *toyBackend) Apply(_ context.Context, p webhook.Proposal) (webhook.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return webhook.ApplyTx(toyTx{b}, p)
}

func (b *toyBackend) Changes(_ context.Context, after int64) ([]webhook.Change, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []webhook.Change
	for _, c := range b.entries {
		if c.Version > after {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y webhook.Change) int { return cmp.Compare(x.Version, y.Version) })
	return out, nil
}

func (b *toyBackend) Seen(_ context.Context, key string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[key], nil
}

func (b *toyBackend) Import(_ context.Context, imp webhook.Import) (webhook.ImportResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.imports[imp.Source] {
		return webhook.ImportResult{Already: true}, nil
	}
	b.imports[imp.Source] = true
	return webhook.ImportTx(toyTx{b}, imp)
}
