package tui

import (
	"context"
	"errors"
	"iter"
	"maps"
	"sync"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/tui/search"
)

// AccountLister pages through every linked account (mono.Client.Accounts).
type AccountLister interface {
	Accounts(ctx context.Context) iter.Seq2[mono.AccountPage, error]
}

// CatalogOptions configure a Catalog.
type CatalogOptions struct {
	// RefreshEvery re-reads the whole list from Mono in the background this
	// often once it has loaded (0: only when a program asks, after a
	// failure). The list on screen stays until the new one is complete.
	RefreshEvery time.Duration
	// Now stamps when the list was last complete (default time.Now).
	Now func() time.Time
	// OnLoad, if set, hears how every load or refresh ended (for the log).
	OnLoad func(accounts int, took time.Duration, err error)
	// OnUpdate, if set, hears of every fresher read a program records
	// (Update), after every program can see it; not of those Overlay
	// records. It runs on the program's goroutine and must not block: the
	// runtime tells the other replicas from a goroutine of its own.
	OnUpdate func(a mono.Account)
}

// Catalog is the list of linked accounts that every program on a runtime
// shares: paged from Mono once, searched through one search.Index, and
// refreshed in the background. Under `reauth serve` one Catalog serves
// every SSH session, so a new session costs no API calls and no copy of the
// list; each program keeps only its own Searcher and query.
//
// Programs never block on it: they wait for the next version in a tea.Cmd
// (see Model.watchCatalog) and get the newest one, skipping any they were
// too busy to see. Loads run on the Catalog's own goroutine, bounded by its
// context (the runtime's, not any one program's).
type Catalog struct {
	ctx   context.Context
	api   AccountLister
	opts  CatalogOptions
	start sync.Once

	mu      sync.Mutex
	cur     CatalogView
	changed chan struct{} // closed and replaced on every publish
	running bool          // a load or refresh is under way
	seq     uint64        // counts Update calls, to order them against refreshes
}

// CatalogView is one immutable version of the catalogue. Accounts and
// Snapshot always describe the same accounts, in the same order.
type CatalogView struct {
	Version  uint64
	Accounts []mono.Account // load order; positions match Index and Snapshot
	Index    *search.Index  // replaced (not refilled) when a refresh completes
	Snapshot search.Snapshot
	Pages    int // pages read for Accounts
	Total    int // how many accounts Mono says there are (>= len(Accounts))
	// Loading: there is no complete list yet and one is streaming into this
	// view, page by page (the first load, or a retry after it failed).
	Loading bool
	// Refreshing: a complete list is shown while a newer one loads.
	Refreshing bool
	// Err is why the last load or refresh failed (nil once one succeeds).
	// With LoadedAt set, the list shown is the last good one: stale.
	Err error
	// LoadedAt is when Accounts was last read completely (zero: never).
	LoadedAt time.Time

	all   []int32                 // 0..len(Accounts)-1: the empty query's hits, shared
	fresh map[string]freshAccount // fresher copies by id (read-only; replaced on change)
}

// freshAccount is a fresher read of one account than the list's, with the
// Update that made it (a refresh started later supersedes it).
type freshAccount struct {
	account mono.Account
	seq     uint64
}

// Stale reports a failed refresh: the list shown is the last good one.
func (v CatalogView) Stale() bool { return v.Err != nil && !v.LoadedAt.IsZero() }

// At is account i with any fresher copy applied.
func (v CatalogView) At(i int) mono.Account {
	a := v.Accounts[i]
	if len(v.fresh) > 0 {
		if f, ok := v.fresh[a.ID]; ok {
			return f.account
		}
	}
	return a
}

// errNoMono is a catalogue without a client (only a misconfigured test).
var errNoMono = errors.New("no Mono client is configured")

// NewCatalog returns a catalogue that loads from api when first watched (or
// Start). Loads stop when ctx ends.
func NewCatalog(ctx context.Context, api AccountLister, opts CatalogOptions) *Catalog {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ix := search.New()
	return &Catalog{ctx: ctx, api: api, opts: opts, changed: make(chan struct{}),
		cur: CatalogView{Version: 1, Index: ix, Snapshot: ix.Snapshot(), Loading: true}}
}

// Start begins the first load (once) and the periodic refresh. Watching
// starts it too; `reauth serve` calls it up front so the first agent finds
// the list already loaded.
func (c *Catalog) Start() {
	c.start.Do(func() {
		c.Reload()
		if c.opts.RefreshEvery > 0 {
			go c.refreshLoop(c.opts.RefreshEvery)
		}
	})
}

func (c *Catalog) refreshLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.Reload()
		}
	}
}

