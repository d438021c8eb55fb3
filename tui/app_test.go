package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

const wrongOTPID = "5ca1ab1e0000000000000002"

func loaded(m Model) bool {
	return !m.search.loading && m.search.loaded > 0 && m.search.result.N == m.search.loaded
}

func plain(m Model) string { return ansi.Strip(m.View().Content) }

func TestSearchLoadsPagesAndFilters(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 95})
	h.until("all pages", loaded)
	if h.m.search.loaded != 95 || h.m.search.pageCount != 5 {
		t.Fatalf("loaded %d accounts in %d pages, want 95 in 5", h.m.search.loaded, h.m.search.pageCount)
	}
	if !strings.Contains(plain(h.m), "loaded 95 / 95") {
		t.Fatalf("progress not shown:\n%s", plain(h.m))
	}
	h.typeText("adaeze")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "adaeze" })
	a, ok := h.m.search.selected()
	if !ok || a.ID != wrongOTPID {
		t.Fatalf("selected %q, want Adaeze Okonkwo", a.Name)
	}
	if !strings.Contains(plain(h.m), "Adaeze Okonkwo") || !strings.Contains(plain(h.m), "••••0031") {
		t.Fatalf("row missing:\n%s", plain(h.m))
	}
}

func TestNeedsReauthToggle(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 120})
	h.until("loaded", loaded)
	all := len(h.m.search.visible)
	h.key("tab")
	if got := len(h.m.search.visible); got == 0 || got >= all {
		t.Fatalf("needs-reauth only shows %d of %d", got, all)
	}
	for _, i := range h.m.search.visible {
		if !h.m.needsReauth(h.m.search.accounts[i]) {
			t.Fatalf("%s shown but does not need reauth", h.m.search.accounts[i].Name)
		}
	}
	h.key("tab")
	if len(h.m.search.visible) != all {
		t.Fatal("toggle off did not restore the list")
	}
}

func TestPastedIDJumpsToAccount(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.send(tea.PasteMsg{Content: wrongOTPID})
	h.until("session", func(m Model) bool { return m.screen == screenSession })
	if h.m.session.account.ID != wrongOTPID {
		t.Fatalf("opened %s", h.m.session.account.ID)
	}
}

// A stale search result (an older keystroke finishing last) must not
// overwrite the newer one.
func TestStaleSearchResultIgnored(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.typeText("adaeze")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "adaeze" })
	old := searchResultMsg{gen: h.m.search.queryGen - 1, result: h.m.search.searcher.Search(h.m.search.index.Snapshot(), "")}
	h.send(old)
	if h.m.search.result.Query != "adaeze" {
		t.Fatalf("stale result applied: query now %q", h.m.search.result.Query)
	}
}

func openWrongOTP(t *testing.T, h *harness) {
	t.Helper()
	h.until("loaded", loaded)
	h.typeText("okonkwo")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "okonkwo" })
	h.key("enter")
	if h.m.screen != screenSession {
		t.Fatal("enter did not open the account")
	}
	// The details read and the account's signals (the sandbox's webhook,
	// as Mono would send it) have reached the reason.
	h.until("details", func(m Model) bool {
		return strings.Contains(strings.Join(m.session.sess.Reason().Evidence, " "), "reauthorisation_required")
	})
}

