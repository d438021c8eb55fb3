package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/state/audit"
)

// ClaimsBackend runs the claims conformance suite on a backend. newDB makes
// a fresh, empty store and returns how to open a backend on it; each call
// of that opens another handle (as another process or replica would; the
// memory backend returns the same one).
func ClaimsBackend(t *testing.T, newDB func(t *testing.T) func(t *testing.T) claim.Backend) {
	t.Run("TakeGetRelease", func(t *testing.T) { testClaimTakeGetRelease(t, newDB(t)) })
	t.Run("HeldNamesTheHolder", func(t *testing.T) { testClaimHeld(t, newDB(t)) })
	t.Run("TakeOverNamesBoth", func(t *testing.T) { testClaimTakeOver(t, newDB(t)) })
	t.Run("StaleIsTakenSayingSo", func(t *testing.T) { testClaimStale(t, newDB(t)) })
	t.Run("UpdateOnlyByTheHolder", func(t *testing.T) { testClaimUpdate(t, newDB(t)) })
	t.Run("RaceOneWinner", func(t *testing.T) { testClaimRace(t, newDB(t)) })
}

var (
	ada  = audit.Agent{User: "ada", KeyFingerprint: "SHA256:ada", Via: "ssh"}
	bola = audit.Agent{User: "bola", KeyFingerprint: "SHA256:bola", Via: "ssh"}
	t0   = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
)

func at(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }

func take(t *testing.T, b claim.Backend, tk claim.Take) claim.Claim {
	t.Helper()
	c, err := b.Take(context.Background(), tk)
	if err != nil {
		t.Fatalf("take %s for %s: %v", tk.Account, tk.Attempt, err)
	}
	return c
}

func get(t *testing.T, b claim.Backend, account string) claim.Claim {
	t.Helper()
	c, ok, err := b.Get(context.Background(), account)
	if err != nil || !ok {
		t.Fatalf("get %s: %v (found %v)", account, err, ok)
	}
	return c
}

func testClaimTakeGetRelease(t *testing.T, open func(t *testing.T) claim.Backend) {
	ctx := context.Background()
	b, other := open(t), open(t)
	if _, ok, err := b.Get(ctx, "acc1"); ok || err != nil {
		t.Fatalf("a fresh store has a claim (%v)", err)
	}
	c := take(t, b, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Phase: "minting a token", Now: at(0)})
	if c.Holder != ada || c.Attempt != "a1" || !c.Since.Equal(at(0)) || c.From != nil || !c.Live() || c.Version <= 0 {
		t.Fatalf("took %+v", c)
	}
	got := get(t, other, "acc1")
	if got.Holder != ada || got.Attempt != "a1" || !got.Since.Equal(at(0)) || got.Phase != "minting a token" || got.Version != c.Version {
		t.Fatalf("another handle reads %+v, want %+v", got, c)
	}
	// The same attempt again (a retry) keeps its Since.
	again := take(t, other, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Now: at(1)})
	if !again.Since.Equal(at(0)) || again.Version <= c.Version {
		t.Fatalf("retake by the holder: %+v", again)
	}
	if ok, err := other.Release(ctx, "acc1", "not-the-holder", at(2)); ok || err != nil {
		t.Fatalf("a release by another attempt: %v %v", ok, err)
	}
	if ok, err := b.Release(ctx, "acc1", "a1", at(2)); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	if got := get(t, other, "acc1"); got.Live() {
		t.Fatalf("released claim still live: %+v", got)
	}
	// Released: free for anyone, without a takeover.
	c2 := take(t, other, claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", Now: at(3)})
	if c2.From != nil || !c2.Since.Equal(at(3)) {
		t.Fatalf("take after release: %+v", c2)
	}
	cs, err := b.Changes(ctx, 0)
	if err != nil || len(cs) != 1 || cs[0].Attempt != "b1" || cs[0].Version != c2.Version {
		t.Fatalf("changes: %+v %v", cs, err)
	}
	if cs, err := b.Changes(ctx, c2.Version); err != nil || len(cs) != 0 {
		t.Fatalf("changes after the newest: %+v %v", cs, err)
	}
}

