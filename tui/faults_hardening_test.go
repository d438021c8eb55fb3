package tui

import (
	"context"
	"iter"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// Fault tests use a client like the app's but quicker: a short timeout per
// attempt and read retries without the backoff wait, so a hanging Mono
// costs a test half a second, not the app's 15 s.
const (
	faultTimeout = 500 * time.Millisecond
	readAttempts = 2
)

func instantSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// faultyClient swaps the harness's client for one with faultTimeout and
// readAttempts on the same sandbox. wrap, when set, wraps it.
func faultyClient(t *testing.T, wrap func(*mono.Client) MonoAPI) func(*Deps) {
	return func(d *Deps) {
		c, err := mono.NewClient(mono.Config{
			BaseURL: d.Mono.(*mono.Client).BaseURL(), SecretKey: sandbox.SecretKey, Now: d.Now,
			// No keep-alive: Go's transport silently replays a GET whose
			// reused connection was reset, which would blur the request
			// counts these tests assert.
			HTTPClient: &http.Client{Timeout: faultTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
			Retry:      mono.RetryPolicy{MaxAttempts: readAttempts, Sleep: instantSleep},
		})
		if err != nil {
			t.Fatal(err)
		}
		d.Mono = c
		if wrap != nil {
			d.Mono = wrap(c)
		}
	}
}

// faultCase is one way Mono misbehaves, and what the agent must be told.
type faultCase struct {
	name  string
	fault sandbox.Fault // Path is set per operation
	hint  string        // in mono.Hint's words
	// retried: a read meets it readAttempts times (429, 5xx, network);
	// a reply we cannot read is not worth asking for again.
	retried bool
	// held: the sandbox holds the request until the client gives up, so
	// the test can act while it is really outstanding at the server.
	held bool
}

var faultCases = []faultCase{
	{name: "slow past the timeout", fault: sandbox.Fault{Kind: sandbox.FaultSlow, Delay: time.Hour},
		hint: "Could not reach Mono: timed out", retried: true, held: true},
	{name: "hang", fault: sandbox.Fault{Kind: sandbox.FaultHang},
		hint: "Could not reach Mono: timed out", retried: true, held: true},
	{name: "429 with Retry-After", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "7"},
		hint: "Mono is rate limiting us (429); retry in 7s.", retried: true},
	{name: "429", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429},
		hint: "Mono is rate limiting us (429); wait a moment and retry.", retried: true},
	{name: "500", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 500},
		hint: "Mono had a problem (500); try again shortly.", retried: true},
	{name: "502", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 502},
		hint: "Mono had a problem (502); try again shortly.", retried: true},
	{name: "503", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503, RetryAfter: "2"},
		hint: "Mono had a problem (503); try again shortly.", retried: true},
	{name: "connection reset", fault: sandbox.Fault{Kind: sandbox.FaultReset},
		hint: "Could not reach Mono: ", retried: true},
	{name: "truncated JSON", fault: sandbox.Fault{Kind: sandbox.FaultTruncated},
		hint: "Mono sent a reply we could not read."},
	{name: "HTML instead of JSON", fault: sandbox.Fault{Kind: sandbox.FaultGarbage},
		hint: "Mono sent a reply we could not read."},
}

func (fc faultCase) at(path string) *sandbox.Fault {
	f := fc.fault
	f.Path = path
	return &f
}

// wantReads is how many requests one failing read makes.
func (fc faultCase) wantReads() int {
	if fc.retried {
		return readAttempts
	}
	return 1
}

// TestFaultsFromMono injects every fault into each of the four calls the
// agent waits on. For each: keys work while the call is out (Update never
// waits for I/O), the agent gets mono.Hint's plain sentence, nothing is
// half-applied, a mint is sent exactly once, and the agent can retry.
func TestFaultsFromMono(t *testing.T) {
	ops := []struct {
		name string
		run  func(t *testing.T, fc faultCase)
	}{
		{"account list", listUnderFault},
		{"account detail", detailUnderFault},
		{"mint", mintUnderFault},
		{"verification", verifyUnderFault},
	}
	for _, op := range ops {
		for _, fc := range faultCases {
			t.Run(op.name+"/"+fc.name, func(t *testing.T) {
				t.Parallel() // most of a held case is waiting on the client's timeout
				op.run(t, fc)
			})
		}
	}
}

