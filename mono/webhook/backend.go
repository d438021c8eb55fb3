package webhook

import (
	"context"
	"fmt"
	"time"
)

// DefaultSeenFor is how long a database backend remembers an event id for
// dedupe. Mono retries a failed delivery for hours; a month is far past
// that, and bounds the table by time rather than by count (a count would
// forget ids sooner the busier the team).
const DefaultSeenFor = 30 * 24 * time.Hour

// Backend keeps the marks where any number of receivers and apps share
// them: a database (internal/store/sqlite, internal/store/postgres). A Store
// made with NewStore keeps an in-memory view of it for reads and follows its
// change feed on Reload.
//
// Every write goes through Apply, which a backend runs as one transaction
// holding the database's write lock for marks (SQLite: BEGIN IMMEDIATE;
// PostgreSQL: an advisory transaction lock): ApplyTx inside it remembers
// the event's key (or finds it seen: Duplicate), reads the account's
// entry, asks Decide, and writes. Two receivers given the same event id
// apply it once, and an event acknowledged to Mono (Apply returned nil) is
// never overwritten by an older one.
type Backend interface {
	// Apply applies one proposal atomically (see ApplyTx) and commits it
	// before returning.
	Apply(ctx context.Context, p Proposal) (Result, error)
	// Changes is every account entry whose version is greater than after,
	// in version order. Versions are given in commit order: once a reader
	// has seen version N, no entry of version N or less is committed later.
	// Changes(ctx, 0) is every entry.
	Changes(ctx context.Context, after int64) ([]Change, error)
	// Seen reports whether key (an event id as sent, see dedupeKey) is
	// remembered.
	Seen(ctx context.Context, key string) (bool, error)
	// Import applies a marks file's entries and seen ids once (see
	// ImportFile): in one transaction, unless imp.Source was imported
	// before (then nothing, Already true).
	Import(ctx context.Context, imp Import) (ImportResult, error)
}

// Proposal is what one event (or the app's Flag or Clear) would do to its
// account.
type Proposal struct {
	// Key is the event id exactly as sent, as the Store keeps it; "" when
	// the payload had none (2022 shapes, the app's own Flag and Clear):
	// then there is no dedupe.
	Key string
	// AccountID is the account the event is about; "" for none (only the
	// key is remembered).
	AccountID string
	// Next is the entry the event would leave: a mark, an unlinking or a
	// clearing, with its evidence, At and MonoTime. Kind "" for an event
	// that decides nothing about the account (it is still ordered: an older
	// one is Stale).
	Next Mark
}

// Change is an account's entry as a backend holds it, and its version.
type Change struct {
	AccountID string
	Entry     Mark // Kind MarkReauthRequired, MarkSyncFailed, MarkUnlinked or Cleared
	Version   int64
}

// Result is what Apply did.
type Result struct {
	Outcome Outcome
	// Changed says the account's entry was written: Change holds it.
	Changed bool
	Change  Change
}

// Decision is what Decide rules for a proposed entry.
type Decision int

const (
	// DecideWrite: write the entry Decide returned.
	DecideWrite Decision = iota
	// DecideSame: nothing to write (the entry is already there, or the
	// event decides nothing about the account).
	DecideSame
	// DecideStale: the proposal is older than the account's entry (or as
	// old and of lower rank); nothing changes.
	DecideStale
)

// Decide is the one rule for what an event (or Flag, Clear) does to an
// account whose current entry is cur (has false for none), written once and
// run by every store: the file and memory Stores and, inside their
// transaction, the database backends.
//
// A proposal older than cur (next.At before cur.At), or with the same Mono
// timestamp and a lower rank (an unlink beats a mark, reauth required beats
// sync failed, a mark beats a clear), is stale. Times that are not Mono's
// tie in arrival order: the later applies. Otherwise next becomes the entry:
// a mark keeps cur's Since while the account stays marked (or stays
// unlinked), else starts its spell at its own At; a clearing has no Since.
// A proposal of Kind "" decides nothing: stale or the same.
func Decide(cur Mark, has bool, next Mark) (Mark, Decision) {
	if has && staleAgainst(cur, next.At, next.MonoTime, next.Kind) {
		return cur, DecideStale
	}
	switch next.Kind {
	case "":
		return cur, DecideSame
	case Cleared:
		next.Since = time.Time{}
	default:
		next.Since = next.At
		if sameSpell(cur, has, next.Kind) {
			next.Since = cur.Since
		}
	}
	if has && cur == next {
		return cur, DecideSame
	}
	return next, DecideWrite
}

