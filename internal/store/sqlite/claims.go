package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/reauth/reauth/internal/claim"
)

// Claims is the claims backend (claim.Backend) in the store file. Every
// write is one IMMEDIATE transaction: writers in any number of processes
// take turns on the file's lock, so of two Takes racing for one account
// exactly one finds it free.
type Claims struct {
	db *DB
	// StaleAfter bounds a holder's silence (claim.DefaultStaleAfter).
	StaleAfter time.Duration
}

// NewClaims is the claims backend on db.
func NewClaims(db *DB) *Claims { return &Claims{db: db, StaleAfter: claim.DefaultStaleAfter} }

var _ claim.Backend = (*Claims)(nil)

type claimsTx struct {
	ctx context.Context
	tx  *sql.Tx
}

func (t claimsTx) Get(account string) (claim.Claim, bool, error) {
	return getClaim(t.ctx, t.tx.QueryRowContext(t.ctx, `SELECT entry, version FROM claims WHERE account = ?`, account), account)
}

func getClaim(_ context.Context, row *sql.Row, account string) (claim.Claim, bool, error) {
	var raw string
	var v int64
	err := row.Scan(&raw, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return claim.Claim{}, false, nil
	}
	if err != nil {
		return claim.Claim{}, false, err
	}
	var c claim.Claim
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
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
	if err := t.tx.QueryRowContext(t.ctx, `SELECT coalesce(max(version), 0) + 1 FROM claims`).Scan(&v); err != nil {
		return 0, err
	}
	_, err = t.tx.ExecContext(t.ctx, `INSERT INTO claims(account, attempt, released, entry, version) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(account) DO UPDATE SET attempt = excluded.attempt, released = excluded.released,
			entry = excluded.entry, version = excluded.version`,
		c.Account, c.Attempt, c.Released, string(entry), v)
	return v, err
}

func (b *Claims) inTx(ctx context.Context, f func(t claimsTx) error) error {
	tx, err := b.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: claims: %w", err)
	}
	defer tx.Rollback()
	if err := f(claimsTx{ctx: ctx, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: claims: commit: %w", err)
	}
	return nil
}

// wrap keeps the claim package's own errors matchable and names the store
// on the others.
func wrap(err error) error {
	var held *claim.HeldError
	if err == nil || errors.As(err, &held) || errors.Is(err, claim.ErrNotHeld) {
		return err
	}
	return fmt.Errorf("sqlite: claims: %w", err)
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
	c, ok, err := getClaim(ctx, b.db.SQL.QueryRowContext(ctx, `SELECT entry, version FROM claims WHERE account = ?`, account), account)
	return c, ok, wrap(err)
}

// Changes is claim.Backend.Changes.
func (b *Claims) Changes(ctx context.Context, after int64) ([]claim.Claim, error) {
	rows, err := b.db.SQL.QueryContext(ctx, `SELECT account, entry, version FROM claims WHERE version > ? ORDER BY version`, after)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	return scanClaims(rows)
}

// scanClaims reads rows of (account, entry, version).
func scanClaims(rows *sql.Rows) ([]claim.Claim, error) {
	var out []claim.Claim
	for rows.Next() {
		var acc, raw string
		var v int64
		if err := rows.Scan(&acc, &raw, &v); err != nil {
			return nil, wrap(err)
		}
		var c claim.Claim
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("sqlite: claims: claim of %s is damaged: %w", acc, err)
		}
		c.Version = v
		out = append(out, c)
	}
	return out, wrap(rows.Err())
}

// heldByQuery is HeldBy's query: the WHERE clause is claims_holder_key's
// expression and predicate (0005_resume.sql), so SQLite answers from that
// index.
const heldByQuery = `SELECT account, entry, version FROM claims
	WHERE json_extract(entry, '$.holder.key_fingerprint') = ? AND released = 0`

// HeldBy is claim.Backend.HeldBy.
func (b *Claims) HeldBy(ctx context.Context, keyFingerprint string) ([]claim.Claim, error) {
	if keyFingerprint == "" {
		return nil, claim.ErrNoFingerprint
	}
	rows, err := b.db.SQL.QueryContext(ctx, heldByQuery, keyFingerprint)
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
