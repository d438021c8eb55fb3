package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/reauth/reauth/mono/webhook"
)

// Marks is the webhook marks backend (webhook.Backend) in the store file.
// Every write is one IMMEDIATE transaction (the DSN's _txlock): it takes
// the file's write lock at BEGIN, so writers in any number of processes
// queue, each reads the state the previous one committed, and versions are
// given in commit order.
type Marks struct {
	db *DB
	// SeenFor is how long an event id is remembered for dedupe
	// (webhook.DefaultSeenFor); older ids are pruned by the writes.
	SeenFor time.Duration
	// Now is the clock for seen ids. Default time.Now.
	Now func() time.Time
}

// NewMarks is the marks backend on db. Wrap it in webhook.NewStore.
func NewMarks(db *DB) *Marks {
	return &Marks{db: db, SeenFor: webhook.DefaultSeenFor, Now: time.Now}
}

var _ webhook.Backend = (*Marks)(nil)

// marksTx is one transaction as webhook.ApplyTx sees it.
type marksTx struct {
	ctx context.Context
	tx  *sql.Tx
	now time.Time
}

func (t *marksTx) Remember(key string) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO webhook_seen(key, seen_at) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`,
		[]byte(key), t.now.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *marksTx) Entry(accountID string) (webhook.Mark, bool, error) {
	var raw string
	err := t.tx.QueryRowContext(t.ctx, `SELECT entry FROM webhook_marks WHERE account_id = ?`, accountID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return webhook.Mark{}, false, nil
	}
	if err != nil {
		return webhook.Mark{}, false, err
	}
	var m webhook.Mark
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return webhook.Mark{}, false, fmt.Errorf("mark of %s is damaged: %w", accountID, err)
	}
	return m, true, nil
}

func (t *marksTx) Put(accountID string, m webhook.Mark) (int64, error) {
	entry, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	var v int64
	if err := t.tx.QueryRowContext(t.ctx, `SELECT coalesce(max(version), 0) + 1 FROM webhook_marks`).Scan(&v); err != nil {
		return 0, err
	}
	_, err = t.tx.ExecContext(t.ctx, `INSERT INTO webhook_marks(account_id, kind, at, mono_time, entry, version)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(account_id) DO UPDATE SET kind = excluded.kind, at = excluded.at, mono_time = excluded.mono_time,
			entry = excluded.entry, version = excluded.version`,
		accountID, string(m.Kind), m.At.UTC().Format(time.RFC3339Nano), m.MonoTime, string(entry), v)
	return v, err
}

// inTx runs f in one IMMEDIATE transaction, after pruning seen ids older
// than SeenFor, and commits it when f returns nil.
func (b *Marks) inTx(ctx context.Context, f func(t *marksTx) error) error {
	tx, err := b.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: marks: %w", err)
	}
	defer tx.Rollback()
	t := &marksTx{ctx: ctx, tx: tx, now: b.Now()}
	if b.SeenFor > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_seen WHERE seen_at < ?`, t.now.Add(-b.SeenFor).UnixMilli()); err != nil {
			return fmt.Errorf("sqlite: marks: prune seen ids: %w", err)
		}
	}
	if err := f(t); err != nil {
		return fmt.Errorf("sqlite: marks: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: marks: commit: %w", err)
	}
	return nil
}

// Apply applies p in one transaction (webhook.ApplyTx).
func (b *Marks) Apply(ctx context.Context, p webhook.Proposal) (webhook.Result, error) {
	var res webhook.Result
	err := b.inTx(ctx, func(t *marksTx) error {
		var err error
		res, err = webhook.ApplyTx(t, p)
		return err
	})
	return res, err
}

// Changes is every entry of version greater than after, in version order.
func (b *Marks) Changes(ctx context.Context, after int64) ([]webhook.Change, error) {
	rows, err := b.db.SQL.QueryContext(ctx, `SELECT account_id, entry, version FROM webhook_marks WHERE version > ? ORDER BY version`, after)
	if err != nil {
		return nil, fmt.Errorf("sqlite: marks: %w", err)
	}
	defer rows.Close()
	var out []webhook.Change
	for rows.Next() {
		var c webhook.Change
		var raw string
		if err := rows.Scan(&c.AccountID, &raw, &c.Version); err != nil {
			return nil, fmt.Errorf("sqlite: marks: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &c.Entry); err != nil {
			return nil, fmt.Errorf("sqlite: marks: mark of %s is damaged: %w", c.AccountID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: marks: %w", err)
	}
	return out, nil
}

// Seen reports whether key is remembered (and younger than SeenFor).
func (b *Marks) Seen(ctx context.Context, key string) (bool, error) {
	cutoff := int64(0)
	if b.SeenFor > 0 {
		cutoff = b.Now().Add(-b.SeenFor).UnixMilli()
	}
	var n int
	err := b.db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM webhook_seen WHERE key = ? AND seen_at >= ?`, []byte(key), cutoff).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: marks: %w", err)
	}
	return n > 0, nil
}

// Import imports a marks file once (webhook.ImportTx), in one transaction.
func (b *Marks) Import(ctx context.Context, imp webhook.Import) (webhook.ImportResult, error) {
	var r webhook.ImportResult
	err := b.inTx(ctx, func(t *marksTx) error {
		var n int
		if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM webhook_imports WHERE source = ?`, imp.Source).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			r.Already = true
			return nil
		}
		var err error
		if r, err = webhook.ImportTx(t, imp); err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `INSERT INTO webhook_imports(source, path, imported_at, marks, unlinked, cleared, seen)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, imp.Source, imp.Path, t.now.UTC().Format(time.RFC3339Nano), r.Marks, r.Unlinked, r.Cleared, r.Seen)
		return err
	})
	return r, err
}
