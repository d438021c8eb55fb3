package audit

import (
	"context"
	"errors"
	"iter"
	"time"
)

// Backend stores the records the front (Log) has checked. Implementations:
// File (the JSON-lines file), internal/store/sqlite and
// internal/store/postgres. A Backend never sees a record that has not passed
// the front's checks, and never changes one.
type Backend interface {
	// Append stores batch durably, in order, as one commit: when it
	// returns nil every record of the batch is durable (a database: the
	// transaction committed; the file: written and fsynced). A database
	// commits all of the batch or none of it. A chaining backend links
	// each record to the one stored before it (Seal), reading the last
	// hash inside the same transaction, so several processes on one store
	// keep one chain.
	Append(ctx context.Context, batch []Record) error
	// Query returns the records q selects; see Query.
	Query(ctx context.Context, q Query) ([]Record, error)
	// Walk calls fn with every stored record in chain order (ID 1, 2, …),
	// exactly as stored, until fn returns an error (returned as is). A
	// backend that keeps no chain returns ErrNoChain.
	Walk(ctx context.Context, fn func(Stored) error) error
	// Close releases the backend; records already acknowledged stay.
	Close() error
}

// Importer is a Backend that can take in an existing file's records once.
type Importer interface {
	Backend
	// Import stores recs after the records already stored (chained like
	// appends) in one transaction together with a mark that source was
	// imported, and returns how many it stored. If source was imported
	// before it reads nothing from recs and returns ErrAlreadyImported. An
	// error from recs aborts the transaction: nothing is stored.
	Import(ctx context.Context, source string, recs iter.Seq2[Record, error]) (int, error)
}

// ErrAlreadyImported is returned by Importer.Import when the source was
// imported before.
var ErrAlreadyImported = errors.New("audit: already imported")

// Query selects records. Zero fields match everything.
type Query struct {
	Account string    // account id, case-insensitive
	Agent   string    // Agent.User, exact
	Session string    // one attempt's session id, exact
	Since   time.Time // records at or after this instant
	Until   time.Time // records before this instant
	// Limit is the most records returned (0: all), counted in the order
	// asked for: with NewestFirst, the newest Limit records.
	Limit int
	// NewestFirst returns the newest record first; otherwise the oldest
	// first. Order is the store's (a database's chain order, the file's
	// line order), which is the order records were committed.
	NewestFirst bool
}

// Stored is one record as a chaining backend keeps it: its place in the
// chain, the hashes, the canonical JSON the hash covers, and the columns
// the queries use (VerifyChain checks that they agree with the JSON).
type Stored struct {
	ID         int64
	PrevHash   string
	Hash       string
	JSON       []byte
	Time       time.Time
	Account    string
	AccountKey string // AccountKey(Account): what account queries compare
	AgentUser  string
	Session    string
	Action     Action
}

// Record decodes the stored JSON and adds the chain fields.
func (s Stored) Record() (Record, error) {
	r, err := parse(s.JSON)
	if err != nil {
		return r, err
	}
	r.ID, r.PrevHash, r.Hash = s.ID, s.PrevHash, s.Hash
	return r, nil
}
