package connect

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// A page is refused for a token at exactly its 10 minutes, judged on the
// injected clock: a nanosecond before, it opens; at and after expiry,
// NewSession says so in plain words (without the token) and nothing is
// served.
func TestTokenExpiryBoundaryOnInjectedClock(t *testing.T) {
	minted := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := minted
	setNow := func(d time.Duration) {
		mu.Lock()
		now = minted.Add(d)
		mu.Unlock()
	}
	cfg := sandboxConfig()
	cfg.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	srv := startServer(t, cfg)
	tok := mono.Token{AccountID: "acct1", Value: "tok_VwxcfeLRZvq1UlD5WiuN", MintedAt: minted, ExpiresAt: minted.Add(mono.TokenLifetime)}

	setNow(mono.TokenLifetime - time.Nanosecond)
	s, err := srv.NewSession(SessionParams{Account: testAccount("acct1"), Token: tok})
	if err != nil {
		t.Fatalf("a token 1ns before expiry was refused: %v", err)
	}
	code, body := do(t, srv, s, req{method: http.MethodGet, path: "/s/" + s.ID() + "/config"})
	if code != http.StatusOK || !strings.Contains(body, `"expiresAt":"2026-11-25T14:10:00Z"`) {
		t.Fatalf("config for a live token: %d %s", code, body)
	}
	s.Close()

	for _, at := range []time.Duration{mono.TokenLifetime, mono.TokenLifetime + time.Second, 24 * time.Hour} {
		setNow(at)
		_, err := srv.NewSession(SessionParams{Account: testAccount("acct1"), Token: tok})
		if !IsConfigError(err) {
			t.Fatalf("at +%s: want a refusal, got %v", at, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "expired at 2026-11-25T14:10:00Z") || !strings.Contains(msg, "mint a new one") || strings.Contains(msg, tok.Value) {
			t.Fatalf("at +%s: refusal %q", at, msg)
		}
	}
}
