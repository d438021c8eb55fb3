package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/reauth/reauth/internal/store"
	"github.com/reauth/reauth/state/audit"
)

// Audit is the audit's SQLite backend (audit.Backend and audit.Importer):
// table audit_records (migration 0001_audit). Every batch is one BEGIN
// IMMEDIATE transaction: the file's write lock serialises writers, in this
// process and in others, so each reads the chain's last hash and appends
// after it; with synchronous=FULL the commit is on disk when Append returns.
// UPDATE and DELETE are refused by triggers.
type Audit struct {
	db  *DB
	own bool // Close closes db
}

var _ audit.Importer = (*Audit)(nil)

// NewAudit is the audit backend over an open store. Its Close leaves db
// open (other parts of the app share it).
func NewAudit(db *DB) *Audit { return &Audit{db: db} }

// OpenAudit opens the store at path and returns its audit backend, which
// closes the store on Close.
func OpenAudit(ctx context.Context, path string) (*Audit, error) {
	db, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	return &Audit{db: db, own: true}, nil
}

const insertAudit = `INSERT INTO audit_records (` + store.AuditColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Append stores batch in one transaction, chained after the last stored
// record.
func (a *Audit) Append(ctx context.Context, batch []audit.Record) error {
	return a.inTx(ctx, func(tx *sql.Tx, ins *sql.Stmt, id int64, prev string) error {
		for _, r := range batch {
			id++
			s, err := audit.Seal(id, prev, r)
			if err != nil {
				return err
			}
			if err := insert(ctx, ins, s); err != nil {
				return err
			}
			prev = s.Hash
		}
		return nil
	})
}

// Import stores recs after the last record and marks source imported, in
// one transaction; see audit.Importer.
func (a *Audit) Import(ctx context.Context, source string, recs iter.Seq2[audit.Record, error]) (int, error) {
	n := 0
	err := a.inTx(ctx, func(tx *sql.Tx, ins *sql.Stmt, id int64, prev string) error {
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_imports WHERE source = ?`, source).Scan(&done); err != nil {
			return err
		}
		if done > 0 {
			return audit.ErrAlreadyImported
		}
		rebuild, err := deferIndexes(ctx, tx, id)
		if err != nil {
			return err
		}
		for r, err := range recs {
			if err != nil {
				return err
			}
			id++
			s, err := audit.Seal(id, prev, r)
			if err != nil {
				return err
			}
			if err := insert(ctx, ins, s); err != nil {
				return err
			}
			prev = s.Hash
			n++
		}
		if err := rebuild(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_imports (source, records) VALUES (?, ?)`, source, n)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// deferIndexes: into an empty table (a first-start import of a big file)
// the rows go faster without the secondary indexes, which are built once
// after them (a sort each, instead of a random insert per row). It drops
// them, inside the import's transaction, and returns what rebuilds them
// from their own definitions. Into a table with rows it does nothing.
func deferIndexes(ctx context.Context, tx *sql.Tx, lastID int64) (rebuild func() error, err error) {
	nothing := func() error { return nil }
	if lastID > 0 {
		return nothing, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'audit_records' AND sql IS NOT NULL`)
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
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
			return nil, err
		}
	}
	return func() error {
		for _, def := range defs {
			if _, err := tx.ExecContext(ctx, def); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// inTx runs fn in one IMMEDIATE transaction with the chain's last id and
// hash, and commits.
func (a *Audit) inTx(ctx context.Context, fn func(tx *sql.Tx, ins *sql.Stmt, lastID int64, lastHash string) error) error {
	tx, err := a.db.SQL.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the DSN's _txlock)
	if err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	defer tx.Rollback()
	var (
		id   int64
		hash string
	)
	err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_records ORDER BY id DESC LIMIT 1`).Scan(&id, &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: audit: last record: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, insertAudit)
	if err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	defer ins.Close()
	if err := fn(tx, ins, id, hash); err != nil {
		if errors.Is(err, audit.ErrAlreadyImported) {
			return err
		}
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: audit: commit: %w", err)
	}
	return nil
}

func insert(ctx context.Context, ins *sql.Stmt, s audit.Stored) error {
	_, err := ins.ExecContext(ctx, s.ID, s.Time.UnixNano(), s.Account, s.AccountKey, s.AgentUser, s.Session,
		string(s.Action), string(s.JSON), s.PrevHash, s.Hash)
	return err
}

// Query runs q on the indexes (account, agent, session, time).
func (a *Audit) Query(ctx context.Context, q audit.Query) ([]audit.Record, error) {
	sqlText, args := store.AuditQuery(q, func(int) string { return "?" })
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
	rows, err := a.db.SQL.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s      audit.Stored
			ns     int64
			action string
		)
		if err := rows.Scan(&s.ID, &ns, &s.Account, &s.AccountKey, &s.AgentUser, &s.Session, &action, &s.JSON,
			&s.PrevHash, &s.Hash); err != nil {
			return fmt.Errorf("sqlite: audit: %w", err)
		}
		s.Time, s.Action = time.Unix(0, ns).UTC(), audit.Action(action)
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	return nil
}

// Close closes the store when OpenAudit opened it.
func (a *Audit) Close() error {
	if a.own {
		return a.db.Close()
	}
	return nil
}