func TestFullFlowWrongOTPThenSuccess(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	v := plain(h.m)
	for _, want := range []string{"Mono webhook reauthorisation_required", "Say", "t mint token"} {
		if !strings.Contains(v, want) {
			t.Fatalf("account screen lacks %q:\n%s", want, v)
		}
	}
	h.key("t")
	if h.m.session.sess.Phase() != state.Minting {
		t.Fatalf("phase %v after t", h.m.session.sess.Phase())
	}
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	tok := h.m.session.sess.Token()
	v = plain(h.m)
	if strings.Contains(v, tok.Value) || !strings.Contains(v, tok.Masked()) || !strings.Contains(v, "10:00 left") {
		t.Fatalf("token line wrong (value must be masked):\n%s", v)
	}
	h.tick(61 * time.Second)
	if !strings.Contains(plain(h.m), "08:59 left") {
		t.Fatalf("countdown did not move:\n%s", plain(h.m))
	}
	h.key("v")
	if !strings.Contains(plain(h.m), tok.Value) {
		t.Fatal("reveal did not show the token")
	}
	h.key("v")

	h.key("o")
	h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
	page := h.pages.last()
	if req := h.pages.reqs[0]; req.Scenario != string(sandbox.ScenarioWrongOTPThenSuccess) || req.Token.Value != tok.Value {
		t.Fatalf("page request %+v", req.Scenario)
	}
	v = plain(h.m)
	if !strings.Contains(v, "http://127.0.0.1:4242/s/abc") || !strings.Contains(v, "K7-Q2") {
		t.Fatalf("page link or code missing:\n%s", v)
	}
	if !strings.Contains(h.m.View().Content, "\x1b]8;;http://127.0.0.1:4242/s/abc") {
		t.Fatal("URL is not an OSC 8 hyperlink")
	}
	at := h.clock.Now()
	send := func(ev mono.WidgetEvent) {
		ev.At = at
		page.events <- ev
	}
	seq := int64(0)
	ev := func(cb mono.Callback, name string, d mono.EventData) mono.WidgetEvent {
		seq++
		return mono.WidgetEvent{Seq: seq, Callback: cb, Name: name, Data: d}
	}
	send(ev(mono.CallbackLoad, "", mono.EventData{}))
	send(ev(mono.CallbackEvent, mono.EventOpened, mono.EventData{}))
	send(ev(mono.CallbackEvent, mono.EventInstitutionSelected, mono.EventData{InstitutionName: "Access Bank", AuthMethod: "mobile_banking"}))
	send(ev(mono.CallbackEvent, mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}))
	send(ev(mono.CallbackEvent, mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}))
	h.until("error shown", func(m Model) bool { return strings.Contains(plain(m), "INVALID_OTP") })
	if h.m.session.sess.Phase() != state.WidgetLive {
		t.Fatalf("an OTP error must keep the widget live, phase %v", h.m.session.sess.Phase())
	}
	send(ev(mono.CallbackEvent, mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}))
	send(ev(mono.CallbackEvent, mono.EventSuccess, mono.EventData{Code: "code_secret_123"}))
	h.until("succeeded", func(m Model) bool { return m.session.sess.Phase() >= state.Succeeded })
	// The sandbox only knows the reauth happened if the page told it.
	if _, err := h.sb.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
	v = plain(h.m)
	if !strings.Contains(v, "SUCCEEDED") || strings.Contains(v, "code_secret_123") {
		t.Fatalf("outcome banner wrong or success code leaked:\n%s", v)
	}
	// Mono's re-read says AVAILABLE (its cached data): not verified yet.
	h.clock.Advance(31 * time.Second) // past the sandbox's confirm delay
	h.until("data AVAILABLE", func(m Model) bool { return m.session.sess.Verification().Status.Is(mono.StatusAvailable) })
	if h.m.session.sess.Phase() == state.Verified {
		t.Fatal("verified from data_status alone")
	}
	// Mono's account_updated with sync SUCCESSFUL is the fresh signal.
	h.monoSynced()
	h.until("verified", func(m Model) bool { return m.session.sess.Phase() == state.Verified })
	if !strings.Contains(plain(h.m), "Mono confirmed a successful sync") {
		t.Fatalf("verification not shown:\n%s", plain(h.m))
	}
	for _, want := range []audit.Action{audit.ActionSessionStarted, audit.ActionReasonShown, audit.ActionTokenMinted,
		audit.ActionPageOpened, audit.ActionWidgetEvent, audit.ActionOutcome, audit.ActionVerification} {
		h.until("audit "+string(want), func(Model) bool { return slices.Contains(h.audit.actions(), want) })
	}
	h.audit.mu.Lock()
	for _, r := range h.audit.recs {
		if strings.Contains(fmt.Sprintf("%+v", r), tok.Value) || strings.Contains(r.PageURL, "#") {
			t.Fatalf("audit record leaks a secret: %+v", r)
		}
	}
	h.audit.mu.Unlock()
	h.key("q")
	h.until("quit", func(Model) bool { return h.quit })
	// tea.Sequence closes the page before the quit, so it is closed by now.
	select {
	case <-page.Done():
	default:
		t.Fatal("quitting left the page open")
	}
}

func TestReplacingLiveTokenAsksFirst(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	first := h.m.session.sess.Token()
	h.key("t")
	if h.m.session.dialog != confirmReplaceToken || !strings.Contains(plain(h.m), "Mint a new one?") {
		t.Fatalf("no confirmation:\n%s", plain(h.m))
	}
	h.key("n")
	if h.m.session.dialog != noDialog || h.m.session.sess.Token() != first {
		t.Fatal("declining changed something")
	}
	h.key("t", "y")
	h.until("new token", func(m Model) bool {
		return m.session.sess.Phase() == state.TokenReady && m.session.sess.Token().Value != first.Value
	})
}

func TestTokenExpiresAtTenMinutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	h.tick(9*time.Minute + 59*time.Second)
	if h.m.session.sess.Phase() != state.TokenReady || !strings.Contains(plain(h.m), "00:01 left") {
		t.Fatalf("expired early:\n%s", plain(h.m))
	}
	h.tick(time.Second)
	v := plain(h.m)
	if h.m.session.sess.Phase() != state.Expired || !strings.Contains(v, "EXPIRED") {
		t.Fatalf("not expired at 10:00:\n%s", v)
	}
	if h.m.keys.OpenPage.Enabled() || !h.m.keys.Mint.Enabled() {
		t.Fatal("after expiry only a new mint may go on")
	}
}

func TestMonoErrorsShownInPlainWords(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.typeText("babajide")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "babajide" })
	h.key("enter", "t")
	h.until("mint failed", func(m Model) bool { return m.session.sess.MintError() != "" })
	v := plain(h.m)
	if !strings.Contains(v, "cannot be re-authorised") {
		t.Fatalf("no plain message:\n%s", v)
	}
	// Mono refusing the account is an outcome with a next step, and no
	// further mint is offered.
	if h.m.session.sess.Phase() != state.Failed || !strings.Contains(v, "FAILED") || !strings.Contains(v, "link the account again") {
		t.Fatalf("phase %v:\n%s", h.m.session.sess.Phase(), v)
	}
	if h.m.keys.Mint.Enabled() || strings.Contains(v, "t mint") {
		t.Fatalf("t is still offered:\n%s", v)
	}
}

func TestWrongKeyShowsHint(t *testing.T) {
	h := newHarness(t, harnessOpts{fault: &sandbox.Fault{Kind: sandbox.FaultStatus, Status: 401}})
	h.until("load error", func(m Model) bool { return m.search.loadErr != nil })
	if v := plain(h.m); !strings.Contains(v, "401") || !strings.Contains(v, "MONO_SECRET_KEY") {
		t.Fatalf("401 not explained:\n%s", v)
	}
	if !h.m.keys.Retry.Enabled() {
		t.Fatal("retry not offered")
	}
	h.sb.ClearFaults()
	h.key("esc", "R")
	h.until("reloaded", loaded)
	if h.m.search.loadErr != nil {
		t.Fatal("retry did not clear the error")
	}
}

func TestPageFailureKeepsToken(t *testing.T) {
	h := newHarness(t, harnessOpts{pageErr: errors.New("listen tcp: address already in use")})
	openWrongOTP(t, h)
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	h.key("o")
	h.until("page failed", func(m Model) bool { return m.session.sess.PageError() != "" })
	if h.m.session.sess.Phase() != state.TokenReady || !strings.Contains(plain(h.m), "address already in use") {
		t.Fatalf("page failure handling:\n%s", plain(h.m))
	}
}

// Footer shows only keys that work now.
func TestFooterFollowsPhase(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	foot := h.m.footerView(200)
	if !strings.Contains(foot, "mint token") || strings.Contains(foot, "open page") || strings.Contains(foot, "copy link") {
		t.Fatalf("explaining footer: %q", ansi.Strip(foot))
	}
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	foot = ansi.Strip(h.m.footerView(200))
	if !strings.Contains(foot, "open page") || !strings.Contains(foot, "reveal token") {
		t.Fatalf("token-ready footer: %q", foot)
	}
}

func TestResizeKeepsLayout(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	for _, size := range [][2]int{{80, 24}, {60, 18}, {132, 50}, {80, 24}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		lines := strings.Split(h.m.View().Content, "\n")
		if len(lines) != size[1] {
			t.Fatalf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > size[0] {
				t.Fatalf("%dx%d: line %d is %d wide: %q", size[0], size[1], i, w, ansi.Strip(l))
			}
		}
	}
}

// ---- golden views ----

type goldenCase struct {
	name  string
	setup func(t *testing.T, h *harness)
}