func testClaimHeld(t *testing.T, open func(t *testing.T) claim.Backend) {
	a, b := open(t), open(t)
	held := take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Phase: "page live", Step: "customer at the MFA step", Now: at(0)})
	_, err := b.Take(context.Background(), claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", Now: at(1)})
	var he *claim.HeldError
	if !errors.As(err, &he) {
		t.Fatalf("a take of a held account: %v, want a HeldError", err)
	}
	if he.Claim.Holder != ada || he.Claim.Attempt != "a1" || he.Claim.Doing() != "page live, customer at the MFA step" || he.Claim.Version != held.Version {
		t.Fatalf("held by %+v", he.Claim)
	}
	if want := "ada is re-authorising this account since 07:00 — page live, customer at the MFA step"; he.Claim.Sentence(time.UTC) != want {
		t.Errorf("sentence %q, want %q", he.Claim.Sentence(time.UTC), want)
	}
	// The same agent's other attempt is refused too: one live attempt.
	if _, err := b.Take(context.Background(), claim.Take{Account: "acc1", Holder: ada, Attempt: "a2", Now: at(1)}); !errors.As(err, &he) {
		t.Fatalf("the holder's second attempt: %v", err)
	}
	if got := get(t, b, "acc1"); got.Attempt != "a1" || got.Version != held.Version {
		t.Fatalf("a refused take changed the claim: %+v", got)
	}
}

func testClaimTakeOver(t *testing.T, open func(t *testing.T) claim.Backend) {
	ctx := context.Background()
	a, b := open(t), open(t)
	take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Now: at(0)})
	if _, err := a.Update(ctx, claim.Update{Account: "acc1", Attempt: "a1", Phase: "page live", Now: at(11)}); err != nil {
		t.Fatal(err)
	}
	c := take(t, b, claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", TakeOver: true, Now: at(12)})
	if c.Holder != bola || c.From == nil || c.From.Holder != ada || c.From.Attempt != "a1" || c.From.Stale || !c.From.At.Equal(at(12)) {
		t.Fatalf("takeover: %+v (from %+v)", c, c.From)
	}
	// Ada's program learns it from the feed: the newest row names both.
	cs, err := a.Changes(ctx, 0)
	if err != nil || len(cs) != 1 || cs[0].Holder != bola || cs[0].From == nil || cs[0].From.Attempt != "a1" {
		t.Fatalf("feed: %+v %v", cs, err)
	}
	// Ada's attempt no longer holds it: her refresh and release do nothing.
	if _, err := a.Update(ctx, claim.Update{Account: "acc1", Attempt: "a1", Phase: "page live", Now: at(13)}); !errors.Is(err, claim.ErrNotHeld) {
		t.Fatalf("update by the old holder: %v", err)
	}
	if ok, err := a.Release(ctx, "acc1", "a1", at(13)); ok || err != nil {
		t.Fatalf("release by the old holder: %v %v", ok, err)
	}
	// Bola's refresh keeps From (the feed still says whom he took it from).
	u, err := b.Update(ctx, claim.Update{Account: "acc1", Attempt: "b1", Phase: "page live", Now: at(14)})
	if err != nil || u.From == nil || u.From.Attempt != "a1" || u.Phase != "page live" {
		t.Fatalf("update after takeover: %+v %v", u, err)
	}
}

func testClaimStale(t *testing.T, open func(t *testing.T) claim.Backend) {
	a, b := open(t), open(t)
	take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Now: at(0)})
	if _, err := a.Update(context.Background(), claim.Update{Account: "acc1", Attempt: "a1", Now: at(1)}); err != nil {
		t.Fatal(err)
	}
	// Within the bound of the last refresh: held.
	var he *claim.HeldError
	if _, err := b.Take(context.Background(), claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", Now: at(1).Add(claim.DefaultStaleAfter)}); !errors.As(err, &he) {
		t.Fatalf("at the bound: %v", err)
	}
	c := take(t, b, claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", Now: at(1).Add(claim.DefaultStaleAfter + time.Second)})
	if c.From == nil || !c.From.Stale || c.From.Holder != ada || !c.From.LastSeen.Equal(at(1)) {
		t.Fatalf("stale take: %+v", c.From)
	}
}

