package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{},
		{Mode: "demo"},
		{Mode: ModeLive},
		{Mode: ModeLive, PublicKey: "test_pk_x", ConnectJSURL: "http://cdn.example.com/connect.js"},
		{Mode: ModeSandbox, ConnectJSURL: "connect.js"},
		{Mode: ModeSandbox, Contract: "v3"},
		{Mode: ModeSandbox, PublicURL: "ftp://x"},
		{Mode: ModeSandbox, Addr: "nonsense"},
		{Mode: ModeSandbox, HeartbeatInterval: time.Second, HeartbeatTimeout: time.Second},
	}
	for i, c := range bad {
		if _, err := NewServer(c); !IsConfigError(err) {
			t.Errorf("config %d %+v: want a ConfigError, got %v", i, c, err)
		}
	}
	good := []Config{
		{Mode: ModeSandbox},
		{Mode: ModeLive, PublicKey: "live_pk_x"},
		{Mode: ModeLive, PublicKey: "test_pk_x", ConnectJSURL: "http://127.0.0.1:9/connect.js", Contract: ContractAccount},
		{Mode: ModeSandbox, PublicURL: "https://reauth.example.com/"},
	}
	for i, c := range good {
		if _, err := NewServer(c); err != nil {
			t.Errorf("config %d: %v", i, err)
		}
	}
	for in, want := range map[string]Contract{"": ContractAuto, " Account ": ContractAccount, "TOKEN": ContractToken, "auto": ContractAuto} {
		if c, err := ParseContract(in); err != nil || c != want {
			t.Errorf("ParseContract(%q) = %v, %v; want %v", in, c, err, want)
		}
	}
	if _, err := ParseContract("v3"); !IsConfigError(err) {
		t.Errorf("ParseContract(v3): %v", err)
	}
}

func TestNewSessionRefusals(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	expired := testToken("acct1")
	expired.ExpiresAt = time.Now().Add(-time.Second)
	if _, err := srv.NewSession(SessionParams{Account: testAccount("acct1"), Token: expired}); !IsConfigError(err) {
		t.Errorf("expired token: want a ConfigError, got %v", err)
	}
	if _, err := srv.NewSession(SessionParams{Account: testAccount("acct1"), Token: testToken("other")}); !IsConfigError(err) {
		t.Errorf("token for another account: want a ConfigError, got %v", err)
	}
	if _, err := srv.NewSession(SessionParams{Token: testToken("acct1")}); !IsConfigError(err) {
		t.Errorf("no account: want a ConfigError, got %v", err)
	}
	// An empty token is allowed: the page shows the SDK's own error.
	if _, err := srv.NewSession(SessionParams{Account: testAccount("acct1")}); err != nil {
		t.Errorf("empty token: %v", err)
	}
	notStarted, err := NewServer(sandboxConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notStarted.NewSession(SessionParams{Account: testAccount("a")}); err == nil {
		t.Error("NewSession before Start succeeded")
	}
}

func TestSessionIdentity(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	a := newSess(t, srv, "acct1", "")
	b := newSess(t, srv, "acct2", "")
	urlRE := regexp.MustCompile(`^http://127\.0\.0\.1:\d+/s/([A-Za-z0-9_-]{22,})#([A-Za-z0-9_-]{22,})$`)
	for _, s := range []*Session{a, b} {
		m := urlRE.FindStringSubmatch(s.URL())
		if m == nil {
			t.Fatalf("URL %q has the wrong shape", s.URL())
		}
		if m[1] != s.ID() {
			t.Errorf("URL id %q != ID %q", m[1], s.ID())
		}
		// base64url: 22 chars >= 128 bits.
		if len(m[2]) < 22 {
			t.Errorf("secret too short: %d chars", len(m[2]))
		}
		if !regexp.MustCompile(`^[` + pairingAlphabet + `]{2}-[` + pairingAlphabet + `]{2}$`).MatchString(s.PairingCode()) {
			t.Errorf("pairing code %q", s.PairingCode())
		}
	}
	if a.ID() == b.ID() || secretOf(a) == secretOf(b) || a.PairingCode() == b.PairingCode() {
		t.Error("two sessions share an id, secret or pairing code")
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("server URL %q", srv.URL())
	}
}

func TestPublicURL(t *testing.T) {
	cfg := sandboxConfig()
	cfg.PublicURL = "https://reauth.example.com/"
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	if !strings.HasPrefix(s.URL(), "https://reauth.example.com/s/"+s.ID()+"#") {
		t.Fatalf("URL %q does not use the public base", s.URL())
	}
	// The page's origin is the public one: posts from it are accepted (the
	// request still reaches us on loopback, with the public Host).
	code, body := do(t, srv, s, req{body: eventBody(1, "load", "", nil), origin: "https://reauth.example.com"})
	if code != http.StatusNoContent {
		t.Fatalf("post with public origin: %d %s", code, body)
	}
	if code, _ := do(t, srv, s, req{body: eventBody(2, "load", "", nil), origin: loopback(srv)}); code != http.StatusForbidden {
		t.Fatalf("post with the loopback origin: %d, want 403 (the page's origin is the public one)", code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	check := func(t *testing.T, cfg Config, wantScript, wantFrame string) {
		srv := startServer(t, cfg)
		s := newSess(t, srv, "acct1", "")
		for _, path := range []string{"/s/" + s.ID(), "/assets/page.js", "/s/" + s.ID() + "/config", "/nowhere"} {
			resp, err := testClient.Get(srv.URL() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src " + wantScript + ";", "frame-src " + wantFrame + ";", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: CSP %q lacks %q", path, csp, want)
				}
			}
			if strings.Contains(strings.Split(strings.Split(csp, "script-src")[1], ";")[0], "unsafe") {
				t.Errorf("%s: script-src allows unsafe sources: %q", path, csp)
			}
			if got := h.Get("Referrer-Policy"); got != "strict-origin" {
				t.Errorf("%s: Referrer-Policy %q", path, got)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q", path, got)
			}
			if got := h.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s: Cache-Control %q", path, got)
			}
		}
	}
	t.Run("sandbox", func(t *testing.T) {
		check(t, sandboxConfig(), "'self'", "'self'")
	})
	// Mono's CDN pins no release: 2.0.2+ frame connect.mono.co, the older
	// ones connect.withmono.com, so both are allowed.
	t.Run("live", func(t *testing.T) {
		check(t, Config{Mode: ModeLive, PublicKey: "live_pk_x", Contract: ContractToken}, "'self' https://connect.withmono.com", "https://connect.mono.co https://connect.withmono.com")
	})
	t.Run("live with a local script", func(t *testing.T) {
		check(t, Config{Mode: ModeLive, PublicKey: "live_pk_x", Contract: ContractToken, ConnectJSURL: "http://127.0.0.1:9999/x/connect.js"}, "'self' http://127.0.0.1:9999", "https://connect.mono.co https://connect.withmono.com")
	})
	// A URL naming the release says which frame host it needs.
	t.Run("live with connect.js 0.2.5 from a CDN", func(t *testing.T) {
		check(t, Config{Mode: ModeLive, PublicKey: "live_pk_x", Contract: ContractToken, ConnectJSURL: "https://cdn.jsdelivr.net/npm/@mono.co/connect.js@0.2.5/index.js"}, "'self' https://cdn.jsdelivr.net", "https://connect.withmono.com")
	})
	t.Run("live with connect.js 2.2.0 from a CDN", func(t *testing.T) {
		check(t, Config{Mode: ModeLive, PublicKey: "live_pk_x", Contract: ContractAccount, ConnectJSURL: "https://unpkg.com/@mono.co/connect.js@2.2.0"}, "'self' https://unpkg.com", "https://connect.mono.co")
	})
	t.Run("widget frame", func(t *testing.T) {
		srv := startServer(t, sandboxConfig())
		resp, err := testClient.Get(srv.URL() + "/sandbox/widget")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self'") || !strings.Contains(csp, "script-src 'self';") {
			t.Errorf("widget CSP %q", csp)
		}
	})
}