func goldenCases() []goldenCase {
	page := func(t *testing.T, h *harness, evs ...mono.WidgetEvent) {
		openWrongOTP(t, h)
		h.mintAndOpenPage()
		p := h.pages.last()
		shown := 0
		for i, ev := range evs {
			ev.Seq = int64(i + 1)
			ev.At = h.clock.Now()
			p.events <- ev
			if ev.Callback != mono.CallbackLoad { // onLoad is not repeated in the pane
				shown++
			}
			h.until("event shown", func(m Model) bool { return eventsShown(m) >= shown })
			h.clock.Advance(3 * time.Second)
		}
		h.clock.Advance(time.Second)
	}
	e := func(name string, d mono.EventData) mono.WidgetEvent {
		return mono.WidgetEvent{Callback: mono.CallbackEvent, Name: name, Data: d}
	}
	live := []mono.WidgetEvent{
		{Callback: mono.CallbackLoad}, e(mono.EventOpened, mono.EventData{}),
		e(mono.EventInstitutionSelected, mono.EventData{InstitutionName: "Access Bank", AuthMethod: "mobile_banking"}),
		e(mono.EventSubmitCredentials, mono.EventData{}), e(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}),
		e(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}),
	}
	return []goldenCase{
		{"search", func(t *testing.T, h *harness) { h.until("loaded", loaded) }},
		{"search_filtered", func(t *testing.T, h *harness) {
			h.until("loaded", loaded)
			h.typeText("ok")
			h.until("filtered", func(m Model) bool { return m.search.result.Query == "ok" && m.search.result.N == m.search.loaded })
		}},
		{"account", func(t *testing.T, h *harness) { openWrongOTP(t, h) }},
		{"account_history", func(t *testing.T, h *harness) {
			seedHistory(h) // earlier attempts by other agents, through the deps' recorder
			openWrongOTP(t, h)
			h.until("history read", func(m Model) bool { return m.session.history != nil })
		}},
		{"token", func(t *testing.T, h *harness) {
			openWrongOTP(t, h)
			h.key("t")
			h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
			h.tick(83 * time.Second)
		}},
		{"widget_live", func(t *testing.T, h *harness) { page(t, h, live...) }},
		{"succeeded", func(t *testing.T, h *harness) {
			page(t, h, append(slices.Clone(live), e(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), e(mono.EventSuccess, mono.EventData{Code: "x"}))...)
			h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
		}},
		{"closed_after_error", func(t *testing.T, h *harness) {
			page(t, h, append(slices.Clone(live[:5]), e(mono.EventError, mono.EventData{ErrorType: "BANK_UNAVAILABLE", ErrorMessage: "The bank is not responding"}),
				mono.WidgetEvent{Callback: mono.CallbackClose})...)
		}},
		{"closed_on_mfa", func(t *testing.T, h *harness) {
			page(t, h, append(slices.Clone(live[:5]), e(mono.EventExit, mono.EventData{PageName: "MFA"}), mono.WidgetEvent{Callback: mono.CallbackClose})...)
		}},
		{"page_closed", func(t *testing.T, h *harness) {
			page(t, h, append(slices.Clone(live[:4]), mono.WidgetEvent{Callback: mono.CallbackUnload})...)
		}},
		{"page_error", func(t *testing.T, h *harness) {
			page(t, h, mono.WidgetEvent{Callback: mono.CallbackPageError,
				Data: mono.EventData{ErrorMessage: "Re-auth token is required for reauthorisation"}})
		}},
		{"expired", func(t *testing.T, h *harness) {
			page(t, h, live[:3]...)
			h.tick(10 * time.Minute)
		}},
		{"help", func(t *testing.T, h *harness) { openWrongOTP(t, h); h.key("?") }},
	}
}

func eventsShown(m Model) int {
	if m.session == nil {
		return 0
	}
	n := 0
	for _, l := range m.session.status.lines {
		if !strings.HasPrefix(l.text, "Page ready") && !strings.HasPrefix(l.text, "Token minted") {
			n++
		}
	}
	return n
}

func TestGoldenViews(t *testing.T) {
	sizes := [][2]int{{80, 24}, {120, 40}, {200, 60}}
	for _, c := range goldenCases() {
		for _, sz := range sizes {
			for _, dark := range []bool{true, false} {
				bg := "light"
				if dark {
					bg = "dark"
				}
				t.Run(fmt.Sprintf("%s_%dx%d_%s", c.name, sz[0], sz[1], bg), func(t *testing.T) {
					h := newHarness(t, harnessOpts{width: sz[0], height: sz[1], dark: dark})
					c.setup(t, h)
					out := h.m.View().Content
					if tok := tokenOf(h.m); tok != "" && strings.Contains(out, tok) {
						t.Fatal("golden would contain the token")
					}
					golden.RequireEqual(t, out)
				})
			}
		}
	}
}

func tokenOf(m Model) string {
	if m.session == nil {
		return ""
	}
	return m.session.sess.Token().Value
}

