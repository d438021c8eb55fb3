package tui

import (
	"context"
	"sync"
	"testing"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// A program's fresher read is told to OnUpdate (the runtime passes it on to
// the other replicas); an Overlay (another replica's news, re-read here)
// reaches every program's list but is not told again, so news never echoes.
func TestCatalogOnUpdateHearsProgramsNotOverlays(t *testing.T) {
	accounts := sandbox.Generate(1, 30)
	lister := &scriptedLister{pageSize: 10}
	lister.set(accounts, nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var heard []string
	cat := NewCatalog(ctx, lister, CatalogOptions{OnUpdate: func(a mono.Account) {
		mu.Lock()
		heard = append(heard, a.ID+" "+string(a.DataStatus))
		mu.Unlock()
	}})
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Catalog = cat }})
	h.until("loaded", loaded)

	mine, theirs := accounts[3], accounts[7]
	mine.DataStatus, theirs.DataStatus = mono.StatusProcessing, mono.StatusFailed
	h.m.search.replace(mine) // the program path: a re-read after a reauth
	cat.Overlay(theirs)
	shows := func(id string, st mono.DataStatus) func(Model) bool {
		return func(m Model) bool {
			a, ok := m.search.lookup(id)
			return ok && a.DataStatus == st
		}
	}
	h.until("the overlay in the program's list", shows(theirs.ID, mono.StatusFailed))
	if !shows(mine.ID, mono.StatusProcessing)(h.m) {
		t.Fatal("the program's own read is not shown")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 1 || heard[0] != mine.ID+" "+string(mono.StatusProcessing) {
		t.Fatalf("OnUpdate heard %q; want only the program's read of %s", heard, mine.ID)
	}
}
