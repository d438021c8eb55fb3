package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// fetchConfig fetches s's config as page.js does and decodes it.
func fetchConfig(t *testing.T, srv *Server, s *Session) (int, pageConfig, string) {
	t.Helper()
	code, body := do(t, srv, s, req{method: http.MethodGet, path: "/s/" + s.ID() + "/config", origin: "-"})
	var cfg pageConfig
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &cfg); err != nil {
			t.Fatalf("config %q: %v", body, err)
		}
	}
	return code, cfg, body
}

func mustConfig(t *testing.T, srv *Server, s *Session) pageConfig {
	t.Helper()
	code, cfg, body := fetchConfig(t, srv, s)
	if code != http.StatusOK {
		t.Fatalf("config: %d %s", code, body)
	}
	return cfg
}

// pagePost is an event post from page instance page ("" names none).
func pagePost(seq int64, callback, name, page string) []byte {
	m := map[string]any{"seq": seq, "callback": callback, "page": page}
	if name != "" {
		m["name"] = name
	}
	b, _ := json.Marshal(m)
	return b
}

// The newest page wins: a reload, the link opened again or another device
// takes the session over. The consumer hears PAGE_OPENED then
// PAGE_REOPENED; the new instance's seqs continue past everything accepted
// (what the older page left held is delivered first); the older instance's
// posts, heartbeat and unload beacon included, get 409 "moved" and change
// nothing, so its unload is not reported as the page going away.
func TestReopenContinuesTheSession(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.holdWindow = time.Hour })
	s := newSess(t, srv, "acct1", "")

	first := mustConfig(t, srv, s)
	if first.SeqStart != 1 || len(first.PageID) < 16 || first.ExpiresInMs <= 0 || first.ExpiresInMs > mono.TokenLifetime.Milliseconds() {
		t.Fatalf("first config: %+v", first)
	}
	if ev := next(t, s, 5*time.Second); ev.Callback != mono.CallbackPageOpen || ev.Name != mono.EventPageOpened || ev.Seq != 0 || ev.At.IsZero() {
		t.Fatalf("want PAGE_OPENED, got %+v", ev)
	}
	post := func(body []byte, ctype string) (int, string) {
		return do(t, srv, s, req{body: body, ctype: ctype})
	}
	for _, p := range [][]byte{pagePost(1, "load", "", first.PageID), pagePost(2, "event", "OPENED", first.PageID), pagePost(4, "event", "SUBMIT_MFA", first.PageID)} {
		if code, body := post(p, ""); code != http.StatusNoContent {
			t.Fatalf("first page's post: %d %s", code, body)
		}
	}
	expectSequence(t, s, 5*time.Second, step{cb: mono.CallbackLoad}, step{cb: mono.CallbackEvent, name: mono.EventOpened})

	second := mustConfig(t, srv, s)
	if second.PageID == first.PageID || second.SeqStart != 5 {
		t.Fatalf("second config: page %q (first %q), seqStart %d, want a new page and 5", second.PageID, first.PageID, second.SeqStart)
	}
	// Seq 3 will never come (the first page is superseded): what it left
	// held is delivered before the reopen.
	expectSequence(t, s, 5*time.Second,
		step{cb: mono.CallbackEvent, name: mono.EventSubmitMFA},
		step{cb: mono.CallbackPageOpen, name: mono.EventPageReopened})

	// The first page's next posts: a heartbeat, a late outcome, its unload
	// beacon. Each is answered "moved" and changes nothing.
	beacon := fmt.Appendf(nil, `{"seq":6,"callback":"unload","secret":%q,"page":%q}`, secretOf(s), first.PageID)
	for _, p := range []struct {
		body  []byte
		ctype string
	}{
		{pagePost(5, "heartbeat", "", first.PageID), ""},
		{pagePost(3, "close", "", first.PageID), ""},
		{beacon, "text/plain;charset=UTF-8"},
	} {
		code, body := do(t, srv, s, req{body: p.body, ctype: p.ctype, secret: map[bool]string{true: "-", false: ""}[p.ctype != ""]})
		if code != http.StatusConflict {
			t.Fatalf("superseded page's post %s: %d %s, want 409", p.body, code, body)
		}
		var m movedReply
		if err := json.Unmarshal([]byte(body), &m); err != nil || m.Error != "moved" || m.Message != "This reauth continued in another tab or on another device." {
			t.Fatalf("409 body %q", body)
		}
	}
	// A page id that is not base64url is a malformed post.
	if code, _ := post(pagePost(5, "heartbeat", "", "<script>"), ""); code != http.StatusBadRequest {
		t.Errorf("malformed page id: %d, want 400", code)
	}
	// The second page carries on at seq 5: nothing of the first page's
	// arrived in between (no close, no unload).
	if code, body := post(pagePost(5, "event", "PROBE", second.PageID), ""); code != http.StatusNoContent {
		t.Fatalf("second page's post: %d %s", code, body)
	}
	if ev := next(t, s, 5*time.Second); ev.Name != "PROBE" || ev.Seq != 5 {
		t.Fatalf("want only the second page's probe, got %+v", ev)
	}
	// Its own unload is the page going away, and a reload after it is a
	// reopen again.
	if code, body := post(pagePost(6, "unload", "", second.PageID), ""); code != http.StatusNoContent {
		t.Fatalf("second page's unload: %d %s", code, body)
	}
	third := mustConfig(t, srv, s)
	expectSequence(t, s, 5*time.Second, step{cb: mono.CallbackUnload}, step{cb: mono.CallbackPageOpen, name: mono.EventPageReopened})
	if third.SeqStart != 7 {
		t.Fatalf("third seqStart %d, want 7", third.SeqStart)
	}
}

