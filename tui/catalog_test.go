package tui

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// scriptedLister is a Mono account list the test controls: each load
// yields the accounts of the current list in pages of pageSize, or fails
// with failWith after failAfter pages. A held load waits on gate.
type scriptedLister struct {
	mu        sync.Mutex
	accounts  []mono.Account
	pageSize  int
	failWith  error
	failAfter int
	gate      chan struct{} // non-nil: every load waits for a receive before page 1
	loads     atomic.Int64
}

func (l *scriptedLister) set(accounts []mono.Account, fail error, failAfter int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accounts, l.failWith, l.failAfter = accounts, fail, failAfter
}

func (l *scriptedLister) Accounts(ctx context.Context) iter.Seq2[mono.AccountPage, error] {
	l.loads.Add(1)
	l.mu.Lock()
	accounts, fail, failAfter, size, gate := l.accounts, l.failWith, l.failAfter, l.pageSize, l.gate
	l.mu.Unlock()
	return func(yield func(mono.AccountPage, error) bool) {
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				yield(mono.AccountPage{}, ctx.Err())
				return
			}
		}
		for page := 0; page*size < len(accounts); page++ {
			if fail != nil && page == failAfter {
				yield(mono.AccountPage{}, fail)
				return
			}
			chunk := accounts[page*size : min(len(accounts), (page+1)*size)]
			if !yield(mono.AccountPage{Accounts: chunk, Page: page + 1, Total: len(accounts)}, nil) {
				return
			}
		}
		if fail != nil && failAfter*size >= len(accounts) {
			yield(mono.AccountPage{}, fail)
		}
	}
}

// waitView waits (with a deadline, no sleeps) for a catalogue version that
// satisfies ok.
func waitView(t *testing.T, c *Catalog, what string, ok func(CatalogView) bool) CatalogView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seen uint64
	for {
		v, live := c.Next(ctx, seen)
		if ok(v) {
			return v
		}
		if !live {
			t.Fatalf("timed out waiting for %s; last version %d: %d accounts, loading %v, err %v",
				what, v.Version, len(v.Accounts), v.Loading, v.Err)
		}
		seen = v.Version
	}
}

func complete(v CatalogView) bool {
	return !v.Loading && !v.Refreshing && !v.LoadedAt.IsZero() && v.Err == nil
}

// Two programs on one catalogue: Mono is asked once, both lists are the
// same accounts in the same order, through the same index.
func TestCatalogTwoProgramsShareOneLoad(t *testing.T) {
	lister := &scriptedLister{pageSize: 20}
	lister.set(sandbox.Generate(1, 95), nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat := NewCatalog(ctx, lister, CatalogOptions{})
	a := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.Catalog = cat }})
	b := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.Catalog = cat }})
	a.until("a loaded", loaded)
	b.until("b loaded", loaded)
	if n := lister.loads.Load(); n != 1 {
		t.Fatalf("Mono's list was read %d times for two programs, want once", n)
	}
	if a.m.search.loaded != 95 || b.m.search.loaded != 95 || a.m.search.pageCount != 5 {
		t.Fatalf("loaded %d and %d accounts (%d pages), want 95 in 5", a.m.search.loaded, b.m.search.loaded, a.m.search.pageCount)
	}
	if a.m.search.index != b.m.search.index || &a.m.search.accounts[0] != &b.m.search.accounts[0] {
		t.Fatal("the two programs hold separate copies of the list")
	}
	// Each keeps its own query.
	a.typeText("adaeze")
	a.until("a filtered", func(m Model) bool { return m.search.result.Query == "adaeze" })
	if b.m.search.result.Query != "" || len(b.m.search.visible) != 95 {
		t.Fatalf("b's list changed with a's query: %q, %d rows", b.m.search.result.Query, len(b.m.search.visible))
	}
	if sel, ok := a.m.search.selected(); !ok || sel.ID != wrongOTPID {
		t.Fatalf("a selected %q", sel.Name)
	}
}

