package webhooktest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
)

// template is one kind of delivery the receivers test sends, with what it
// leaves on its account ("" for nothing) and that entry's rank at equal
// times (see webhook.Decide).
type template struct {
	del  webhook.Delivery
	kind webhook.MarkKind
	rank int
}

var templates = []template{
	{webhook.Delivery{Kind: webhook.ReauthRequired}, webhook.MarkReauthRequired, 3},
	{webhook.Delivery{Kind: webhook.AccountUpdated, Meta: &webhook.Meta{SyncStatus: mono.SyncReauthRequired, DataStatus: mono.StatusAvailable}}, webhook.MarkReauthRequired, 3},
	{webhook.Delivery{Kind: webhook.Reauthorized}, webhook.Cleared, 1},
	{webhook.Delivery{Kind: webhook.AccountUpdated, Meta: &webhook.Meta{SyncStatus: mono.SyncStatusSuccessful}}, webhook.Cleared, 1},
	{webhook.Delivery{Kind: webhook.AccountUpdated, Meta: &webhook.Meta{SyncStatus: "FAILED"}}, webhook.MarkSyncFailed, 2},
	{webhook.Delivery{Kind: webhook.JobUpdate, JobStatus: webhook.JobFailed, JobName: "transactions"}, webhook.MarkSyncFailed, 2},
	{webhook.Delivery{Kind: webhook.AccountUnlinked}, webhook.MarkUnlinked, 4},
	{webhook.Delivery{Kind: webhook.SyncFailed}, "", 0},
	{webhook.Delivery{Kind: webhook.JobUpdate, JobStatus: "finished"}, "", 0},
}

// sent is one event of the receivers test.
type sent struct {
	del  webhook.Delivery
	kind webhook.MarkKind
	rank int
}

