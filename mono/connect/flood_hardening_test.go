package connect

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// A script floods one session with 10,000 posts over 8 connections, as fast
// as they go, under the default limits. The session's token bucket refuses
// most with 429; another session posting a normal flow at the same time
// gets every post in and every event out, in order; and of the flooded
// session's accepted posts nothing is lost — each is delivered or, if it is
// chatter, counted as dropped — and its outcome, retried on 429 the way
// page.js retries, arrives.
func TestFloodIsRateLimitedWithoutStarvingOthers(t *testing.T) {
	srv := startServer(t, sandboxConfig()) // default tuning: burst 60, 30 posts/s
	flooded := newSess(t, srv, "acct1", "")
	quiet := newSess(t, srv, "acct2", "")
	tune := srv.set.tune

	// The flooded session's consumer, reading as the TUI does.
	closeSeen := make(chan struct{})
	consumed := make(chan []mono.WidgetEvent, 1)
	go func() {
		var got []mono.WidgetEvent
		once := sync.Once{}
		for ev := range flooded.Events() {
			got = append(got, ev)
			if ev.Callback == mono.CallbackClose {
				once.Do(func() { close(closeSeen) })
			}
		}
		consumed <- got
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	post := func(s *Session, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, loopback(srv)+"/s/"+s.ID()+"/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", srv.origin)
		req.Header.Set(SecretHeader, secretOf(s))
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	const total, workers = 10_000, 8
	var (
		issued   atomic.Int64
		highest  atomic.Int64 // highest accepted seq: the script keeps its seqs in the window
		mu       sync.Mutex
		statuses = map[int]int{}
		accepted = map[int64]bool{}
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := issued.Add(1); i <= total; i = issued.Add(1) {
				seq := highest.Load() + 1
				cb, name := "heartbeat", ""
				switch i % 3 {
				case 1:
					cb, name = "event", "SUBMIT_MFA"
				case 2:
					cb, name = "event", "INSTITUTION_SELECTED"
				}
				code := post(flooded, eventBody(seq, cb, name, nil))
				mu.Lock()
				statuses[code]++
				if code == http.StatusNoContent {
					accepted[seq] = true
				}
				mu.Unlock()
				for code == http.StatusNoContent {
					h := highest.Load()
					if seq <= h || highest.CompareAndSwap(h, seq) {
						break
					}
				}
			}
		})
	}

	// Meanwhile a well-behaved page on the other session.
	quietFlow := []struct{ cb, name string }{
		{"load", ""}, {"event", "OPENED"}, {"event", "INSTITUTION_SELECTED"}, {"event", "SUBMIT_CREDENTIALS"},
		{"event", "SUBMIT_MFA"}, {"event", "ERROR"}, {"event", "SUBMIT_MFA"}, {"event", "SUCCESS"}, {"success", ""}, {"close", ""},
	}
	var slowestQuiet time.Duration
	for i, st := range quietFlow {
		began := time.Now()
		if code := post(quiet, eventBody(int64(i+1), st.cb, st.name, nil)); code != http.StatusNoContent {
			t.Fatalf("quiet session, post %d (%s %s) during the flood: %d", i+1, st.cb, st.name, code)
		}
		ev := next(t, quiet, 5*time.Second)
		if ev.Seq != int64(i+1) || string(ev.Callback) != st.cb || ev.Name != st.name {
			t.Fatalf("quiet session got %+v, want seq %d %s %s", ev, i+1, st.cb, st.name)
		}
		slowestQuiet = max(slowestQuiet, time.Since(began))
	}
	wg.Wait()
	elapsed := time.Since(start)

	n204, n429 := statuses[http.StatusNoContent], statuses[http.StatusTooManyRequests]
	if n204+n429 != total {
		t.Fatalf("statuses %v: want only 204 and 429", statuses)
	}
	// The bucket's own bound: burst plus refill over the flood, plus the
	// one a post in flight at the end may take.
	limit := int(tune.rateBurst + tune.rateRefill*elapsed.Seconds() + 1)
	if n204 < int(tune.rateBurst) || n204 > limit {
		t.Fatalf("%d posts accepted in %s; the limit allows %d..%d", n204, elapsed, int(tune.rateBurst), limit)
	}
	if slowestQuiet > 2*time.Second {
		t.Errorf("the quiet session waited %s for a post and its event", slowestQuiet)
	}

	// The flooded page's outcome, retried on 429 until the bucket refills.
	closeSeq := highest.Load() + 1
	deadline := time.After(10 * time.Second)
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for post(flooded, eventBody(closeSeq, "close", "", nil)) != http.StatusNoContent {
		select {
		case <-retry.C:
		case <-deadline:
			t.Fatal("the outcome was never accepted after the flood")
		}
	}
	accepted[closeSeq] = true
	select {
	case <-closeSeen:
	case <-time.After(10 * time.Second):
		t.Fatal("the outcome was never delivered")
	}
	flooded.Close()
	got := <-consumed

	// Nothing accepted is lost: every distinct accepted seq is delivered,
	// or (chatter only) counted as dropped; deliveries are in order.
	last := int64(0)
	for _, ev := range got {
		if ev.Seq <= last {
			t.Fatalf("delivered out of order: %d after %d", ev.Seq, last)
		}
		last = ev.Seq
		if !accepted[ev.Seq] {
			t.Fatalf("delivered seq %d that was never accepted", ev.Seq)
		}
	}
	if int64(len(got))+flooded.Dropped() != int64(len(accepted)) {
		t.Fatalf("%d delivered + %d dropped != %d accepted", len(got), flooded.Dropped(), len(accepted))
	}
	t.Logf("flood: %d posts in %s (%.0f/s): %d accepted (%d distinct seqs, the rest repeats), %d refused with 429; "+
		"delivered %d, dropped %d chatter; quiet session: %d posts, slowest post+delivery %s",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), n204, len(accepted)-1, n429,
		len(got), flooded.Dropped(), len(quietFlow), slowestQuiet.Round(time.Microsecond))
}