// countLog counts sandbox requests starting with prefix ("GET /v2/accounts?").
func countLog(sb *sandbox.Server, prefix string) int {
	n := 0
	for _, r := range sb.RequestLog() {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// waitReceived waits until the sandbox has received a request (a held one
// is then outstanding until the client's timeout).
func waitReceived(t *testing.T, sb *sandbox.Server, prefix string) {
	t.Helper()
	waitReceivedMore(t, sb, prefix, 0)
}

// waitReceivedMore waits until more than already requests match prefix.
func waitReceivedMore(t *testing.T, sb *sandbox.Server, prefix string, already int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for countLog(sb, prefix) <= already {
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("the sandbox never received %s", prefix)
		}
	}
}

// keysRespond proves Update handled keys at once while a call is out: help
// opens and closes, and the screen-specific key does its thing.
func keysRespond(t *testing.T, h *harness, outstanding func(Model) bool) {
	t.Helper()
	if !outstanding(h.m) {
		t.Fatalf("the call is not outstanding before the keys:\n%s", plain(h.m))
	}
	h.key("?")
	if !h.m.showHelp || !strings.Contains(plain(h.m), "any key closes the help") {
		t.Fatalf("? did not open the help while a call was out:\n%s", plain(h.m))
	}
	h.key("esc")
	if h.m.showHelp || strings.Contains(plain(h.m), "any key closes the help") {
		t.Fatal("a key did not close the help while a call was out")
	}
	switch h.m.screen {
	case screenSearch:
		h.key("tab")
		if !strings.Contains(plain(h.m), "needs reauth only") {
			t.Fatalf("tab did not filter while the list was loading:\n%s", plain(h.m))
		}
		h.key("tab")
	case screenSession:
		if h.m.session.sess.Phase() == state.Explaining {
			h.key("r")
			if !strings.Contains(plain(h.m), "Why does this account need reauth?") {
				t.Fatalf("r did not open the reason picker while details were loading:\n%s", plain(h.m))
			}
			h.key("esc")
		}
	}
	// The keys were handled in Update alone: the call is still out.
	if !outstanding(h.m) {
		t.Fatalf("the call finished inside Update:\n%s", plain(h.m))
	}
}

func noSecretKey(t *testing.T, h *harness) {
	t.Helper()
	if strings.Contains(h.m.View().Content, sandbox.SecretKey) {
		t.Fatal("the view shows the secret key")
	}
}

func listUnderFault(t *testing.T, fc faultCase) {
	const list = "GET /v2/accounts?"
	h := newHarness(t, harnessOpts{width: 120, height: 40, fault: fc.at("/v2/accounts"), tweak: faultyClient(t, nil)})
	loading := func(m Model) bool { return m.search.loading && m.search.loadErr == nil }
	if fc.held {
		waitReceived(t, h.sb, list)
	}
	keysRespond(t, h, loading)
	h.until("load error", func(m Model) bool { return m.search.loadErr != nil })

	v := plain(h.m)
	if !strings.Contains(v, fc.hint) || !strings.Contains(v, "(R to retry)") {
		t.Fatalf("want %q and a retry hint:\n%s", fc.hint, v)
	}
	noSecretKey(t, h)
	if h.m.search.loaded != 0 || len(h.m.search.accounts) != 0 {
		t.Fatalf("a failed first page left %d accounts", h.m.search.loaded)
	}
	if got := countLog(h.sb, list); got != fc.wantReads() {
		t.Fatalf("%d list requests, want %d", got, fc.wantReads())
	}
	if !h.m.keys.Retry.Enabled() {
		t.Fatal("retry not offered")
	}

	h.sb.ClearFaults()
	h.key("esc", "R")
	h.until("reloaded", loaded)
	assertWholeList(t, h, 60)
}

func assertWholeList(t *testing.T, h *harness, want int) {
	t.Helper()
	if h.m.search.loadErr != nil || h.m.search.loaded != want {
		t.Fatalf("after retry: %d accounts, error %v", h.m.search.loaded, h.m.search.loadErr)
	}
	seen := map[string]bool{}
	for _, a := range h.m.search.accounts {
		if seen[a.ID] {
			t.Fatalf("%s listed twice after a retry", a.ID)
		}
		seen[a.ID] = true
	}
}

// pausingAfterFirstPage lets the test put a fault in place between page 1
// and page 2 of the list, so the failure is mid-load.
type pausingAfterFirstPage struct {
	MonoAPI
	release chan struct{}
}

func (p *pausingAfterFirstPage) Accounts(ctx context.Context) iter.Seq2[mono.AccountPage, error] {
	return func(yield func(mono.AccountPage, error) bool) {
		first := true
		for page, err := range p.MonoAPI.Accounts(ctx) {
			if !yield(page, err) {
				return
			}
			if first {
				first = false
				select {
				case <-p.release:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// A list that fails on page 2 keeps page 1 usable, says why, and a retry
// loads everything once (no duplicates from the failed attempt).
func TestListFailsMidLoad(t *testing.T) {
	pause := &pausingAfterFirstPage{release: make(chan struct{})}
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: faultyClient(t, func(c *mono.Client) MonoAPI {
		pause.MonoAPI = c
		return pause
	})})
	h.until("page 1", func(m Model) bool { return m.search.loaded == 20 && m.search.result.N == 20 })
	h.sb.SetFault(sandbox.Fault{Path: "/v2/accounts", Kind: sandbox.FaultStatus, Status: 503})
	close(pause.release)
	h.until("load error", func(m Model) bool { return m.search.loadErr != nil })
	v := plain(h.m)
	if !strings.Contains(v, "loaded 20 / 60") || !strings.Contains(v, "Mono had a problem (503); try again shortly.") {
		t.Fatalf("page 1 and the failure not both shown:\n%s", v)
	}
	// Page 1 stays usable: move and open an account.
	h.key("esc", "j")
	if h.m.search.cursor != 1 {
		t.Fatal("the loaded rows do not respond")
	}
	h.sb.ClearFaults()
	h.key("R")
	h.until("reloaded", loaded)
	assertWholeList(t, h, 60)
}

func detailUnderFault(t *testing.T, fc faultCase) {
	detail := "GET /v2/accounts/" + wrongOTPID
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: faultyClient(t, nil)})
	h.until("loaded", loaded)
	var listCopy mono.Account
	for _, a := range h.m.search.accounts {
		if a.ID == wrongOTPID {
			listCopy = a
		}
	}
	// Mono's detail carries what the list copy does not (data_request_id),
	// so the test can tell whether a detail read was applied.
	applied := func(s *sessionScreen) bool { return s.account.DataRequestID != "" }
	if listCopy.DataRequestID != "" {
		t.Fatal("fixture: the list copy already has a data_request_id")
	}
	h.sb.SetFault(*fc.at("/v2/accounts/" + wrongOTPID))
	h.typeText("okonkwo")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "okonkwo" })
	h.key("enter")
	if h.m.screen != screenSession {
		t.Fatal("enter did not open the account while its details load")
	}
	if fc.held {
		waitReceived(t, h.sb, detail)
	}
	pending := func(m Model) bool { return m.session != nil && m.session.detailErr == "" }
	keysRespond(t, h, pending)
	h.until("detail error", func(m Model) bool { return m.session.detailErr != "" })

	v := plain(h.m)
	if !strings.Contains(v, "Details not loaded: "+fc.hint) || !strings.Contains(v, "(R to retry)") {
		t.Fatalf("want %q and a retry hint:\n%s", fc.hint, v)
	}
	noSecretKey(t, h)
	s := h.m.session
	if s.sess.Phase() != state.Explaining || !equalAccounts(s.account, listCopy) || applied(s) {
		t.Fatalf("a failed detail read changed the session: phase %v, account %+v", s.sess.Phase(), s.account)
	}
	if got := countLog(h.sb, detail); got != fc.wantReads() {
		t.Fatalf("%d detail requests, want %d", got, fc.wantReads())
	}
	if !h.m.keys.Retry.Enabled() || !h.m.keys.Mint.Enabled() {
		t.Fatal("the agent can neither retry nor carry on")
	}

	h.sb.ClearFaults()
	h.key("R")
	h.until("details applied", func(m Model) bool { return applied(m.session) })
	if h.m.session.detailErr != "" || h.m.keys.Retry.Enabled() || strings.Contains(plain(h.m), "Details not loaded") {
		t.Fatalf("the error outlived the retry:\n%s", plain(h.m))
	}
}

