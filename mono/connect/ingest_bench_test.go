package connect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// Event bridge benchmarks inside mono/connect: page post -> ingest ->
// Session queue -> Events(). (tui's BenchmarkBridge carries on into the
// TUI's Model; this one isolates the bridge. Both lift the per-page rate
// limit for their single-page runs through Config.PageRateLimit.)
//
//	go test -run '^$' -bench 'Ingest' -benchtime 1x ./mono/connect/
//	REAUTH_BENCH_SECONDS=10 go test -run '^$' -bench 'Ingest/flood' -benchtime 1x ./mono/connect/

// benchServer starts a sandbox-mode server on loopback with one session.
func benchServer(b *testing.B, widen bool) (*Server, *Session, string, string) {
	b.Helper()
	cfg := Config{Mode: ModeSandbox}
	if widen {
		// One page posting 1,000 events/s is far past what a real widget
		// does (tens of events in a whole session); the default limit (30/s,
		// burst 60) would refuse nearly all of it.
		cfg.PageRateLimit = RateLimit{PerSecond: 1e9, Burst: 1e9}
	}
	srv, err := NewServer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	sess, err := srv.NewSession(SessionParams{Account: mono.Account{ID: "65a000000000000000000042", Name: "Bench Holder"}})
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(sess.URL())
	if err != nil {
		b.Fatal(err)
	}
	return srv, sess, u.Fragment, u.Scheme + "://" + u.Host
}

// benchEventBody is one post as page.js sends it; every tenth is an outcome
// (ERROR), the rest chatter of repeating names and heartbeats.
func benchEventBody(seq int64) ([]byte, bool) {
	var cb, name, data string
	outcome := false
	switch seq % 10 {
	case 0:
		cb, name, data, outcome = "event", mono.EventError, `{"errorType":"INVALID_OTP","errorMessage":"The OTP entered is wrong"}`, true
	case 3, 7:
		cb, data = "heartbeat", `{}`
	case 5:
		cb, name, data = "event", mono.EventSubmitMFA, `{"mfaType":"OTP"}`
	default:
		cb, name, data = "event", mono.EventInstitutionSelected, `{"institution":{"id":"5f2d08be60b92e2888287702","name":"GTBank"},"authMethod":"internet_banking"}`
	}
	if name != "" {
		return fmt.Appendf(nil, `{"seq":%d,"callback":%q,"name":%q,"data":%s}`, seq, cb, name, data), outcome
	}
	return fmt.Appendf(nil, `{"seq":%d,"callback":%q,"data":%s}`, seq, cb, data), outcome
}

func benchSeconds(b *testing.B, def int) time.Duration {
	b.Helper()
	n := def
	if s := os.Getenv("REAUTH_BENCH_SECONDS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			b.Fatalf("REAUTH_BENCH_SECONDS=%q: want a whole number of seconds", s)
		}
	}
	return time.Duration(n) * time.Second
}

