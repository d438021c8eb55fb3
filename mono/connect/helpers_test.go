package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// testClient never keeps connections alive, so goroutine counts settle.
var testClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   10 * time.Second,
}

func startServer(t *testing.T, cfg Config, tweak ...func(*tuning)) *Server {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	for _, f := range tweak {
		f(&srv.set.tune)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

func sandboxConfig() Config {
	return Config{Mode: ModeSandbox, HeartbeatInterval: time.Second, HeartbeatTimeout: time.Minute}
}

func testAccount(id string) mono.Account {
	return mono.Account{
		ID:            id,
		Name:          "Adaeze Okafor",
		AccountNumber: "0123456789",
		AuthMethod:    mono.AuthInternetBanking,
		Institution:   mono.Institution{ID: "5f2d08be60b92e2888287702", Name: "GTBank"},
	}
}

func testToken(accountID string) mono.Token {
	now := time.Now()
	return mono.Token{AccountID: accountID, Value: "tok_" + accountID + "_VwxcfeLRZvq1UlD5WiuN", MintedAt: now, ExpiresAt: now.Add(mono.TokenLifetime)}
}

func newSess(t *testing.T, srv *Server, accountID, scenario string) *Session {
	t.Helper()
	s, err := srv.NewSession(SessionParams{Account: testAccount(accountID), Token: testToken(accountID), Scenario: scenario, Reference: "ref_" + accountID})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}

func secretOf(s *Session) string {
	_, secret, _ := strings.Cut(s.URL(), "#")
	return secret
}

// req describes one HTTP request to the server; zero fields get the values
// a well-behaved page would use.
type req struct {
	method, path string
	body         []byte
	ctype        string
	origin       string // "-" for none
	secret       string // "-" for none
	header       map[string]string
}

func do(t *testing.T, srv *Server, s *Session, r req) (int, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/s/" + s.ID() + "/events"
	}
	if r.ctype == "" && r.method == http.MethodPost {
		r.ctype = "application/json"
	}
	if r.origin == "" {
		r.origin = srv.origin
	}
	if r.secret == "" && s != nil {
		r.secret = secretOf(s)
	}
	hr, err := http.NewRequest(r.method, loopback(srv)+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.ctype != "-" && r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.origin != "-" {
		hr.Header.Set("Origin", r.origin)
	}
	if r.secret != "-" && r.secret != "" {
		hr.Header.Set(SecretHeader, r.secret)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := testClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// loopback is where the server really listens (URL() may be a PublicURL).
func loopback(srv *Server) string { return "http://" + srv.ln.Addr().String() }

func eventBody(seq int64, callback, name string, data map[string]any) []byte {
	m := map[string]any{"seq": seq, "callback": callback}
	if name != "" {
		m["name"] = name
	}
	if data != nil {
		m["data"] = data
	}
	b, _ := json.Marshal(m)
	return b
}

// postOK posts an event the way the page does and insists it is accepted.
func postOK(t *testing.T, srv *Server, s *Session, seq int64, callback, name string, data map[string]any) {
	t.Helper()
	if code, body := do(t, srv, s, req{body: eventBody(seq, callback, name, data)}); code != http.StatusNoContent {
		t.Fatalf("post seq %d %s %s: %d %s", seq, callback, name, code, body)
	}
}

// next waits for the next event that is not a heartbeat.
func next(t *testing.T, s *Session, within time.Duration) mono.WidgetEvent {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("Events closed while waiting")
			}
			if ev.Callback == mono.CallbackHeartbeat {
				continue
			}
			return ev
		case <-deadline.C:
			t.Fatalf("no event within %s", within)
		}
	}
}

// waitFor skips events until one matches.
func waitFor(t *testing.T, s *Session, within time.Duration, match func(mono.WidgetEvent) bool) mono.WidgetEvent {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("Events closed while waiting")
			}
			if match(ev) {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("no matching event within %s", within)
		}
	}
}

// nothingPending proves no event is waiting: it posts a probe at seq and
// insists the probe is the very next event delivered.
func nothingPending(t *testing.T, srv *Server, s *Session, seq int64) {
	t.Helper()
	postOK(t, srv, s, seq, "event", "PROBE", nil)
	ev := next(t, s, 5*time.Second)
	if ev.Name != "PROBE" || ev.Seq != seq {
		t.Fatalf("expected only the probe (seq %d), got %+v", seq, ev)
	}
}

// step is an expected event: callback, name and the data fields that matter.
type step struct {
	cb    mono.Callback
	name  string
	check func(mono.EventData) string // "" when fine
}

func (st step) String() string { return string(st.cb) + " " + st.name }

func expectSequence(t *testing.T, s *Session, within time.Duration, steps ...step) []mono.WidgetEvent {
	t.Helper()
	var got []mono.WidgetEvent
	for i, st := range steps {
		ev := next(t, s, within)
		got = append(got, ev)
		if ev.Callback != st.cb || ev.Name != st.name {
			t.Fatalf("event %d: got %s %q, want %s (so far: %s)", i, ev.Callback, ev.Name, st, describeAll(got))
		}
		if st.check != nil {
			if msg := st.check(ev.Data); msg != "" {
				t.Fatalf("event %d (%s): %s; data %+v", i, st, msg, ev.Data)
			}
		}
	}
	return got
}

// expectOpening takes the server's PAGE_OPENED (made when the page fetched
// its config, before it loads the Connect script; unless first is false,
// after a reopen the caller took itself) and the three events connect.js
// makes itself. onLoad and LOADED come from the iframe's load,
// OPENED from a fixed 2 s timer after open(): with a slow frame, OPENED can
// come first, so the order between the two is not fixed (load always
// precedes LOADED).
func expectOpening(t *testing.T, s *Session, within time.Duration, first bool) {
	t.Helper()
	if first {
		expectSequence(t, s, within, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened})
	}
	var got []mono.WidgetEvent
	for range 3 {
		got = append(got, next(t, s, within))
	}
	order := describeAll(got)
	if order != "load:, event:LOADED, event:OPENED" && order != "event:OPENED, load:, event:LOADED" &&
		order != "load:, event:OPENED, event:LOADED" {
		t.Fatalf("opening events: %s", order)
	}
}

func describeAll(evs []mono.WidgetEvent) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, string(ev.Callback)+":"+ev.Name)
	}
	return strings.Join(parts, ", ")
}