// sameSpell reports whether an entry of kind continues cur's spell: both
// marks needing reauth, or both unlinkings.
func sameSpell(cur Mark, has bool, kind MarkKind) bool {
	return has && cur.Kind != Cleared && (cur.Kind == MarkUnlinked) == (kind == MarkUnlinked)
}

// staleAgainst reports whether something at `at` that leaves kind ("" for
// nothing) must not replace cur: it is older than cur or, both being Mono's
// timestamps (whose deliveries come in any order), as old and of lower
// rank. Times that are not Mono's (receipt times, the app's) tie in arrival
// order: the later one applies.
func staleAgainst(cur Mark, at time.Time, monoTime bool, kind MarkKind) bool {
	if at.Before(cur.At) {
		return true
	}
	return at.Equal(cur.At) && monoTime && cur.MonoTime && kind != "" && rank(kind) < rank(cur.Kind)
}

// Tx is one backend transaction as ApplyTx and ImportTx use it. The backend
// opens it holding its write lock for marks and commits it when they return
// nil.
type Tx interface {
	// Remember records key as seen now; fresh is false if it already was.
	Remember(key string) (fresh bool, err error)
	// Entry reads accountID's entry (ok false for none).
	Entry(accountID string) (m Mark, ok bool, err error)
	// Put writes accountID's entry with the next version of the change
	// feed, and returns that version.
	Put(accountID string, m Mark) (version int64, err error)
}

// ApplyTx applies p inside a backend's transaction: a seen key is a
// Duplicate and changes nothing; otherwise the key is remembered, the
// account's entry read and Decide's entry written. The order matters: the
// key and the entry are read and written under one lock, so of two
// receivers given one event exactly one applies it.
func ApplyTx(tx Tx, p Proposal) (Result, error) {
	if p.Key != "" {
		fresh, err := tx.Remember(p.Key)
		if err != nil {
			return Result{}, err
		}
		if !fresh {
			return Result{Outcome: Duplicate}, nil
		}
	}
	if p.AccountID == "" {
		if p.Next.Kind != "" {
			return Result{}, fmt.Errorf("webhook: %s without an account id", p.Next.Event)
		}
		return Result{Outcome: Applied}, nil
	}
	cur, has, err := tx.Entry(p.AccountID)
	if err != nil {
		return Result{}, err
	}
	entry, dec := Decide(cur, has, p.Next)
	switch dec {
	case DecideStale:
		return Result{Outcome: Stale}, nil
	case DecideSame:
		return Result{Outcome: Applied}, nil
	}
	v, err := tx.Put(p.AccountID, entry)
	if err != nil {
		return Result{}, err
	}
	return Result{Outcome: Applied, Changed: true, Change: Change{AccountID: p.AccountID, Entry: entry, Version: v}}, nil
}

// Import is a marks file's content for Backend.Import.
type Import struct {
	// Source names the file's content (its SHA-256): the same content is
	// imported once, whoever imports it; a changed file imports again
	// (newer entries only: see ImportTx).
	Source string
	Path   string // for the record
	// Entries are the file's accounts, normalised (as OpenStore reads them),
	// in account id order.
	Entries []Change
	// Keys are the file's seen event keys, oldest first.
	Keys []string
}

// ImportResult says what an import did.
type ImportResult struct {
	// Already is true when this content had been imported before: nothing
	// was done.
	Already bool
	// Marks, Unlinked and Cleared count the entries written (an entry older
	// than what the database holds for its account is not).
	Marks, Unlinked, Cleared int
	// Seen counts the event ids remembered that were not already.
	Seen int
}

// ImportTx applies imp inside a backend's transaction: each entry through
// Decide (so an import never undoes a newer event the database already
// has; a mark keeps the spell start the file had), each key remembered.
// The backend checks and records imp.Source around it.
func ImportTx(tx Tx, imp Import) (ImportResult, error) {
	var r ImportResult
	for _, c := range imp.Entries {
		cur, has, err := tx.Entry(c.AccountID)
		if err != nil {
			return r, err
		}
		entry, dec := Decide(cur, has, c.Entry)
		if dec != DecideWrite {
			continue
		}
		if entry.Kind != Cleared && !sameSpell(cur, has, entry.Kind) && !c.Entry.Since.IsZero() {
			entry.Since = c.Entry.Since // a new spell: the file knows when it began
		}
		if _, err := tx.Put(c.AccountID, entry); err != nil {
			return r, err
		}
		switch entry.Kind {
		case Cleared:
			r.Cleared++
		case MarkUnlinked:
			r.Unlinked++
		default:
			r.Marks++
		}
	}
	for _, k := range imp.Keys {
		fresh, err := tx.Remember(k)
		if err != nil {
			return r, err
		}
		if fresh {
			r.Seen++
		}
	}
	return r, nil
}
