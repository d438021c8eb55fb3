package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// startPageServer runs a real mono/connect server (sandbox mode) on
// loopback. now is its wall clock, for token expiry.
func startPageServer(t *testing.T, now func() time.Time) *connect.Server {
	t.Helper()
	srv, err := connect.NewServer(connect.Config{Mode: connect.ModeSandbox, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("page server close: %v", err)
		}
	})
	return srv
}

// pagePoster plays a browser tab: it posts events the way page.js does,
// with the session's secret and our own Origin.
type pagePoster struct {
	t                *testing.T
	base, id, secret string
	client           *http.Client
	seqMu            sync.Mutex
	seq              int64
}

func posterFor(t *testing.T, pageURL string) *pagePoster {
	t.Helper()
	u, err := url.Parse(pageURL)
	if err != nil || u.Fragment == "" {
		t.Fatalf("page URL %q has no secret fragment", state.StripFragment(pageURL))
	}
	return &pagePoster{t: t, base: u.Scheme + "://" + u.Host, id: path.Base(u.Path), secret: u.Fragment,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// post sends the next seq and returns the HTTP status.
func (p *pagePoster) post(callback, name string, data map[string]any) int {
	p.t.Helper()
	p.seqMu.Lock()
	p.seq++
	body := map[string]any{"seq": p.seq, "callback": callback}
	p.seqMu.Unlock()
	if name != "" {
		body["name"] = name
	}
	if data != nil {
		body["data"] = data
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, p.base+"/s/"+p.id+"/events", bytes.NewReader(b))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", p.base)
	req.Header.Set(connect.SecretHeader, p.secret)
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("post %s %s: %v", callback, name, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p *pagePoster) mustPost(callback, name string, data map[string]any) {
	p.t.Helper()
	if code := p.post(callback, name, data); code != http.StatusNoContent {
		p.t.Fatalf("post %s %s: status %d", callback, name, code)
	}
}

// Hostile text, as a compromised or buggy widget frame could send it.
const (
	osc52   = "\x1b]52;c;cm0gLXJmIH4=\x07"                             // write "rm -rf ~" to the clipboard
	osc8    = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\" // a link we did not make
	cursor  = "\x1b[2J\x1b[H\x1b[5;5H\x1b[A\x1b[10D\x1b7\x1b8"         // clear, home, move, save/restore
	c1      = "\u009b2J\u009d52;c;eA==\u009c\u0090q\u009c"             // C1 CSI, OSC, ST, DCS
	bidi    = "\u202etxe.exe"
	payload = "cm0gLXJmIH4="
)

var sgrOnly = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// assertCleanView fails if the rendered view holds anything a terminal
// would act on beyond colours and our own page link: no other OSC (52
// clipboard, 8 links), no cursor movement or other CSI, no C1, no bidi.
func assertCleanView(t *testing.T, m Model, pageURL string) {
	t.Helper()
	c := m.View().Content
	if pageURL != "" {
		c = strings.ReplaceAll(c, ansi.SetHyperlink(pageURL), "")
	}
	c = strings.ReplaceAll(c, ansi.ResetHyperlink(), "")
	for _, bad := range []string{"\x1b]52", "\x1b]8;;", payload, "evil.example"} {
		if strings.Contains(c, bad) {
			t.Fatalf("view holds %q", bad)
		}
	}
	rest := sgrOnly.ReplaceAllString(c, "")
	if i := strings.IndexByte(rest, 0x1b); i >= 0 {
		t.Fatalf("view holds an escape sequence other than colours: %q", rest[i:min(len(rest), i+12)])
	}
	if !utf8.ValidString(rest) {
		t.Fatal("view is not valid UTF-8")
	}
	for _, r := range rest {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Fatalf("view holds control %U", r)
		}
	}
}

// openRealPage takes the wrong-OTP account to an opened page on srv and
// returns the page's URL.
func openRealPage(t *testing.T, h *harness) string {
	t.Helper()
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	return h.m.session.sess.PageURL()
}

// Hostile strings in an institution name, an error message and other
// fields travel through a real page session (HTTP ingest, the session's
// queue, Events) into the TUI: the view shows their words and none of their
// escapes. Posts after the outcome cannot change it.
func TestHostilePageReachesNoTerminal(t *testing.T) {
	// The page server judges token expiry on the harness's clock.
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Pages = ConnectPages{Server: startPageServer(t, d.Now)}
	}})
	pageURL := openRealPage(t, h)
	p := posterFor(t, pageURL)

	p.mustPost("load", "", nil)
	p.mustPost("event", "OPENED", nil)
	p.mustPost("event", "INSTITUTION_SELECTED", map[string]any{
		"institution": map[string]any{"id": "i" + c1, "name": "GT" + osc52 + "Bank" + osc8},
		"authMethod":  "mobile" + cursor + "_banking"})
	p.mustPost("event", "SUBMIT_MFA", map[string]any{"mfaType": "OTP" + osc52 + cursor})
	p.mustPost("event", "ERROR", map[string]any{"errorType": "INVALID" + cursor + "_OTP",
		"errorMessage": "Wrong" + osc8 + " OTP" + osc52 + cursor + c1 + bidi})
	p.mustPost("event", "MADE_UP"+strings.Repeat("_X", 20), map[string]any{"pageName": osc52})
	h.until("error shown", func(m Model) bool { return strings.Contains(plain(m), "INVALID_OTP") })
	assertCleanView(t, h.m, pageURL)
	v := plain(h.m)
	for _, want := range []string{"GTBank", "Submitted OTP", "Wrong"} {
		if !strings.Contains(v, want) {
			t.Fatalf("the words %q were lost with the escapes:\n%s", want, v)
		}
	}

	// Closing the widget is not an outcome; the page failing is.
	p.mustPost("close", "", nil)
	h.until("widget closed", func(m Model) bool { return m.session.sess.Phase() == state.WidgetClosed })
	p.mustPost("page_error", "", map[string]any{"errorType": "SDK" + c1, "errorMessage": "connect.js threw" + osc52 + cursor})
	h.until("outcome", func(m Model) bool { return m.session.sess.Phase() == state.Failed })
	outcome := h.m.session.sess.Outcome()
	banner := bannerLines(h.m)
	if len(banner) == 0 {
		t.Fatalf("no outcome banner:\n%s", plain(h.m))
	}
	ignored := h.m.session.sess.Ignored()

	// After the outcome a page may say anything but success (which always
	// wins): another error, an exit, a close. It is heard (and cleaned) but
	// decides nothing.
	p.mustPost("event", "ERROR", map[string]any{"errorType": "BANK" + c1, "errorMessage": osc52 + cursor})
	p.mustPost("event", "EXIT", map[string]any{"pageName": cursor + "MFA"})
	p.mustPost("close", "", nil)
	h.until("late posts delivered", func(m Model) bool { return m.session.sess.Ignored() >= ignored+3 })
	s := h.m.session
	if s.sess.Phase() != state.Failed || s.sess.Outcome() != outcome {
		t.Fatalf("posts after the outcome changed it: phase %v, outcome %+v", s.sess.Phase(), s.sess.Outcome())
	}
	if got := bannerLines(h.m); strings.Join(got, "\n") != strings.Join(banner, "\n") {
		t.Fatalf("banner changed:\n%s\nwas\n%s", strings.Join(got, "\n"), strings.Join(banner, "\n"))
	}
	assertCleanView(t, h.m, pageURL)
	for _, r := range h.audit.recsCopy() {
		for _, f := range []string{r.Event, r.Detail, r.Outcome} {
			if strings.ContainsAny(f, "\x1b\u009b\u009d\x07") {
				t.Fatalf("audit record keeps an escape: %+v", r)
			}
		}
	}
}

