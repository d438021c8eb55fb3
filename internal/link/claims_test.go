package link

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// memClaims is the team's claims as one agent's run uses them, on an
// in-memory backend; Watch delivers what the test publishes.
type memClaims struct {
	b     *claim.Memory
	agent audit.Agent
	mu    sync.Mutex
	subs  []chan claim.Claim
}

func (m *memClaims) Take(ctx context.Context, account, attempt, phase, step string, takeOver bool) (claim.Claim, error) {
	return m.b.Take(ctx, claim.Take{Account: account, Holder: m.agent, Attempt: attempt, Phase: phase, Step: step, TakeOver: takeOver, Now: t0})
}

func (m *memClaims) Release(ctx context.Context, account, attempt string) error {
	_, err := m.b.Release(ctx, account, attempt, t0)
	return err
}

func (m *memClaims) Watch(ctx context.Context, _ func(string) bool) <-chan claim.Claim {
	ch := make(chan claim.Claim, 8)
	m.mu.Lock()
	m.subs = append(m.subs, ch)
	m.mu.Unlock()
	return ch
}

func (m *memClaims) publish(c claim.Claim) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ch := range m.subs {
		ch <- c
	}
}

func (m *memClaims) watching() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs) > 0
}

// `reauth link` keeps one live attempt per account, as the TUI does: a
// colleague's live claim refuses the run before anything is minted; with
// TakeOver it takes the account (recorded, naming them); a colleague taking
// it over later ends the run TAKEN OVER, naming them; the claim is released
// at the end.
func TestLinkTakesTheAccountsClaim(t *testing.T) {
	ctx := context.Background()
	back := claim.NewMemory()
	ada := &memClaims{b: back, agent: audit.Agent{User: "ada"}}
	bola := &memClaims{b: back, agent: audit.Agent{User: "bola"}}
	if _, err := ada.Take(ctx, account.ID, "ada-1", "page live", "", false); err != nil {
		t.Fatal(err)
	}

	r := runWith(t, ctx, newPage(), func(o *Options) { o.Claims = bola })
	var held *claim.HeldError
	if !errors.As(r.err, &held) || claim.Name(held.Claim.Holder) != "ada" {
		t.Fatalf("held by ada: err %v", r.err)
	}
	if r.minter.calls != 0 {
		t.Fatalf("%d mints for an account a colleague holds", r.minter.calls)
	}

	r = runWith(t, ctx, newPage(ev(mono.EventSuccess, mono.EventData{}), cb(mono.CallbackClose)),
		func(o *Options) { o.Claims, o.TakeOver = bola, true })
	if r.err != nil || r.res.Outcome.Kind != state.OutcomeSucceeded {
		t.Fatalf("take over: %v %+v", r.err, r.res.Outcome)
	}
	if !slices.Contains(r.audit.actions(), audit.ActionClaimTakenOver) || !r.audit.has("took over from ada") {
		t.Fatalf("the takeover is not recorded: %v", r.audit.actions())
	}
	if c, ok, _ := back.Get(ctx, account.ID); !ok || c.Live() {
		t.Fatalf("claim after the run: %+v (want released)", c)
	}

	// Bola's run holds it; ada takes it back while the page is live.
	p := newPage(ev(mono.EventOpened, mono.EventData{}))
	done := make(chan run, 1)
	go func() { done <- runWith(t, ctx, p, func(o *Options) { o.Claims = bola }) }()
	waitFor(t, func() bool {
		c, ok, _ := back.Get(ctx, account.ID)
		return ok && c.Live() && c.Holder.User == "bola" && bola.watching()
	})
	taken, err := ada.Take(ctx, account.ID, "ada-2", "starting an attempt", "", true)
	if err != nil {
		t.Fatal(err)
	}
	bola.publish(taken)
	var got run
	select {
	case got = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end when ada took the account over")
	}
	if got.res.Outcome.Kind != state.OutcomeTakenOver || !strings.Contains(got.res.Outcome.String(), "ada") {
		t.Fatalf("outcome %+v, want TAKEN OVER naming ada", got.res.Outcome)
	}
	if c, _, _ := back.Get(ctx, account.ID); c.Attempt != "ada-2" || !c.Live() {
		t.Fatalf("bola's run released ada's claim: %+v", c)
	}
}

// News of a colleague's claim written before the run took the account over
// can arrive after the take (news has its own channel): it is older than
// the take and does not end the run TAKEN OVER.
func TestLinkIgnoresClaimNewsOlderThanItsTake(t *testing.T) {
	ctx := context.Background()
	back := claim.NewMemory()
	ada := &memClaims{b: back, agent: audit.Agent{User: "ada"}}
	bola := &memClaims{b: back, agent: audit.Agent{User: "bola"}}
	adas, err := ada.Take(ctx, account.ID, "ada-1", "page live", "", false)
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(ev(mono.EventOpened, mono.EventData{}))
	done := make(chan run, 1)
	go func() { done <- runWith(t, ctx, p, func(o *Options) { o.Claims, o.TakeOver = bola, true }) }()
	waitFor(t, func() bool {
		c, ok, _ := back.Get(ctx, account.ID)
		return ok && c.Live() && c.Holder.User == "bola" && bola.watching()
	})
	bola.publish(adas)       // Ada's claim as it was before the take, arriving late
	waitFor(t, func() bool { // read by the run before the page's next event
		bola.mu.Lock()
		defer bola.mu.Unlock()
		return len(bola.subs[0]) == 0
	})
	p.events <- ev(mono.EventSuccess, mono.EventData{})
	p.events <- cb(mono.CallbackClose)
	var got run
	select {
	case got = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end")
	}
	if got.err != nil || got.res.Outcome.Kind != state.OutcomeSucceeded {
		t.Fatalf("outcome %+v (err %v), want SUCCEEDED: older claim news ended the run", got.res.Outcome, got.err)
	}
}