func equalAccounts(a, b mono.Account) bool {
	return a.ID == b.ID && a.SyncMessage == b.SyncMessage && a.DataStatus == b.DataStatus && a.Name == b.Name &&
		slices.Equal(a.RetrievedData, b.RetrievedData)
}

func mintUnderFault(t *testing.T, fc faultCase) {
	mint := "POST /accounts/" + wrongOTPID + "/reauthorise"
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: faultyClient(t, nil)})
	openWrongOTP(t, h)
	h.sb.SetFault(*fc.at("/accounts/" + wrongOTPID + "/reauthorise"))
	h.key("t")
	minting := func(m Model) bool { return m.session.sess.Phase() == state.Minting }
	if fc.held {
		waitReceived(t, h.sb, mint)
	}
	keysRespond(t, h, minting)
	h.until("mint failed", func(m Model) bool { return m.session.sess.MintError() != "" })

	v := plain(h.m)
	if !strings.Contains(v, "Token "+fc.hint) {
		t.Fatalf("want %q on the token line:\n%s", fc.hint, v)
	}
	noSecretKey(t, h)
	s := h.m.session
	if s.sess.Phase() != state.Explaining || s.sess.Token().Value != "" {
		t.Fatalf("a failed mint left phase %v and a token %q", s.sess.Phase(), s.sess.Token().Fingerprint())
	}
	h.until("failure audited", func(Model) bool { return slices.Contains(h.audit.actions(), audit.ActionTokenMintFailed) })
	if slices.Contains(h.audit.actions(), audit.ActionTokenMinted) {
		t.Fatal("a failed mint was audited as minted")
	}
	// Never retried: one request, whatever the fault, even where a read
	// would have been tried again.
	if got := countLog(h.sb, mint); got != 1 {
		t.Fatalf("the mint was sent %d times", got)
	}
	if !h.m.keys.Mint.Enabled() {
		t.Fatal("the agent cannot mint again")
	}

	h.sb.ClearFaults()
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	if got := countLog(h.sb, mint); got != 2 {
		t.Fatalf("%d mints after one retry, want 2", got)
	}
	if tok := h.m.session.sess.Token(); tok.Value == "" || strings.Contains(h.m.View().Content, tok.Value) || h.m.session.sess.MintError() != "" {
		t.Fatalf("retry: token shown unmasked or error kept:\n%s", plain(h.m))
	}
}