// PAGE_OPENED / PAGE_REOPENED are never dropped, even to a consumer that has
// fallen behind under chatter; a page reloading in a loop is rate limited
// like posts (it cannot flood the consumer with never-dropped events).
func TestPageOpenIsNeverDroppedAndReloadsAreLimited(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.rateBurst, tu.rateRefill = 1e6, 1e6 })
	s := newSess(t, srv, "acct1", "")
	cfg := mustConfig(t, srv, s)
	seq := int64(0)
	for range 200 { // nobody reads: the channel fills and chatter drops
		seq++
		code, body := do(t, srv, s, req{body: pagePost(seq, "heartbeat", "", cfg.PageID)})
		if code != http.StatusNoContent {
			t.Fatalf("heartbeat %d: %d %s", seq, code, body)
		}
	}
	for range 3 {
		mustConfig(t, srv, s)
	}
	if s.Dropped() == 0 {
		t.Fatal("nothing was dropped: the consumer was not behind")
	}
	opens := 0
	for opens < 4 {
		ev := waitFor(t, s, 5*time.Second, func(ev mono.WidgetEvent) bool { return ev.IsPageOpen() })
		if want := opens > 0; ev.IsReopen() != want {
			t.Fatalf("open %d: %+v", opens, ev)
		}
		opens++
	}

	limited := startServer(t, sandboxConfig(), func(tu *tuning) { tu.rateBurst, tu.rateRefill = 3, 0.001 })
	l := newSess(t, limited, "acct1", "")
	for i := range 3 {
		if code, _, body := fetchConfig(t, limited, l); code != http.StatusOK {
			t.Fatalf("load %d: %d %s", i+1, code, body)
		}
	}
	if code, _, _ := fetchConfig(t, limited, l); code != http.StatusTooManyRequests {
		t.Fatalf("a fourth load at once: %d, want 429", code)
	}
}

