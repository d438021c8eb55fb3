package connect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reauth/reauth/mono"
)

// Browser tests of a reauth that outlives its page: a reload, the link
// opened again, a second tab, a closed widget reopened, and an ended
// session's page saying why.

func reopenConfig() Config {
	cfg := sandboxConfig()
	cfg.SandboxOpenDelay = 100 * time.Millisecond
	cfg.HeartbeatInterval = 200 * time.Millisecond
	return cfg
}

// widgetOpening is what a page makes as its widget opens (the stand-in
// makes OPENED only after the frame loaded, so the order is fixed).
var widgetOpening = []step{
	{cb: mono.CallbackLoad},
	{cb: mono.CallbackEvent, name: mono.EventLoaded},
	{cb: mono.CallbackEvent, name: mono.EventOpened},
}

func opened(first bool) step {
	if first {
		return step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened}
	}
	return step{cb: mono.CallbackPageOpen, name: mono.EventPageReopened}
}

func withSteps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch v := p.(type) {
		case step:
			out = append(out, v)
		case []step:
			out = append(out, v...)
		}
	}
	return out
}

// chooseGTBank takes the simulated customer from the bank list to the login
// page (INSTITUTION_SELECTED).
func chooseGTBank(t *testing.T, ctx context.Context) {
	t.Helper()
	clickOn(t, ctx, "INSTITUTIONS", `[data-bank-id="`+gtbankID+`"]`)
	clickOn(t, ctx, "AUTH_METHOD", "#auth-internet_banking")
}

// finishFromLogin clicks from the login page to success.
func finishFromLogin(t *testing.T, ctx context.Context) {
	t.Helper()
	clickOn(t, ctx, "LOGIN", "#login-submit")
	clickOn(t, ctx, "MFA", "#otp-submit")
	clickOn(t, ctx, "ACCOUNTS", "#accounts-submit")
	clickOn(t, ctx, "SUCCESS", "#success-continue")
}

var (
	choseStep = step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected}
	toSuccess = []step{
		{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials},
		{cb: mono.CallbackEvent, name: mono.EventSubmitMFA},
		{cb: mono.CallbackEvent, name: mono.EventAccountSelected},
		{cb: mono.CallbackEvent, name: mono.EventAccountLinked},
		{cb: mono.CallbackSuccess, check: hasCode},
		{cb: mono.CallbackEvent, name: mono.EventSuccess, check: hasCode},
		{cb: mono.CallbackClose},
	}
)

// expectReopened takes the events between one page leaving and the next
// taking over: the old page's unload (when its beacon beats the new page's
// config fetch, which it nearly always does) and PAGE_REOPENED. Nothing
// else may come between.
func expectReopened(t *testing.T, s *Session) (unload bool) {
	t.Helper()
	ev := next(t, s, 20*time.Second)
	if ev.IsPageGone() && ev.Name == "" && ev.Seq > 0 {
		unload = true
		ev = next(t, s, 20*time.Second)
	}
	if !ev.IsReopen() || ev.Seq != 0 {
		t.Fatalf("want PAGE_REOPENED (after at most the old page's unload), got %+v", ev)
	}
	return unload
}

// assertSeqsIncrease: the page events of one session, across page
// instances, carry strictly increasing seqs (server-made ones have 0).
func assertSeqsIncrease(t *testing.T, evs []mono.WidgetEvent) {
	t.Helper()
	last := int64(0)
	for _, ev := range evs {
		if ev.Seq == 0 {
			continue
		}
		if ev.Seq <= last {
			t.Fatalf("seq %d after %d: %s", ev.Seq, last, describeAll(evs))
		}
		last = ev.Seq
	}
}