func verifyUnderFault(t *testing.T, fc faultCase) {
	detail := "GET /v2/accounts/" + wrongOTPID
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: faultyClient(t, nil)})
	openWrongOTP(t, h)
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	tok := h.m.session.sess.Token()
	h.key("o")
	h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
	if _, err := h.sb.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	readsBefore := countLog(h.sb, detail)
	h.sb.SetFault(*fc.at("/v2/accounts/" + wrongOTPID))
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
	verifying := func(m Model) bool { return m.session.sess.Phase() == state.Verifying }
	if fc.held {
		waitReceivedMore(t, h.sb, detail, readsBefore) // the re-read is out
	}
	keysRespond(t, h, verifying)
	want := "Re-read failed, will retry: " + fc.hint
	h.until("re-read failure shown", func(m Model) bool { return strings.Contains(plain(m), want) })
	noSecretKey(t, h)
	if ph := h.m.session.sess.Phase(); ph != state.Verifying || !strings.Contains(plain(h.m), "SUCCEEDED") {
		t.Fatalf("failed re-reads changed the outcome: phase %v\n%s", ph, plain(h.m))
	}
	if got := countLog(h.sb, "POST "); got != 1 {
		t.Fatalf("verification sent %d POSTs; only the one mint is allowed", got)
	}

	// The re-reads carry on by themselves; once Mono answers (and the bank's
	// data has synced), the account reads healthy.
	// and Mono's webhook confirms the sync.
	h.sb.ClearFaults()
	h.clock.Advance(31 * time.Second)
	h.until("a re-read answered", func(m Model) bool { return m.session.sess.Verification().LastErr == "" })
	h.monoSynced()
	h.until("verified", func(m Model) bool { return m.session.sess.Phase() == state.Verified })
	if n := strings.Count(plain(h.m), "Re-read failed"); n != 1 {
		t.Fatalf("%d re-read failure lines, want one for a run of the same failure:\n%s", n, plain(h.m))
	}
}
