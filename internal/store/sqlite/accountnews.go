package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/reauth/reauth/internal/accountnews"
)

// AccountNews is the account news feed (accountnews.Backend) in the store
// file: several processes on one file (a `reauth serve` and a local
// `reauth`) hear of each other's re-reads.
type AccountNews struct{ db *DB }

// NewAccountNews is the account news feed on db.
func NewAccountNews(db *DB) *AccountNews { return &AccountNews{db: db} }

var _ accountnews.Backend = (*AccountNews)(nil)

// Publish is accountnews.Backend.Publish: one IMMEDIATE transaction (the
// file's write lock), so versions are given in commit order.
func (b *AccountNews) Publish(ctx context.Context, account, replica string, at time.Time) (int64, error) {
	if err := accountnews.Check(account); err != nil {
		return 0, err
	}
	tx, err := b.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: account news: %w", err)
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) + 1 FROM account_news`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: account news: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO account_news(version, account_id, at, replica) VALUES (?, ?, ?, ?)`,
		v, account, at.UnixMilli(), replica); err != nil {
		return 0, fmt.Errorf("sqlite: account news: %w", err)
	}
	// Older than a day, except the row just written: the next version is
	// always max + 1 of what is kept.
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_news WHERE at < ? AND version < ?`,
		at.Add(-accountnews.KeepFor).UnixMilli(), v); err != nil {
		return 0, fmt.Errorf("sqlite: account news: prune: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: account news: commit: %w", err)
	}
	return v, nil
}

// Changes is accountnews.Backend.Changes.
func (b *AccountNews) Changes(ctx context.Context, after int64) ([]accountnews.News, error) {
	rows, err := b.db.SQL.QueryContext(ctx, `SELECT version, account_id, at, replica FROM account_news
		WHERE version > ? ORDER BY version LIMIT ?`, after, accountnews.MaxChanges)
	if err != nil {
		return nil, fmt.Errorf("sqlite: account news: %w", err)
	}
	defer rows.Close()
	var out []accountnews.News
	for rows.Next() {
		var n accountnews.News
		var ms int64
		if err := rows.Scan(&n.Version, &n.Account, &ms, &n.Replica); err != nil {
			return nil, fmt.Errorf("sqlite: account news: %w", err)
		}
		n.At = time.UnixMilli(ms).UTC()
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: account news: %w", err)
	}
	return out, nil
}

// Head is accountnews.Backend.Head.
func (b *AccountNews) Head(ctx context.Context) (int64, error) {
	var v int64
	if err := b.db.SQL.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM account_news`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: account news: %w", err)
	}
	return v, nil
}