// onTop says whether the element's centre is really the element (or inside
// it) for the browser's hit testing: "" when it is, else what covers it.
func onTop(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) return "missing";
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) return "not shown";
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) return "off screen at " + x + "," + y;
		if (r.right > innerWidth + 1 || r.bottom > innerHeight + 1 || r.left < -1 || r.top < -1) return "cut off: " + JSON.stringify(r);
		const hit = document.elementFromPoint(x, y);
		if (hit && (hit === el || el.contains(hit))) return "";
		return "covered by " + (hit ? hit.tagName + "#" + hit.id : "nothing");
	})()`, selector)))
	if err != nil {
		t.Fatalf("hit test %s: %v", selector, err)
	}
	return got
}

func assertOnTop(t *testing.T, ctx context.Context, what, selector string) {
	t.Helper()
	if why := onTop(t, ctx, selector); why != "" {
		t.Errorf("%s (%s) is not on top: %s", what, selector, why)
	}
}

// screenshot writes what the tab shows to the test's temp dir, or to
// $REAUTH_SCREENSHOTS when set (for a person looking at the layout; the
// assertions are on the DOM's geometry).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 100 {
		t.Fatalf("screenshot %s: %d bytes", name, len(png))
	}
	dir := os.Getenv("REAUTH_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	name = strings.NewReplacer("/", "_", " ", "_").Replace(t.Name() + "_" + name)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// inPage runs js in the page.
func inPage(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { `+js+`; return true; })()`)); err != nil {
		t.Fatalf("in page: %s: %v", js, err)
	}
}

func pageState(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	pollTrue(t, ctx, "page state "+want, fmt.Sprintf(`document.getElementById("app").dataset.state === %q`, want))
}

