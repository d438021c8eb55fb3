package webhook

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// refusalMix sends n bad requests of every kind the receiver refuses, from
// 8 concurrent senders over loopback, and returns how many of each it sent.
func refusalMix(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	big := strings.Repeat("x", MaxBody+1)
	kinds := []struct {
		reason string
		want   int
		req    func() *http.Request
	}{
		{refusedSecret, http.StatusUnauthorized, func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(Payload(ReauthRequired, acc1, "e"))))
			req.Header.Set(SecretHeader, "whsec-guess")
			return req
		}},
		{refusedBadBody, http.StatusBadRequest, func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"event":"x\u001b[2J`))
			req.Header.Set(SecretHeader, secret)
			return req
		}},
		{refusedMethod, http.StatusMethodNotAllowed, func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			return req
		}},
		{refusedTooLarge, http.StatusRequestEntityTooLarge, func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(big))
			req.Header.Set(SecretHeader, secret)
			return req
		}},
	}
	// Oversized bodies cost 64 KB each over loopback: one request in 40.
	pick := func(i int) int {
		if i%40 == 0 {
			return len(kinds) - 1
		}
		return i % (len(kinds) - 1)
	}
	var (
		mu   sync.Mutex
		sent = map[string]int{}
		wg   sync.WaitGroup
		next = make(chan int)
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	for range 8 {
		wg.Go(func() {
			for i := range next {
				k := kinds[pick(i)]
				resp, err := client.Do(k.req())
				if err != nil {
					t.Error(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != k.want {
					t.Errorf("%s: status %d, want %d", k.reason, resp.StatusCode, k.want)
				}
				mu.Lock()
				sent[k.reason]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return sent
}

// summaries parses the log's lines: each must be a refusal summary. It
// returns the lines and the counts they add up to.
func summaries(t *testing.T, logs string) (lines int, counts map[string]int) {
	t.Helper()
	counts = map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		lines++
		if !strings.Contains(line, `msg="`+refusalsMessage+`"`) {
			t.Fatalf("a log line that is not a refusal summary: %s", line)
		}
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			if n, err := strconv.Atoi(v); ok && err == nil {
				counts[k] += n
			}
		}
	}
	return lines, counts
}

// 3,606 bad requests (the figure) used to write a log line each.
// Now nothing is written per request: the refusals are counted by reason and
// summarised at most once per interval, with exact counts.
func TestRefusalsAreSummarisedNotLoggedOneByOne(t *testing.T) {
	const n = 3606
	t.Run("no line per request", func(t *testing.T) {
		logs := &lockedBuffer{}
		h := NewHandler(Config{Secret: secret, Logger: slog.New(slog.NewTextHandler(logs, nil)),
			RefusalLogEvery: time.Hour}).(*handler)
		srv := httptest.NewServer(h)
		defer srv.Close()
		sent := refusalMix(t, srv.URL, n)
		if got := logs.String(); got != "" {
			lines, _ := summaries(t, got)
			t.Fatalf("%d bad requests wrote %d bytes (%d lines) inside one interval, want none yet", n, len(got), lines)
		}
		h.refusals.flush() // the interval ends
		lines, counts := summaries(t, logs.String())
		if lines != 1 {
			t.Fatalf("%d summary lines for one interval, want 1:\n%s", lines, logs)
		}
		if counts["total"] != n {
			t.Errorf("total = %d, want %d", counts["total"], n)
		}
		for reason, want := range sent {
			if counts[reason] != want {
				t.Errorf("%s = %d, want %d", reason, counts[reason], want)
			}
		}
		if line := logs.String(); !strings.Contains(line, "last_remote=127.0.0.1:") || !strings.Contains(line, "last_error=") ||
			strings.Contains(line, "\x1b") || strings.Contains(line, "whsec-guess") || strings.Contains(line, secret) {
			t.Errorf("summary line: %s", line)
		}
		h.refusals.flush()
		if lines, _ := summaries(t, logs.String()); lines != 1 {
			t.Errorf("an empty interval wrote a line")
		}
	})

	t.Run("one line per interval by itself", func(t *testing.T) {
		const every = 20 * time.Millisecond
		logs := &lockedBuffer{}
		h := NewHandler(Config{Secret: secret, Logger: slog.New(slog.NewTextHandler(logs, nil)),
			RefusalLogEvery: every})
		srv := httptest.NewServer(h)
		defer srv.Close()
		start := time.Now()
		sent := refusalMix(t, srv.URL, n)
		// The last window's line comes by itself, within an interval.
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var lines int
		var counts map[string]int
		for {
			lines, counts = summaries(t, logs.String())
			if counts["total"] == n || time.Now().After(deadline) {
				break
			}
			<-tick.C
		}
		elapsed := time.Since(start)
		if counts["total"] != n {
			t.Fatalf("summaries count %d refusals, want %d:\n%s", counts["total"], n, logs)
		}
		for reason, want := range sent {
			if counts[reason] != want {
				t.Errorf("%s = %d, want %d", reason, counts[reason], want)
			}
		}
		// Lines are at least an interval apart.
		if limit := int(elapsed/every) + 1; lines > limit {
			t.Errorf("%d summary lines in %s, want at most %d (one per %s)", lines, elapsed, limit, every)
		}
		t.Logf("%d bad requests in %s: %d summary lines, %d bytes", n, elapsed.Round(time.Millisecond), lines, len(logs.String()))
	})
}
