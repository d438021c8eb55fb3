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
	t.Run("ReplicaAndParkedRoundTrip", func(t *testing.T) { testClaimReplicaParked(t, newDB(t)) })
	t.Run("GoneReplicaIsInterrupted", func(t *testing.T) { testClaimGoneReplica(t, newDB(t)) })
	t.Run("HeldByOneAgentsLiveClaims", func(t *testing.T) { testClaimHeldBy(t, newDB(t)) })
}

var (
	ada  = audit.Agent{User: "ada", KeyFingerprint: "SHA256:ada", Via: "ssh"}
	bola = audit.Agent{User: "bola", KeyFingerprint: "SHA256:bola", Via: "ssh"}
	cyd  = audit.Agent{User: "cyd", KeyFingerprint: "SHA256:cyd", Via: "ssh"}
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

func update(t *testing.T, b claim.Backend, u claim.Update) claim.Claim {
	t.Helper()
	c, err := b.Update(context.Background(), u)
	if err != nil {
		t.Fatalf("update %s for %s: %v", u.Account, u.Attempt, err)
	}
	return c
}

// A claim carries the replica running its attempt and when it was parked,
// through the store to every handle and the feed; an Update moves the
// replica (a resumed attempt) and sets and clears Parked.
func testClaimReplicaParked(t *testing.T, open func(t *testing.T) claim.Backend) {
	ctx := context.Background()
	a, b := open(t), open(t)
	c := take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Replica: "r1", Now: at(0)})
	if c.Replica != "r1" || !c.Parked.IsZero() {
		t.Fatalf("took %+v", c)
	}
	if got := get(t, b, "acc1"); got.Replica != "r1" || !got.Parked.IsZero() {
		t.Fatalf("another handle reads replica %q parked %v", got.Replica, got.Parked)
	}
	// Ada's connection drops: her program parks the attempt, still on r1.
	// A parked time with a fraction of a second and its own zone must come
	// back as the same instant.
	parkedAt := at(2).Add(123456789 * time.Nanosecond).In(time.FixedZone("WAT", 3600))
	p := update(t, a, claim.Update{Account: "acc1", Attempt: "a1", Phase: "page live", Replica: "r1", Parked: parkedAt, Now: at(2)})
	if p.Replica != "r1" || !p.Parked.Equal(parkedAt) || p.Phase != "page live" {
		t.Fatalf("parked: %+v", p)
	}
	got := get(t, b, "acc1")
	if got.Replica != "r1" || !got.Parked.Equal(parkedAt) || got.Version != p.Version {
		t.Fatalf("another handle reads the parked claim as replica %q parked %v (want %v)", got.Replica, got.Parked, parkedAt)
	}
	// A parked claim is still live and still held: a colleague is refused.
	var he *claim.HeldError
	if _, err := b.Take(ctx, claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", Replica: "r2", Now: at(3)}); !errors.As(err, &he) || !he.Claim.Parked.Equal(parkedAt) {
		t.Fatalf("a take of a parked claim: %v", err)
	}
	// She comes back through r2, which resumes the attempt: it moves there,
	// unparked, keeping its Since.
	r := update(t, b, claim.Update{Account: "acc1", Attempt: "a1", Phase: "page live", Replica: "r2", Now: at(4)})
	if r.Replica != "r2" || !r.Parked.IsZero() || !r.Since.Equal(at(0)) || r.Holder != ada {
		t.Fatalf("resumed: %+v", r)
	}
	cs, err := a.Changes(ctx, p.Version)
	if err != nil || len(cs) != 1 || cs[0].Replica != "r2" || !cs[0].Parked.IsZero() || cs[0].Version != r.Version {
		t.Fatalf("feed after the resume: %+v %v", cs, err)
	}
	// The same attempt taken again from a third replica (a retake) records
	// that replica and keeps Since.
	again := take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Replica: "r3", Now: at(5)})
	if again.Replica != "r3" || !again.Since.Equal(at(0)) || !again.Parked.IsZero() {
		t.Fatalf("retake from r3: %+v", again)
	}
	// Outside replicas the claim names none.
	o := take(t, a, claim.Take{Account: "acc2", Holder: ada, Attempt: "a2", Now: at(5)})
	if got := get(t, b, "acc2"); o.Replica != "" || got.Replica != "" || !got.Parked.IsZero() {
		t.Fatalf("a claim outside replicas: took %+v, read %+v", o, got)
	}
}

