package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// Two replicas behind one public URL: the load balancer may send a
// customer's request to either; the one that does not own the page forwards
// it to the one that does.

const sharedPublic = "http://pages.example"

// replicaPair starts r1 and r2 on loopback, sharing sharedPublic; extra
// owners (name -> base URL) are reachable too.
func replicaPair(t *testing.T, extra map[string]string) (r1, r2 *Server) {
	t.Helper()
	var mu sync.Mutex
	where := map[string]string{}
	for k, v := range extra {
		where[k] = v
	}
	forward := func(owner string) (*url.URL, error) {
		mu.Lock()
		defer mu.Unlock()
		base, ok := where[owner]
		if !ok {
			return nil, ErrNoLiveReplica
		}
		u, err := url.Parse(base)
		return u, err
	}
	cfg := sandboxConfig()
	cfg.PublicURL = sharedPublic
	cfg.Forward = forward
	c1, c2 := cfg, cfg
	c1.ReplicaID, c2.ReplicaID = "r1", "r2"
	r1, r2 = startServer(t, c1), startServer(t, c2)
	mu.Lock()
	where["r1"], where["r2"] = loopback(r1), loopback(r2)
	mu.Unlock()
	return r1, r2
}

// via sends r to srv's real address as a browser that opened the shared
// public URL would (Host and Origin the public ones).
func via(t *testing.T, srv *Server, r req) (int, string, http.Header) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.ctype == "" && r.method == http.MethodPost {
		r.ctype = "application/json"
	}
	if r.origin == "" {
		r.origin = sharedPublic
	}
	hr, err := http.NewRequest(r.method, loopback(srv)+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Host = "pages.example"
	if r.ctype != "-" {
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
	return resp.StatusCode, string(b), resp.Header
}

func TestSessionIDNamesItsOwner(t *testing.T) {
	r1, _ := replicaPair(t, nil)
	s := newSess(t, r1, "acc_owner", "")
	owner, ok := OwnerOf(s.ID())
	if !ok || owner != "r1" {
		t.Fatalf("OwnerOf(%q) = %q, %v", s.ID(), owner, ok)
	}
	if !strings.HasPrefix(s.URL(), sharedPublic+"/s/r1-") {
		t.Fatalf("URL %q", s.URL())
	}
	// 128 bits of randomness after the owner, as without replicas.
	if rnd := strings.TrimPrefix(s.ID(), "r1-"); len(rnd) != 22 {
		t.Fatalf("random part %q: %d characters, want 22 (16 bytes)", rnd, len(rnd))
	}
	if len(secretOf(s)) != 43 {
		t.Fatalf("secret length %d", len(secretOf(s)))
	}
	for _, id := range []string{"", "abc", "-abc", "R1-abc", "r_1-abc", strings.Repeat("a", 33) + "-x"} {
		if o, ok := OwnerOf(id); ok {
			t.Errorf("OwnerOf(%q) = %q, want none", id, o)
		}
	}
	for _, bad := range []string{"R1", "r-1", strings.Repeat("a", 33)} {
		cfg := sandboxConfig()
		cfg.ReplicaID = bad
		if _, err := NewServer(cfg); !IsConfigError(err) {
			t.Errorf("ReplicaID %q: %v, want a config error", bad, err)
		}
	}
	cfg := sandboxConfig()
	cfg.Forward = func(string) (*url.URL, error) { return nil, ErrNoLiveReplica }
	if _, err := NewServer(cfg); !IsConfigError(err) {
		t.Errorf("Forward without ReplicaID: %v, want a config error", err)
	}
}

func TestRequestsReachTheOwningReplica(t *testing.T) {
	r1, r2 := replicaPair(t, nil)
	s := newSess(t, r1, "acc_fwd", "")
	secret := secretOf(s)
	base := "/s/" + s.ID()

	code, body, h := via(t, r2, req{method: http.MethodGet, path: base})
	if code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("page through r2: %d %.80q", code, body)
	}
	if got := h.Values("Content-Security-Policy"); len(got) != 1 {
		t.Fatalf("CSP headers: %q (want the owner's, once)", got)
	}
	code, body, _ = via(t, r2, req{method: http.MethodGet, path: base + "/config", secret: secret,
		header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if code != http.StatusOK {
		t.Fatalf("config through r2: %d %s", code, body)
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || cfg.PairingCode != s.PairingCode() {
		t.Fatalf("config %s (err %v): want pairing %s", body, err, s.PairingCode())
	}
	expectSequence(t, s, 5*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened})

	// Posts through r2, in order, some straight to r1: one session, one order.
	for seq := int64(1); seq <= 20; seq++ {
		srv := r2
		if seq%5 == 0 {
			srv = r1
		}
		b := eventBody(seq, "event", "STEP", map[string]any{"n": seq})
		if code, body, _ := via(t, srv, req{path: base + "/events", body: b, secret: secret}); code != http.StatusNoContent {
			t.Fatalf("post %d: %d %s", seq, code, body)
		}
	}
	for seq := int64(1); seq <= 20; seq++ {
		ev := next(t, s, 5*time.Second)
		if ev.Name != "STEP" || ev.Seq != seq {
			t.Fatalf("event %d: %+v", seq, ev)
		}
	}

	// The owner's checks, through r2, exactly as for a direct request.
	refusals := []struct {
		name string
		r    req
		want int
	}{
		{"wrong secret", req{secret: "nope"}, http.StatusUnauthorized},
		{"no secret", req{secret: "-"}, http.StatusUnauthorized},
		{"foreign origin", req{secret: secret, origin: "https://evil.example"}, http.StatusForbidden},
		{"no origin", req{secret: secret, origin: "-"}, http.StatusForbidden},
		{"not json", req{secret: secret, body: []byte("hello")}, http.StatusBadRequest},
		{"too large", req{secret: secret, body: bytes.Repeat([]byte("x"), MaxPostBytes+1)}, http.StatusRequestEntityTooLarge},
		{"wrong type", req{secret: secret, ctype: "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
	}
	for _, c := range refusals {
		c.r.path = base + "/events"
		if c.r.body == nil {
			c.r.body = eventBody(99, "event", "BAD", nil)
		}
		if code, body, _ := via(t, r2, c.r); code != c.want {
			t.Errorf("%s through r2: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	nothingPending(t, r1, s, 21)
}

func TestForwardedRequestCarriesTheCustomersHostAndOrigin(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(r.Context())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(fake.Close)
	_, r2 := replicaPair(t, map[string]string{"r9": fake.URL})
	code, _, _ := via(t, r2, req{path: "/s/r9-AAAAAAAAAAAAAAAAAAAAAA/events", body: eventBody(1, "event", "X", nil), secret: "s3cret",
		header: map[string]string{"X-Forwarded-For": "203.0.113.7"}})
	if code != http.StatusNoContent {
		t.Fatalf("forwarded post: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen == nil {
		t.Fatal("the owner saw nothing")
	}
	if seen.Host != "pages.example" || seen.Header.Get("Origin") != sharedPublic || seen.Header.Get(SecretHeader) != "s3cret" {
		t.Errorf("owner saw Host %q Origin %q secret %q", seen.Host, seen.Header.Get("Origin"), seen.Header.Get(SecretHeader))
	}
	if got := seen.Header.Get(ForwardedHeader); got != "r2" {
		t.Errorf("%s = %q, want r2", ForwardedHeader, got)
	}
	if got := seen.Header.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if seen.URL.Path != "/s/r9-AAAAAAAAAAAAAAAAAAAAAA/events" || seen.ContentLength <= 0 {
		t.Errorf("path %q length %d", seen.URL.Path, seen.ContentLength)
	}
}

func TestSpoofedForwardHeaderBypassesNothing(t *testing.T) {
	r1, r2 := replicaPair(t, nil)
	s := newSess(t, r1, "acc_spoof", "")
	secret := secretOf(s)
	path := "/s/" + s.ID() + "/events"
	spoof := map[string]string{ForwardedHeader: "r2", "X-Forwarded-For": "10.0.0.1"}
	// Straight to the owner: every check still runs.
	for _, c := range []struct {
		name string
		r    req
		want int
	}{
		{"wrong secret", req{secret: "nope"}, http.StatusUnauthorized},
		{"foreign origin", req{secret: secret, origin: "https://evil.example"}, http.StatusForbidden},
		{"too large", req{secret: secret, body: bytes.Repeat([]byte("x"), MaxPostBytes+1)}, http.StatusRequestEntityTooLarge},
		{"bad shape", req{secret: secret, body: []byte(`{"seq":"one"}`)}, http.StatusBadRequest},
	} {
		c.r.path, c.r.header = path, spoof
		if c.r.body == nil {
			c.r.body = eventBody(1, "event", "BAD", nil)
		}
		if code, body, _ := via(t, r1, c.r); code != c.want {
			t.Errorf("%s with a spoofed %s: %d %s, want %d", c.name, ForwardedHeader, code, body, c.want)
		}
	}
	// At a replica that does not own the page, the header only stops the
	// request being forwarded: the customer who sent it is told the link
	// ended, and the session hears nothing.
	code, body, _ := via(t, r2, req{path: path, secret: secret, body: eventBody(1, "event", "SPOOF", nil), header: spoof})
	if code != http.StatusGone || !strings.Contains(body, `"server_closed"`) {
		t.Fatalf("spoofed header at r2: %d %s", code, body)
	}
	nothingPending(t, r1, s, 1)
	// Without it, the same post through r2 arrives.
	postVia := req{path: path, secret: secret, body: eventBody(2, "event", "REAL", nil)}
	if code, body, _ := via(t, r2, postVia); code != http.StatusNoContent {
		t.Fatalf("post through r2: %d %s", code, body)
	}
	if ev := next(t, s, 5*time.Second); ev.Name != "REAL" {
		t.Fatalf("got %+v", ev)
	}
}

func TestUnknownOrGoneOwnerEndsTheLink(t *testing.T) {
	// A replica that stopped: its address takes no connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "http://" + ln.Addr().String()
	_ = ln.Close()
	r1, r2 := replicaPair(t, map[string]string{"r8": deadAddr})
	for _, owner := range []string{"r7", "r8"} {
		id := owner + "-AAAAAAAAAAAAAAAAAAAAAA"
		code, body, h := via(t, r2, req{method: http.MethodGet, path: "/s/" + id})
		if code != http.StatusGone || !strings.Contains(body, "<html") || h.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: page %d %.60q", owner, code, body)
		}
		code, body, _ = via(t, r2, req{method: http.MethodGet, path: "/s/" + id + "/config", secret: "x",
			header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
		if code != http.StatusGone || !strings.Contains(body, `"reason":"server_closed"`) {
			t.Errorf("%s: config %d %s", owner, code, body)
		}
		code, body, _ = via(t, r2, req{path: "/s/" + id + "/events", secret: "x", body: eventBody(1, "event", "X", nil)})
		if code != http.StatusGone || !strings.Contains(body, `"reason":"server_closed"`) {
			t.Errorf("%s: post %d %s", owner, code, body)
		}
	}
	// A session its owner ended: the owner's own answer comes back.
	s := newSess(t, r1, "acc_ended", "")
	s.CloseWithReason(EndSucceeded)
	code, body, _ := via(t, r2, req{path: "/s/" + s.ID() + "/events", secret: secretOf(s), body: eventBody(1, "event", "X", nil)})
	if code != http.StatusGone || !strings.Contains(body, `"reason":"succeeded"`) {
		t.Fatalf("ended session through r2: %d %s", code, body)
	}
	// A replica without Forward keeps everything to itself (404 for ids it
	// does not know).
	cfg := sandboxConfig()
	cfg.ReplicaID = "r3"
	r3 := startServer(t, cfg)
	code, _ = doRaw(t, r3, "/s/r1-AAAAAAAAAAAAAAAAAAAAAA/config")
	if code != http.StatusNotFound {
		t.Fatalf("no Forward: %d, want 404", code)
	}
}

// When Forward cannot tell whether the owner is live (its registry did not
// answer), the customer is not told the link has ended: the page and its
// calls get 503, which page.js retries, and a later answer decides.
func TestOwnerNotKnownJustNowIsRetriedNotEnded(t *testing.T) {
	var mu sync.Mutex
	down := true
	cfg := sandboxConfig()
	cfg.PublicURL = sharedPublic
	cfg.ReplicaID = "r2"
	cfg.Forward = func(owner string) (*url.URL, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return nil, errors.New("registry: connection refused")
		}
		return nil, ErrNoLiveReplica
	}
	r2 := startServer(t, cfg)
	id := "r1-AAAAAAAAAAAAAAAAAAAAAA"
	check := func(wantCode int, wantBody string) {
		t.Helper()
		code, body, h := via(t, r2, req{method: http.MethodGet, path: "/s/" + id})
		if code != wantCode || !strings.Contains(body, "<html") || h.Get("Content-Security-Policy") == "" {
			t.Errorf("page %d %.60q, want %d", code, body, wantCode)
		}
		code, body, _ = via(t, r2, req{method: http.MethodGet, path: "/s/" + id + "/config", secret: "x",
			header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
		if code != wantCode || !strings.Contains(body, wantBody) {
			t.Errorf("config %d %s, want %d %s", code, body, wantCode, wantBody)
		}
		code, body, _ = via(t, r2, req{path: "/s/" + id + "/events", secret: "x", body: eventBody(1, "event", "X", nil)})
		if code != wantCode || !strings.Contains(body, wantBody) {
			t.Errorf("post %d %s, want %d %s", code, body, wantCode, wantBody)
		}
	}
	check(http.StatusServiceUnavailable, "try again")
	mu.Lock()
	down = false
	mu.Unlock()
	check(http.StatusGone, `"reason":"server_closed"`)
}

func doRaw(t *testing.T, srv *Server, path string) (int, string) {
	t.Helper()
	resp, err := testClient.Get(loopback(srv) + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