// A refresh replaces the list in every program, keeping each one's query
// and selection; the old list stays on screen until the new one is whole.
func TestCatalogRefreshReplacesList(t *testing.T) {
	accounts := sandbox.Generate(1, 60)
	lister := &scriptedLister{pageSize: 20}
	lister.set(accounts, nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat := NewCatalog(ctx, lister, CatalogOptions{})
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Catalog = cat }})
	h.until("loaded", loaded)
	h.typeText("okonkwo")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "okonkwo" })
	first := h.m.search.index

	// Mono now has one more account that matches, first in its order.
	extra := accounts[20]
	extra.ID, extra.Name, extra.AccountNumber = "00000000000000000000beef", "Chidi Okonkwo", "0123456789"
	lister.set(append([]mono.Account{extra}, accounts...), nil, 0)
	gate := make(chan struct{})
	lister.mu.Lock()
	lister.gate = gate
	lister.mu.Unlock()
	cat.Reload()
	h.until("refreshing", func(m Model) bool { return m.search.refreshing })
	if v := plain(h.m); !strings.Contains(v, "loaded 60 / 60  refreshing…") || !strings.Contains(v, "Adaeze Okonkwo") {
		t.Fatalf("the old list is not kept while refreshing:\n%s", v)
	}
	if h.m.spinning() {
		t.Fatal("a background refresh runs the spinner (a frame per tick in every session)")
	}
	gate <- struct{}{}
	h.until("refreshed", func(m Model) bool { return !m.search.refreshing && m.search.loaded == 61 && m.search.result.N == 61 })
	if h.m.search.index == first {
		t.Fatal("the refresh did not swap in a new index")
	}
	if h.m.search.result.Query != "okonkwo" {
		t.Fatalf("the query was lost: %q", h.m.search.result.Query)
	}
	if sel, ok := h.m.search.selected(); !ok || sel.ID != wrongOTPID {
		t.Fatalf("the selection moved to %q", sel.Name)
	}
	if v := plain(h.m); !strings.Contains(v, "Chidi Okonkwo") || !strings.Contains(v, "loaded 61 / 61") {
		t.Fatalf("the new account is not listed:\n%s", v)
	}
}

// A refresh that fails keeps the last good list, says so with its age, and
// R tries again; a later success clears the note.
func TestCatalogFailedRefreshKeepsLastGood(t *testing.T) {
	accounts := sandbox.Generate(1, 60)
	lister := &scriptedLister{pageSize: 20}
	lister.set(accounts, nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := newClock()
	cat := NewCatalog(ctx, lister, CatalogOptions{Now: clk.Now})
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Catalog = cat }})
	h.until("loaded", loaded)
	good := h.m.search.index

	clk.Advance(10 * time.Minute)
	lister.set(accounts, &mono.Error{Kind: mono.KindServer, Op: "list accounts", Status: 503}, 1) // page 2 fails
	cat.Reload()
	h.until("refresh failed", func(m Model) bool { return m.search.loadErr != nil && !m.search.refreshing })
	v := plain(h.m)
	for _, want := range []string{"loaded 60 / 60 as of 14:00  Refresh failed: Mono had a problem (503); try again shortly.  (R to retry)",
		"Adaeze Okonkwo"} {
		if !strings.Contains(v, want) {
			t.Fatalf("want %q:\n%s", want, v)
		}
	}
	if h.m.search.index != good || h.m.search.loaded != 60 {
		t.Fatal("a failed refresh replaced the last good list")
	}
	if !h.m.keys.Retry.Enabled() {
		t.Fatal("retry not offered after a failed refresh")
	}

	lister.set(accounts[:59], nil, 0)
	h.key("esc", "R")
	h.until("refreshed", func(m Model) bool { return m.search.loadErr == nil && m.search.loaded == 59 && m.search.result.N == 59 })
	if strings.Contains(plain(h.m), "Refresh failed") {
		t.Fatalf("the failure note outlived a good refresh:\n%s", plain(h.m))
	}
	if n := lister.loads.Load(); n != 3 {
		t.Fatalf("%d loads, want 3 (first, failed refresh, retry)", n)
	}
}

// A periodic refresh runs by itself once the list has loaded.
func TestCatalogRefreshesOnInterval(t *testing.T) {
	lister := &scriptedLister{pageSize: 20}
	lister.set(sandbox.Generate(1, 30), nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat := NewCatalog(ctx, lister, CatalogOptions{RefreshEvery: time.Millisecond})
	cat.Start()
	first := waitView(t, cat, "first load", complete)
	lister.set(sandbox.Generate(1, 31), nil, 0)
	v := waitView(t, cat, "a refresh", func(v CatalogView) bool { return complete(v) && len(v.Accounts) == 31 })
	if v.Index == first.Index {
		t.Fatal("the refresh reused the old index")
	}
}

// A fresher read of an account (after a reauth) shows in every program's
// list, and a refresh that began later supersedes it.
func TestCatalogUpdateReachesEveryProgram(t *testing.T) {
	accounts := sandbox.Generate(1, 60)
	lister := &scriptedLister{pageSize: 20}
	lister.set(accounts, nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat := NewCatalog(ctx, lister, CatalogOptions{})
	a := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Catalog = cat }})
	b := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Catalog = cat }})
	a.until("a loaded", loaded)
	b.until("b loaded", loaded)
	// A fresher read of one account (its data status changed) made by one
	// program reaches every program sharing the list.
	var target mono.Account
	for _, acct := range accounts {
		if !acct.DataStatus.Is(mono.StatusAvailable) {
			target = acct
			break
		}
	}
	if target.ID == "" {
		t.Fatal("fixture: no account whose data is not AVAILABLE")
	}
	fixed := target
	fixed.DataStatus = mono.StatusAvailable
	a.m.search.replace(fixed)
	stale := func(m Model) bool {
		acct, _ := m.search.lookup(target.ID)
		return !acct.DataStatus.Is(mono.StatusAvailable)
	}
	if stale(a.m) {
		t.Fatal("the program that re-read the account still shows the old copy")
	}
	b.until("b sees the fresher copy", func(m Model) bool { return !stale(m) })
	if accounts[indexOf(accounts, target.ID)].DataStatus != target.DataStatus {
		t.Fatal("the shared list itself was written")
	}

	// Mono's list still has the old copy: a refresh begun after the update wins.
	cat.Reload()
	b.until("refreshed", func(m Model) bool { return stale(m) && m.search.result.N == 60 })
}

