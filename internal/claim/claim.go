// Package claim is the team's claims on accounts: one live attempt per
// account across every program of a team (every SSH session of one `reauth
// serve`, every replica on one PostgreSQL). An agent takes an account's claim
// when they start an attempt (a token or a link), keeps it current while the
// attempt runs (its phase, where the customer is) and releases it at the
// attempt's outcome or when they leave it. A colleague who opens the account
// sees who holds it and since when; taking it over is a deliberate act that
// names both agents, and the holder's program learns of it from the change
// feed.
//
// A Backend keeps one row per account and a change feed (every write takes
// the next version, as the webhook marks do). The decisions are made here,
// once, inside each backend's transaction (TakeTx, UpdateTx, ReleaseTx), so
// the memory, SQLite and PostgreSQL backends agree.
package claim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reauth/reauth/state/audit"
)

// DefaultStaleAfter is how long a holder may go without refreshing its
// claim before a colleague may take it without taking it over: its program
// is gone (a killed replica). It is longer than reauth serve's default
// --resume-grace (3m), so an attempt kept for an agent whose connection
// dropped is not taken from under them without asking while they may still
// come back (a colleague can always take it over by asking).
const DefaultStaleAfter = 5 * time.Minute

// RefreshEvery is how often a holder refreshes a claim whose attempt is
// quiet, well inside DefaultStaleAfter.
const RefreshEvery = 30 * time.Second

// Claim is one account's claim: who holds it for which attempt, since when,
// and what the attempt is at.
type Claim struct {
	Account string      `json:"account"`
	Holder  audit.Agent `json:"holder"`
	Attempt string      `json:"attempt"` // the holder's attempt (its audit session id)
	Since   time.Time   `json:"since"`
	// Phase and Step say what the attempt is at, in words: "page live",
	// "customer at the MFA step" (either may be empty).
	Phase   string    `json:"phase,omitempty"`
	Step    string    `json:"step,omitempty"`
	Updated time.Time `json:"updated"` // the holder's last refresh
	// Replica is the id of the `reauth serve` replica whose program runs the
	// attempt ("" outside replicas): a colleague whose replica registry no
	// longer lists it knows the attempt was interrupted, and an agent who
	// reconnects elsewhere learns where it ran. An Update moves it (a resumed
	// attempt runs on the replica the agent came back to).
	Replica string `json:"replica,omitempty"`
	// Parked is when the holder's SSH connection dropped and the attempt was
	// kept for them to come back (zero while they are connected): their
	// program still refreshes the claim, so it is not stale, but nobody is
	// watching it.
	Parked time.Time `json:"parked,omitzero"`
	// Released: no attempt holds the account now (the row stays, for the
	// change feed).
	Released bool `json:"released,omitempty"`
	// From is whom the current holder took the account from (nil when it
	// was free): the feed tells the previous holder's program by it.
	From    *Taken `json:"from,omitempty"`
	Version int64  `json:"-"`
}

// Taken is the claim a Take replaced.
type Taken struct {
	Holder  audit.Agent `json:"holder"`
	Attempt string      `json:"attempt"`
	// Stale: the holder's program had stopped refreshing it (or, with
	// Interrupted, is gone with its replica), so it was taken without a
	// takeover.
	Stale bool      `json:"stale,omitempty"`
	At    time.Time `json:"at"` // when it was taken
	// LastSeen is the previous holder's last refresh.
	LastSeen time.Time `json:"last_seen"`
	// Interrupted: the replica running the previous attempt had left the
	// replica registry (Take.GoneReplica), so the attempt was cut short
	// rather than abandoned; it was taken at once, without waiting for its
	// claim to go stale (Stale is set too, so a reader that only knows Stale
	// still words it as a take without a takeover).
	Interrupted bool `json:"interrupted,omitempty"`
	// Replica is the gone replica, set with Interrupted.
	Replica string `json:"replica,omitempty"`
}

// Live reports whether an attempt holds the account.
func (c Claim) Live() bool { return c.Account != "" && !c.Released }