func TestHostedLink(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 120, height: 40})
	openWrongOTP(t, h)
	words := func() string { return strings.Join(strings.Fields(plain(h.m)), " ") } // wrapped lines joined
	if v := words(); !strings.Contains(v, "works for 10 minutes") {
		t.Fatalf("the page link's words do not say its 10 minutes:\n%s", v)
	}
	h.key("h")
	h.until("hosted link", func(m Model) bool { return m.session.hosted != "" })
	v := plain(h.m)
	if !strings.Contains(v, "Hosted") || !strings.Contains(v, "Hosted reauth link created") {
		t.Fatalf("hosted link not shown:\n%s", v)
	}
	// Mono documents no lifetime for its hosted link: the words to say
	// promise none.
	if w := words(); strings.Contains(w, "10 minutes") || !strings.Contains(w, "The link comes from Mono") {
		t.Fatalf("the words for a hosted link:\n%s", v)
	}
	// Audit records are written from Cmds: wait for it.
	h.until("hosted link audited", func(Model) bool { return slices.Contains(h.audit.actions(), audit.ActionHostedLinkCreated) })
	if !slices.Contains(h.sb.RequestLog(), "POST /v2/accounts/initiate") {
		t.Fatalf("no initiate call: %v", h.sb.RequestLog())
	}
}

// When the bank's data has not synced by the bound, the agent is told so
// instead of waiting forever.
func TestVerificationGivesUpAsStillSyncing(t *testing.T) {
	h := newHarness(t, harnessOpts{confirmDelay: 5 * time.Minute})
	openWrongOTP(t, h)
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	tok := h.m.session.sess.Token()
	h.key("o")
	h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
	if _, err := h.sb.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
	// The sandbox keeps the account PROCESSING for 5 minutes; the TUI's
	// bound is 40s.
	h.clock.Advance(41 * time.Second)
	h.until("gave up", func(m Model) bool {
		return m.session.sess.Phase() == state.StillSyncing || m.session.sess.Phase() == state.Verified
	})
	if h.m.session.sess.Phase() != state.StillSyncing {
		t.Fatalf("phase %v, want StillSyncing:\n%s", h.m.session.sess.Phase(), plain(h.m))
	}
	if !strings.Contains(plain(h.m), "has not confirmed fresh data") {
		t.Fatalf("not explained:\n%s", plain(h.m))
	}
}

func TestVerifyBackoff(t *testing.T) {
	got := []time.Duration{}
	for c := 0; c <= 6; c++ {
		got = append(got, verifyBackoff(3*time.Second, c))
	}
	want := []time.Duration{3 * time.Second, 3 * time.Second, 6 * time.Second, 12 * time.Second, 15 * time.Second, 15 * time.Second, 15 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("backoff %v, want %v", got, want)
	}
}

// A program that ends without a quit key (an SSH drop, a signal) still
// closes the customer's page.
func TestContextEndClosesPage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	p := h.pages.last()
	h.cancel()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("page still open after the program's context ended")
	}
}

// The full help lists the keys that work on the screen beneath it.
func TestFullHelpListsScreenKeys(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	h.key("?")
	v := plain(h.m)
	for _, want := range []string{"open page", "reveal token", "copy token", "mint token", "back"} {
		if !strings.Contains(v, want) {
			t.Fatalf("full help lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "needs reauth only") {
		t.Fatalf("full help lists a search-screen key on the session screen:\n%s", v)
	}
	h.key("x")
	if h.m.showHelp {
		t.Fatal("a key did not close the help")
	}
}

// When the page server ends the agent's page because a newer page was opened
// for the same account (under `reauth serve`, perhaps another agent's), the
// status pane, the outcome and the audit say so instead of blaming a lost
// heartbeat or the customer.
func TestReplacedPageSaysWhy(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().end(connect.EndReplaced)
	h.until("the page's end", func(m Model) bool { return m.session.sess.Phase().HasOutcome() })
	v := plain(h.m)
	for _, want := range []string{"Page replaced: a newer page was opened for this account", "TAKEN OVER",
		"A newer page for this account took over.", "reauth audit --account"} {
		if !strings.Contains(v, want) {
			t.Fatalf("the session screen lacks %q:\n%s", want, v)
		}
	}
	h.until("the outcome's audit record", func(Model) bool { return slices.Contains(h.audit.actions(), audit.ActionOutcome) })
	for _, r := range h.audit.recsCopy() {
		if r.Action == audit.ActionOutcome && (r.Outcome != "TAKEN OVER" || !strings.HasPrefix(r.Detail, "A newer page for this account took over.")) {
			t.Fatalf("the outcome audit record says %q", r.Detail)
		}
	}
}
