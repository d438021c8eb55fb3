package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reauth/reauth/mono/webhook"
)

// Marks is the webhook marks backend (webhook.Backend) in PostgreSQL, shared
// by any number of receivers and app replicas. Every write is one
// transaction that first takes a transaction advisory lock for the schema's
// marks: writers take turns, each (READ COMMITTED: every statement sees
// what committed before it) reads what the previous one committed, and a
// version is taken only after the previous writer's commit is visible, so a
// reader that has seen version N never later finds a smaller one committed.
type Marks struct {
	db *DB
	// SeenFor is how long an event id is remembered for dedupe
	// (webhook.DefaultSeenFor); older ids are pruned by the writes. Ages
	// are the server's clock, the same for every replica.
	SeenFor time.Duration
}

// NewMarks is the marks backend on db. Wrap it in webhook.NewStore.
func NewMarks(db *DB) *Marks {
	return &Marks{db: db, SeenFor: webhook.DefaultSeenFor}
}

var _ webhook.Backend = (*Marks)(nil)

// marksLockKey names the advisory lock that serializes mark writes; the
// schema is added to it, so two schemas (tests) do not wait for each other.
const marksLockKey = "reauth.marks:"

// marksTx is one transaction as webhook.ApplyTx sees it.
type marksTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t *marksTx) Remember(key string) (bool, error) {
	tag, err := t.tx.Exec(t.ctx, `INSERT INTO webhook_seen(key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, []byte(key))
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (t *marksTx) Entry(accountID string) (webhook.Mark, bool, error) {
	var raw []byte
	err := t.tx.QueryRow(t.ctx, `SELECT entry FROM webhook_marks WHERE account_id = $1`, accountID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.Mark{}, false, nil
	}
	if err != nil {
		return webhook.Mark{}, false, err
	}
	var m webhook.Mark
	if err := json.Unmarshal(raw, &m); err != nil {
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
	err = t.tx.QueryRow(t.ctx, `INSERT INTO webhook_marks(account_id, kind, at, mono_time, entry, version)
		VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(version), 0) + 1 FROM webhook_marks))
		ON CONFLICT (account_id) DO UPDATE SET kind = excluded.kind, at = excluded.at, mono_time = excluded.mono_time,
			entry = excluded.entry, version = excluded.version
		RETURNING version`,
		accountID, string(m.Kind), m.At, m.MonoTime, entry).Scan(&v)
	return v, err
}

// inTx runs f in one transaction holding the marks lock, after pruning seen
// ids older than SeenFor, and commits it when f returns nil.
func (b *Marks) inTx(ctx context.Context, f func(t *marksTx) error) error {
	err := pgx.BeginFunc(ctx, b.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))`, marksLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if b.SeenFor > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM webhook_seen WHERE seen_at < now() - $1::bigint * interval '1 microsecond'`,
				b.SeenFor.Microseconds()); err != nil {
				return fmt.Errorf("prune seen ids: %w", err)
			}
		}
		return f(&marksTx{ctx: ctx, tx: tx})
	})
	if err != nil {
		return fmt.Errorf("postgres: marks: %w", err)
	}
	return nil
}

// Apply applies p in one transaction (webhook.ApplyTx).
func (b *Marks) Apply(ctx context.Context, p webhook.Proposal) (webhook.Result, error) {
	var res webhook.Result
	err := b.inTx(ctx, func(t *marksTx) error {
		var err error
		if res, err = webhook.ApplyTx(t, p); err != nil || !res.Changed {
			return err
		}
		// Every replica's marks poller re-reads the feed at commit.
		return b.db.NotifyTx(ctx, t.tx, KindMarks)
	})
	return res, err
}

// Changes is every entry of version greater than after, in version order.
func (b *Marks) Changes(ctx context.Context, after int64) ([]webhook.Change, error) {
	rows, err := b.db.Pool.Query(ctx, `SELECT account_id, entry, version FROM webhook_marks WHERE version > $1 ORDER BY version`, after)
	if err != nil {
		return nil, fmt.Errorf("postgres: marks: %w", err)
	}
	defer rows.Close()
	var out []webhook.Change
	for rows.Next() {
		var c webhook.Change
		var raw []byte
		if err := rows.Scan(&c.AccountID, &raw, &c.Version); err != nil {
			return nil, fmt.Errorf("postgres: marks: %w", err)
		}
		if err := json.Unmarshal(raw, &c.Entry); err != nil {
			return nil, fmt.Errorf("postgres: marks: mark of %s is damaged: %w", c.AccountID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: marks: %w", err)
	}
	return out, nil
}

// Seen reports whether key is remembered (and younger than SeenFor).
func (b *Marks) Seen(ctx context.Context, key string) (bool, error) {
	var seen bool
	err := b.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_seen WHERE key = $1
		AND ($2::bigint <= 0 OR seen_at >= now() - $2::bigint * interval '1 microsecond'))`, []byte(key), b.SeenFor.Microseconds()).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("postgres: marks: %w", err)
	}
	return seen, nil
}

// Import imports a marks file once (webhook.ImportTx), in one transaction.
func (b *Marks) Import(ctx context.Context, imp webhook.Import) (webhook.ImportResult, error) {
	var r webhook.ImportResult
	err := b.inTx(ctx, func(t *marksTx) error {
		var done bool
		if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_imports WHERE source = $1)`, imp.Source).Scan(&done); err != nil {
			return err
		}
		if done {
			r.Already = true
			return nil
		}
		var err error
		if r, err = webhook.ImportTx(t, imp); err != nil {
			return err
		}
		if _, err = t.tx.Exec(ctx, `INSERT INTO webhook_imports(source, path, marks, unlinked, cleared, seen) VALUES ($1, $2, $3, $4, $5, $6)`,
			imp.Source, imp.Path, r.Marks, r.Unlinked, r.Cleared, r.Seen); err != nil {
			return err
		}
		if r.Marks+r.Unlinked+r.Cleared == 0 {
			return nil
		}
		return b.db.NotifyTx(ctx, t.tx, KindMarks)
	})
	return r, err
}