// TwoReceivers is two receivers on the same marks, as two processes (or
// replicas) would be: two Stores from fx.Open, each behind a real
// webhook.NewHandler on its own loopback server, and an app's Store
// following the change feed (Reload) the whole time. Eight senders post
// events for overlapping accounts at both at once, in a shuffled order (so
// older events often arrive after newer ones); a third of the events go to
// both receivers with the same event_id; a sender retries a non-2xx as Mono
// does, until it is acknowledged. Then every event is sent again (Mono's
// retries of delivered events). Every event must have been applied exactly
// once across both receivers (OnEvent or OnStale), every retry must be a
// duplicate, and every Store must end with, for each account, the entry of
// its newest event by Mono's timestamp (and rank at equal times): what the
// ordering rules give for the full set, whatever the interleaving.
func TwoReceivers(t *testing.T, fx Fixture) {
	const (
		secret   = "whsec-two-receivers"
		accounts = 10
		pairs    = 6 // timestamps per account; two events share each
		senders  = 8
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	var mu sync.Mutex
	applied := map[string]int{}
	count := func(ev webhook.Event) {
		mu.Lock()
		defer mu.Unlock()
		applied[ev.ID]++
	}
	stores := []*webhook.Store{fx.Open(t), fx.Open(t)}
	var urls []string
	for _, s := range stores {
		srv := httptest.NewServer(webhook.NewHandler(webhook.Config{Secret: secret, Store: s, OnEvent: count, OnStale: count}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	follower := fx.Open(t)

	// The events: for each account, pairs of events sharing a Mono
	// timestamp, of different ranks (so the newest is one event).
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	var events []sent
	want := map[string]sent{} // account -> its newest deciding event
	for a := range accounts {
		acc := fmt.Sprintf("acc-hammer-%02d", a)
		for p := range pairs {
			first := templates[rng.IntN(len(templates))]
			second := templates[rng.IntN(len(templates))]
			for second.rank == first.rank && first.rank != 0 {
				second = templates[rng.IntN(len(templates))]
			}
			for k, tp := range []template{first, second} {
				d := tp.del
				d.AccountID, d.EventID, d.Timestamp = acc, fmt.Sprintf("a%02d-p%d-%d", a, p, k), base.Add(time.Duration(p)*time.Second)
				ev := sent{del: d, kind: tp.kind, rank: tp.rank}
				events = append(events, ev)
				if ev.kind == "" {
					continue
				}
				if w, ok := want[acc]; !ok || d.Timestamp.After(w.del.Timestamp) || (d.Timestamp.Equal(w.del.Timestamp) && ev.rank > w.rank) {
					want[acc] = ev
				}
			}
		}
	}

	type delivery struct {
		ev  sent
		url string
	}
	var first []delivery
	for _, ev := range events {
		r := rng.IntN(2)
		first = append(first, delivery{ev, urls[r]})
		if rng.IntN(3) == 0 {
			first = append(first, delivery{ev, urls[1-r]}) // the same event_id to both
		}
	}
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var refused sync.Map // event id -> a non-2xx answer that was retried
	deliver := func(ds []delivery) {
		t.Helper()
		work := make(chan delivery)
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for d := range work {
					for attempt := 1; ; attempt++ {
						err := webhook.Send(ctx, d.url, secret, d.ev.del.Body())
						if err == nil {
							break
						}
						refused.Store(d.ev.del.EventID, err.Error())
						if attempt == 20 || ctx.Err() != nil {
							t.Errorf("%s never acknowledged: %v", d.ev.del.EventID, err)
							break
						}
					}
				}
			})
		}
		for _, d := range ds {
			work <- d
		}
		close(work)
		wg.Wait()
	}

	// The app follows the change feed while the receivers write.
	stop := make(chan struct{})
	followed := make(chan error, 1)
	go func() {
		var last int64
		for {
			if _, _, err := follower.Reload(); err != nil {
				followed <- err
				return
			}
			if v := follower.Version(); v < last {
				followed <- fmt.Errorf("the follower's version went back from %d to %d", last, v)
				return
			} else {
				last = v
			}
			select {
			case <-stop:
				followed <- nil
				return
			default:
			}
		}
	}()

	deliver(first)
	close(stop)
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
	n := 0
	refused.Range(func(k, v any) bool { n++; t.Logf("retried %v: %v", k, v); return true })
	t.Logf("%d events, %d deliveries, %d events refused once or more and retried", len(events), len(first), n)

	mu.Lock()
	for _, ev := range events {
		if got := applied[ev.del.EventID]; got != 1 {
			t.Errorf("%s applied %d times, want once", ev.del.EventID, got)
		}
	}
	mu.Unlock()

	// Mono's retries of every event, to either receiver: all duplicates.
	var again []delivery
	for _, ev := range events {
		again = append(again, delivery{ev, urls[rng.IntN(2)]})
	}
	deliver(again)
	mu.Lock()
	for id, n := range applied {
		if n != 1 {
			t.Errorf("after the retries, %s applied %d times", id, n)
		}
	}
	mu.Unlock()

	check := func(name string, s *webhook.Store) {
		t.Helper()
		if _, _, err := s.Reload(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for a := range accounts {
			acc := fmt.Sprintf("acc-hammer-%02d", a)
			w, hasWant := want[acc]
			got, ok := s.Latest(acc)
			if ok != hasWant || (ok && (got.Kind != w.kind || got.EventID != w.del.EventID || !got.At.Equal(w.del.Timestamp))) {
				t.Errorf("%s: %s ends %+v %v, want %s from %s at %s", name, acc, got, ok, w.kind, w.del.EventID, w.del.Timestamp)
			}
		}
		for _, ev := range events {
			if !s.Seen(ev.del.EventID) {
				t.Errorf("%s: %s not seen", name, ev.del.EventID)
			}
		}
	}
	check("receiver 1", stores[0])
	check("receiver 2", stores[1])
	check("follower", follower)
	check("a store opened afterwards", fx.Open(t))
	if !maps.Equal(stores[0].Marked(), follower.Marked()) || !maps.Equal(stores[1].Marked(), follower.Marked()) ||
		!maps.Equal(stores[0].Unlinked(), follower.Unlinked()) {
		t.Error("the receivers' and the follower's views differ")
	}
}
