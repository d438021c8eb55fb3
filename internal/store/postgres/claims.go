package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reauth/reauth/internal/claim"
)

// Claims is the claims backend (claim.Backend) in PostgreSQL, shared by
// every replica. Every write is one transaction that first takes a
// transaction advisory lock for the schema's claims: writers take turns, so
// of two Takes racing for one account (on any replicas) exactly one finds
// it free, and a version is taken only after the previous writer's commit
// is visible (the feed never goes back).
type Claims struct {
	db *DB
	// StaleAfter bounds a holder's silence (claim.DefaultStaleAfter).
	// Ages are the callers' clocks (the Take's and Update's Now).
	StaleAfter time.Duration
}

// NewClaims is the claims backend on db.
func NewClaims(db *DB) *Claims { return &Claims{db: db, StaleAfter: claim.DefaultStaleAfter} }

var _ claim.Backend = (*Claims)(nil)

// claimsLockKey names the advisory lock that serializes claim writes; the
// schema is added to it.
const claimsLockKey = "reauth.claims:"

type claimsTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t claimsTx) Get(account string) (claim.Claim, bool, error) {
	return scanClaim(t.tx.QueryRow(t.ctx, `SELECT entry, version FROM claims WHERE account = $1`, account), account)
}

func scanClaim(row pgx.Row, account string) (claim.Claim, bool, error) {
	var raw []byte
	var v int64
	err := row.Scan(&raw, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return claim.Claim{}, false, nil
	}
	if err != nil {
		return claim.Claim{}, false, err
	}
	var c claim.Claim
	if err := json.Unmarshal(raw, &c); err != nil {
		return claim.Claim{}, false, fmt.Errorf("claim of %s is damaged: %w", account, err)
	}
	c.Version = v
	return c, true, nil
}

func (t claimsTx) Put(c claim.Claim) (int64, error) {
	entry, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	var v int64
	err = t.tx.QueryRow(t.ctx, `INSERT INTO claims(account, attempt, released, entry, version)
		VALUES ($1, $2, $3, $4, (SELECT coalesce(max(version), 0) + 1 FROM claims))
		ON CONFLICT (account) DO UPDATE SET attempt = excluded.attempt, released = excluded.released,
			entry = excluded.entry, version = excluded.version
		RETURNING version`, c.Account, c.Attempt, c.Released, entry).Scan(&v)
	return v, err
}

func (b *Claims) inTx(ctx context.Context, f func(t claimsTx) error) error {
	return pgx.BeginFunc(ctx, b.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))`, claimsLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if err := f(claimsTx{ctx: ctx, tx: tx}); err != nil {
			return err
		}
		// Every replica's claims reader re-reads the feed at commit: a
		// colleague learns of a takeover at once, not at the next tick.
		return b.db.NotifyTx(ctx, tx, KindClaims)
	})
}

// wrap keeps the claim package's own errors matchable and names the store
// on the others.
func wrap(err error) error {
	var held *claim.HeldError
	if err == nil || errors.As(err, &held) || errors.Is(err, claim.ErrNotHeld) {
		return err
	}
	return fmt.Errorf("postgres: claims: %w", err)
}

// Take is claim.Backend.Take.
func (b *Claims) Take(ctx context.Context, t claim.Take) (claim.Claim, error) {
	var c claim.Claim
	err := b.inTx(ctx, func(tx claimsTx) error {
		var err error
		c, err = claim.TakeTx(tx, t, b.StaleAfter)
		return err
	})
	return c, wrap(err)
}

// Update is claim.Backend.Update.
func (b *Claims) Update(ctx context.Context, u claim.Update) (claim.Claim, error) {
	var c claim.Claim
	err := b.inTx(ctx, func(tx claimsTx) error {
		var err error
		c, err = claim.UpdateTx(tx, u)
		return err
	})
	return c, wrap(err)
}

// Release is claim.Backend.Release.
func (b *Claims) Release(ctx context.Context, account, attempt string, now time.Time) (bool, error) {
	var ok bool
	err := b.inTx(ctx, func(tx claimsTx) error {
		var err error
		ok, err = claim.ReleaseTx(tx, account, attempt, now)
		return err
	})
	return ok, wrap(err)
}

// Get is claim.Backend.Get.
func (b *Claims) Get(ctx context.Context, account string) (claim.Claim, bool, error) {
	c, ok, err := scanClaim(b.db.Pool.QueryRow(ctx, `SELECT entry, version FROM claims WHERE account = $1`, account), account)
	return c, ok, wrap(err)
}

// Changes is claim.Backend.Changes.
func (b *Claims) Changes(ctx context.Context, after int64) ([]claim.Claim, error) {
	rows, err := b.db.Pool.Query(ctx, `SELECT account, entry, version FROM claims WHERE version > $1 ORDER BY version`, after)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	return scanClaims(rows)
}

// scanClaims reads rows of (account, entry, version).
func scanClaims(rows pgx.Rows) ([]claim.Claim, error) {
	var out []claim.Claim
	for rows.Next() {
		var acc string
		var raw []byte
		var v int64
		if err := rows.Scan(&acc, &raw, &v); err != nil {
			return nil, wrap(err)
		}
		var c claim.Claim
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("postgres: claims: claim of %s is damaged: %w", acc, err)
		}
		c.Version = v
		out = append(out, c)
	}
	return out, wrap(rows.Err())
}

// heldByQuery is HeldBy's query: the WHERE clause is claims_holder_key's
// expression and predicate (0005_resume.sql), so the planner can answer
// from that index.
const heldByQuery = `SELECT account, entry, version FROM claims
	WHERE entry->'holder'->>'key_fingerprint' = $1 AND NOT released`

// HeldBy is claim.Backend.HeldBy.
func (b *Claims) HeldBy(ctx context.Context, keyFingerprint string) ([]claim.Claim, error) {
	if keyFingerprint == "" {
		return nil, claim.ErrNoFingerprint
	}
	rows, err := b.db.Pool.Query(ctx, heldByQuery, keyFingerprint)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out, err := scanClaims(rows)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, claim.NewestFirst)
	return out, nil
}
