package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reauth/reauth/internal/accountnews"
)

// AccountNews is the account news feed (accountnews.Backend) in
// PostgreSQL, shared by every replica. Every Publish is one transaction
// that first takes a transaction advisory lock for the schema's news:
// writers take turns, so a version is taken only after the previous
// writer's commit is visible (a reader following the feed never skips
// one). It sends KindAccounts at commit.
type AccountNews struct{ db *DB }

// NewAccountNews is the account news feed on db.
func NewAccountNews(db *DB) *AccountNews { return &AccountNews{db: db} }

var _ accountnews.Backend = (*AccountNews)(nil)

// accountNewsLockKey names the advisory lock that serializes news writes;
// the schema is added to it.
const accountNewsLockKey = "reauth.account_news:"

// Publish is accountnews.Backend.Publish.
func (b *AccountNews) Publish(ctx context.Context, account, replica string, at time.Time) (int64, error) {
	if err := accountnews.Check(account); err != nil {
		return 0, err
	}
	at = at.Truncate(time.Millisecond) // as SQLite keeps it: both stores answer alike
	var v int64
	err := pgx.BeginFunc(ctx, b.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))`, accountNewsLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO account_news(version, account_id, at, replica)
			VALUES ((SELECT coalesce(max(version), 0) + 1 FROM account_news), $1, $2, $3)
			RETURNING version`, account, at, replica).Scan(&v); err != nil {
			return err
		}
		// Older than a day, except the row just written: the next version
		// is always max + 1 of what is kept.
		if _, err := tx.Exec(ctx, `DELETE FROM account_news WHERE at < $1 AND version < $2`,
			at.Add(-accountnews.KeepFor), v); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		// Every replica's follower re-reads the feed at commit.
		return b.db.NotifyTx(ctx, tx, KindAccounts)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: account news: %w", err)
	}
	return v, nil
}

// Changes is accountnews.Backend.Changes.
func (b *AccountNews) Changes(ctx context.Context, after int64) ([]accountnews.News, error) {
	rows, err := b.db.Pool.Query(ctx, `SELECT version, account_id, at, replica FROM account_news
		WHERE version > $1 ORDER BY version LIMIT $2`, after, accountnews.MaxChanges)
	if err != nil {
		return nil, fmt.Errorf("postgres: account news: %w", err)
	}
	defer rows.Close()
	var out []accountnews.News
	for rows.Next() {
		var n accountnews.News
		if err := rows.Scan(&n.Version, &n.Account, &n.At, &n.Replica); err != nil {
			return nil, fmt.Errorf("postgres: account news: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: account news: %w", err)
	}
	return out, nil
}

// Head is accountnews.Backend.Head.
func (b *AccountNews) Head(ctx context.Context) (int64, error) {
	var v int64
	if err := b.db.Pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM account_news`).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: account news: %w", err)
	}
	return v, nil
}
