package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"charm.land/log/v2"

	"github.com/reauth/reauth/internal/accountnews"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/tui"
)

// AccountNewsPollEvery is how often a runtime reads the account news feed
// for fresher reads other processes made (on PostgreSQL a NOTIFY wakes it
// at once; this is the safety net, and SQLite's only way).
const AccountNewsPollEvery = 3 * time.Second

// The account news' bounds: one publish, publishes under way at once (more
// are dropped and logged: news is a courtesy, the list's refresh is the
// truth), one re-read of an account from Mono, and re-reads at once.
const (
	newsPublishBound = 5 * time.Second
	newsPublishing   = 8
	newsRereadBound  = 10 * time.Second
	newsRereads      = 4
)

// accountReader reads one account from Mono (mono.Client.Account).
type accountReader interface {
	Account(ctx context.Context, id string) (mono.Account, error)
}

// accountNews tells the other processes on the store (replicas on one
// PostgreSQL) when a program of this runtime recorded a fresher read of an
// account (tui.CatalogOptions.OnUpdate), and follows their news: each
// account another replica re-read is re-read here from Mono and overlaid
// in this runtime's catalogue (tui.Catalog.Overlay, which is not told
// again), so every agent's list shows it, not only the lists of the
// replica whose agent did the reauth. The news holds only the account id:
// Mono is the truth, read by each replica itself.
type accountNews struct {
	backend accountnews.Backend
	replica string
	now     func() time.Time
	mono    accountReader
	catalog *tui.Catalog
	// ctx bounds the publishing goroutines (the runtime's).
	ctx        context.Context
	publishing chan struct{} // a slot per publish under way
	kick       chan struct{} // read the feed again now (a full page came)
	log        onceLog
	// followed is the version through which the news is handled (its
	// re-reads done): for tests.
	followed atomic.Int64
}

func newAccountNews(ctx context.Context, b accountnews.Backend, replica string, now func() time.Time,
	m accountReader, c *tui.Catalog, logger *log.Logger) *accountNews {
	return &accountNews{backend: b, replica: replica, now: now, mono: m, catalog: c, ctx: ctx,
		publishing: make(chan struct{}, newsPublishing), kick: make(chan struct{}, 1), log: onceLog{logger: logger}}
}

// publish is the catalogue's OnUpdate: it writes the news on a goroutine
// of its own (bounded in time and in number), so a program never waits for
// the store. A failure is logged once until a publish succeeds again.
func (n *accountNews) publish(a mono.Account) {
	if a.ID == "" || n.ctx.Err() != nil {
		return
	}
	select {
	case n.publishing <- struct{}{}:
	default:
		n.log.failed("publish", "account news not sent (too many under way)", errors.New("dropped"), "account", a.ID)
		return
	}
	go func() {
		defer func() { <-n.publishing }()
		ctx, cancel := context.WithTimeout(n.ctx, newsPublishBound)
		defer cancel()
		_, err := n.backend.Publish(ctx, a.ID, n.replica, n.now())
		if n.ctx.Err() == nil {
			n.log.result("publish", "account news not sent", err, "account", a.ID)
		}
	}()
}

// start notes where the feed stands now, before it returns (what was
// published before is history: this runtime's list was read after it, or
// is being read), and then follows the feed on a goroutine until ctx ends:
// every every, at each wake (PostgreSQL's NOTIFY; nil elsewhere).
func (n *accountNews) start(ctx context.Context, every time.Duration, wake <-chan struct{}) {
	last, err := n.backend.Head(ctx)
	if err != nil {
		n.log.result("follow", "account news not read", err)
		last = -1 // read the head on the next tick instead
	}
	go n.run(ctx, last, every, wake)
}

func (n *accountNews) run(ctx context.Context, last int64, every time.Duration, wake <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		case <-n.kick:
		}
		if last < 0 {
			h, err := n.backend.Head(ctx)
			if ctx.Err() == nil {
				n.log.result("follow", "account news not read", err)
			}
			if err == nil {
				last = h
			}
			continue
		}
		news, err := n.backend.Changes(ctx, last)
		if ctx.Err() != nil {
			return
		}
		n.log.result("follow", "account news not read", err)
		if err != nil || len(news) == 0 {
			continue
		}
		last = news[len(news)-1].Version
		if len(news) == accountnews.MaxChanges {
			select { // there may be more: read on at once
			case n.kick <- struct{}{}:
			default:
			}
		}
		n.reread(ctx, n.theirs(news))
		n.followed.Store(last)
	}
}

// theirs is the accounts other replicas re-read, each once (several news
// of one account read together cost one re-read), leaving out accounts a
// loaded list does not have (the next refresh brings those).
func (n *accountNews) theirs(news []accountnews.News) []string {
	v := n.catalog.View()
	listed := func(id string) bool {
		if v.LoadedAt.IsZero() || v.Index == nil {
			return true // no complete list yet: it may be in the one loading
		}
		i, ok := v.Index.Lookup(id)
		return ok && i < len(v.Accounts)
	}
	seen := map[string]bool{}
	var ids []string
	for _, x := range news {
		key := strings.ToLower(x.Account)
		if x.Replica == n.replica || seen[key] {
			continue
		}
		seen[key] = true
		if listed(x.Account) {
			ids = append(ids, x.Account)
		}
	}
	return ids
}

// reread reads each account from Mono, newsRereads at once and each within
// newsRereadBound, and overlays what it read in the catalogue. It returns
// when all are done.
func (n *accountNews) reread(ctx context.Context, ids []string) {
	slots := make(chan struct{}, newsRereads)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, id := range ids {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			rctx, cancel := context.WithTimeout(ctx, newsRereadBound)
			defer cancel()
			a, err := n.mono.Account(rctx, id)
			if ctx.Err() != nil {
				return
			}
			n.log.result("reread", "account not re-read after another replica's news", err, "account", id)
			if err == nil && a.ID != "" {
				n.catalog.Overlay(a)
			}
		})
	}
}

// onceLog logs a failure of each kind once until that kind succeeds again
// (a store or Mono that is down would otherwise log every tick).
type onceLog struct {
	logger  *log.Logger
	mu      sync.Mutex
	failing map[string]bool
}

// result notes how an operation of kind ended: a failure is logged (as msg)
// only if the last of its kind succeeded.
func (l *onceLog) result(kind, msg string, err error, kv ...any) {
	if err == nil {
		l.mu.Lock()
		delete(l.failing, kind)
		l.mu.Unlock()
		return
	}
	l.failed(kind, msg, err, kv...)
}

func (l *onceLog) failed(kind, msg string, err error, kv ...any) {
	l.mu.Lock()
	first := !l.failing[kind]
	if l.failing == nil {
		l.failing = map[string]bool{}
	}
	l.failing[kind] = true
	l.mu.Unlock()
	if first && l.logger != nil {
		l.logger.Warn(msg, append(kv, "err", OneLine(err))...)
	}
}