func testClaimUpdate(t *testing.T, open func(t *testing.T) claim.Backend) {
	ctx := context.Background()
	a, b := open(t), open(t)
	if _, err := a.Update(ctx, claim.Update{Account: "acc1", Attempt: "a1", Now: at(0)}); !errors.Is(err, claim.ErrNotHeld) {
		t.Fatalf("update of an unclaimed account: %v", err)
	}
	c := take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Now: at(0)})
	u, err := a.Update(ctx, claim.Update{Account: "acc1", Attempt: "a1", Phase: "page live", Step: "customer at the MFA step", Now: at(3)})
	if err != nil || u.Version <= c.Version || !u.Updated.Equal(at(3)) || !u.Since.Equal(at(0)) {
		t.Fatalf("update: %+v %v", u, err)
	}
	if got := get(t, b, "acc1"); got.Doing() != "page live, customer at the MFA step" || !got.Updated.Equal(at(3)) {
		t.Fatalf("read back %+v", got)
	}
	if _, err := b.Update(ctx, claim.Update{Account: "acc1", Attempt: "b1", Now: at(4)}); !errors.Is(err, claim.ErrNotHeld) {
		t.Fatalf("update by a colleague: %v", err)
	}
}

// Agents on two handles (processes, replicas) race for the same accounts:
// each account has exactly one winner, every loser is told who won, and the
// feed holds one row per account in increasing versions.
func testClaimRace(t *testing.T, open func(t *testing.T) claim.Backend) {
	ctx := context.Background()
	handles := []claim.Backend{open(t), open(t)}
	const accounts, racers = 10, 6
	type result struct {
		account, attempt string
		won              bool
		winner           string
		err              error
	}
	results := make(chan result, accounts*racers*len(handles))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for h, b := range handles {
		for r := range racers {
			wg.Go(func() {
				<-start
				for i := range accounts {
					acc := fmt.Sprintf("race-%d", i)
					attempt := fmt.Sprintf("h%d-r%d-%s", h, r, acc)
					agent := audit.Agent{User: fmt.Sprintf("agent-%d-%d", h, r)}
					c, err := b.Take(ctx, claim.Take{Account: acc, Holder: agent, Attempt: attempt, Now: at(0)})
					var he *claim.HeldError
					switch {
					case err == nil:
						results <- result{account: acc, attempt: attempt, won: true, winner: c.Attempt}
					case errors.As(err, &he):
						results <- result{account: acc, attempt: attempt, winner: he.Claim.Attempt}
					default:
						results <- result{account: acc, attempt: attempt, err: err}
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(results)
	winners := map[string]string{}
	seen := map[string][]result{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("%s: %v", r.attempt, r.err)
		}
		seen[r.account] = append(seen[r.account], r)
		if r.won {
			if w, dup := winners[r.account]; dup {
				t.Fatalf("%s won twice: %s and %s", r.account, w, r.attempt)
			}
			winners[r.account] = r.attempt
		}
	}
	if len(winners) != accounts {
		t.Fatalf("%d accounts have a winner, want %d", len(winners), accounts)
	}
	for acc, rs := range seen {
		for _, r := range rs {
			if r.winner != winners[acc] {
				t.Errorf("%s: %s was told %s holds it; %s won", acc, r.attempt, r.winner, winners[acc])
			}
		}
		if got := get(t, handles[1], acc); got.Attempt != winners[acc] {
			t.Errorf("%s is held by %s, the winner was %s", acc, got.Attempt, winners[acc])
		}
	}
	cs, err := handles[0].Changes(ctx, 0)
	if err != nil || len(cs) != accounts {
		t.Fatalf("feed: %d rows, %v", len(cs), err)
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].Version <= cs[i-1].Version {
			t.Fatalf("feed goes back: %d after %d", cs[i].Version, cs[i-1].Version)
		}
	}
}
