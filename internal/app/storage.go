package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"charm.land/log/v2"

	"github.com/reauth/reauth/internal/accountnews"
	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/internal/store/postgres"
	"github.com/reauth/reauth/internal/store/sqlite"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state/audit"
)

// StoreKind is where the records live.
type StoreKind string

const (
	// StoreSQLite is the default: one file under the state directory.
	StoreSQLite StoreKind = "sqlite"
	// StorePostgres is a team's database (--database-url postgres://…).
	StorePostgres StoreKind = "postgres"
	// StoreFile is the JSON-lines audit file and webhooks.json beside it,
	// chosen by naming the file (--audit-log): one host only, no hash chain,
	// kept for scripts and for what older versions wrote.
	StoreFile StoreKind = "file"
)

// Storage is where a process keeps what must outlive it — the audit and what
// Mono's webhooks said about accounts — in one store: SQLite by default,
// PostgreSQL for a team, or the plain files when --audit-log names one.
// OpenStorage is the one place it is opened; every record goes through its
// audit.Log (the checks every record must pass run there, once, before any
// backend).
type Storage struct {
	Kind  StoreKind
	Where string // the file, or the database URL without its password
	log   *audit.Log
	// marks is the webhook marks backend of a database store (nil: the
	// file, marksPath).
	marks     webhook.Backend
	marksPath string
	// claims is the team's claims on accounts (one live attempt per
	// account): in the database, or in memory for the plain files.
	claims claim.Backend
	// news is the account news feed of a database store (nil for the
	// files: one process, no one to tell).
	news    accountnews.Backend
	ping    func(context.Context) error
	closeDB func()
	// Imported says, one sentence each, what this start imported from the
	// files an older reauth kept (empty when there was nothing new).
	Imported []string

	// replicas is the database's replica registry (nil for the files);
	// wake is PostgreSQL's LISTEN/NOTIFY wake-up (nil elsewhere: readers
	// keep to their timers). See replicas.go.
	replicas replicaRegistry
	wake     func(ctx context.Context, kinds ...string) <-chan struct{}
	// clusterKey is the database's shared key, with which replicas
	// authenticate their calls to each other (handover.go); nil for the
	// files.
	clusterKey func(ctx context.Context) ([]byte, error)
}

// DatabaseEnv names the environment variable that --database-url defaults to.
const DatabaseEnv = "REAUTH_DATABASE_URL"

// StoreFileName is the SQLite store's file in the state directory.
const StoreFileName = "reauth.db"

// openTimeout bounds opening a store (a PostgreSQL server that does not
// answer must not hang the app's start).
const openTimeout = 15 * time.Second

// OpenStorage opens the store files names: Files.Database (a postgres://
// URL, or a SQLite file, optionally written sqlite:PATH), else the audit
// file Files.AuditLog names (StoreFile), else the SQLite store in the state
// directory. A database store imports, once, the audit.jsonl and
// webhooks.json an older reauth kept in the state directory (Imported says
// so; the files are left as they were).
func OpenStorage(ctx context.Context, files Files, now func() time.Time, logger *log.Logger) (*Storage, error) {
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	db := strings.TrimSpace(files.Database)
	switch {
	case db == "" && files.AuditLog != "":
		return openFileStorage(files, now)
	case postgres.IsURL(db):
		pg, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, failed("cannot open the database: " + OneLine(err))
		}
		s := &Storage{Kind: StorePostgres, Where: pg.Where,
			log:     audit.New(postgres.NewAudit(pg), audit.Options{Now: now}),
			marks:   postgres.NewMarks(pg),
			claims:  postgres.NewClaims(pg),
			news:    postgres.NewAccountNews(pg),
			ping:    func(ctx context.Context) error { return pg.Pool.Ping(ctx) },
			closeDB: pg.Close}
		s.replicas, s.wake, s.clusterKey = postgres.NewReplicas(pg), pg.Wake, pg.ClusterKey
		s.importOld(ctx, files.oldFilesDir(), logger)
		return s, nil
	case strings.Contains(db, "://"):
		return nil, ConfigError{"--database-url must be a postgres:// URL or a SQLite file path (got a " +
			strings.SplitN(db, "://", 2)[0] + ":// URL)"}
	}
	path := strings.TrimPrefix(db, "sqlite:")
	if path == "" {
		p, err := StatePath(StoreFileName)
		if err != nil {
			return nil, ConfigError{"no place for the store: " + err.Error()}
		}
		path = p
	}
	lite, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, failed("cannot open the store " + path + ": " + OneLine(err))
	}
	s := &Storage{Kind: StoreSQLite, Where: path,
		log:     audit.New(sqlite.NewAudit(lite), audit.Options{Now: now}),
		marks:   sqlite.NewMarks(lite),
		claims:  sqlite.NewClaims(lite),
		news:    sqlite.NewAccountNews(lite),
		ping:    func(ctx context.Context) error { return lite.SQL.PingContext(ctx) },
		closeDB: func() { _ = lite.Close() }}
	s.replicas, s.clusterKey = sqlite.NewReplicas(lite), lite.ClusterKey
	s.importOld(ctx, files.oldFilesDir(), logger)
	return s, nil
}

