package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reauth/reauth/internal/store"
	"github.com/reauth/reauth/state/audit"
)

// Audit is the audit's PostgreSQL backend (audit.Backend and
// audit.Importer): table audit_records (migration 0001_audit). Every batch
// is one transaction that first takes a transaction-scoped advisory lock
// for the schema's chain, so appends from any number of processes and
// replicas are serialised and each reads the last hash and appends after
// it; the rows go in with COPY. Append returns after the commit.
// UPDATE, DELETE and TRUNCATE are refused by triggers.
type Audit struct {
	db  *DB
	own bool // Close closes db
}

var _ audit.Importer = (*Audit)(nil)

// NewAudit is the audit backend over an open pool. Its Close leaves db open
// (other parts of the app share it).
func NewAudit(db *DB) *Audit { return &Audit{db: db} }

// OpenAudit connects to rawURL and returns its audit backend, which closes
// the pool on Close.
func OpenAudit(ctx context.Context, rawURL string) (*Audit, error) {
	db, err := Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return &Audit{db: db, own: true}, nil
}

// chainLockKey names the advisory lock serialising the chain; the schema is
// added to it, so two schemas (tests) keep separate chains.
const chainLockKey = "reauth.audit.chain:"

var columns = []string{"id", "at_ns", "account", "account_key", "agent_user", "session", "action", "record", "prev_hash", "hash"}

// Append stores batch in one transaction, chained after the last stored
// record, in two round trips: BEGIN, the chain lock and the last hash
// pipelined; then one INSERT of the whole batch (unnest of arrays) and the
// COMMIT, pipelined.
func (a *Audit) Append(ctx context.Context, batch []audit.Record) error {
	conn, err := a.db.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	defer conn.Release()
	if err := appendBatch(ctx, conn.Conn(), batch); err != nil {
		// Leave no transaction open on a connection going back to the pool.
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}

const insertBatch = `INSERT INTO audit_records (` + store.AuditColumns + `)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])`

func appendBatch(ctx context.Context, conn *pgx.Conn, batch []audit.Record) error {
	var head pgx.Batch
	head.Queue("BEGIN")
	head.Queue(`SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))`, chainLockKey)
	var (
		id   int64
		prev string
	)
	head.Queue(`SELECT id, hash FROM audit_records ORDER BY id DESC LIMIT 1`).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&id, &prev); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("last record: %w", err)
		}
		return nil
	})
	if err := conn.SendBatch(ctx, &head).Close(); err != nil {
		return err
	}
	n := len(batch)
	var (
		ids, ats                                  = make([]int64, n), make([]int64, n)
		accs, keys, users, sessions, actions, jss = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		prevs, hashes                             = make([]string, n), make([]string, n)
	)
	for i, r := range batch {
		id++
		s, err := audit.Seal(id, prev, r)
		if err != nil {
			return err
		}
		ids[i], ats[i], accs[i], keys[i], users[i], sessions[i] = s.ID, s.Time.UnixNano(), s.Account, s.AccountKey, s.AgentUser, s.Session
		actions[i], jss[i], prevs[i], hashes[i] = string(s.Action), string(s.JSON), s.PrevHash, s.Hash
		prev = s.Hash
	}
	var tail pgx.Batch
	tail.Queue(insertBatch, ids, ats, accs, keys, users, sessions, actions, jss, prevs, hashes)
	tail.Queue("COMMIT")
	return conn.SendBatch(ctx, &tail).Close()
}