// Load, choose a bank, reload: the same session continues (PAGE_REOPENED),
// the widget starts again and the customer finishes. The reloaded page
// never had the secret in its address (it came from the tab's
// sessionStorage), and the stand-in never saw it in a referrer.
func TestReloadContinuesTheSession(t *testing.T) {
	t.Parallel()
	srv := startServer(t, reopenConfig())
	s := newSess(t, srv, "acct1", "")
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	got := expectSequence(t, s, 20*time.Second, withSteps(opened(true), widgetOpening)...)
	chooseGTBank(t, ctx)
	got = append(got, expectSequence(t, s, 20*time.Second, choseStep)...)
	assertSecretStayedHome(t, s, readPage(t, ctx))

	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	expectReopened(t, s)
	got = append(got, expectSequence(t, s, 20*time.Second, widgetOpening...)...)
	navURL, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].name`))
	if err != nil {
		t.Fatal(err)
	}
	pageURL := strings.TrimSuffix(s.URL(), "#"+secretOf(s))
	if navURL != pageURL {
		t.Errorf("the reloaded document was loaded from %q, want %q (no secret)", navURL, pageURL)
	}
	after := readPage(t, ctx)
	assertSecretStayedHome(t, s, after)
	if len(after.Referrers) == 0 || after.Pairing != s.PairingCode() {
		t.Errorf("reloaded page: %+v", after)
	}

	chooseGTBank(t, ctx)
	finishFromLogin(t, ctx)
	got = append(got, expectSequence(t, s, 20*time.Second, withSteps(choseStep, toSuccess)...)...)
	assertSeqsIncrease(t, got)
	pageState(t, ctx, "succeeded")

	// The agent's app closes the session after the success: the page's next
	// heartbeat learns it ended, as succeeded, and still says so.
	s.Close()
	pollTrue(t, ctx, "the page to learn its session ended",
		`document.getElementById("app").dataset.reason === "succeeded" && document.getElementById("app").dataset.state === "succeeded"`)
	if f := readPage(t, ctx); !strings.Contains(f.Final, "Your account is re-authorised") {
		t.Errorf("page after the agent closed a succeeded session: %q", f.Final)
	}
}

// The tab is closed, and the customer opens the link again in a new tab:
// the same session continues and succeeds.
func TestLinkOpenedAgainInANewTab(t *testing.T) {
	t.Parallel()
	srv := startServer(t, reopenConfig())
	s := newSess(t, srv, "acct1", "")
	first, closeFirst := newTab(t)
	navigate(t, first, s.URL())
	got := expectSequence(t, s, 20*time.Second, withSteps(opened(true), widgetOpening)...)
	closeFirst()

	second, _ := newTab(t)
	navigate(t, second, s.URL())
	expectReopened(t, s)
	got = append(got, expectSequence(t, s, 20*time.Second, widgetOpening...)...)
	chooseGTBank(t, second)
	finishFromLogin(t, second)
	got = append(got, expectSequence(t, s, 20*time.Second, withSteps(choseStep, toSuccess)...)...)
	assertSeqsIncrease(t, got)
	pageState(t, second, "succeeded")
	assertSecretStayedHome(t, s, readPage(t, second))
}

// Two tabs: the second takes the session over; the first, at its next
// heartbeat, removes its widget and says on top of everything that the
// reauth continued elsewhere; the second finishes.
func TestSecondTabTakesOver(t *testing.T) {
	t.Parallel()
	srv := startServer(t, reopenConfig())
	s := newSess(t, srv, "acct1", "")
	first, _ := newTab(t)
	navigate(t, first, s.URL())
	expectSequence(t, s, 20*time.Second, withSteps(opened(true), widgetOpening)...)

	second, _ := newTab(t)
	navigate(t, second, s.URL())
	if expectReopened(t, s) {
		t.Fatal("the first tab's unload was reported although it is still open")
	}
	expectSequence(t, s, 20*time.Second, widgetOpening...)

	pageState(t, first, "moved")
	f := readPage(t, first)
	if !strings.Contains(f.Final, "This reauth continued in another tab or on another device.") || f.FrameSrc != "" || f.Reopen {
		t.Errorf("first tab after the takeover: %+v", f)
	}
	assertOnTop(t, first, "the moved notice", "#final .notice-box")
	assertOnTop(t, first, "the pairing code", "#pairing-code")

	chooseGTBank(t, second)
	finishFromLogin(t, second)
	// Nothing of the first tab's comes in between (its heartbeats stopped).
	expectSequence(t, s, 20*time.Second, withSteps(choseStep, toSuccess)...)
	pageState(t, second, "succeeded")
}

// The customer closes the widget on the MFA page (EXIT, close): the page
// says "You closed the window" on top with a Reopen button; Reopen opens
// the widget again, events keep flowing in the same seq sequence, and the
// customer finishes.
func TestReopenAfterClosingTheWidget(t *testing.T) {
	t.Parallel()
	srv := startServer(t, reopenConfig())
	s := newSess(t, srv, "acct1", "")
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	got := expectSequence(t, s, 20*time.Second, withSteps(opened(true), widgetOpening)...)
	chooseGTBank(t, ctx)
	clickOn(t, ctx, "LOGIN", "#login-submit")
	clickOn(t, ctx, "MFA", "#widget-close")
	got = append(got, expectSequence(t, s, 20*time.Second,
		choseStep,
		step{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials},
		step{cb: mono.CallbackEvent, name: mono.EventExit, check: pageName("MFA")},
		step{cb: mono.CallbackClose},
	)...)
	pageState(t, ctx, "closed")
	if f := readPage(t, ctx); !f.Reopen || !strings.Contains(f.Final, "You closed the window") {
		t.Fatalf("closed page: %+v", f)
	}
	assertOnTop(t, ctx, "the closed notice", "#final .notice-box")
	assertOnTop(t, ctx, "the Reopen button", "#reopen")

	// A real mouse click: it lands on the button only if nothing covers it.
	if err := chromedp.Do(ctx, chromedp.Click("#reopen")); err != nil {
		t.Fatal(err)
	}
	got = append(got, expectSequence(t, s, 20*time.Second, widgetOpening...)...)
	pageState(t, ctx, "open")
	chooseGTBank(t, ctx)
	finishFromLogin(t, ctx)
	got = append(got, expectSequence(t, s, 20*time.Second, withSteps(choseStep, toSuccess)...)...)
	assertSeqsIncrease(t, got)
	pageState(t, ctx, "succeeded")
	assertSecretStayedHome(t, s, readPage(t, ctx))
}

// Once the link has expired, a closed widget's notice no longer offers
// Reopen: it says the link expired.
func TestReopenGoesWhenTheLinkExpires(t *testing.T) {
	t.Parallel()
	srv := startServer(t, reopenConfig())
	tok := testToken("acct1")
	tok.ExpiresAt = time.Now().Add(6 * time.Second)
	s, err := srv.NewSession(SessionParams{Account: testAccount("acct1"), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	// Record every state the page passes through.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		window.__states = [];
		new MutationObserver(() => window.__states.push(document.getElementById("app").dataset.state))
			.observe(document.getElementById("app"), {attributes: true, attributeFilter: ["data-state"]});
		return true; })()`)); err != nil {
		t.Fatal(err)
	}
	expectSequence(t, s, 20*time.Second, withSteps(opened(true), widgetOpening)...)
	clickOn(t, ctx, "INSTITUTIONS", "#widget-close")
	pageState(t, ctx, "expired")
	states, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__states`))
	if err != nil {
		t.Fatal(err)
	}
	// The observer may be installed after the page reached "open" (a busy
	// machine): what matters is that the closed notice came, then expired.
	if got := strings.TrimPrefix(strings.Join(states, ","), "open,"); got != "closed,expired" {
		t.Fatalf("states %v, want the closed notice first, then expired", states)
	}
	f := readPage(t, ctx)
	if f.Reopen || !strings.Contains(f.Final, "This link has expired; ask your support agent for a new one.") {
		t.Fatalf("expired page: %+v", f)
	}
	assertOnTop(t, ctx, "the expired notice", "#final .notice-box")
}

// An ended session's page says the true cause on top: the agent ended it,
// a newer link replaced it, it succeeded, the link expired; and a page
// whose session the agent ends while its widget is open drops the widget
// and says so at its next heartbeat.
func TestEndedSessionPageSaysWhy(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	cfg := reopenConfig()
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv := startServer(t, cfg)
	cases := []struct {
		name, state, reason, text string
		end                       func() *Session
	}{
		{"ended by the agent", "inactive", "ended_by_agent", "Your support agent ended this session",
			func() *Session { s := newSess(t, srv, "e1", ""); s.Close(); return s }},
		{"replaced", "inactive", "replaced", "A newer link replaced this one",
			func() *Session { s := newSess(t, srv, "e2", ""); newSess(t, srv, "e2", ""); return s }},
		{"succeeded", "succeeded", "succeeded", "Your account is re-authorised",
			func() *Session { s := newSess(t, srv, "e3", ""); s.CloseWithReason(EndSucceeded); return s }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.end()
			ctx, _ := newTab(t)
			navigate(t, ctx, s.URL())
			pageState(t, ctx, c.state)
			f := readPage(t, ctx)
			if !strings.Contains(f.Final, c.text) || f.Reopen || f.FrameSrc != "" {
				t.Errorf("page says %q, want %q", f.Final, c.text)
			}
			if c.reason != "succeeded" && (strings.Contains(f.Final, "expired") || strings.Contains(f.Final, "re-authorised")) {
				t.Errorf("page gives a wrong cause: %q", f.Final)
			}
			assertOnTop(t, ctx, "the notice", "#final .notice-box")
			assertOnTop(t, ctx, "the pairing bar", "#pairing-code")
		})
	}

	t.Run("expired", func(t *testing.T) {
		s := newSess(t, srv, "e4", "")
		skew.Store(int64(mono.TokenLifetime + time.Second))
		t.Cleanup(func() { skew.Store(0) })
		ctx, _ := newTab(t)
		navigate(t, ctx, s.URL())
		pageState(t, ctx, "expired")
		f := readPage(t, ctx)
		if !strings.Contains(f.Final, "This link has expired; ask your support agent for a new one.") || strings.Contains(f.Final, "support agent ended") {
			t.Errorf("expired page says %q", f.Final)
		}
		assertOnTop(t, ctx, "the notice", "#final .notice-box")
	})

	t.Run("ended while the widget is open", func(t *testing.T) {
		s := newSess(t, srv, "e5", "")
		ctx, _ := newTab(t)
		navigate(t, ctx, s.URL())
		expectSequence(t, s, 20*time.Second, withSteps(opened(true), widgetOpening)...)
		assertOnTop(t, ctx, "the pairing code over the open widget", "#pairing-code")
		s.Close()
		pageState(t, ctx, "inactive")
		f := readPage(t, ctx)
		if !strings.Contains(f.Final, "Your support agent ended this session") || f.FrameSrc != "" {
			t.Errorf("page after the agent ended it: %+v", f)
		}
		assertOnTop(t, ctx, "the notice", "#final .notice-box")
	})
}

// On a 390×844 phone and a 1280×800 desktop: the pairing code is visible
// above the open widget, and every notice (closed with Reopen, ended) is
// drawn on top of everything, its button included. Screenshots go to a
// temp dir; the assertions are on DOM geometry and hit testing.
func TestPageLayoutOnPhoneAndDesktop(t *testing.T) {
	t.Parallel()
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"phone 390x844", 390, 844, true},
		{"desktop 1280x800", 1280, 800, false},
	} {
		t.Run(vp.name, func(t *testing.T) {
			srv := startServer(t, reopenConfig())
			s := newSess(t, srv, "acct1", "")
			ctx, _ := newTab(t)
			opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile)
			}
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)); err != nil {
				t.Fatal(err)
			}
			navigate(t, ctx, s.URL())
			expectSequence(t, s, 20*time.Second, withSteps(opened(true), widgetOpening)...)
			waitWidgetPage(t, ctx, "INSTITUTIONS")
			assertOnTop(t, ctx, "the pairing code over the open widget", "#pairing-code")
			assertOnTop(t, ctx, "the widget below the pairing bar", "#mono-connect--frame-id")
			screenshot(t, ctx, "widget-open")
			// Stacking itself: a notice shown while the widget is still up
			// (as on success, before connect.js closes it) is drawn over it.
			inPage(t, ctx, `document.getElementById("final").hidden = false`)
			assertOnTop(t, ctx, "a notice over the open widget", "#final .notice-box")
			inPage(t, ctx, `document.getElementById("final").hidden = true`)
			assertOnTop(t, ctx, "the widget once the notice is gone", "#mono-connect--frame-id")

			clickOn(t, ctx, "INSTITUTIONS", "#widget-close")
			pageState(t, ctx, "closed")
			assertOnTop(t, ctx, "the closed notice", "#final .notice-box")
			assertOnTop(t, ctx, "the Reopen button", "#reopen")
			assertOnTop(t, ctx, "the pairing code", "#pairing-code")
			screenshot(t, ctx, "closed")

			if err := chromedp.Do(ctx, chromedp.Click("#reopen")); err != nil {
				t.Fatal(err)
			}
			expectSequence(t, s, 20*time.Second, step{cb: mono.CallbackEvent, name: mono.EventExit, check: pageName("INSTITUTIONS")},
				step{cb: mono.CallbackClose})
			expectSequence(t, s, 20*time.Second, widgetOpening...)
			waitWidgetPage(t, ctx, "INSTITUTIONS")
			s.Close()
			pageState(t, ctx, "inactive")
			assertOnTop(t, ctx, "the ended notice", "#final .notice-box")
			assertOnTop(t, ctx, "the pairing code", "#pairing-code")
			screenshot(t, ctx, "ended")
		})
	}
}
