package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/accountnews"
)

// AccountNewsBackend runs the account news conformance suite on a backend.
// newDB makes a fresh, empty store and returns how to open a backend on it;
// each call of that opens another handle (as another process or replica
// would; the memory backend returns the same one).
func AccountNewsBackend(t *testing.T, newDB func(t *testing.T) func(t *testing.T) accountnews.Backend) {
	t.Run("PublishAndFollow", func(t *testing.T) { testNewsPublishAndFollow(t, newDB(t)) })
	t.Run("NoAccountRefused", func(t *testing.T) { testNewsNoAccount(t, newDB(t)) })
	t.Run("PrunedAfterADayNeverGoesBack", func(t *testing.T) { testNewsPrune(t, newDB(t)) })
	t.Run("PagedByMaxChanges", func(t *testing.T) { testNewsPaged(t, newDB(t)) })
	t.Run("WritersAtOnceReaderMissesNothing", func(t *testing.T) { testNewsConcurrent(t, newDB(t)) })
}

func publish(t *testing.T, b accountnews.Backend, account, replica string, at time.Time) int64 {
	t.Helper()
	v, err := b.Publish(context.Background(), account, replica, at)
	if err != nil {
		t.Fatalf("publish %s by %s: %v", account, replica, err)
	}
	return v
}

func changes(t *testing.T, b accountnews.Backend, after int64) []accountnews.News {
	t.Helper()
	ns, err := b.Changes(context.Background(), after)
	if err != nil {
		t.Fatalf("changes after %d: %v", after, err)
	}
	return ns
}

func head(t *testing.T, b accountnews.Backend) int64 {
	t.Helper()
	v, err := b.Head(context.Background())
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return v
}

func testNewsPublishAndFollow(t *testing.T, open func(t *testing.T) accountnews.Backend) {
	b, other := open(t), open(t)
	if h := head(t, b); h != 0 {
		t.Fatalf("a fresh store's head is %d", h)
	}
	if ns := changes(t, other, 0); len(ns) != 0 {
		t.Fatalf("a fresh store has news: %+v", ns)
	}
	at1 := t0.Add(1500 * time.Millisecond)
	v1 := publish(t, b, "acc1", "r1", at1)
	v2 := publish(t, other, "acc2", "r2", at(1))
	v3 := publish(t, b, "acc1", "r1", at(2)) // again: every read is news
	if v1 <= 0 || v2 <= v1 || v3 <= v2 {
		t.Fatalf("versions %d %d %d", v1, v2, v3)
	}
	if h := head(t, other); h != v3 {
		t.Fatalf("head %d, want %d", h, v3)
	}
	want := []accountnews.News{{Version: v1, Account: "acc1", Replica: "r1", At: at1},
		{Version: v2, Account: "acc2", Replica: "r2", At: at(1)}, {Version: v3, Account: "acc1", Replica: "r1", At: at(2)}}
	got := changes(t, other, 0)
	if len(got) != len(want) {
		t.Fatalf("changes: %+v", got)
	}
	for i := range want {
		if g, w := got[i], want[i]; g.Version != w.Version || g.Account != w.Account || g.Replica != w.Replica || !g.At.Equal(w.At) {
			t.Fatalf("news %d is %+v, want %+v", i, g, w)
		}
	}
	if got := changes(t, b, v2); len(got) != 1 || got[0].Version != v3 {
		t.Fatalf("changes after %d: %+v", v2, got)
	}
	if got := changes(t, b, v3); len(got) != 0 {
		t.Fatalf("changes after the head: %+v", got)
	}
}

func testNewsNoAccount(t *testing.T, open func(t *testing.T) accountnews.Backend) {
	b := open(t)
	if _, err := b.Publish(context.Background(), "", "r1", t0); !errors.Is(err, accountnews.ErrNoAccount) {
		t.Fatalf("news of no account: %v", err)
	}
	if h := head(t, b); h != 0 {
		t.Fatalf("a refused publish left news (head %d)", h)
	}
}

// News older than KeepFor goes at the next publish; the versions after it
// still grow, even when every older row is gone (a reader holding the old
// head must not miss the new news).
func testNewsPrune(t *testing.T, open func(t *testing.T) accountnews.Backend) {
	b, other := open(t), open(t)
	v1 := publish(t, b, "acc1", "r1", t0)
	v2 := publish(t, b, "acc2", "r1", t0.Add(time.Hour))
	later := t0.Add(accountnews.KeepFor + 30*time.Minute)
	v3 := publish(t, other, "acc3", "r2", later)
	got := changes(t, b, 0)
	if len(got) != 2 || got[0].Version != v2 || got[1].Version != v3 || v3 <= v2 || v2 <= v1 {
		t.Fatalf("after a day: %+v (versions %d %d %d)", got, v1, v2, v3)
	}
	// Everything but the newest is a day old now.
	v4 := publish(t, b, "acc4", "r1", later.Add(accountnews.KeepFor+time.Hour))
	if v4 <= v3 {
		t.Fatalf("the version went back after a prune: %d after %d", v4, v3)
	}
	v5 := publish(t, other, "acc5", "r2", later.Add(accountnews.KeepFor+2*accountnews.KeepFor))
	if v5 <= v4 {
		t.Fatalf("the version went back after pruning every older row: %d after %d", v5, v4)
	}
	if got := changes(t, other, v3); len(got) != 1 || got[0].Version != v5 {
		t.Fatalf("a reader at %d: %+v", v3, got)
	}
	if h := head(t, b); h != v5 {
		t.Fatalf("head %d, want %d", h, v5)
	}
}

func testNewsPaged(t *testing.T, open func(t *testing.T) accountnews.Backend) {
	b := open(t)
	n := accountnews.MaxChanges + 3
	for i := range n {
		publish(t, b, fmt.Sprintf("acc%d", i), "r1", t0)
	}
	first := changes(t, b, 0)
	if len(first) != accountnews.MaxChanges || first[0].Account != "acc0" {
		t.Fatalf("first page: %d news from %+v", len(first), first[0])
	}
	rest := changes(t, b, first[len(first)-1].Version)
	if len(rest) != 3 || rest[2].Account != fmt.Sprintf("acc%d", n-1) || rest[2].Version != head(t, b) {
		t.Fatalf("second page: %+v", rest)
	}
}

// Several writers at once (as replicas would) while a reader follows the
// feed: the reader sees every news exactly once, in version order (a
// version is never committed after a greater one is visible).
func testNewsConcurrent(t *testing.T, open func(t *testing.T) accountnews.Backend) {
	const writers, each = 4, 15
	reader := open(t)
	handles := make([]accountnews.Backend, writers)
	for i := range handles {
		handles[i] = open(t)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w, b := range handles {
		wg.Go(func() {
			for i := range each {
				if _, err := b.Publish(ctx, fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("r%d", w), t0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]bool{}
	var last int64
	follow := func() {
		for _, n := range changes(t, reader, last) {
			if n.Version <= last || seen[n.Account] {
				t.Fatalf("news %+v after version %d (seen before: %v)", n, last, seen[n.Account])
			}
			seen[n.Account], last = true, n.Version
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		follow()
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	follow()
	if len(seen) != writers*each {
		t.Fatalf("the reader saw %d of %d news", len(seen), writers*each)
	}
}