func TestForeignHostRefused(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	hr, _ := http.NewRequest(http.MethodGet, srv.URL()+"/s/"+s.ID(), nil)
	hr.Host = "evil.example.com" // what a DNS-rebinding page would send
	resp, err := testClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %d, want 421", resp.StatusCode)
	}
}

func TestPageCarriesNoSecrets(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	tok := testToken("acct1").Value
	code, html := do(t, srv, s, req{method: http.MethodGet, path: "/s/" + s.ID(), secret: "-", origin: "-"})
	if code != http.StatusOK {
		t.Fatalf("page: %d", code)
	}
	for _, secret := range []string{tok, secretOf(s), s.PairingCode(), "Adaeze"} {
		if strings.Contains(html, secret) {
			t.Errorf("page HTML contains %q", secret)
		}
	}
	if strings.Contains(html, "<script>") || regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(html) {
		t.Error("page has an inline script")
	}
	if code, _ := do(t, srv, nil, req{method: http.MethodGet, path: "/s/nope", secret: "-"}); code != http.StatusNotFound {
		t.Errorf("unknown page: %d", code)
	}
}

func TestConfigEndpoint(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	other := newSess(t, srv, "acct2", "")
	path := "/s/" + s.ID() + "/config"
	get := func(secret string, hdr map[string]string) (int, string) {
		return do(t, srv, s, req{method: http.MethodGet, path: path, secret: secret, origin: "-", header: hdr})
	}
	if code, _ := get("-", nil); code != http.StatusUnauthorized {
		t.Errorf("no secret: %d", code)
	}
	if code, _ := get("wrong", nil); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	if code, _ := get(secretOf(other), nil); code != http.StatusUnauthorized {
		t.Errorf("other session's secret: %d", code)
	}
	if code, _ := get("", map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site: %d", code)
	}
	code, body := get("", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if code != http.StatusOK {
		t.Fatalf("config: %d %s", code, body)
	}
	for _, want := range []string{`"reauth":"` + testToken("acct1").Value + `"`, `"pairingCode":"` + s.PairingCode() + `"`, `"number":"••••6789"`, `"seqStart":1`, `"contract":"token"`, `"scriptURL":"` + srv.URL() + `/sandbox/connect.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("config lacks %s: %s", want, body)
		}
	}
	// The newest page wins: a second fetch (another tab, a reload, another
	// device) is served while the first still holds the session, as a new
	// page instance whose seqs continue past every seq accepted so far.
	postOK(t, srv, s, 1, "load", "", nil)
	postOK(t, srv, s, 2, "unload", "", nil)
	code, body = get("", nil)
	if code != http.StatusOK || !strings.Contains(body, `"seqStart":3`) {
		t.Fatalf("config after unload: %d %s", code, body)
	}
	code, body = get("", nil)
	if code != http.StatusOK || !strings.Contains(body, `"seqStart":3`) {
		t.Fatalf("config while a page holds the session: %d %s", code, body)
	}
}

func TestAccountContractConfig(t *testing.T) {
	cfg := sandboxConfig()
	cfg.Contract = ContractAccount
	srv := startServer(t, cfg)
	s, err := srv.NewSession(SessionParams{Account: testAccount("acct9")})
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, srv, s, req{method: http.MethodGet, path: "/s/" + s.ID() + "/config", origin: "-"})
	if code != http.StatusOK || !strings.Contains(body, `"reauth":"acct9"`) || !strings.Contains(body, `"scope":"reauth"`) {
		t.Fatalf("account contract config: %d %s", code, body)
	}
	code, js := do(t, srv, nil, req{method: http.MethodGet, path: "/sandbox/connect.js", secret: "-"})
	if c, err := ClassifyScript([]byte(js)); code != http.StatusOK || err != nil || c != ContractAccount {
		t.Fatalf("stand-in not serving the account contract: %d, %v %v", code, c, err)
	}
}

func TestIngestRefusals(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	other := newSess(t, srv, "acct2", "")
	replaced := newSess(t, srv, "acct3", "")
	newSess(t, srv, "acct3", "") // ends `replaced`

	good := eventBody(1, "event", "ERROR", map[string]any{"errorType": "X", "errorMessage": "should never arrive"})
	cases := []struct {
		name string
		sess *Session
		r    req
		want int
	}{
		{"wrong secret", s, req{body: good, secret: "AAAAAAAAAAAAAAAAAAAAAA"}, 401},
		{"missing secret", s, req{body: good, secret: "-"}, 401},
		{"other session's secret", s, req{body: good, secret: secretOf(other)}, 401},
		{"other session's id", s, req{body: good, path: "/s/" + other.ID() + "/events"}, 401},
		{"unknown session", s, req{body: good, path: "/s/AAAAAAAAAAAAAAAAAAAAAA/events"}, 404},
		{"replaced session", replaced, req{body: good}, 410},
		{"foreign origin", s, req{body: good, origin: "https://evil.example.com"}, 403},
		{"null origin", s, req{body: good, origin: "null"}, 403},
		{"missing origin", s, req{body: good, origin: "-"}, 403},
		{"oversized", s, req{body: eventBody(1, "event", "ERROR", map[string]any{"errorMessage": strings.Repeat("x", MaxPostBytes)})}, 413},
		{"bad json", s, req{body: []byte(`{"seq":1,"callback":"load"`)}, 400},
		{"two values", s, req{body: []byte(`{"seq":1,"callback":"load"}{"seq":2,"callback":"load"}`)}, 400},
		{"not an object", s, req{body: []byte(`[1,2]`)}, 400},
		{"wrong content type", s, req{body: good, ctype: "application/x-www-form-urlencoded"}, 415},
		{"no content type", s, req{body: good, ctype: "-"}, 415},
		{"unknown callback", s, req{body: eventBody(1, "eval", "", nil)}, 400},
		{"zero seq", s, req{body: eventBody(0, "load", "", nil)}, 400},
		{"negative seq", s, req{body: eventBody(-4, "load", "", nil)}, 400},
		{"seq far ahead", s, req{body: eventBody(1<<40, "load", "", nil)}, 400},
		{"event without name", s, req{body: eventBody(1, "event", "", nil)}, 400},
		{"name with escapes", s, req{body: eventBody(1, "event", "ERR\x1b[31mOR", nil)}, 400},
		{"long name", s, req{body: eventBody(1, "event", strings.Repeat("A", 65), nil)}, 400},
		{"name on a non-event", s, req{body: eventBody(1, "close", "ERROR", nil)}, 400},
		{"unknown top-level field", s, req{body: []byte(`{"seq":1,"callback":"load","extra":1}`)}, 400},
		{"data not an object", s, req{body: []byte(`{"seq":1,"callback":"load","data":"hi"}`)}, 400},
		{"data field of the wrong type", s, req{body: eventBody(1, "event", "ERROR", map[string]any{"errorMessage": 42})}, 400},
		{"bad timestamp", s, req{body: eventBody(1, "load", "", map[string]any{"timestamp": -5})}, 400},
		{"fractional account count", s, req{body: eventBody(1, "event", "ACCOUNT_SELECTED", map[string]any{"selectedAccountsCount": 1.5})}, 400},
		{"institution of the wrong type", s, req{body: eventBody(1, "event", "INSTITUTION_SELECTED", map[string]any{"institution": 7})}, 400},
		{"GET", s, req{method: http.MethodGet}, 405},
	}
	for _, c := range cases {
		code, body := do(t, srv, c.sess, c.r)
		if code != c.want {
			t.Errorf("%s: status %d (%q), want %d", c.name, code, body, c.want)
		}
		if len(body) > 200 || strings.Contains(body, "<") {
			t.Errorf("%s: body should be short plain text: %q", c.name, body)
		}
	}
	// Nothing reached either session, and the seq counter did not move:
	// seq 1 is still the next one expected.
	nothingPending(t, srv, s, 1)
	nothingPending(t, srv, other, 1)
	if s.LastSeen().IsZero() {
		t.Error("LastSeen not set by the accepted probe")
	}
}

func TestRefusedPostsLeaveNoContact(t *testing.T) {
	cfg := sandboxConfig()
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 10*time.Millisecond, 50*time.Millisecond
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	do(t, srv, s, req{body: eventBody(1, "load", "", nil), secret: "wrong"})
	if !s.LastSeen().IsZero() {
		t.Fatal("a refused post counted as contact")
	}
	// Had it counted, the watchdog would report the page gone within 50 ms.
	nothingPending(t, srv, s, 1)
}

func TestIngestNeutralisesTerminalEscapes(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	hostile := "Bank said \x1b]52;c;cm0gLXJmIH4=\x07no\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[2J\x1b[31mred\u009b31m \u009d0;title\u009c\u202eevil\x00end"
	postOK(t, srv, s, 1, "event", "ERROR", map[string]any{
		"errorType":    "BANK\x1b[5mERR",
		"errorMessage": hostile,
		"institution":  map[string]any{"id": "i\x07d", "name": "GT\x1b]0;pwned\x07Bank"},
		"pageName":     "M\u0085FA",
		"reference":    "ref\r\nX-Injected: 1",
	})
	ev := next(t, s, 5*time.Second)
	d := ev.Data
	for _, v := range []string{d.ErrorType, d.ErrorMessage, d.InstitutionID, d.InstitutionName, d.PageName, d.Reference} {
		for _, r := range v {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e {
				t.Fatalf("control rune %U survived in %q", r, v)
			}
		}
		if strings.Contains(v, "52;") || strings.Contains(v, "evil.example") || strings.Contains(v, "pwned") {
			t.Errorf("escape payload survived: %q", v)
		}
	}
	if !strings.Contains(d.ErrorMessage, "Bank said") || !strings.Contains(d.ErrorMessage, "red") || !strings.Contains(d.ErrorMessage, "end") {
		t.Errorf("visible text lost: %q", d.ErrorMessage)
	}
	// NEL (U+0085) is a line break: mono.CleanText makes it a space.
	if d.InstitutionName != "GTBank" || d.ErrorType != "BANKERR" || d.PageName != "M FA" {
		t.Errorf("cleaned fields: %+v", d)
	}
	if strings.ContainsAny(d.Reference, "\r\n") {
		t.Errorf("newline survived in reference: %q", d.Reference)
	}
}

func TestIngestConvertsData(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	at := time.Now().Add(-3 * time.Second).Truncate(time.Millisecond)
	postOK(t, srv, s, 1, "event", "INSTITUTION_SELECTED", map[string]any{
		"timestamp": at.UnixMilli(), "reference": "ref_acct1", "authMethod": "internet_banking",
		"institution": map[string]any{"id": "5f2d", "name": "GTBank"}, "futureField": map[string]any{"x": 1},
	})
	postOK(t, srv, s, 2, "event", "ACCOUNT_SELECTED", map[string]any{"selectedAccountsCount": 2, "timestamp": 1})
	postOK(t, srv, s, 3, "event", "SOMETHING_NEW", nil)
	postOK(t, srv, s, 4, "event", "ACCOUNT_LINKED", map[string]any{"institution": "Kuda"})
	ev := next(t, s, 5*time.Second)
	if !ev.At.Equal(at) || ev.Data.InstitutionID != "5f2d" || ev.Data.InstitutionName != "GTBank" || ev.Data.AuthMethod != "internet_banking" || ev.Data.Reference != "ref_acct1" {
		t.Errorf("INSTITUTION_SELECTED converted wrongly: %+v", ev)
	}
	ev = next(t, s, 5*time.Second)
	if ev.Data.SelectedAccountsCount != 2 || time.Since(ev.At) > time.Minute {
		t.Errorf("ACCOUNT_SELECTED: %+v (a 1970 timestamp must fall back to receipt time)", ev)
	}
	if ev := next(t, s, 5*time.Second); ev.Name != "SOMETHING_NEW" {
		t.Errorf("unknown event name not kept: %+v", ev)
	}
	if ev := next(t, s, 5*time.Second); ev.Data.InstitutionName != "Kuda" {
		t.Errorf("bare institution name: %+v", ev)
	}
}

func TestBeaconPosts(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	beacon := func(seq int64, secret string) []byte {
		return []byte(fmt.Sprintf(`{"seq":%d,"callback":"unload","secret":%q}`, seq, secret))
	}
	if code, _ := do(t, srv, s, req{body: beacon(1, "wrong"), ctype: "text/plain;charset=UTF-8", secret: "-"}); code != http.StatusUnauthorized {
		t.Errorf("beacon with a wrong secret: %d", code)
	}
	if code, _ := do(t, srv, s, req{body: beacon(1, secretOf(s)), ctype: "application/json", secret: "-"}); code != http.StatusUnauthorized {
		t.Errorf("JSON post with the secret only in the body: %d, want 401", code)
	}
	if code, _ := do(t, srv, s, req{body: beacon(1, secretOf(s)), ctype: "text/plain;charset=UTF-8", secret: "-", origin: "-"}); code != http.StatusForbidden {
		t.Errorf("beacon without Origin: %d", code)
	}
	if code, body := do(t, srv, s, req{body: beacon(1, secretOf(s)), ctype: "text/plain;charset=UTF-8", secret: "-"}); code != http.StatusNoContent {
		t.Fatalf("beacon: %d %s", code, body)
	}
	if ev := next(t, s, 5*time.Second); ev.Callback != mono.CallbackUnload || ev.Name != "" || ev.Seq != 1 {
		t.Fatalf("beacon event: %+v", ev)
	}
}

func TestOrderingAndDedupe(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", "")
	for _, seq := range []int64{2, 1, 1, 4, 3, 2, 4} {
		postOK(t, srv, s, seq, "event", fmt.Sprintf("STEP_%d", seq), nil)
	}
	for want := int64(1); want <= 4; want++ {
		if ev := next(t, s, 5*time.Second); ev.Seq != want || ev.Name != fmt.Sprintf("STEP_%d", want) {
			t.Fatalf("got seq %d %s, want %d", ev.Seq, ev.Name, want)
		}
	}
	nothingPending(t, srv, s, 5)
}

func TestGapIsSkippedAfterHoldWindow(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.holdWindow = 100 * time.Millisecond })
	s := newSess(t, srv, "acct1", "")
	postOK(t, srv, s, 1, "load", "", nil)
	postOK(t, srv, s, 4, "event", "OPENED", nil) // 2 and 3 are missing
	if ev := next(t, s, 5*time.Second); ev.Seq != 1 {
		t.Fatalf("first: %+v", ev)
	}
	start := time.Now()
	if ev := next(t, s, 5*time.Second); ev.Seq != 4 {
		t.Fatalf("after the gap: %+v", ev)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("seq 4 delivered after %s, before the hold window", waited)
	}
	// Late arrivals from the skipped gap: an outcome still gets through,
	// chatter is counted as dropped.
	before := s.Dropped()
	postOK(t, srv, s, 2, "event", "INSTITUTION_SELECTED", nil)
	postOK(t, srv, s, 3, "close", "", nil)
	if ev := next(t, s, 5*time.Second); ev.Seq != 3 || ev.Callback != mono.CallbackClose {
		t.Fatalf("late outcome: %+v", ev)
	}
	if s.Dropped() != before+1 {
		t.Errorf("Dropped %d, want %d", s.Dropped(), before+1)
	}
	// A retry of the late outcome is a duplicate now.
	postOK(t, srv, s, 3, "close", "", nil)
	nothingPending(t, srv, s, 5)
}

func TestTooManyHeldSkipsTheGap(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.holdWindow = time.Hour; tu.holdMax = 3 })
	s := newSess(t, srv, "acct1", "")
	for seq := int64(2); seq <= 5; seq++ { // seq 1 never comes
		postOK(t, srv, s, seq, "event", fmt.Sprintf("S%d", seq), nil)
	}
	for want := int64(2); want <= 5; want++ {
		if ev := next(t, s, 5*time.Second); ev.Seq != want {
			t.Fatalf("got %d want %d", ev.Seq, want)
		}
	}
}

func TestFloodKeepsOutcomesAndNeverBlocks(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.rateBurst = 1e6; tu.rateRefill = 1e6 })
	s := newSess(t, srv, "acct1", "")
	quiet := newSess(t, srv, "acct2", "")
	const flood = 600
	var seq int64
	// Nobody reads Events during the flood: every handler must still
	// return promptly.
	var slowest time.Duration
	for i := 0; i < flood; i++ {
		seq++
		cb, name := "heartbeat", ""
		switch i % 3 {
		case 1:
			cb, name = "event", "SUBMIT_MFA"
		case 2:
			cb, name = "event", "INSTITUTION_SELECTED"
		}
		start := time.Now()
		postOK(t, srv, s, seq, cb, name, nil)
		if d := time.Since(start); d > slowest {
			slowest = d
		}
		if i == flood/2 {
			seq++
			postOK(t, srv, s, seq, "event", "ERROR", map[string]any{"errorType": "INVALID_OTP"})
		}
	}
	seq++
	postOK(t, srv, s, seq, "success", "", map[string]any{"code": "code_x"})
	seq++
	postOK(t, srv, s, seq, "close", "", nil)
	if slowest > 2*time.Second {
		t.Errorf("a post took %s with a stalled consumer", slowest)
	}
	if s.Dropped() == 0 {
		t.Fatal("nothing was dropped although the consumer never read")
	}
	// Another session is unaffected.
	postOK(t, srv, quiet, 1, "load", "", nil)
	if ev := next(t, quiet, 5*time.Second); ev.Callback != mono.CallbackLoad {
		t.Fatalf("other session: %+v", ev)
	}

	var got []mono.WidgetEvent
	for len(got) == 0 || got[len(got)-1].Callback != mono.CallbackClose {
		select {
		case ev := <-s.Events():
			got = append(got, ev)
		case <-time.After(5 * time.Second):
			t.Fatalf("close never arrived; got %d events", len(got))
		}
	}
	accepted := int64(seq)
	if int64(len(got))+s.Dropped() != accepted {
		t.Errorf("delivered %d + dropped %d != accepted %d", len(got), s.Dropped(), accepted)
	}
	var outcomes []string
	lastSeq := int64(0)
	for _, ev := range got {
		if ev.Seq <= lastSeq {
			t.Fatalf("out of order: %d after %d", ev.Seq, lastSeq)
		}
		lastSeq = ev.Seq
		if ev.IsOutcome() {
			outcomes = append(outcomes, string(ev.Callback)+":"+ev.Name)
		}
	}
	if want := "event:ERROR,success:,close:"; strings.Join(outcomes, ",") != want {
		t.Errorf("outcomes %v, want %s", outcomes, want)
	}
	// The first of each kind is kept too.
	seen := map[string]bool{}
	for _, ev := range got {
		seen[ev.Name] = true
	}
	if !seen["SUBMIT_MFA"] || !seen["INSTITUTION_SELECTED"] {
		t.Errorf("first events of a kind were dropped: %v", seen)
	}
}

func TestRateLimitIsPerSession(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) { tu.rateBurst = 5; tu.rateRefill = 0.001 })
	s := newSess(t, srv, "acct1", "")
	quiet := newSess(t, srv, "acct2", "")
	if limited := postsLimited(t, srv, s, 10); limited != 5 {
		t.Errorf("%d posts limited, want 5", limited)
	}
	postOK(t, srv, quiet, 1, "load", "", nil)
}

// A page that has spent its post budget on chatter still gets its outcome
// in, from a small reserve only outcomes may use; the reserve is bounded too,
// and chatter gets nothing from it.
func TestOutcomeGetsThroughAfterAChatterFlood(t *testing.T) {
	srv := startServer(t, sandboxConfig(), func(tu *tuning) {
		tu.rateBurst, tu.rateRefill = 5, 0.001
		tu.reserveBurst, tu.reserveRate = 2, 0.001
	})
	s := newSess(t, srv, "acct1", "")
	seq := int64(0)
	post := func(callback, name string) int {
		seq++
		code, _ := do(t, srv, s, req{body: eventBody(seq, callback, name, nil)})
		return code
	}
	for i := range 5 {
		if code := post("heartbeat", ""); code != http.StatusNoContent {
			t.Fatalf("chatter post %d within the burst: %d", i+1, code)
		}
	}
	if code := post("heartbeat", ""); code != http.StatusTooManyRequests {
		t.Fatalf("chatter past the burst: %d, want 429", code)
	}
	seq-- // refused: the page posts that seq again
	if code := post("event", "ERROR"); code != http.StatusNoContent {
		t.Fatalf("an outcome after the flood: %d, want 204 from the reserve", code)
	}
	if code := post("heartbeat", ""); code != http.StatusTooManyRequests {
		t.Fatalf("chatter took from the outcomes' reserve: %d, want 429", code)
	}
	seq--
	if code := post("close", ""); code != http.StatusNoContent {
		t.Fatalf("the second outcome: %d, want 204 from the reserve", code)
	}
	if code := post("success", ""); code != http.StatusTooManyRequests {
		t.Fatalf("an outcome past the reserve: %d, want 429", code)
	}
	// The accepted outcomes are delivered, in order (next skips heartbeats).
	if ev := next(t, s, 5*time.Second); ev.Name != "ERROR" || ev.Seq != 6 {
		t.Fatalf("first delivered %+v, want the error event, seq 6", ev)
	}
	if ev := next(t, s, 5*time.Second); ev.Callback != mono.CallbackClose || ev.Seq != 7 {
		t.Fatalf("then %+v, want the close, seq 7", ev)
	}
}

func TestHeartbeatLossMeansPageGone(t *testing.T) {
	cfg := sandboxConfig()
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 20*time.Millisecond, 150*time.Millisecond
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	// No contact yet: no watchdog.
	postOK(t, srv, s, 1, "load", "", nil)
	postOK(t, srv, s, 2, "heartbeat", "", nil)
	if ev := next(t, s, 5*time.Second); ev.Callback != mono.CallbackLoad {
		t.Fatalf("%+v", ev)
	}
	start := time.Now()
	ev := next(t, s, 5*time.Second)
	if ev.Callback != mono.CallbackUnload || ev.Name != PageGone || ev.Seq != 0 {
		t.Fatalf("want synthetic page gone, got %+v", ev)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("page gone after %s, before the timeout", waited)
	}
	// The page comes back (e.g. the laptop woke up): events flow again.
	postOK(t, srv, s, 3, "event", "OPENED", nil)
	if ev := next(t, s, 5*time.Second); ev.Name != "OPENED" {
		t.Fatalf("%+v", ev)
	}
}

func TestNewSessionReplacesTheOldOne(t *testing.T) {
	srv := startServer(t, sandboxConfig())
	old := newSess(t, srv, "acct1", "")
	postOK(t, srv, old, 1, "load", "", nil)
	fresh := newSess(t, srv, "acct1", "")
	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("old session not ended")
	}
	// Once Done is closed, the pending event is already buffered and the
	// channel closed: a non-blocking drain (as the TUI does) loses nothing.
	select {
	case ev, ok := <-old.Events():
		if !ok || ev.Callback != mono.CallbackLoad {
			t.Fatalf("pending event lost: %+v %v", ev, ok)
		}
	default:
		t.Fatal("pending event not buffered when Done closed")
	}
	select {
	case _, ok := <-old.Events():
		if ok {
			t.Fatal("more events than were posted")
		}
	default:
		t.Fatal("Events not closed when Done closed")
	}
	if code, body := do(t, srv, old, req{body: eventBody(2, "close", "", nil)}); code != http.StatusGone {
		t.Errorf("post to replaced session: %d %s", code, body)
	}
	if code, _ := do(t, srv, old, req{method: http.MethodGet, path: "/s/" + old.ID(), origin: "-"}); code != http.StatusGone {
		t.Errorf("replaced page: %d", code)
	}
	if why := old.EndReason(); why != EndReplaced {
		t.Errorf("replaced session's EndReason %q, want %q", why, EndReplaced)
	}
	if why := fresh.EndReason(); why != "" {
		t.Errorf("open session's EndReason %q, want none", why)
	}
	postOK(t, srv, fresh, 1, "load", "", nil)
	fresh.Close()
	if code, _ := do(t, srv, fresh, req{body: eventBody(2, "close", "", nil)}); code != http.StatusGone {
		t.Errorf("post to closed session: %d", code)
	}
	if why := fresh.EndReason(); why != EndClosed {
		t.Errorf("closed session's EndReason %q, want %q", why, EndClosed)
	}
}

func TestSandboxCompletion(t *testing.T) {
	var calls atomic.Int32
	var gotToken atomic.Value
	var skew atomic.Int64 // the page server's clock runs this far ahead
	cfg := sandboxConfig()
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	cfg.SandboxComplete = func(ctx context.Context, token string) error {
		calls.Add(1)
		gotToken.Store(token)
		if strings.Contains(token, "acct2") {
			return errors.New("sandbox: token " + token + " was already used")
		}
		return nil
	}
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	complete := func(s *Session, secret string) (int, string) {
		return do(t, srv, s, req{path: "/s/" + s.ID() + "/sandbox/complete", body: []byte("{}"), secret: secret})
	}
	if code, _ := complete(s, "-"); code != http.StatusUnauthorized {
		t.Errorf("complete without secret: %d", code)
	}
	if code, _ := do(t, srv, s, req{path: "/s/" + s.ID() + "/sandbox/complete", body: []byte("{}"), origin: "https://evil.example.com"}); code != http.StatusForbidden {
		t.Errorf("complete from a foreign origin: %d", code)
	}
	if calls.Load() != 0 {
		t.Fatal("refused requests reached SandboxComplete")
	}
	code, body := complete(s, "")
	if code != http.StatusOK || !strings.Contains(body, `"ok":true`) || !strings.Contains(body, `"code":"code_`) {
		t.Fatalf("complete: %d %s", code, body)
	}
	if code, again := complete(s, ""); code != http.StatusOK || again != body {
		t.Errorf("second complete differs: %s vs %s", again, body)
	}
	if calls.Load() != 1 || gotToken.Load() != testToken("acct1").Value {
		t.Errorf("SandboxComplete calls %d token %v", calls.Load(), gotToken.Load())
	}

	failing := newSess(t, srv, "acct2", "")
	code, body = complete(failing, "")
	if code != http.StatusOK || !strings.Contains(body, `"errorType":"REAUTH_FAILED"`) || strings.Contains(body, testToken("acct2").Value) {
		t.Errorf("failing complete: %d %s", code, body)
	}

	// An expired token never reaches the fake Mono: within the grace after
	// expiry the session is open and the widget is told the token expired...
	s3, err := srv.NewSession(SessionParams{Account: testAccount("acct3"), Token: testToken("acct3")})
	if err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(mono.TokenLifetime + time.Second))
	before := calls.Load()
	if code, body := complete(s3, ""); code != http.StatusOK || !strings.Contains(body, `"errorType":"TOKEN_EXPIRED"`) {
		t.Errorf("expired complete: %d %s", code, body)
	}
	// ...and past it the session has ended as expired.
	skew.Store(int64(mono.TokenLifetime + srv.set.tune.expiryGrace + time.Second))
	if code, body := complete(s3, ""); code != http.StatusGone || body != `{"error":"ended","reason":"expired"}`+"\n" {
		t.Errorf("complete past the expiry grace: %d %s", code, body)
	}
	if calls.Load() != before {
		t.Error("SandboxComplete called with an expired token")
	}
}

func TestSandboxPlanChecksTheReauthArgument(t *testing.T) {
	cfg := sandboxConfig()
	cfg.Autoplay, cfg.AutoplayStepDelay = true, 40*time.Millisecond
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", ScenarioBankError)
	plan := func(arg string) string {
		code, body := do(t, srv, s, req{path: "/s/" + s.ID() + "/sandbox/plan", body: []byte(fmt.Sprintf(`{"reauth":%q}`, arg))})
		if code != http.StatusOK {
			t.Fatalf("plan: %d %s", code, body)
		}
		return body
	}
	body := plan(testToken("acct1").Value)
	for _, want := range []string{`"scenario":"bank_error"`, `"autoplay":true`, `"stepDelayMs":40`, `"name":"GTBank"`, `"authMethod":"internet_banking"`} {
		if !strings.Contains(body, want) {
			t.Errorf("plan lacks %s: %s", want, body)
		}
	}
	if strings.Contains(body, "invalid") {
		t.Errorf("valid token judged invalid: %s", body)
	}
	if body := plan("someone-elses-token"); !strings.Contains(body, `"errorType":"INVALID_REAUTH"`) {
		t.Errorf("wrong token accepted: %s", body)
	}
}

func TestCloseEndsEverythingWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := NewServer(sandboxConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var sessions []*Session
	for i := range 5 {
		s := newSess(t, srv, fmt.Sprintf("acct%d", i), "")
		postOK(t, srv, s, 1, "load", "", nil)
		sessions = append(sessions, s)
	}
	// One consumer is mid-read, one never reads.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range sessions[0].Events() {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	for _, s := range sessions {
		select {
		case <-s.Done():
		default:
			t.Fatal("session not done after Close")
		}
	}
	if err := srv.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := srv.NewSession(SessionParams{Account: testAccount("late")}); err == nil {
		t.Error("NewSession after Close succeeded")
	}
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		select {
		case <-deadline:
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		case <-tick.C:
		}
	}
}

