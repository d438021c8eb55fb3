package app

import (
	"context"
	"errors"
	"time"

	"charm.land/log/v2"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/internal/metrics"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// ClaimsPollEvery is how often a runtime reads the claims' change feed for
// what other processes wrote (replicas on one PostgreSQL, or another
// process on one SQLite file); its own programs' writes are read at once.
const ClaimsPollEvery = time.Second

// Claims is the runtime's view of the team's claims on accounts: the
// store's backend, and the news of every change (this process's and, from
// the change feed, every other's) fanned out to the programs that watch.
// One goroutine reads the feed (run), so every watcher gets the changes in
// version order, each once.
type Claims struct {
	backend claim.Backend
	now     func() time.Time
	logger  *log.Logger
	metrics *metrics.Metrics // claimed, taken_over, released (nil: none)
	// kick asks run to read the feed now (a write of this process).
	kick chan struct{}
	// news fans each change out to the programs watching.
	news *broker[claim.Claim]
	// replica is this process's replica id: takes and refreshes say which
	// replica runs the attempt (a resumed attempt moves with its refresh).
	replica string
	// gone reports a replica silent in the registry since seen, reading
	// the registry again first (nil: one server).
	gone func(ctx context.Context, replica string, seen time.Time) bool
}

func newClaims(b claim.Backend, now func() time.Time, logger *log.Logger, m *metrics.Metrics) *Claims {
	c := &Claims{backend: b, now: now, logger: logger, metrics: m, kick: make(chan struct{}, 1)}
	c.news = newBroker(64, func(cl claim.Claim) {
		if logger != nil {
			logger.Warn("a program missed claim news", "account", cl.Account)
		}
	})
	return c
}

// start notes where the store's feed stands now, before it returns, and
// then reads the feed after it on a goroutine until ctx ends: every every,
// at each kick and at each wake, telling every watcher. What the store
// held before start is history, not news; what any process writes after
// start returns is news, however late the goroutine first runs (reading
// the starting point there let a claim taken meanwhile pass as history).
func (c *Claims) start(ctx context.Context, every time.Duration, wake <-chan struct{}) {
	var last int64
	if cs, err := c.backend.Changes(ctx, 0); err == nil && len(cs) > 0 {
		last = cs[len(cs)-1].Version
	}
	go c.run(ctx, last, every, wake)
}

func (c *Claims) run(ctx context.Context, last int64, every time.Duration, wake <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		case <-wake: // another process wrote (PostgreSQL's NOTIFY); nil elsewhere
		}
		cs, err := c.backend.Changes(ctx, last)
		if err != nil {
			if ctx.Err() == nil && err.Error() != lastErr && c.logger != nil {
				c.logger.Warn("claims not re-read", "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		for _, cl := range cs {
			last = cl.Version
			c.publish(cl)
		}
	}
}

func (c *Claims) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Watch is tui.Claims.Watch: every claim change from now on, until ctx ends
// (then the channel closes). A watcher that does not read loses news (the
// store still has it: Get).
func (c *Claims) Watch(ctx context.Context, wants func(account string) bool) <-chan claim.Claim {
	if wants == nil {
		return c.news.subscribe(ctx)
	}
	return c.news.subscribeWhere(ctx, func(cl claim.Claim) bool { return wants(cl.Account) })
}

func (c *Claims) publish(cl claim.Claim) { c.news.publish(cl) }

// For is one agent's tui.Claims: takes and refreshes carry agent as the
// holder.
func (c *Claims) For(agent audit.Agent) tui.Claims { return agentClaims{c: c, agent: agent} }

type agentClaims struct {
	c     *Claims
	agent audit.Agent
}

func (a agentClaims) Get(ctx context.Context, account string) (claim.Claim, bool, error) {
	return a.c.backend.Get(ctx, account)
}

func (a agentClaims) Take(ctx context.Context, account, attempt, phase, step string, takeOver bool) (claim.Claim, error) {
	t := claim.Take{Account: account, Holder: a.agent, Attempt: attempt, Phase: phase, Step: step,
		TakeOver: takeOver, Replica: a.c.replica, Now: a.c.now()}
	cl, err := a.c.backend.Take(ctx, t)
	var held *claim.HeldError
	if errors.As(err, &held) && a.c.gone != nil && held.Claim.Replica != "" && a.c.gone(ctx, held.Claim.Replica, held.Claim.Updated) {
		// The holder's replica stopped: its attempt was interrupted, and
		// the account is taken from it without asking anyone (the store
		// checks it still names that replica).
		t.GoneReplica = held.Claim.Replica
		cl, err = a.c.backend.Take(ctx, t)
	}
	if err == nil {
		a.c.poke()
		if cl.From != nil && !cl.From.Stale && !cl.From.Interrupted {
			a.c.metrics.Claim("taken_over")
		} else {
			a.c.metrics.Claim("claimed")
		}
	}
	return cl, err
}

func (a agentClaims) Update(ctx context.Context, account, attempt, phase, step string) error {
	_, err := a.c.backend.Update(ctx, claim.Update{Account: account, Attempt: attempt, Phase: phase, Step: step,
		Replica: a.c.replica, Now: a.c.now()})
	if err == nil {
		a.c.poke()
	}
	return err
}

// Park is tui.ClaimParker: the holder's connection dropped at at and the
// attempt is kept for them; colleagues see it.
func (a agentClaims) Park(ctx context.Context, account, attempt, phase, step string, at time.Time) error {
	_, err := a.c.backend.Update(ctx, claim.Update{Account: account, Attempt: attempt, Phase: phase, Step: step,
		Replica: a.c.replica, Parked: at, Now: a.c.now()})
	if err == nil {
		a.c.poke()
	}
	return err
}

func (a agentClaims) Release(ctx context.Context, account, attempt string) error {
	ok, err := a.c.backend.Release(ctx, account, attempt, a.c.now())
	if ok {
		a.c.poke()
		a.c.metrics.Claim("released")
	}
	return err
}

func (a agentClaims) Watch(ctx context.Context, wants func(account string) bool) <-chan claim.Claim {
	return a.c.Watch(ctx, wants)
}