func indexOf(accounts []mono.Account, id string) int {
	for i, a := range accounts {
		if a.ID == id {
			return i
		}
	}
	return -1
}

// Many programs watch, search and reload one catalogue at once while it
// refreshes (run with -race).
func TestCatalogConcurrentPrograms(t *testing.T) {
	accounts := sandbox.Generate(1, 200)
	lister := &scriptedLister{pageSize: 7}
	lister.set(accounts, nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat := NewCatalog(ctx, lister, CatalogOptions{RefreshEvery: time.Millisecond})
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			m := New(ctx, Deps{Mono: lister.asAPI(), Catalog: cat})
			m.noTimers = true
			msgs := make(chan tea.Msg, 64)
			var run func(tea.Cmd)
			run = func(cmd tea.Cmd) {
				if cmd == nil {
					return
				}
				go func() {
					switch msg := cmd().(type) {
					case nil:
					case tea.BatchMsg:
						for _, c := range msg {
							run(c)
						}
					default:
						select {
						case msgs <- msg:
						case <-ctx.Done():
						}
					}
				}()
			}
			run(m.Init())
			queries := []string{"a", "ad", "ada", "", "okon", "0"}
			deadline := time.After(10 * time.Second)
			refreshes := 0
			for step := 0; refreshes < 3; step++ {
				select {
				case msg := <-msgs:
					if cv, ok := msg.(catalogMsg); ok && cv.view.LoadedAt != (time.Time{}) && !cv.view.Refreshing {
						refreshes++
					}
					next, cmd := m.Update(msg)
					m = next.(Model)
					run(cmd)
					if step%3 == p%3 {
						m.search.input.SetValue(queries[step%len(queries)])
						run(m.search.runSearch())
					}
					if step%50 == 0 {
						cat.Reload()
					}
					_ = m.View()
				case <-deadline:
					t.Errorf("program %d saw %d refreshes in 10s", p, refreshes)
					return
				}
			}
		})
	}
	wg.Wait()
}

// asAPI gives the lister the rest of MonoAPI (never called here).
func (l *scriptedLister) asAPI() MonoAPI { return listerAPI{l} }

type listerAPI struct{ *scriptedLister }

func (listerAPI) Account(context.Context, string) (mono.Account, error) {
	return mono.Account{}, errors.New("not in this test")
}
func (listerAPI) Reauthorise(context.Context, string) (mono.Token, error) {
	return mono.Token{}, errors.New("not in this test")
}
func (listerAPI) InitiateReauth(context.Context, string, string, string) (string, error) {
	return "", fmt.Errorf("not in this test")
}

// A catalogue whose Mono never answers leaves every program responsive:
// keys are handled, the list says it is loading, nothing waits in Update.
func TestCatalogSlowMonoNeverBlocksUpdate(t *testing.T) {
	lister := &scriptedLister{pageSize: 20, gate: make(chan struct{})} // never opened
	lister.set(sandbox.Generate(1, 40), nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat := NewCatalog(ctx, lister, CatalogOptions{})
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.Catalog = cat }})
	h.until("loading shown", func(m Model) bool { return m.search.loading && m.search.catView.Version > 0 })
	h.typeText("ada")
	h.key("tab", "esc", "?", "x")
	if v := plain(h.m); !strings.Contains(v, "Loading accounts from Mono") {
		t.Fatalf("not shown as loading:\n%s", v)
	}
	cancel() // the runtime ends: the load stops
	deadline := time.Now().Add(10 * time.Second)
	for cat.View().Loading {
		if time.Now().After(deadline) {
			t.Fatal("the load outlived its context")
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}