func (a *memAudit) recsCopy() []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Record(nil), a.recs...)
}

// bannerLines are the outcome banner and its next step, as shown.
func bannerLines(m Model) []string {
	var out []string
	for _, l := range strings.Split(plain(m), "\n") {
		for _, word := range []string{"SUCCEEDED", "FAILED", "ENDED BY AGENT", "TAKEN OVER", "EXPIRED ", "Next "} {
			if strings.Contains(l, word) {
				out = append(out, strings.TrimSpace(l))
				break
			}
		}
	}
	return out
}

// gatedPages holds the first Open until the test releases it, so the test
// can move the clock while a page is starting.
type gatedPages struct {
	inner   Pages
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGatedPages() *gatedPages {
	return &gatedPages{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedPages) Open(ctx context.Context, req PageRequest) (Page, error) {
	g.once.Do(func() {
		close(g.entered)
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	})
	return g.inner.Open(ctx, req)
}

func (g *gatedPages) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the page was never requested")
	}
}

// Token lifecycle through the TUI and a real page server.
func TestTokenExpiresWhilePageStarts(t *testing.T) {
	// lag is how far the page server's clock is behind the agent's.
	for _, tc := range []struct {
		name string
		lag  time.Duration
	}{
		// Same clock: connect.NewSession refuses the expired token.
		{"page server refuses", 0},
		// The page server's clock lags: it accepts the token a moment
		// before expiry, but the TUI, at expiry, must close that page.
		{"page arrives after expiry", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := newGatedPages()
			var started []Page
			var mu sync.Mutex
			h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
				now := d.Now
				srv := startPageServer(t, func() time.Time { return now().Add(-tc.lag) })
				gate.inner = recordingPages{inner: ConnectPages{Server: srv}, got: func(p Page) {
					mu.Lock()
					started = append(started, p)
					mu.Unlock()
				}}
				d.Pages = gate
			}})
			openWrongOTP(t, h)
			h.key("t")
			h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
			h.key("o")
			gate.waitEntered(t)
			// The token reaches exactly its 10 minutes while the page starts;
			// the TUI has not been told (no clock message yet).
			h.clock.Advance(mono.TokenLifetime)
			close(gate.release)
			h.until("expired", func(m Model) bool { return m.session.sess.Phase() == state.Expired })
			v := plain(h.m)
			if !strings.Contains(v, "EXPIRED") || !strings.Contains(v, "press t for a new one") {
				t.Fatalf("expiry not explained:\n%s", v)
			}
			if tc.lag == 0 && !strings.Contains(v, "Could not start the page: widget page: token: expired at") {
				t.Fatalf("the refusal is not shown:\n%s", v)
			}
			if h.m.session.page != nil || h.m.session.sess.PageURL() != "" || strings.Contains(v, "Page ready") {
				t.Fatalf("a page for an expired token is kept or shown:\n%s", v)
			}
			mu.Lock()
			pages := append([]Page(nil), started...)
			mu.Unlock()
			switch {
			case tc.lag == 0 && len(pages) != 0:
				t.Fatal("the page server accepted an expired token")
			case tc.lag > 0 && len(pages) != 1:
				t.Fatalf("%d pages started, want 1", len(pages))
			case tc.lag > 0:
				// The TUI closed it: it can report nothing any more.
				select {
				case <-pages[0].Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the page for the expired token was left open")
				}
				if code := posterFor(t, pages[0].URL()).post("event", "SUCCESS", nil); code != http.StatusGone {
					t.Fatalf("post to the expired token's page: %d, want 410", code)
				}
			}
			h.until("outcome audited", func(Model) bool {
				for _, r := range h.audit.recsCopy() {
					if r.Action == audit.ActionOutcome && r.Outcome == state.OutcomeExpired.String() {
						return true
					}
				}
				return false
			})
			// Only a newly minted token goes on, and it works.
			h.key("t")
			h.until("new token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
			h.key("o")
			h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
			posterFor(t, h.m.session.sess.PageURL()).mustPost("load", "", nil)
			h.until("live", func(m Model) bool { return m.session.sess.Phase() == state.WidgetLive })
		})
	}
}