func openFileStorage(files Files, now func() time.Time) (*Storage, error) {
	path, err := files.Audit()
	if err != nil {
		return nil, err
	}
	l, err := audit.OpenWith(path, audit.Options{Now: now})
	if err != nil {
		return nil, err
	}
	marks, err := files.Marks()
	if err != nil {
		l.Close()
		return nil, err
	}
	return &Storage{Kind: StoreFile, Where: path, log: l, marksPath: marks, claims: claim.NewMemory(),
		ping: func(context.Context) error {
			_, err := os.Stat(filepath.Dir(path))
			return err
		}}, nil
}

// importOld brings dir's (the state directory's) audit.jsonl and webhooks.json into
// a database store, once each (the store remembers what it imported). A
// failed import is logged and said, and the app goes on: the old files are
// untouched and the next start tries again.
func (s *Storage) importOld(ctx context.Context, dir string, logger *log.Logger) {
	if dir == "" {
		return
	}
	say := func(msg string) {
		s.Imported = append(s.Imported, msg)
		if logger != nil {
			logger.Info(msg)
		}
	}
	auditPath := filepath.Join(dir, AuditFileName)
	if res, err := s.log.ImportFile(ctx, auditPath); err != nil {
		say("could not import " + auditPath + " (kept as it was; the next start tries again): " + OneLine(err))
	} else if res.Imported > 0 || res.Refused > 0 {
		msg := fmt.Sprintf("imported %d audit records from %s into the %s store (the file is kept as it was)", res.Imported, auditPath, s.Kind)
		if res.Refused > 0 {
			msg += fmt.Sprintf("; %d records holding a raw token were left out", res.Refused)
		}
		say(msg)
	}
	marksPath := filepath.Join(dir, MarksFileName)
	if res, err := webhook.ImportFile(ctx, s.marks, marksPath); err != nil {
		say("could not import " + marksPath + " (kept as it was; the next start tries again): " + OneLine(err))
	} else if n := res.Marks + res.Unlinked + res.Cleared; n > 0 || res.Seen > 0 {
		say(fmt.Sprintf("imported %d webhook marks and %d seen event ids from %s into the %s store (the file is kept as it was)",
			n, res.Seen, marksPath, s.Kind))
	}
}

// Audit is the store's audit log.
func (s *Storage) Audit() *audit.Log { return s.log }

// Recorder is the one Recorder on this store's audit, stamping agent;
// logger (may be nil) hears about appends that fail in Record.
func (s *Storage) Recorder(agent audit.Agent, logger *log.Logger) *Recorder {
	return &Recorder{log: s.log, where: s.Where, agent: agent, logger: logger}
}

// Marks is a webhook marks Store on this store: over the database (any
// number of receivers and app instances share it), or the webhooks.json
// file beside the audit file.
func (s *Storage) Marks(ctx context.Context) (*webhook.Store, error) {
	if s.marks == nil {
		st, err := webhook.OpenStore(s.marksPath)
		if err != nil {
			return nil, failed("cannot open the webhook store: " + OneLine(err))
		}
		return st, nil
	}
	st, err := webhook.NewStore(ctx, s.marks)
	if err != nil {
		return nil, failed("cannot read the webhook marks: " + OneLine(err))
	}
	return st, nil
}

// Claims is the team's claims on accounts on this store: in the database
// (every program of every process on it shares them), or in this process's
// memory for the plain files (one process serves everyone there).
func (s *Storage) Claims() claim.Backend { return s.claims }

// AccountNews is the feed of accounts a process re-read from Mono, on a
// database store (every process on it follows it); nil on the plain files.
func (s *Storage) AccountNews() accountnews.Backend { return s.news }

// MarksWhere names where the marks are kept, for messages.
func (s *Storage) MarksWhere() string {
	if s.marks == nil {
		return "file " + s.marksPath
	}
	return string(s.Kind) + " store " + s.Where
}

// MarksKept reports whether a receiver has ever kept marks here (live
// one-off commands count Mono's webhooks as checked only then): a database
// store always can; the file only once it exists.
func (s *Storage) MarksKept() bool {
	if s.marks != nil {
		return true
	}
	_, err := os.Stat(s.marksPath)
	return err == nil
}

// Ping checks the store answers (readiness).
func (s *Storage) Ping(ctx context.Context) error {
	if s.ping == nil {
		return nil
	}
	return s.ping(ctx)
}

// Close closes the audit (waiting appends finish first) and the database.
func (s *Storage) Close() error {
	err := s.log.Close()
	if s.closeDB != nil {
		s.closeDB()
	}
	if errors.Is(err, audit.ErrClosed) {
		err = nil
	}
	return err
}