func BenchmarkIngest(b *testing.B) {
	// handler: the CPU cost of one accepted post, in process (no socket),
	// with a consumer draining Events().
	b.Run("handler", func(b *testing.B) {
		srv, sess, secret, origin := benchServer(b, true)
		h := srv.routes()
		host := origin[len("http://"):]
		go func() {
			for range sess.Events() {
			}
		}()
		b.ReportAllocs()
		seq := int64(0)
		for b.Loop() {
			seq++
			body, _ := benchEventBody(seq)
			req := httptest.NewRequest(http.MethodPost, "/s/"+sess.ID()+"/events", bytes.NewReader(body))
			req.Host = host
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", origin)
			req.Header.Set(SecretHeader, secret)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent {
				b.Fatalf("seq %d: HTTP %d %s", seq, rec.Code, rec.Body)
			}
		}
	})

	// flood: one page posting 1,000 events/s over loopback HTTP, one post at
	// a time in seq order as page.js does, the rate limit lifted. Latency is
	// post() to receipt from Events().
	b.Run("flood/rate=1000", func(b *testing.B) {
		for range b.N {
			benchFlood(b, 1000, benchSeconds(b, 3))
		}
	})

	// limited: the same flood for one second against the default limit,
	// without retries, to show what the page meets (it retries 429s later).
	b.Run("limited/rate=1000", func(b *testing.B) {
		for range b.N {
			_, sess, secret, origin := benchServer(b, false)
			go func() {
				for range sess.Events() {
				}
			}()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			var accepted, refused, outcomesRefused int
			start := time.Now()
			for seq := int64(1); seq <= 1000; seq++ {
				if wait := time.Until(start.Add(time.Duration(seq-1) * time.Millisecond)); wait > 0 {
					time.Sleep(wait) // pacing the load, not waiting for a result
				}
				body, outcome := benchEventBody(seq)
				switch code := benchPost(b, client, origin, sess.ID(), secret, body); code {
				case http.StatusNoContent:
					accepted++
				case http.StatusTooManyRequests:
					refused++
					if outcome {
						outcomesRefused++
					}
				default:
					b.Fatalf("seq %d: HTTP %d", seq, code)
				}
			}
			b.ReportMetric(float64(accepted), "accepted")
			b.ReportMetric(float64(refused), "refused-429")
			b.ReportMetric(float64(outcomesRefused), "outcomes-refused")
		}
	})
}

func benchPost(b *testing.B, client *http.Client, origin, id, secret string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, origin+"/s/"+id+"/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set(SecretHeader, secret)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func benchFlood(b *testing.B, perSecond int, dur time.Duration) {
	_, sess, secret, origin := benchServer(b, true)
	n := int64(perSecond) * int64(dur/time.Second)
	postedAt := make([]atomic.Int64, n+1)
	var mu sync.Mutex
	var lat []time.Duration
	outcomes, outcomesGot := 0, 0
	received := make(chan struct{})
	go func() {
		defer close(received)
		for ev := range sess.Events() {
			now := time.Now().UnixNano()
			if ev.Seq < 1 || ev.Seq > n {
				continue
			}
			mu.Lock()
			lat = append(lat, time.Duration(now-postedAt[ev.Seq].Load()))
			if ev.Seq%10 == 0 {
				outcomesGot++
			}
			mu.Unlock()
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	queue := make(chan int64, n)
	start := time.Now()
	go func() {
		interval := time.Second / time.Duration(perSecond)
		for seq := int64(1); seq <= n; seq++ {
			if wait := time.Until(start.Add(time.Duration(seq-1) * interval)); wait > 0 {
				time.Sleep(wait) // pacing the load, not waiting for a result
			}
			postedAt[seq].Store(time.Now().UnixNano())
			queue <- seq
		}
		close(queue)
	}()
	for seq := range queue {
		body, outcome := benchEventBody(seq)
		if outcome {
			outcomes++
		}
		if code := benchPost(b, client, origin, sess.ID(), secret, body); code != http.StatusNoContent {
			b.Fatalf("seq %d: HTTP %d", seq, code)
		}
	}
	elapsed := time.Since(start)
	sess.Close() // flushes what is queued, then closes Events()
	<-received
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(outcomes-outcomesGot), "lost-outcomes")
	b.ReportMetric(float64(sess.Dropped()), "dropped-chatter")
	b.Logf("1 page x %d events/s for %v: %d posted (%d outcome), %d delivered; p50 %.2f ms p99 %.2f ms max %.2f ms; outcomes lost %d; chatter dropped %d",
		perSecond, dur, n, outcomes, len(lat), pct(0.5), pct(0.99), pct(1), outcomes-outcomesGot, sess.Dropped())
	if outcomes != outcomesGot {
		b.Errorf("%d of %d outcome events were lost", outcomes-outcomesGot, outcomes)
	}
}