// An ended session's page, config and posts answer 410 with the true cause
// as JSON, never a 5xx: the agent ended it, it succeeded, a newer session
// replaced it, the server closed, or the token expired (also when the
// agent's app closes a page whose token has run out).
func TestEndedSessionsSayWhy(t *testing.T) {
	var skew atomic.Int64
	cfg := sandboxConfig()
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv := startServer(t, cfg)
	closed := startServer(t, cfg)
	cases := []struct {
		reason string
		end    func() *Session
		server *Server
	}{
		{"ended_by_agent", func() *Session { s := newSess(t, srv, "a1", ""); s.Close(); return s }, srv},
		{"ended_by_agent", func() *Session { s := newSess(t, srv, "a2", ""); s.CloseWithReason("nonsense"); return s }, srv},
		{"succeeded", func() *Session { s := newSess(t, srv, "a3", ""); s.CloseWithReason(EndSucceeded); return s }, srv},
		// The agent's app closing the page after the page reported success:
		// the customer is told the account is re-authorised.
		{"succeeded", func() *Session {
			s := newSess(t, srv, "a6", "")
			postOK(t, srv, s, 1, "success", "", map[string]any{"code": "code_x"})
			s.Close()
			if s.EndReason() != EndSucceeded {
				t.Errorf("closed after a success: EndReason %q, want %q", s.EndReason(), EndSucceeded)
			}
			return s
		}, srv},
		{"replaced", func() *Session { s := newSess(t, srv, "a4", ""); newSess(t, srv, "a4", ""); return s }, srv},
		{"server_closed", func() *Session {
			s := newSess(t, closed, "a5", "")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := closed.Close(ctx); err != nil {
				t.Fatal(err)
			}
			return s
		}, closed},
	}
	check := func(t *testing.T, srv *Server, s *Session, reason string) {
		t.Helper()
		want := `{"error":"ended","reason":"` + reason + `"}` + "\n"
		if srv == closed {
			// Its listener is gone: the tombstone still answers.
			if v := endedVerdict(s.EndReason()); endedReason(v.ended) != reason {
				t.Errorf("closed server's session ended as %q, want %q", s.EndReason(), reason)
			}
			return
		}
		for _, r := range []req{
			{body: eventBody(1, "heartbeat", "", nil)},
			{method: http.MethodGet, path: "/s/" + s.ID() + "/config", origin: "-"},
			{method: http.MethodGet, path: "/s/" + s.ID() + "/config", origin: "-", secret: "-"},
		} {
			if code, body := do(t, srv, s, r); code != http.StatusGone || body != want {
				t.Errorf("%s %s: %d %q, want 410 %q", r.method, r.path, code, body, want)
			}
		}
		// The page itself is served (410) so it can say the cause.
		code, html := do(t, srv, s, req{method: http.MethodGet, path: "/s/" + s.ID(), origin: "-", secret: "-"})
		if code != http.StatusGone || !strings.Contains(html, "page.js") {
			t.Errorf("ended page: %d", code)
		}
	}
	for _, c := range cases {
		s := c.end()
		check(t, c.server, s, c.reason)
	}

	// Expiry. Before it, the page opens; at it, a new page may not (410
	// expired), but posts are still taken for a grace (a success Mono
	// accepted just in time may arrive late); past the grace the session
	// ends as expired by itself.
	s := newSess(t, srv, "x1", "")
	mustConfig(t, srv, s)
	skew.Store(int64(mono.TokenLifetime))
	if code, _, body := fetchConfig(t, srv, s); code != http.StatusGone || body != `{"error":"ended","reason":"expired"}`+"\n" {
		t.Fatalf("config at expiry: %d %s", code, body)
	}
	postOK(t, srv, s, 1, "success", "", map[string]any{"code": "code_late"})
	waitFor(t, s, 5*time.Second, func(ev mono.WidgetEvent) bool { return ev.Callback == mono.CallbackSuccess })
	if s.EndReason() != "" {
		t.Fatalf("ended within the grace: %q", s.EndReason())
	}
	skew.Store(int64(mono.TokenLifetime + srv.set.tune.expiryGrace))
	check(t, srv, s, "expired")
	if s.EndReason() != EndExpired {
		t.Errorf("EndReason %q, want %q", s.EndReason(), EndExpired)
	}

	// The agent's app closing a page whose token ran out: the customer is
	// told it expired, not that the agent ended it.
	skew.Store(0)
	s = newSess(t, srv, "x2", "")
	skew.Store(int64(mono.TokenLifetime + time.Second))
	s.Close()
	check(t, srv, s, "expired")

	// Without a post, the pump ends the session itself past the grace.
	timed := startServer(t, sandboxConfig(), func(tu *tuning) { tu.expiryGrace = 50 * time.Millisecond })
	tok := testToken("x3")
	tok.ExpiresAt = time.Now().Add(100 * time.Millisecond)
	ts, err := timed.NewSession(SessionParams{Account: testAccount("x3"), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ts.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end after its token expired")
	}
	if ts.EndReason() != EndExpired {
		t.Errorf("EndReason %q, want %q", ts.EndReason(), EndExpired)
	}
	check(t, timed, ts, "expired")
}

// A page that posts seqs 2, 4, ..., 64 (every other one lost: 32 gaps)
// and then a success at 66 (one more gap): each gap used to be waited for
// one hold window in turn, so the success came 33 windows late. Now every
// post is delivered within one hold window of its acceptance, in order.
func TestSeqGapsNeverHoldAnOutcomeBack(t *testing.T) {
	const window = 300 * time.Millisecond
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.holdWindow = window })
	s := newSess(t, srv, "acct1", "")
	for seq := int64(2); seq <= 64; seq += 2 {
		postOK(t, srv, s, seq, "event", "SUBMIT_MFA", nil)
	}
	posted := time.Now()
	postOK(t, srv, s, 66, "success", "", map[string]any{"code": "code_x"})
	last := int64(0)
	for {
		ev := next(t, s, 10*time.Second)
		if ev.Seq <= last {
			t.Fatalf("out of order: %d after %d", ev.Seq, last)
		}
		last = ev.Seq
		if ev.Callback == mono.CallbackSuccess {
			break
		}
	}
	took := time.Since(posted)
	if took > 2*window {
		t.Fatalf("the success took %s behind 33 gaps; the bound is one hold window (%s, checked at 2×)", took, window)
	}
	if last != 66 {
		t.Fatalf("success at seq %d", last)
	}
	t.Logf("success delivered %s after its post (hold window %s)", took.Round(time.Millisecond), window)
	// A post inside its own window still waits for its gap.
	postOK(t, srv, s, 68, "event", "OPENED", nil)
	postOK(t, srv, s, 67, "event", "LOADED", nil)
	expectSequence(t, s, 5*time.Second, step{cb: mono.CallbackEvent, name: "LOADED"}, step{cb: mono.CallbackEvent, name: "OPENED"})
}