// StaleAt reports whether the holder has not refreshed the claim for longer
// than after, at now.
func (c Claim) StaleAt(now time.Time, after time.Duration) bool {
	return after > 0 && now.Sub(c.Updated) > after
}

// Name is how an agent is named to colleagues: the user, else the key's
// fingerprint, else "another agent".
func Name(a audit.Agent) string {
	if u := strings.TrimSpace(a.User); u != "" {
		return u
	}
	if a.KeyFingerprint != "" {
		return "the agent with key " + a.KeyFingerprint
	}
	return "another agent"
}

// Doing is what the claim says of its attempt, for a colleague: "page
// live, customer at the MFA step" ("" when it says nothing).
func (c Claim) Doing() string {
	parts := make([]string, 0, 2)
	for _, p := range []string{c.Phase, c.Step} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// Sentence is the line a colleague reads: "ada is re-authorising this
// account since 07:00 — page live, customer at the MFA step". loc is the
// reader's time zone (nil: the claim's own).
func (c Claim) Sentence(loc *time.Location) string {
	since := c.Since
	if loc != nil {
		since = since.In(loc)
	}
	s := Name(c.Holder) + " is re-authorising this account since " + since.Format("15:04")
	if d := c.Doing(); d != "" {
		s += " — " + d
	}
	return s
}

// Take asks for an account's claim for one attempt.
type Take struct {
	Account string
	Holder  audit.Agent
	Attempt string
	Phase   string
	Step    string
	// TakeOver: the agent confirmed taking the account from its holder.
	TakeOver bool
	// Replica is the taker's replica id ("" outside replicas); the claim
	// records it.
	Replica string
	// GoneReplica is a replica the taker saw missing from the replica
	// registry: a live claim whose Replica it is has lost its program, so it
	// is taken without waiting for it to go stale (From.Interrupted). ""
	// never matches.
	GoneReplica string
	Now         time.Time
}

// Update is the holder's refresh: what its attempt is at now. Every field
// is written (an Update is the whole of the holder's view, not a patch): a
// refresh that leaves Replica empty clears it, one that leaves Parked zero
// says the holder is connected.
type Update struct {
	Account string
	Attempt string
	Phase   string
	Step    string
	// Replica is the replica whose program runs the attempt now (a resumed
	// attempt moves to the replica the agent reconnected to).
	Replica string
	// Parked is when the holder's connection dropped while the attempt is
	// kept for them (zero: connected; so parking and unparking are Updates).
	Parked time.Time
	Now    time.Time
}

// HeldError is a Take refused because another attempt holds the account
// (and its holder still refreshes it).
type HeldError struct{ Claim Claim }

func (e *HeldError) Error() string {
	return fmt.Sprintf("claim: %s is held by %s (attempt %s)", e.Claim.Account, Name(e.Claim.Holder), e.Claim.Attempt)
}

// ErrNoFingerprint is a HeldBy without a key fingerprint: every agent
// without one would match.
var ErrNoFingerprint = errors.New("claim: HeldBy needs a key fingerprint")

// ErrNotHeld is an Update by an attempt that does not hold the account (it
// was released, or taken over).
var ErrNotHeld = errors.New("claim: this attempt does not hold the account")

// Backend keeps the claims. Every method is one transaction; Take is
// atomic across every handle on one database: of two attempts racing for a
// free account, exactly one wins.
type Backend interface {
	// Take gives the account to t's attempt: when it is free, released,
	// already this attempt's, stale (From.Stale), run on t.GoneReplica
	// (From.Interrupted), or t.TakeOver (From names the previous holder).
	// Otherwise it returns a *HeldError with the current claim.
	Take(ctx context.Context, t Take) (Claim, error)
	// Update refreshes the holder's claim (ErrNotHeld when it is not).
	Update(ctx context.Context, u Update) (Claim, error)
	// Release frees the account if attempt holds it (false otherwise).
	Release(ctx context.Context, account, attempt string, now time.Time) (bool, error)
	// Get is the account's claim (false: never claimed).
	Get(ctx context.Context, account string) (Claim, bool, error)
	// Changes is every claim written after version, in version order (one
	// per account: its newest).
	Changes(ctx context.Context, after int64) ([]Claim, error)
	// HeldBy is every live claim whose holder's KeyFingerprint is
	// keyFingerprint, newest Updated first (NewestFirst): what a
	// reconnecting agent may resume, and where it runs. An empty
	// fingerprint is ErrNoFingerprint.
	HeldBy(ctx context.Context, keyFingerprint string) ([]Claim, error)
}

// NewestFirst orders claims by Updated, newest first, then by Version,
// newest first (for slices.SortFunc). Backends sort HeldBy with it in Go:
// Updated is stored as RFC 3339 text in the entry, whose string order is
// not time order (fractions of a second, zones).
func NewestFirst(a, b Claim) int {
	if c := b.Updated.Compare(a.Updated); c != 0 {
		return c
	}
	return cmp.Compare(b.Version, a.Version)
}

// Tx is one backend transaction as the decisions see it.
type Tx interface {
	// Get reads the account's row.
	Get(account string) (Claim, bool, error)
	// Put writes it with the next version and returns that version.
	Put(c Claim) (int64, error)
}

// TakeTx decides and writes a Take inside tx (staleAfter <= 0: never
// stale). The taker's Replica is recorded; a live claim on t.GoneReplica is
// taken as interrupted (From.Interrupted and From.Stale).
func TakeTx(tx Tx, t Take, staleAfter time.Duration) (Claim, error) {
	if t.Account == "" || t.Attempt == "" {
		return Claim{}, errors.New("claim: a take needs an account and an attempt")
	}
	cur, ok, err := tx.Get(t.Account)
	if err != nil {
		return Claim{}, err
	}
	next := Claim{Account: t.Account, Holder: t.Holder, Attempt: t.Attempt, Since: t.Now, Phase: t.Phase, Step: t.Step, Updated: t.Now,
		Replica: t.Replica}
	switch {
	case !ok || !cur.Live():
	case cur.Attempt == t.Attempt:
		next.Since, next.From = cur.Since, cur.From
	case cur.Replica != "" && cur.Replica == t.GoneReplica:
		// Its program went with its replica: nobody will refresh or release
		// it, so waiting for it to go stale would only keep the account
		// from everyone.
		next.From = &Taken{Holder: cur.Holder, Attempt: cur.Attempt, Stale: true, Interrupted: true, Replica: cur.Replica,
			At: t.Now, LastSeen: cur.Updated}
	case cur.StaleAt(t.Now, staleAfter):
		next.From = &Taken{Holder: cur.Holder, Attempt: cur.Attempt, Stale: true, At: t.Now, LastSeen: cur.Updated}
	case t.TakeOver:
		next.From = &Taken{Holder: cur.Holder, Attempt: cur.Attempt, At: t.Now, LastSeen: cur.Updated}
	default:
		return Claim{}, &HeldError{Claim: cur}
	}
	v, err := tx.Put(next)
	if err != nil {
		return Claim{}, err
	}
	next.Version = v
	return next, nil
}

// UpdateTx decides and writes an Update inside tx.
func UpdateTx(tx Tx, u Update) (Claim, error) {
	cur, ok, err := tx.Get(u.Account)
	if err != nil {
		return Claim{}, err
	}
	if !ok || !cur.Live() || cur.Attempt != u.Attempt {
		return Claim{}, ErrNotHeld
	}
	cur.Phase, cur.Step, cur.Updated = u.Phase, u.Step, u.Now
	cur.Replica, cur.Parked = u.Replica, u.Parked
	v, err := tx.Put(cur)
	if err != nil {
		return Claim{}, err
	}
	cur.Version = v
	return cur, nil
}

// ReleaseTx decides and writes a Release inside tx.
func ReleaseTx(tx Tx, account, attempt string, now time.Time) (bool, error) {
	cur, ok, err := tx.Get(account)
	if err != nil {
		return false, err
	}
	if !ok || !cur.Live() || cur.Attempt != attempt {
		return false, nil
	}
	cur.Released, cur.Updated = true, now
	_, err = tx.Put(cur)
	return err == nil, err
}