// The per-page limit is only changed by an explicit Config.PageRateLimit:
// the zero value keeps the default, a set one is applied, half a setting is
// refused.
func TestPageRateLimitKnob(t *testing.T) {
	def := startServer(t, sandboxConfig())
	if got := def.set.tune; got.rateBurst != DefaultPageBurst || got.rateRefill != DefaultPageRate {
		t.Fatalf("default limit is burst %v, %v/s", got.rateBurst, got.rateRefill)
	}

	cfg := sandboxConfig()
	cfg.PageRateLimit = RateLimit{PerSecond: 0.001, Burst: 5}
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	if limited := postsLimited(t, srv, s, 10); limited != 5 {
		t.Errorf("%d posts limited, want 5", limited)
	}

	cfg.PageRateLimit = RateLimit{PerSecond: 1e9, Burst: 1e9}
	wide := startServer(t, cfg)
	w := newSess(t, wide, "acct1", "")
	for seq := int64(1); seq <= 200; seq++ {
		postOK(t, wide, w, seq, "heartbeat", "", nil)
	}

	for _, bad := range []RateLimit{{PerSecond: 5}, {Burst: 5}, {PerSecond: -1, Burst: 5}, {PerSecond: 5, Burst: 0.5}} {
		cfg.PageRateLimit = bad
		if _, err := NewServer(cfg); !IsConfigError(err) {
			t.Errorf("%+v: got %v, want a config error", bad, err)
		}
	}
}