// logLines is a slog handler that keeps every record's message.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }
func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// 3,000 refused posts (wrong secret, foreign Origin, over the rate limit)
// write a handful of log lines, not 3,000: refusals are counted by status
// and logged at most once per interval, and the counts add up. No line
// holds the secret, a session id or a body.
func TestRefusalsAreLoggedAtABoundedRate(t *testing.T) {
	logs := &logLines{}
	cfg := sandboxConfig()
	cfg.Logger = slog.New(logs)
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.set.tune.rateBurst, srv.set.tune.rateRefill = 1, 0.001
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	s := newSess(t, srv, "acct1", "")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	// Chatter, so the outcomes' reserve does not let some through.
	body := []byte(`{"seq":1,"callback":"event","name":"SUBMIT_MFA","data":{"mfaType":"body-must-not-be-logged"}}`)
	send := func(secret, origin string) int {
		hr, _ := http.NewRequest(http.MethodPost, loopback(srv)+"/s/"+s.ID()+"/events", bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Origin", origin)
		hr.Header.Set(SecretHeader, secret)
		resp, err := client.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(secretOf(s), srv.origin); code != http.StatusNoContent {
		t.Fatalf("the one good post: %d", code)
	}
	want := map[int]int{}
	start := time.Now()
	for i := range 3000 {
		secret, origin := secretOf(s), srv.origin
		switch i % 3 {
		case 0:
			secret = "wrong-secret-AAAAAAAAAAAAAAAA"
		case 1:
			origin = "https://evil.example.com"
		}
		want[send(secret, origin)]++
	}
	elapsed := time.Since(start)
	if want[http.StatusUnauthorized] != 1000 || want[http.StatusForbidden] != 1000 || want[http.StatusTooManyRequests] != 1000 {
		t.Fatalf("statuses %v", want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil { // writes the pending line
		t.Fatal(err)
	}
	lineRE := regexp.MustCompile(`^refused (\d+) page requests in the last \S+: (.*?) refused=(\d+)$`)
	got := map[int]int{}
	var refusedLines []string
	for _, l := range logs.all() {
		if !strings.HasPrefix(l, "refused ") {
			continue
		}
		refusedLines = append(refusedLines, l)
		for _, bad := range []string{secretOf(s), s.ID(), "body-must-not-be-logged", "wrong-secret"} {
			if strings.Contains(l, bad) {
				t.Errorf("log line holds %q: %s", bad, l)
			}
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("log line %q", l)
		}
		for _, part := range strings.Split(m[2], ", ") {
			st, n, ok := strings.Cut(part, "×")
			if !ok {
				t.Fatalf("count %q in %q", part, l)
			}
			sti, _ := strconv.Atoi(st)
			ni, _ := strconv.Atoi(n)
			got[sti] += ni
		}
	}
	if bound := 2 + int(elapsed/srv.set.tune.refusalLog); len(refusedLines) == 0 || len(refusedLines) > bound {
		t.Fatalf("%d refusal lines for 3,000 refusals in %s (at most %d):\n%s", len(refusedLines), elapsed, bound, strings.Join(refusedLines, "\n"))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logged counts %v, want %v", got, want)
	}
	if n := len(logs.all()); n > 20 {
		t.Fatalf("%d log lines in all", n)
	}
	t.Logf("%d refusals in %s: %s", 3000, elapsed.Round(time.Millisecond), strings.Join(refusedLines, " | "))
}

// A page that falls silent is still reported gone (PAGE_GONE), and the link
// opened again afterwards continues the session (PAGE_REOPENED), its seqs
// past the silent page's.
func TestPageGoneThenReopened(t *testing.T) {
	cfg := sandboxConfig()
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 20*time.Millisecond, 150*time.Millisecond
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	first := mustConfig(t, srv, s)
	if code, body := do(t, srv, s, req{body: pagePost(1, "load", "", first.PageID)}); code != http.StatusNoContent {
		t.Fatalf("load: %d %s", code, body)
	}
	expectSequence(t, s, 5*time.Second, opened(true), step{cb: mono.CallbackLoad})
	if ev := next(t, s, 5*time.Second); ev.Callback != mono.CallbackUnload || ev.Name != PageGone || ev.Seq != 0 {
		t.Fatalf("want PAGE_GONE, got %+v", ev)
	}
	second := mustConfig(t, srv, s)
	if ev := next(t, s, 5*time.Second); !ev.IsReopen() {
		t.Fatalf("want PAGE_REOPENED, got %+v", ev)
	}
	if second.SeqStart != 2 {
		t.Fatalf("seqStart %d, want 2", second.SeqStart)
	}
	if code, body := do(t, srv, s, req{body: pagePost(2, "load", "", second.PageID)}); code != http.StatusNoContent {
		t.Fatalf("the reopened page's load: %d %s", code, body)
	}
	// (The reopened page may itself be reported gone first on a slow
	// machine: its watchdog runs too.)
	if ev := waitFor(t, s, 5*time.Second, func(ev mono.WidgetEvent) bool { return !ev.IsPageGone() }); ev.Callback != mono.CallbackLoad || ev.Seq != 2 {
		t.Fatalf("got %+v", ev)
	}
}