// Reload reads the list again unless a load is already under way (then
// that one's result is the answer). Without a complete list yet, the new
// load streams page by page in place of the failed one; otherwise the
// current list stays on screen until the new one is complete, and a failure
// keeps it (marked stale).
func (c *Catalog) Reload() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running || c.ctx.Err() != nil {
		return
	}
	c.running = true
	v := c.cur
	v.Err = nil
	streaming := v.LoadedAt.IsZero()
	if streaming {
		ix := search.New()
		v = CatalogView{Index: ix, Snapshot: ix.Snapshot(), Loading: true, fresh: v.fresh}
	} else {
		v.Refreshing = true
	}
	c.publishLocked(v)
	go c.load(streaming, c.seq)
}

// View is the current version.
func (c *Catalog) View() CatalogView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// Next returns the first version newer than seen, waiting for one while
// neither ctx nor the catalogue's context has ended (ok false then). It
// starts the first load.
func (c *Catalog) Next(ctx context.Context, seen uint64) (CatalogView, bool) {
	c.Start()
	for {
		c.mu.Lock()
		v, ch := c.cur, c.changed
		c.mu.Unlock()
		if v.Version != seen {
			return v, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v, false
		case <-c.ctx.Done():
			return v, false
		}
	}
}

// Update records a fresher read of one account (after a reauth, the
// account's re-read), so every program's list shows it until a refresh
// that began later replaces the whole list. It returns the version that
// carries it. CatalogOptions.OnUpdate hears of it (other replicas re-read
// the account too).
func (c *Catalog) Update(a mono.Account) uint64 {
	v := c.overlay(a)
	if c.opts.OnUpdate != nil {
		c.opts.OnUpdate(a)
	}
	return v
}

// Overlay is Update for a read that is not a program's own: the runtime's
// re-read of an account another replica re-read. OnUpdate does not hear of
// it, so news never echoes between replicas.
func (c *Catalog) Overlay(a mono.Account) uint64 { return c.overlay(a) }

func (c *Catalog) overlay(a mono.Account) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	v := c.cur
	fresh := make(map[string]freshAccount, len(v.fresh)+1)
	maps.Copy(fresh, v.fresh)
	fresh[a.ID] = freshAccount{account: a, seq: c.seq}
	v.fresh = fresh
	c.publishLocked(v)
	return c.cur.Version
}

// publishLocked makes v the current version and wakes every watcher.
func (c *Catalog) publishLocked(v CatalogView) {
	v.Version = c.cur.Version + 1
	c.cur = v
	close(c.changed)
	c.changed = make(chan struct{})
}

// load reads every page. While streaming, each page is published as it
// arrives (the list is usable from the first page); otherwise the new list
// is built aside and swapped in whole.
func (c *Catalog) load(streaming bool, seq uint64) {
	began := time.Now()
	ix := search.New()
	var accounts []mono.Account
	var all []int32
	pages, total := 0, 0
	var err error
	if c.api == nil {
		err = errNoMono
	} else {
		for page, perr := range c.api.Accounts(c.ctx) {
			if perr != nil {
				err = perr
				break
			}
			accounts = append(accounts, page.Accounts...)
			ix.Add(page.Accounts)
			for i := len(all); i < len(accounts); i++ {
				all = append(all, int32(i))
			}
			pages++
			total = max(total, page.Total, len(accounts))
			if streaming {
				c.mu.Lock()
				v := c.cur
				n := len(accounts)
				v.Accounts, v.all, v.Index, v.Snapshot = accounts[:n:n], all[:n:n], ix, ix.Snapshot()
				v.Pages, v.Total = pages, total
				c.publishLocked(v)
				c.mu.Unlock()
			}
		}
	}
	if err == nil && c.ctx.Err() != nil {
		err = c.ctx.Err()
	}
	if c.opts.OnLoad != nil {
		c.opts.OnLoad(len(accounts), time.Since(began), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = false
	v := c.cur
	v.Loading, v.Refreshing, v.Err = false, false, err
	switch {
	case err == nil:
		n := len(accounts)
		v.Accounts, v.all, v.Index, v.Snapshot = accounts[:n:n], all[:n:n], ix, ix.Snapshot()
		v.Pages, v.Total, v.LoadedAt = pages, n, c.opts.Now()
		// Mono's list now is at least as fresh as an update made before
		// this load began.
		fresh := make(map[string]freshAccount)
		for id, f := range v.fresh {
			if f.seq > seq {
				fresh[id] = f
			}
		}
		v.fresh = fresh
	case streaming:
		// The pages that did arrive stay usable; Total keeps what Mono
		// said there are, so the screen shows how far it got.
		v.Total = max(v.Total, len(v.Accounts))
	}
	c.publishLocked(v)
}