type recordingPages struct {
	inner Pages
	got   func(Page)
}

func (r recordingPages) Open(ctx context.Context, req PageRequest) (Page, error) {
	p, err := r.inner.Open(ctx, req)
	if err == nil {
		r.got(p)
	}
	return p, err
}

// Minting a new token ends the old page's session: the customer's old tab
// gets 410 Gone and can no longer move the TUI, while the new page works.
func TestNewTokenInvalidatesOldPage(t *testing.T) {
	// The page server judges token expiry on the harness's clock.
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.Pages = ConnectPages{Server: startPageServer(t, d.Now)}
	}})
	oldURL := openRealPage(t, h)
	old := posterFor(t, oldURL)
	old.mustPost("load", "", nil)
	h.until("live", func(m Model) bool { return m.session.sess.Phase() == state.WidgetLive })
	first := h.m.session.sess.Token()

	h.key("t")
	if h.m.session.dialog != confirmReplaceToken {
		t.Fatalf("replacing a live token did not ask:\n%s", plain(h.m))
	}
	h.key("y")
	h.until("new token", func(m Model) bool {
		return m.session.sess.Phase() == state.TokenReady && m.session.sess.Token().Value != first.Value
	})
	if code := old.post("event", "SUCCESS", nil); code != http.StatusGone {
		t.Fatalf("old page's post after a new mint: %d, want 410", code)
	}
	if h.m.session.sess.Phase() != state.TokenReady || h.m.session.sess.Outcome().Kind != state.OutcomeNone {
		t.Fatalf("the old page moved the session: %v", h.m.session.sess.Phase())
	}

	h.key("o")
	h.until("new page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
	newURL := h.m.session.sess.PageURL()
	if state.StripFragment(newURL) == state.StripFragment(oldURL) {
		t.Fatal("the new token reused the old page")
	}
	fresh := posterFor(t, newURL)
	fresh.mustPost("load", "", nil)
	fresh.mustPost("event", "SUCCESS", nil)
	h.until("succeeded", func(m Model) bool { return m.session.sess.Phase().HasOutcome() })
	if code := old.post("close", "", nil); code != http.StatusGone {
		t.Fatalf("old page still accepted: %d", code)
	}
	if ph := h.m.session.sess.Phase(); ph != state.Succeeded && ph != state.Verifying {
		t.Fatalf("phase %v after the new page's success", ph)
	}
}
