package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono/webhook"
)

func waitWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up for %s within 10s", what)
	}
}

func noWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("woken by %s", what)
	default:
	}
}

// News committed by one process wakes the readers of another on the same
// schema, by kind, only at commit; a store in another schema hears none of it.
func TestWakeOnCommittedNews(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := storetest.PostgresURL(t)
	a, b := openDB(t, url), openDB(t, url)
	other := openDB(t, storetest.PostgresURL(t))
	if a.Channel() != b.Channel() || a.Channel() == other.Channel() {
		t.Fatalf("channels %q %q %q", a.Channel(), b.Channel(), other.Channel())
	}
	marks, all := b.Wake(ctx, KindMarks), b.Wake(ctx)
	elsewhere := other.Wake(ctx)
	// The first connect wakes every reader once (re-read what came before).
	waitWake(t, marks, "the first connect")
	waitWake(t, all, "the first connect")
	waitWake(t, elsewhere, "the first connect")

	// A rolled-back write notifies nobody; notifications are dispatched in
	// order, so once the probe after it arrives, a wake-up for it would
	// already be pending.
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		if err := a.NotifyTx(ctx, tx, KindMarks); err != nil {
			return err
		}
		return context.Canceled // roll back
	})
	if err != context.Canceled {
		t.Fatalf("rolled back: %v", err)
	}
	if err := a.Notify(ctx, "probe"); err != nil {
		t.Fatal(err)
	}
	waitWake(t, all, "the probe")
	noWake(t, marks, "a rolled-back write or another kind")

	// A mark written through the marks backend wakes the marks readers.
	st, err := webhook.NewStore(ctx, NewMarks(a))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Flag("acc_1", webhook.MarkReauthRequired, time.Now(), "test"); err != nil || !ok {
		t.Fatalf("Flag: %v %v", ok, err)
	}
	waitWake(t, marks, "a committed mark")
	// …and only readers of this schema.
	if err := a.Notify(ctx, "probe"); err != nil {
		t.Fatal(err)
	}
	waitWake(t, all, "the second probe")
	if err := other.Notify(ctx, "probe"); err != nil {
		t.Fatal(err)
	}
	waitWake(t, elsewhere, "its own probe")
	noWake(t, elsewhere, "another schema's news")
}

// A listener whose connection is cut reconnects, wakes every reader (news
// sent meanwhile is in the tables, not lost), and hears later news.
func TestWakeAfterReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := storetest.PostgresURL(t)
	a, b := openDB(t, url), openDB(t, url)
	w := b.Wake(ctx, KindMarks)
	waitWake(t, w, "the first connect")
	for round := 1; round <= 2; round++ {
		pid := b.ListenerPID()
		if pid == 0 {
			t.Fatal("no listener connection")
		}
		var ok bool
		if err := a.Pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate %d: %v %v", pid, ok, err)
		}
		waitWake(t, w, "the reconnect")
		// The listener notes its new connection before it wakes anyone.
		if b.ListenerConnects() != int64(round+1) || b.ListenerPID() == 0 || b.ListenerPID() == pid {
			t.Fatalf("round %d: connects %d pid %d (was %d)", round, b.ListenerConnects(), b.ListenerPID(), pid)
		}
		if err := a.Notify(ctx, KindMarks); err != nil {
			t.Fatal(err)
		}
		waitWake(t, w, "news after the reconnect")
	}
}

// A quiet listener checks its connection now and then (SELECT 1) and keeps
// it: no reconnect, and news still arrives.
func TestQuietListenerKeepsItsConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := storetest.PostgresURL(t)
	a, b := openDB(t, url), openDB(t, url)
	b.note.pingEvery = 20 * time.Millisecond
	w := b.Wake(ctx, KindMarks)
	waitWake(t, w, "the first connect")
	pid := b.ListenerPID()
	// Wait until the listener has pinged a few times: its backend has run
	// SELECT 1 as its last statement.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var q string
		if err := a.Pool.QueryRow(ctx, `SELECT query FROM pg_stat_activity WHERE pid = $1`, int32(pid)).Scan(&q); err != nil {
			t.Fatal(err)
		}
		if q == "SELECT 1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener never checked its connection (last statement %q)", q)
		}
	}
	if err := a.Notify(ctx, KindMarks); err != nil {
		t.Fatal(err)
	}
	waitWake(t, w, "news")
	if b.ListenerConnects() != 1 || b.ListenerPID() != pid {
		t.Fatalf("connects %d pid %d (was %d): the listener reconnected", b.ListenerConnects(), b.ListenerPID(), pid)
	}
}
