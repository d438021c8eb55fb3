package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cross-replica news: PostgreSQL LISTEN/NOTIFY used as a wake-up, with the
// tables as the truth. A writer calls NotifyTx inside its transaction
// (PostgreSQL delivers the notification at commit, and drops it on
// rollback); every process on the database holds one dedicated connection
// that LISTENs (started by the first Wake) and wakes its readers, which then
// re-read the tables as they would on their timer. A notification carries
// only its kind ("marks", "claims", …), never data, so one that is lost (the
// listener was reconnecting) loses nothing: after every (re)connect every
// reader is woken once to re-read.

// Kinds of news the store's writers send.
const (
	KindMarks  = "marks"
	KindClaims = "claims"
	// KindAccounts: a replica re-read an account from Mono (AccountNews).
	KindAccounts = "accounts"
)

// The listener's bounds: reconnects back off from the first to the last;
// a connection silent for listenPingEvery is asked a SELECT 1 (within
// listenPingTimeout) so a dead network is noticed.
const (
	listenBackoffFirst = 100 * time.Millisecond
	listenBackoffMax   = 5 * time.Second
	listenPingEvery    = 30 * time.Second
	listenPingTimeout  = 5 * time.Second
	listenDialTimeout  = 10 * time.Second
)

// channelFor is the NOTIFY channel of a schema: channels are database-wide,
// so two stores (two schemas, as the tests have) must not share one.
func channelFor(schema string) string {
	ch := "reauth." + schema
	if len(ch) > 63 { // NAMEDATALEN - 1
		sum := sha256.Sum256([]byte(schema))
		ch = "reauth." + hex.EncodeToString(sum[:12])
	}
	return ch
}

// notifier is a DB's listener and its readers.
type notifier struct {
	channel   string
	pingEvery time.Duration // 0: listenPingEvery (tests shorten it)

	mu      sync.Mutex
	subs    map[*wakeSub]struct{}
	started bool
	stop    context.CancelFunc
	done    chan struct{}
	pid     atomic.Uint32
	conns   atomic.Int64 // connections made, for tests and logs
	lastErr atomic.Pointer[string]
}

type wakeSub struct {
	kinds map[string]bool // nil: every kind
	ch    chan struct{}
}

func (s *wakeSub) poke() {
	select {
	case s.ch <- struct{}{}:
	default: // a wake-up is pending already: one re-read covers both
	}
}

// Channel is the NOTIFY channel of this store's schema.
func (d *DB) Channel() string { return d.note.channel }

// NotifyTx sends news of kind on the store's channel from inside tx: it is
// delivered when tx commits, and never if it rolls back. Readers re-read
// their tables on it; the payload is only the kind.
func (d *DB) NotifyTx(ctx context.Context, tx pgx.Tx, kind string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, d.note.channel, kind)
	return err
}

// Notify sends news of kind at once (outside any transaction).
func (d *DB) Notify(ctx context.Context, kind string) error {
	_, err := d.Pool.Exec(ctx, `SELECT pg_notify($1, $2)`, d.note.channel, kind)
	return err
}

// Wake is a wake-up for a reader of the store's tables: it receives when
// news of one of kinds (any kind when none is named) has been committed by
// any process on the database, and after every (re)connect of the listener
// (news may have been missed). Wake-ups coalesce: one pending is enough for
// a re-read. The first Wake starts the listener (one connection per DB);
// the subscription ends with ctx. A reader keeps its timer as well: the
// wake-up makes news quick, the timer makes it certain.
func (d *DB) Wake(ctx context.Context, kinds ...string) <-chan struct{} {
	sub := &wakeSub{ch: make(chan struct{}, 1)}
	if len(kinds) > 0 {
		sub.kinds = map[string]bool{}
		for _, k := range kinds {
			sub.kinds[k] = true
		}
	}
	n := &d.note
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[*wakeSub]struct{}{}
	}
	n.subs[sub] = struct{}{}
	if !n.started {
		n.started = true
		lctx, stop := context.WithCancel(context.Background())
		n.stop, n.done = stop, make(chan struct{})
		go d.listen(lctx)
	}
	n.mu.Unlock()
	context.AfterFunc(ctx, func() {
		n.mu.Lock()
		delete(n.subs, sub)
		n.mu.Unlock()
	})
	return sub.ch
}

// ListenerPID is the server process id of the listener's connection (0
// while it is not connected): for tests that cut it, and for operators.
func (d *DB) ListenerPID() uint32 { return d.note.pid.Load() }

// ListenerConnects is how many times the listener has connected.
func (d *DB) ListenerConnects() int64 { return d.note.conns.Load() }

// ListenerError is the listener's last connection error ("" when none
// since it last connected).
func (d *DB) ListenerError() string {
	if p := d.note.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (n *notifier) wake(kind string, all bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.subs {
		if all || s.kinds == nil || s.kinds[kind] {
			s.poke()
		}
	}
}

// closeListener stops the listener and waits for it.
func (n *notifier) closeListener() {
	n.mu.Lock()
	stop, done := n.stop, n.done
	n.started = true // no listener starts after Close
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
	if done != nil {
		<-done
	}
}

// listen keeps one LISTEN connection until ctx ends, reconnecting with
// backoff.
func (d *DB) listen(ctx context.Context) {
	n := &d.note
	defer close(n.done)
	backoff := listenBackoffFirst
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, func() { backoff = listenBackoffFirst })
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			msg := err.Error()
			n.lastErr.Store(&msg)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listenOnce connects, LISTENs, wakes every reader (whatever came while
// nobody listened is in the tables), then passes notifications on until the
// connection fails or ctx ends.
func (d *DB) listenOnce(ctx context.Context, connected func()) error {
	n := &d.note
	cfg := d.Pool.Config().ConnConfig.Copy()
	dctx, cancel := context.WithTimeout(ctx, listenDialTimeout)
	conn, err := pgx.ConnectConfig(dctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{n.channel}.Sanitize()); err != nil {
		return err
	}
	n.pid.Store(conn.PgConn().PID())
	defer n.pid.Store(0)
	n.conns.Add(1)
	n.lastErr.Store(nil)
	connected()
	n.wake("", true)
	every := n.pingEvery
	if every <= 0 {
		every = listenPingEvery
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, every)
		note, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Quiet for a while: make sure the connection still answers
			// (a dead network shows no error of its own).
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			_, err = conn.Exec(pctx, "SELECT 1")
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		n.wake(note.Payload, false)
	}
}