// Import stores recs after the last record (COPY) and marks source
// imported, in one transaction; see audit.Importer.
func (a *Audit) Import(ctx context.Context, source string, recs iter.Seq2[audit.Record, error]) (int, error) {
	var n int64
	err := a.inTx(ctx, func(tx pgx.Tx, id int64, prev string) error {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_imports WHERE source = $1)`, source).Scan(&done); err != nil {
			return err
		}
		if done {
			return audit.ErrAlreadyImported
		}
		rebuild, err := deferIndexes(ctx, tx, id)
		if err != nil {
			return err
		}
		next, stop := iter.Pull2(recs)
		defer stop()
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"audit_records"}, columns, pgx.CopyFromFunc(func() ([]any, error) {
			r, err, ok := next()
			if !ok {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			id++
			s, err := audit.Seal(id, prev, r)
			if err != nil {
				return nil, err
			}
			prev = s.Hash
			return row(s), nil
		}))
		if err != nil {
			return err
		}
		if err := rebuild(); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_imports (source, records) VALUES ($1, $2)`, source, n)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// deferIndexes: into an empty table (a first-start import of a big file)
// the rows go faster without the secondary indexes, which are built once
// after them. It drops them, inside the import's transaction (which holds
// the table until it commits), and returns what rebuilds them from their own
// definitions. Into a table with rows it does nothing.
func deferIndexes(ctx context.Context, tx pgx.Tx, lastID int64) (rebuild func() error, err error) {
	nothing := func() error { return nil }
	if lastID > 0 {
		return nothing, nil
	}
	rows, err := tx.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'audit_records' AND indexname <> 'audit_records_pkey'`)
	if err != nil {
		return nil, err
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return nil, err
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, err := tx.Exec(ctx, `DROP INDEX `+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, err
		}
	}
	return func() error {
		for _, def := range defs {
			if _, err := tx.Exec(ctx, def); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func row(s audit.Stored) []any {
	return []any{s.ID, s.Time.UnixNano(), s.Account, s.AccountKey, s.AgentUser, s.Session, string(s.Action),
		string(s.JSON), s.PrevHash, s.Hash}
}

// inTx runs fn in one transaction holding the chain's advisory lock, with
// the chain's last id and hash, and commits.
func (a *Audit) inTx(ctx context.Context, fn func(tx pgx.Tx, lastID int64, lastHash string) error) error {
	err := pgx.BeginFunc(ctx, a.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))`, chainLockKey); err != nil {
			return fmt.Errorf("chain lock: %w", err)
		}
		var (
			id   int64
			hash string
		)
		err := tx.QueryRow(ctx, `SELECT id, hash FROM audit_records ORDER BY id DESC LIMIT 1`).Scan(&id, &hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("last record: %w", err)
		}
		return fn(tx, id, hash)
	})
	if err != nil && !errors.Is(err, audit.ErrAlreadyImported) {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return err
}

// Query runs q on the indexes (account, agent, session, time).
func (a *Audit) Query(ctx context.Context, q audit.Query) ([]audit.Record, error) {
	sqlText, args := store.AuditQuery(q, func(n int) string { return "$" + strconv.Itoa(n) })
	var recs []audit.Record
	err := a.rows(ctx, sqlText, args, func(s audit.Stored) error {
		r, err := s.Record()
		if err != nil {
			return fmt.Errorf("record %d: %w", s.ID, err)
		}
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// Walk reads the whole chain in order, as stored.
func (a *Audit) Walk(ctx context.Context, fn func(audit.Stored) error) error {
	return a.rows(ctx, `SELECT `+store.AuditColumns+` FROM audit_records ORDER BY id`, nil, fn)
}

func (a *Audit) rows(ctx context.Context, query string, args []any, fn func(audit.Stored) error) error {
	rows, err := a.db.Pool.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s      audit.Stored
			ns     int64
			action string
			js     string
		)
		if err := rows.Scan(&s.ID, &ns, &s.Account, &s.AccountKey, &s.AgentUser, &s.Session, &action, &js,
			&s.PrevHash, &s.Hash); err != nil {
			return fmt.Errorf("postgres: audit: %w", err)
		}
		s.Time, s.Action, s.JSON = time.Unix(0, ns).UTC(), audit.Action(action), []byte(js)
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}

// Close closes the pool when OpenAudit opened it.
func (a *Audit) Close() error {
	if a.own {
		a.db.Close()
	}
	return nil
}