// postsLimited posts n heartbeats (seqs 1..n) to s and counts the 429s; any
// status but 204 or 429 fails the test.
func postsLimited(t *testing.T, srv *Server, s *Session, n int64) int {
	t.Helper()
	limited := 0
	for seq := int64(1); seq <= n; seq++ {
		code, _ := do(t, srv, s, req{body: eventBody(seq, "heartbeat", "", nil)})
		if code == http.StatusTooManyRequests {
			limited++
		} else if code != http.StatusNoContent {
			t.Fatalf("seq %d: %d", seq, code)
		}
	}
	return limited
}

// The simulated widget's bank list names every bank once, as the sandbox's
// accounts name it, with the account's own bank first — whichever name the
// account's institution carries (the sandbox's long "First Bank of Nigeria"
// once sat beside a hard-coded "First Bank").
func TestSandboxWidgetBankListHasNoDuplicates(t *testing.T) {
	for _, inst := range sandbox.Institutions() {
		own := planInstitution{ID: inst.ID, Name: inst.Name}
		banks := widgetBanks(own)
		if banks[0] != own {
			t.Errorf("%s: first bank %v, want the account's own", inst.Name, banks[0])
		}
		if len(banks) != len(sandbox.Institutions()) {
			t.Errorf("%s: %d banks, want each of the sandbox's %d once", inst.Name, len(banks), len(sandbox.Institutions()))
		}
		ids, names := map[string]bool{}, map[string]bool{}
		for _, b := range banks {
			if ids[b.ID] || names[strings.ToLower(b.Name)] {
				t.Errorf("%s: %v listed twice in %v", inst.Name, b, banks)
			}
			ids[b.ID], names[strings.ToLower(b.Name)] = true, true
		}
	}
	// An institution the sandbox does not know (a live-shaped account on the
	// sandbox page) comes first and the sandbox's banks follow, a same-named
	// one left out.
	banks := widgetBanks(planInstitution{ID: "abc", Name: "gtbank"})
	if banks[0].ID != "abc" || len(banks) != len(sandbox.Institutions()) {
		t.Errorf("unknown GTBank: %v", banks)
	}

	srv := startServer(t, sandboxConfig())
	s := newSess(t, srv, "acct1", ScenarioSucceeds)
	code, body := do(t, srv, s, req{path: "/s/" + s.ID() + "/sandbox/plan", body: []byte(fmt.Sprintf(`{"reauth":%q}`, testToken("acct1").Value))})
	if code != http.StatusOK {
		t.Fatalf("plan: %d %s", code, body)
	}
	var p plan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, b := range p.Banks {
		if seen[strings.ToLower(b.Name)] {
			t.Errorf("plan lists %q twice: %v", b.Name, p.Banks)
		}
		seen[strings.ToLower(b.Name)] = true
	}
}

// ObservePost hears every page request's end: an accepted event post, and
// refusals with their status (metrics count them by result and status).
func TestObservePostHearsAcceptedAndRefused(t *testing.T) {
	var mu sync.Mutex
	var got []string
	cfg := sandboxConfig()
	cfg.ObservePost = func(accepted bool, status int) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%v/%d", accepted, status))
	}
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	postOK(t, srv, s, 1, "load", "", nil)
	if code, _ := do(t, srv, s, req{body: eventBody(2, "event", "OPENED", nil), secret: "not-the-secret"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", code)
	}
	if code, _ := do(t, srv, s, req{body: eventBody(3, "event", "OPENED", nil), origin: "https://evil.example"}); code != http.StatusForbidden {
		t.Fatalf("foreign origin: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "true/204,false/401,false/403"; strings.Join(got, ",") != want {
		t.Fatalf("observed %v, want %s", got, want)
	}
}
