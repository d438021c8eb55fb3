package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// clock is an injectable, manually advanced clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start runs a sandbox on loopback and a client for it whose retries do not
// really sleep.
func start(t *testing.T, opts sandbox.Options, tweak ...func(*mono.Config)) (*sandbox.Server, *mono.Client) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = newClock().Now
	}
	s := sandbox.New(opts)
	if err := s.Start(""); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want loopback", s.URL())
	}
	return s, newClient(t, s.URL(), sandbox.SecretKey, tweak...)
}

func newClient(t *testing.T, base, key string, tweak ...func(*mono.Config)) *mono.Client {
	t.Helper()
	cfg := mono.Config{BaseURL: base, SecretKey: key, Retry: mono.RetryPolicy{
		MaxAttempts: 3, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := mono.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listAll(t *testing.T, c *mono.Client) []mono.Account {
	t.Helper()
	var all []mono.Account
	for page, err := range c.Accounts(context.Background()) {
		if err != nil {
			t.Fatalf("page %d: %v", page.Page, err)
		}
		all = append(all, page.Accounts...)
	}
	return all
}

func wantKind(t *testing.T, err error, want mono.ErrorKind) *mono.Error {
	t.Helper()
	var me *mono.Error
	if !errors.As(err, &me) || me.Kind != want {
		t.Fatalf("err = %v (kind %v), want kind %v", err, mono.KindOf(err), want)
	}
	return me
}

var scenarioIDs = []string{
	"5ca1ab1e0000000000000001", "5ca1ab1e0000000000000002", "5ca1ab1e0000000000000003",
	"5ca1ab1e0000000000000004", "5ca1ab1e0000000000000005", "5ca1ab1e0000000000000006",
	"5ca1ab1e0000000000000007",
}

// balanceOnlyID is the scenario account at a bank that gives only the balance.
const balanceOnlyID = "5ca1ab1e0000000000000007"

func TestListingEveryAccountThroughTheClient(t *testing.T) {
	s, c := start(t, sandbox.Options{Seed: 1})
	all := listAll(t, c)
	if len(all) != 520 {
		t.Fatalf("listed %d accounts, want 520", len(all))
	}
	log := s.RequestLog()
	if len(log) != 26 || log[0] != "GET /v2/accounts?page=1" || log[25] != "GET /v2/accounts?page=26" {
		t.Fatalf("requests = %d: first %q last %q", len(log), log[0], log[len(log)-1])
	}

	ids := map[string]bool{}
	banks := map[string]string{}
	statuses := map[mono.DataStatus]int{}
	auth := map[string]int{}
	digits10 := regexp.MustCompile(`^[0-9]{10}$`)
	for i, a := range all {
		if !mono.IsAccountID(a.ID) || ids[a.ID] {
			t.Fatalf("account %d: bad or duplicate id %q", i, a.ID)
		}
		ids[a.ID] = true
		if !digits10.MatchString(a.AccountNumber) || a.Currency != "NGN" || a.Name == "" || a.Name != a.Customer.Name ||
			!strings.Contains(a.Customer.Email, "@") || !mono.IsAccountID(a.Customer.ID) || len(a.BVN) != 4 ||
			a.Institution.Name == "" || a.Institution.BankCode == "" || a.Balance <= 0 {
			t.Fatalf("account %d looks wrong: %+v", i, a)
		}
		// Mono's reads say nothing about syncs: the sandbox invents nothing.
		if a.SyncStatus != "" || a.SyncMessage != "" || !a.LastSyncedAt.IsZero() || a.NeedsReauth() {
			t.Fatalf("account %d carries sync fields Mono does not send: %+v", i, a)
		}
		banks[a.Institution.BankCode] = a.Institution.Name
		statuses[a.DataStatus]++
		auth[a.AuthMethod]++
	}
	// Whether an account needs reauth is said by the webhooks alone.
	hooks := map[string]hookBody{}
	kinds := map[string]int{}
	reauth := 0
	for _, raw := range s.Webhooks() {
		h := decodeHook(t, raw)
		if hooks[h.accountID] != (hookBody{}) {
			t.Fatalf("two backlog webhooks for %s", h.accountID)
		}
		hooks[h.accountID] = h
		kinds[h.kind()]++
		if h.needsReauth() {
			reauth++
		}
		if !ids[h.accountID] {
			t.Fatalf("webhook for an account that is not listed: %s", raw)
		}
	}
	if len(banks) < 10 {
		t.Errorf("only %d banks: %v", len(banks), banks)
	}
	for code, name := range map[string]string{"058": "GTBank", "044": "Access Bank", "057": "Zenith Bank", "50211": "Kuda Bank"} {
		if banks[code] != name {
			t.Errorf("bank %s = %q, want %q", code, banks[code], name)
		}
	}
	for _, st := range []mono.DataStatus{mono.StatusAvailable, mono.StatusPartial, mono.StatusUnavailable, mono.StatusFailed, mono.StatusProcessing} {
		if statuses[st] == 0 {
			t.Errorf("no account with status %s", st)
		}
	}
	if auth[mono.AuthInternetBanking] == 0 || auth[mono.AuthMobileBanking] == 0 || len(auth) != 2 {
		t.Errorf("auth methods = %v", auth)
	}
	if share := float64(reauth) / float64(len(all)); share < 0.10 || share > 0.22 {
		t.Errorf("%d accounts (%.0f%%) need reauth, want about 12%%", reauth, share*100)
	}
	for _, k := range []string{"account_updated REAUTHORISATION_REQUIRED", "account_updated FAILED", "reauthorisation_required 2026",
		"reauthorisation_required 2022", "jobs.update failed"} {
		if kinds[k] == 0 {
			t.Errorf("no %s webhook in the backlog: %v", k, kinds)
		}
	}
	for i, id := range scenarioIDs {
		needs := hooks[id].needsReauth()
		if all[i].ID != id || needs != (id != balanceOnlyID) {
			t.Errorf("account %d = %s (webhook says needs reauth %v), want scenario %s first", i, all[i].ID, needs, id)
		}
	}
}

func TestMetaLinksPointAtTheSandbox(t *testing.T) {
	s, _ := start(t, sandbox.Options{Accounts: 45, PageSize: 20})
	get := func(page string) (status int, body map[string]any) {
		req, _ := http.NewRequest("GET", s.URL()+"/v2/accounts?page="+page, nil)
		req.Header.Set("mono-sec-key", sandbox.SecretKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	_, p1 := get("1")
	meta := p1["meta"].(map[string]any)
	if p1["status"] != "successful" || meta["total"] != 45.0 || meta["pages"] != 3.0 || meta["previous"] != nil ||
		meta["next"] != s.URL()+"/v2/accounts?page=2" || len(p1["data"].([]any)) != 20 {
		t.Errorf("page 1 = %v", p1)
	}
	_, p3 := get("3")
	meta = p3["meta"].(map[string]any)
	if meta["next"] != nil || meta["previous"] != s.URL()+"/v2/accounts?page=2" || len(p3["data"].([]any)) != 5 {
		t.Errorf("page 3 meta = %v, %d items", meta, len(p3["data"].([]any)))
	}
	if status, _ := get("0"); status != 400 {
		t.Errorf("page=0 answered %d", status)
	}
}

func TestHandlerWorksUnderHTTPTest(t *testing.T) {
	s := sandbox.New(sandbox.Options{Accounts: 30, Now: newClock().Now})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { _ = s.Close(); ts.Close() })
	c := newClient(t, ts.URL, sandbox.SecretKey)
	if got := len(listAll(t, c)); got != 30 {
		t.Fatalf("listed %d", got)
	}
	if s.URL() != "" {
		t.Errorf("URL before Start = %q", s.URL())
	}
}

func TestSameSeedSameData(t *testing.T) {
	a := sandbox.Generate(42, 600)
	b := sandbox.Generate(42, 600)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("Generate is not deterministic")
	}
	if !reflect.DeepEqual(sandbox.Generate(42, 100), a[:100]) {
		t.Error("a smaller n is not a prefix of a larger one")
	}
	other := sandbox.Generate(43, 600)
	if reflect.DeepEqual(a[7:], other[7:]) {
		t.Error("different seeds gave the same accounts")
	}
	if !reflect.DeepEqual(a[:7], other[:7]) {
		t.Error("scenario accounts depend on the seed")
	}

	// Two servers with one seed serve the same accounts, equal to Generate's
	// apart from retrieved_data, which Mono's list items do not carry.
	_, c1 := start(t, sandbox.Options{Seed: 42, Accounts: 60})
	_, c2 := start(t, sandbox.Options{Seed: 42, Accounts: 60})
	l1, l2 := listAll(t, c1), listAll(t, c2)
	if !reflect.DeepEqual(l1, l2) {
		t.Fatal("same seed, different data")
	}
	for i := range l1 {
		g := a[i]
		g.RetrievedData = nil
		if !reflect.DeepEqual(l1[i], g) {
			t.Fatalf("account %d served as\n %+v\ngenerated\n %+v", i, l1[i], g)
		}
	}
}

func TestGenerateSmallAndEdgeCounts(t *testing.T) {
	if sandbox.Generate(1, 0) != nil || sandbox.Generate(1, -5) != nil {
		t.Error("n <= 0 should give nil")
	}
	if g := sandbox.Generate(1, 3); len(g) != 3 || g[2].ID != scenarioIDs[2] {
		t.Errorf("n = 3: %v", g)
	}
	// Even a small set covers every status and both auth methods.
	g := sandbox.Generate(9, 12)
	statuses, auth := map[mono.DataStatus]bool{}, map[string]bool{}
	for _, a := range g[7:] {
		statuses[a.DataStatus], auth[a.AuthMethod] = true, true
	}
	if len(statuses) != 5 || len(auth) != 2 {
		t.Errorf("12 accounts cover statuses %v and auth methods %v", statuses, auth)
	}
}

func TestScenarios(t *testing.T) {
	sc := sandbox.Scenarios()
	want := []sandbox.Scenario{sandbox.ScenarioSucceeds, sandbox.ScenarioWrongOTPThenSuccess, sandbox.ScenarioBankError,
		sandbox.ScenarioClosesOnMFA, sandbox.ScenarioCannotReauth, sandbox.ScenarioTokenExpires, sandbox.ScenarioBalanceOnly}
	if len(sc) != len(want) {
		t.Fatalf("%d scenarios", len(sc))
	}
	values := []string{"succeeds", "wrong_otp_then_success", "bank_error", "closes_on_mfa", "cannot_reauth", "token_expires", "balance_only"}
	hasAda := false
	for i, s := range sc {
		if s.ID != scenarioIDs[i] || s.Scenario != want[i] || string(want[i]) != values[i] || s.Name == "" || s.Description == "" {
			t.Errorf("scenario %d = %+v", i, s)
		}
		if sandbox.ScenarioFor(s.ID) != s.Scenario || sandbox.ScenarioFor(strings.ToUpper(s.ID)) != s.Scenario {
			t.Errorf("ScenarioFor(%s) = %q", s.ID, sandbox.ScenarioFor(s.ID))
		}
		hasAda = hasAda || strings.Contains(strings.ToLower(s.Name), "ada")
	}
	if !hasAda {
		t.Error("no scenario holder's name contains \"ada\"")
	}
	if sc[1].Name != "Adaeze Okonkwo" {
		t.Errorf("wrong-OTP holder = %q", sc[1].Name)
	}
	g := sandbox.Generate(1, 520)
	if sandbox.ScenarioFor(g[100].ID) != "" || sandbox.ScenarioFor("nope") != "" {
		t.Error("ordinary accounts must have no scenario")
	}
	// Part of each scenario holder's name finds that account alone, for
	// any seed: ordinary names never reuse those parts.
	for _, seed := range []int64{0, 1, 2, 99} {
		g := sandbox.Generate(seed, 2000)
		for _, s := range sc {
			part := strings.ToLower(strings.Fields(s.Name)[0])
			n := 0
			for _, a := range g {
				if strings.Contains(strings.ToLower(a.Name), part) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("seed %d: %q matches %d holders", seed, part, n)
			}
		}
	}
}

func TestWrongOrMissingKeyIs401(t *testing.T) {
	s, _ := start(t, sandbox.Options{Accounts: 10})
	bad := newClient(t, s.URL(), "test_sk_wrong")
	var last error
	for _, err := range bad.Accounts(context.Background()) {
		last = err
	}
	me := wantKind(t, last, mono.KindUnauthorised)
	if me.Status != 401 || me.Message != "Invalid secret key provided" {
		t.Errorf("401 = %+v", me)
	}
	_, err := bad.Reauthorise(context.Background(), scenarioIDs[0])
	wantKind(t, err, mono.KindUnauthorised)

	resp, err := http.Post(s.URL()+"/accounts/"+scenarioIDs[0]+"/reauthorise", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 401 || body["status"] != "failed" || body["data"] != nil || body["timestamp"] == nil {
		t.Errorf("missing key: %d %v", resp.StatusCode, body)
	}
	for _, line := range s.RequestLog() {
		if strings.Contains(line, "test_sk") {
			t.Errorf("request log holds a key: %q", line)
		}
	}
}

func TestUnknownAccountIs404(t *testing.T) {
	_, c := start(t, sandbox.Options{Accounts: 10})
	unknown := "5ca1ab1e00000000000000ff"
	_, err := c.Account(context.Background(), unknown)
	me := wantKind(t, err, mono.KindNotFound)
	if me.Message != "This account does not exist." || me.Hint() != "Mono has no account with that id (404)." {
		t.Errorf("404 = %+v", me)
	}
	_, err = c.Reauthorise(context.Background(), unknown)
	wantKind(t, err, mono.KindNotFound)
	_, err = c.Sync(context.Background(), unknown)
	wantKind(t, err, mono.KindNotFound)
}

func TestAccountDetail(t *testing.T) {
	_, c := start(t, sandbox.Options{Accounts: 10})
	a, err := c.Account(context.Background(), scenarioIDs[1])
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Adaeze Okonkwo" || a.Institution.Name != "Access Bank" || a.Institution.BankCode != "044" ||
		a.Customer.ID != "5ca1ab1ec000000000000002" || a.DataStatus != mono.StatusUnavailable || a.AuthMethod != mono.AuthMobileBanking ||
		a.SyncStatus != "" || a.SyncMessage != "" || !a.LastSyncedAt.IsZero() {
		t.Errorf("detail = %+v", a)
	}
	partial, err := c.Account(context.Background(), scenarioIDs[3])
	if err != nil || partial.DataStatus != mono.StatusPartial || !slices.Equal(partial.RetrievedData, []string{"identity", "balance"}) {
		t.Errorf("retrieved_data not served: %+v, %v", partial, err)
	}
	balance, err := c.Account(context.Background(), balanceOnlyID)
	if err != nil || balance.DataStatus != mono.StatusFailed || !slices.Equal(balance.RetrievedData, []string{"balance"}) ||
		balance.Institution.Name != "OPay" || balance.AuthMethod != mono.AuthMobileBanking {
		t.Errorf("balance-only scenario: %+v, %v", balance, err)
	}
}

func TestTokenExpiresAfterTenMinutes(t *testing.T) {
	clk := newClock()
	s, c := start(t, sandbox.Options{Accounts: 10, Now: clk.Now}, func(cfg *mono.Config) { cfg.Now = clk.Now })
	tok, err := c.Reauthorise(context.Background(), scenarioIDs[5])
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{20}$`).MatchString(tok.Value) {
		t.Errorf("token has the wrong shape (fingerprint %s)", tok.Fingerprint())
	}
	if !tok.ExpiresAt.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("ExpiresAt = %v", tok.ExpiresAt)
	}
	clk.Set(t0.Add(9*time.Minute + 59*time.Second))
	if id, ok := s.TokenValid(tok.Value); !ok || id != scenarioIDs[5] {
		t.Fatalf("at 9:59 TokenValid = %q, %v", id, ok)
	}
	clk.Set(t0.Add(10 * time.Minute))
	if id, ok := s.TokenValid(tok.Value); ok || id != scenarioIDs[5] {
		t.Fatalf("at 10:00 TokenValid = %q, %v", id, ok)
	}
	before := len(s.Webhooks())
	if _, err := s.CompleteReauth(tok.Value); !errors.Is(err, sandbox.ErrTokenExpired) {
		t.Fatalf("CompleteReauth of an expired token: %v", err)
	}
	if a, _ := c.Account(context.Background(), scenarioIDs[5]); a.DataStatus != mono.StatusUnavailable {
		t.Error("a failed completion changed the account")
	}
	clk.Advance(time.Hour)
	if n := len(s.Webhooks()); n != before {
		t.Errorf("a failed completion sent %d webhooks", n-before)
	}
}

func TestCompleteReauthThenProcessingThenAvailable(t *testing.T) {
	clk := newClock()
	s, c := start(t, sandbox.Options{Accounts: 10, Now: clk.Now, ConfirmDelay: 20 * time.Second})
	id := scenarioIDs[0]
	backlog := len(s.Webhooks())
	tok, err := c.Reauthorise(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteReauth("nope"); !errors.Is(err, sandbox.ErrUnknownToken) {
		t.Errorf("unknown token: %v", err)
	}
	clk.Advance(3 * time.Minute)
	completedAt := clk.Now()
	got, err := s.CompleteReauth(tok.Value)
	if err != nil || got != id {
		t.Fatalf("CompleteReauth = %q, %v", got, err)
	}
	if _, err := s.CompleteReauth(tok.Value); !errors.Is(err, sandbox.ErrTokenUsed) {
		t.Errorf("second use: %v", err)
	}
	if _, ok := s.TokenValid(tok.Value); ok {
		t.Error("a used token is still valid")
	}
	read := func() mono.Account {
		a, err := c.Account(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	newHooks := func() []hookBody {
		var out []hookBody
		for _, raw := range s.Webhooks()[backlog:] {
			out = append(out, decodeHook(t, raw))
		}
		return out
	}
	// Mono's account_reauthorized comes at once; the data is not current yet.
	if h := newHooks(); len(h) != 1 || h[0].Event != sandbox.EventReauthorized || h[0].accountID != id || !h[0].at.Equal(completedAt) {
		t.Fatalf("just after completion, webhooks %+v", h)
	}
	if a := read(); a.DataStatus != mono.StatusProcessing || !a.LastSyncedAt.IsZero() {
		t.Fatalf("just after completion: %+v", a)
	}
	clk.Advance(19 * time.Second)
	if a := read(); a.DataStatus != mono.StatusProcessing || len(newHooks()) != 1 {
		t.Fatalf("at 19s: %s, %d webhooks", a.DataStatus, len(newHooks()))
	}
	clk.Advance(time.Second)
	a := read()
	if a.DataStatus != mono.StatusAvailable || len(a.RetrievedData) == 0 || !a.LastSyncedAt.IsZero() || a.SyncStatus != "" {
		t.Fatalf("after ConfirmDelay: %+v", a)
	}
	// Freshness comes from account_updated SUCCESSFUL, sent then.
	h := newHooks()
	if len(h) != 2 || h[1].Event != sandbox.EventAccountUpdated || h[1].SyncStatus != mono.SyncStatusSuccessful ||
		!h[1].HasNewData || h[1].DataStatus != "AVAILABLE" || !h[1].at.Equal(completedAt.Add(20*time.Second)) {
		t.Fatalf("after ConfirmDelay, webhooks %+v", h)
	}
	// The list agrees with the detail.
	first := listAll(t, c)[0]
	if first.ID != id || first.DataStatus != mono.StatusAvailable {
		t.Errorf("list still shows %+v", first)
	}

	// And the bank can demand it again: only a webhook says so; the read
	// keeps Mono's cached AVAILABLE.
	s.MarkNeedsReauth(id, "Customer turned on 2FA for internet banking.")
	a = read()
	if a.DataStatus != mono.StatusAvailable || a.SyncStatus != "" || a.SyncMessage != "" {
		t.Errorf("after MarkNeedsReauth: %+v", a)
	}
	h = newHooks()
	if len(h) != 3 || h[2].Event != sandbox.EventAccountUpdated || h[2].SyncStatus != mono.SyncReauthRequired || h[2].DataStatus != "AVAILABLE" {
		t.Errorf("after MarkNeedsReauth, webhooks %+v", h)
	}
	if res, err := c.Sync(context.Background(), id); err != nil || res.Code != mono.SyncReauthRequired {
		t.Errorf("sync after MarkNeedsReauth: %+v, %v", res, err)
	}
	s.MarkNeedsReauth("not-an-id", "ignored") // must not panic
}

// A reauth the bank overtakes before Mono's sync: the pending account_updated
// SUCCESSFUL is never sent.
func TestMarkNeedsReauthOvertakesAPendingSync(t *testing.T) {
	clk := newClock()
	s, c := start(t, sandbox.Options{Accounts: 10, Now: clk.Now, ConfirmDelay: time.Minute})
	backlog := len(s.Webhooks())
	tok, err := c.Reauthorise(context.Background(), scenarioIDs[2])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	s.MarkNeedsReauth(scenarioIDs[2], "")
	clk.Advance(time.Hour)
	var events []string
	for _, raw := range s.Webhooks()[backlog:] {
		h := decodeHook(t, raw)
		events = append(events, h.kind())
	}
	if want := []string{"account_reauthorized", "account_updated REAUTHORISATION_REQUIRED"}; !slices.Equal(events, want) {
		t.Errorf("webhooks %q, want %q", events, want)
	}
	if a, _ := c.Account(context.Background(), scenarioIDs[2]); a.DataStatus != mono.StatusProcessing {
		t.Errorf("read %s, want what it read when the bank demanded reauth (PROCESSING)", a.DataStatus)
	}
}

func TestMintingAgainReplacesTheOldToken(t *testing.T) {
	s, c := start(t, sandbox.Options{Accounts: 10})
	first, err := c.Reauthorise(context.Background(), scenarioIDs[2])
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Reauthorise(context.Background(), scenarioIDs[2])
	if err != nil {
		t.Fatal(err)
	}
	if first.Value == second.Value {
		t.Fatal("two mints gave the same token")
	}
	if _, ok := s.TokenValid(first.Value); ok {
		t.Error("the replaced token is still valid")
	}
	if _, ok := s.TokenValid(second.Value); !ok {
		t.Error("the new token is not valid")
	}
	if _, err := s.CompleteReauth(first.Value); !errors.Is(err, sandbox.ErrTokenReplaced) {
		t.Errorf("completing with the replaced token: %v", err)
	}
	// Another account's token is unaffected.
	other, _ := c.Reauthorise(context.Background(), scenarioIDs[3])
	if _, ok := s.TokenValid(other.Value); !ok || len(s.RequestLog()) != 3 {
		t.Error("tokens of different accounts interfere")
	}
}

func TestCannotReauthScenario(t *testing.T) {
	s, c := start(t, sandbox.Options{Accounts: 10})
	_, err := c.Reauthorise(context.Background(), scenarioIDs[4])
	me := wantKind(t, err, mono.KindCannotReauth)
	if me.Status != 200 || me.Message != "This account can not be re-authorised." {
		t.Errorf("error = %+v", me)
	}
	if got := s.RequestLog(); !slices.Equal(got, []string{"POST /accounts/" + scenarioIDs[4] + "/reauthorise"}) {
		t.Errorf("requests = %v", got)
	}
}

func TestInitiateReauthReturnsASandboxLink(t *testing.T) {
	s, c := start(t, sandbox.Options{Accounts: 10})
	link, err := c.InitiateReauth(context.Background(), scenarioIDs[0], "case 42", "https://example.com/done")
	if err != nil {
		t.Fatal(err)
	}
	if link != s.URL()+"/hosted/case%2042" {
		t.Fatalf("link = %q", link)
	}
	resp, err := http.Get(link) // a customer's browser: no key
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "sandbox") {
		t.Errorf("hosted page: %d %q", resp.StatusCode, body)
	}
	_, err = c.InitiateReauth(context.Background(), "5ca1ab1e00000000000000ff", "r", "https://example.com")
	wantKind(t, err, mono.KindNotFound)
	// The account Mono will not re-authorise refuses a hosted link as it
	// refuses a mint.
	for _, a := range sandbox.Scenarios() {
		if a.Scenario == sandbox.ScenarioCannotReauth {
			_, err = c.InitiateReauth(context.Background(), a.ID, "r", "")
			wantKind(t, err, mono.KindCannotReauth)
		}
	}
}

func TestSyncCodesAndRateLimit(t *testing.T) {
	clk := newClock()
	_, c := start(t, sandbox.Options{Accounts: 40, Now: clk.Now}, func(cfg *mono.Config) { cfg.Now = clk.Now })
	res, err := c.Sync(context.Background(), scenarioIDs[0])
	if err != nil || res.Code != mono.SyncReauthRequired || res.Status != 400 {
		t.Fatalf("needs-reauth sync = %+v, %v", res, err)
	}
	clk.Advance(30 * time.Second)
	_, err = c.Sync(context.Background(), scenarioIDs[0])
	me := wantKind(t, err, mono.KindRateLimited)
	if me.RetryAfter != 90*time.Second {
		t.Errorf("RetryAfter = %v, want 90s", me.RetryAfter)
	}
	clk.Advance(90 * time.Second)
	if _, err := c.Sync(context.Background(), scenarioIDs[0]); err != nil {
		t.Errorf("after 2 minutes: %v", err)
	}
	codes := map[string]bool{}
	for _, a := range listAll(t, c)[7:] {
		res, err := c.Sync(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		codes[res.Code] = true
	}
	for _, code := range []string{mono.SyncSuccessful, mono.SyncError, mono.SyncIncompleteStatement} {
		if !codes[code] {
			t.Errorf("no sync answered %s (got %v)", code, codes)
		}
	}
}

func TestUnknownRouteIs404(t *testing.T) {
	s, _ := start(t, sandbox.Options{Accounts: 10})
	req, _ := http.NewRequest("GET", s.URL()+"/v3/nothing", nil)
	req.Header.Set("mono-sec-key", sandbox.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestFaultsProduceTheRightClientErrors(t *testing.T) {
	detail := "/v2/accounts/" + scenarioIDs[0]
	cases := []struct {
		name  string
		fault sandbox.Fault
		kind  mono.ErrorKind
	}{
		{"429", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429}, mono.KindRateLimited},
		{"500", sandbox.Fault{Kind: sandbox.FaultStatus}, mono.KindServer},
		{"502", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 502}, mono.KindServer},
		{"503", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503}, mono.KindServer},
		{"403", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 403}, mono.KindForbidden},
		{"garbage", sandbox.Fault{Kind: sandbox.FaultGarbage}, mono.KindBadReply},
		{"truncated", sandbox.Fault{Kind: sandbox.FaultTruncated}, mono.KindBadReply},
		{"reset", sandbox.Fault{Kind: sandbox.FaultReset}, mono.KindNetwork},
		{"hang", sandbox.Fault{Kind: sandbox.FaultHang}, mono.KindNetwork},
		{"slow beyond the timeout", sandbox.Fault{Kind: sandbox.FaultSlow, Delay: time.Hour}, mono.KindNetwork},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := start(t, sandbox.Options{Accounts: 10}, func(cfg *mono.Config) {
				cfg.Retry.MaxAttempts = 1
				cfg.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond}
			})
			f := tc.fault
			f.Path = detail
			s.SetFault(f)
			_, err := c.Account(context.Background(), scenarioIDs[0])
			wantKind(t, err, tc.kind)
			// The fault applies to its path only.
			if _, err := c.Account(context.Background(), scenarioIDs[1]); err != nil {
				t.Errorf("other path affected: %v", err)
			}
			s.ClearFaults()
			if _, err := c.Account(context.Background(), scenarioIDs[0]); err != nil {
				t.Errorf("after ClearFaults: %v", err)
			}
		})
	}
}

func TestTruncatedListAndMint(t *testing.T) {
	s, c := start(t, sandbox.Options{Accounts: 50}, func(cfg *mono.Config) { cfg.Retry.MaxAttempts = 1 })
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultTruncated})
	var last error
	for _, err := range c.Accounts(context.Background()) {
		last = err
	}
	wantKind(t, last, mono.KindBadReply)
	_, err := c.Reauthorise(context.Background(), scenarioIDs[0])
	wantKind(t, err, mono.KindBadReply)
}

func TestRetryAfterFromAFault(t *testing.T) {
	s, c := start(t, sandbox.Options{Accounts: 10}, func(cfg *mono.Config) { cfg.Retry.MaxAttempts = 1 })
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "12"})
	_, err := c.Account(context.Background(), scenarioIDs[0])
	me := wantKind(t, err, mono.KindRateLimited)
	if me.RetryAfter != 12*time.Second || me.Hint() != "Mono is rate limiting us (429); retry in 12s." {
		t.Errorf("RetryAfter %v hint %q", me.RetryAfter, me.Hint())
	}
}

func TestReadsRideOutTransientFaultsButMintsDoNot(t *testing.T) {
	var waits []time.Duration
	s, c := start(t, sandbox.Options{Accounts: 10}, func(cfg *mono.Config) {
		cfg.Retry = mono.RetryPolicy{MaxAttempts: 3, Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		}}
		// Fresh connections: net/http replays a GET on a reused connection by
		// itself, which would blur the attempt count.
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	})
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "2", Times: 1})
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultReset, Times: 1})
	if _, err := c.Account(context.Background(), scenarioIDs[0]); err != nil {
		t.Fatalf("read did not survive a 429 and a reset: %v", err)
	}
	if n := len(s.RequestLog()); n != 3 || len(waits) != 2 || waits[0] != 2*time.Second {
		t.Fatalf("%d attempts, waits %v; want 3 attempts, first wait 2s (Retry-After)", n, waits)
	}

	s.SetFault(sandbox.Fault{Path: "/accounts/", Kind: sandbox.FaultStatus, Status: 500, Times: 2})
	before := len(s.RequestLog())
	_, err := c.Reauthorise(context.Background(), scenarioIDs[0])
	wantKind(t, err, mono.KindServer)
	if n := len(s.RequestLog()) - before; n != 1 {
		t.Fatalf("a mint hit by 500 was sent %d times, want 1", n)
	}
	s.ClearFaults()
	if _, err := c.Reauthorise(context.Background(), scenarioIDs[0]); err != nil {
		t.Fatal(err)
	}
}

func TestSlowFaultAnswersAfterTheDelay(t *testing.T) {
	s, c := start(t, sandbox.Options{Accounts: 10})
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultSlow, Delay: 80 * time.Millisecond, Times: 1})
	began := time.Now()
	if _, err := c.Account(context.Background(), scenarioIDs[0]); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 80*time.Millisecond {
		t.Errorf("answered in %v, before the delay", took)
	}
}

func TestCloseReturnsPromptlyWithAHangingRequest(t *testing.T) {
	s := sandbox.New(sandbox.Options{Accounts: 10, Now: newClock().Now})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultHang})
	c := newClient(t, s.URL(), sandbox.SecretKey, func(cfg *mono.Config) { cfg.Retry.MaxAttempts = 1 })
	done := make(chan error, 1)
	go func() {
		_, err := c.Account(context.Background(), scenarioIDs[0])
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.RequestLog()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request never arrived")
		}
		time.Sleep(time.Millisecond) // polling for arrival, not waiting for time to pass
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	select {
	case err := <-done:
		wantKind(t, err, mono.KindNetwork)
	case <-time.After(3 * time.Second):
		t.Fatal("the client never saw the connection close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(""); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestCloseReleasesHangsWhenMountedElsewhere(t *testing.T) {
	s := sandbox.New(sandbox.Options{Accounts: 10, Now: newClock().Now})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultHang})
	c := newClient(t, ts.URL, sandbox.SecretKey, func(cfg *mono.Config) { cfg.Retry.MaxAttempts = 1 })
	done := make(chan error, 1)
	go func() {
		_, err := c.Account(context.Background(), scenarioIDs[0])
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.RequestLog()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done: // released: the handler returned, so httptest could answer
	case <-time.After(3 * time.Second):
		t.Fatal("hanging request not released by Close")
	}
}

func TestFaultTimesAndOrder(t *testing.T) {
	s, c := start(t, sandbox.Options{Accounts: 10}, func(cfg *mono.Config) { cfg.Retry.MaxAttempts = 1 })
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503, Times: 2})
	s.SetFault(sandbox.Fault{Kind: sandbox.FaultGarbage, Times: 1})
	var kinds []string
	for range 4 {
		_, err := c.Account(context.Background(), scenarioIDs[0])
		kinds = append(kinds, mono.KindOf(err).String())
	}
	if got := fmt.Sprint(kinds); got != "[server error server error bad reply unknown]" {
		t.Errorf("kinds = %s", got)
	}
	if sandbox.FaultHang.String() != "hang" || sandbox.FaultKind(0).String() != "FaultKind(0)" {
		t.Error("FaultKind names")
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := sandbox.Generate(1, n); len(got) != n {
					b.Fatal(len(got))
				}
			}
		})
	}
}