// A live claim whose replica the taker saw gone is taken at once (no
// takeover, not waiting for staleness) and says it was interrupted; a
// GoneReplica that is not the holder's replica changes nothing.
func testClaimGoneReplica(t *testing.T, open func(t *testing.T) claim.Backend) {
	ctx := context.Background()
	a, b := open(t), open(t)
	take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Replica: "r1", Now: at(0)})
	update(t, a, claim.Update{Account: "acc1", Attempt: "a1", Phase: "page live", Replica: "r1", Now: at(1)})
	var he *claim.HeldError
	// r2 gone, but ada's attempt runs on r1: refused, as any take of a held
	// claim.
	_, err := b.Take(ctx, claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", Replica: "r3", GoneReplica: "r2", Now: at(2)})
	if !errors.As(err, &he) || he.Claim.Attempt != "a1" || he.Claim.Replica != "r1" {
		t.Fatalf("a take naming another gone replica: %v", err)
	}
	if got := get(t, b, "acc1"); got.Attempt != "a1" || got.From != nil {
		t.Fatalf("a refused take changed the claim: %+v", got)
	}
	// r1 gone: taken, one minute after ada's last refresh (far from stale).
	c := take(t, b, claim.Take{Account: "acc1", Holder: bola, Attempt: "b1", Replica: "r3", GoneReplica: "r1", Now: at(2)})
	f := c.From
	if c.Holder != bola || c.Replica != "r3" || !c.Since.Equal(at(2)) || f == nil {
		t.Fatalf("interrupted take: %+v", c)
	}
	if !f.Interrupted || f.Replica != "r1" || !f.Stale || f.Holder != ada || f.Attempt != "a1" || !f.At.Equal(at(2)) || !f.LastSeen.Equal(at(1)) {
		t.Fatalf("interrupted take's From: %+v", f)
	}
	// Ada's program (were it alive) and every colleague learn it from the
	// feed, with the replica named.
	cs, err := a.Changes(ctx, 0)
	if err != nil || len(cs) != 1 || cs[0].From == nil || !cs[0].From.Interrupted || cs[0].From.Replica != "r1" || cs[0].Replica != "r3" {
		t.Fatalf("feed: %+v %v", cs, err)
	}
	// Bola's own refresh keeps From (as after any take).
	if u := update(t, b, claim.Update{Account: "acc1", Attempt: "b1", Replica: "r3", Now: at(3)}); u.From == nil || !u.From.Interrupted {
		t.Fatalf("update after the interrupted take: %+v", u.From)
	}
	// A claim outside replicas (Replica "") is never taken for an empty
	// GoneReplica.
	take(t, a, claim.Take{Account: "acc2", Holder: ada, Attempt: "a2", Now: at(3)})
	if _, err := b.Take(ctx, claim.Take{Account: "acc2", Holder: bola, Attempt: "b2", Now: at(4)}); !errors.As(err, &he) {
		t.Fatalf("a take of a claim outside replicas with no gone replica: %v", err)
	}
	// A takeover of a claim on a gone replica says it was interrupted (the
	// agent did not need to ask).
	take(t, a, claim.Take{Account: "acc3", Holder: ada, Attempt: "a3", Replica: "r1", Now: at(3)})
	if c := take(t, b, claim.Take{Account: "acc3", Holder: bola, Attempt: "b3", TakeOver: true, GoneReplica: "r1", Now: at(4)}); c.From == nil || !c.From.Interrupted {
		t.Fatalf("takeover of a claim on a gone replica: %+v", c.From)
	}
	// The same attempt's retake on a gone replica is a retake: Since and
	// From kept, not interrupted.
	take(t, a, claim.Take{Account: "acc4", Holder: ada, Attempt: "a4", Replica: "r1", Now: at(3)})
	if c := take(t, b, claim.Take{Account: "acc4", Holder: ada, Attempt: "a4", Replica: "r2", GoneReplica: "r1", Now: at(4)}); c.From != nil || !c.Since.Equal(at(3)) || c.Replica != "r2" {
		t.Fatalf("the holder's own retake after its replica went: %+v", c)
	}
}

// HeldBy is one agent's live claims, newest refresh first: not their
// released ones, not those taken from them, not a colleague's.
func testClaimHeldBy(t *testing.T, open func(t *testing.T) claim.Backend) {
	ctx := context.Background()
	a, b := open(t), open(t)
	if _, err := a.HeldBy(ctx, ""); !errors.Is(err, claim.ErrNoFingerprint) {
		t.Fatalf("HeldBy without a fingerprint: %v", err)
	}
	if cs, err := a.HeldBy(ctx, ada.KeyFingerprint); err != nil || len(cs) != 0 {
		t.Fatalf("HeldBy on an empty store: %+v %v", cs, err)
	}
	// Versions go acc1..acc4 but refreshes do not: the order must be
	// Updated's. acc3 and acc1 are half a second apart and acc2's time is in
	// another zone, so the order is of instants, not of stored text.
	wat := time.FixedZone("WAT", 3600)
	take(t, a, claim.Take{Account: "acc1", Holder: ada, Attempt: "a1", Replica: "r1", Now: at(1)})
	take(t, a, claim.Take{Account: "acc2", Holder: ada, Attempt: "a2", Replica: "r2", Now: at(3).In(wat)})
	take(t, a, claim.Take{Account: "acc3", Holder: ada, Attempt: "a3", Replica: "r1", Now: at(1).Add(500 * time.Millisecond)})
	update(t, a, claim.Update{Account: "acc3", Attempt: "a3", Replica: "r1", Parked: at(1.5), Now: at(2)})
	take(t, a, claim.Take{Account: "acc4", Holder: ada, Attempt: "a4", Now: at(4)})
	if ok, err := a.Release(ctx, "acc4", "a4", at(5)); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	take(t, a, claim.Take{Account: "acc5", Holder: ada, Attempt: "a5", Now: at(5)})
	take(t, b, claim.Take{Account: "acc5", Holder: bola, Attempt: "b5", TakeOver: true, Now: at(6)})
	take(t, b, claim.Take{Account: "acc6", Holder: bola, Attempt: "b6", Now: at(6)})
	// Another agent with the same user name but another key is another
	// agent.
	take(t, b, claim.Take{Account: "acc7", Holder: audit.Agent{User: "ada", KeyFingerprint: "SHA256:ada-laptop"}, Attempt: "x7", Now: at(7)})

	cs, err := b.HeldBy(ctx, ada.KeyFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Account)
	}
	if fmt.Sprint(got) != "[acc2 acc3 acc1]" {
		t.Fatalf("ada holds %v, want [acc2 acc3 acc1] (newest refresh first)", got)
	}
	if c := cs[1]; c.Replica != "r1" || !c.Parked.Equal(at(1.5)) || c.Holder != ada || c.Version <= 0 || !c.Live() {
		t.Fatalf("acc3 as HeldBy reads it: %+v", c)
	}
	if cs[0].Replica != "r2" || !cs[0].Parked.IsZero() {
		t.Fatalf("acc2 as HeldBy reads it: %+v", cs[0])
	}
	cs, err = a.HeldBy(ctx, bola.KeyFingerprint)
	if err != nil || len(cs) != 2 {
		t.Fatalf("bola holds %+v %v", cs, err)
	}
	// acc5 and acc6 share their Updated: the newer version comes first.
	if cs[0].Account != "acc6" || cs[1].Account != "acc5" {
		t.Fatalf("bola's claims in order %s, %s; want acc6, acc5", cs[0].Account, cs[1].Account)
	}
	if cs, err := a.HeldBy(ctx, cyd.KeyFingerprint); err != nil || len(cs) != 0 {
		t.Fatalf("cyd holds %+v %v", cs, err)
	}
}
