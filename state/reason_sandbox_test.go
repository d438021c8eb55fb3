package state

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// evidenceFrom reads a Mono webhook body the way an app's receiver would,
// keeping the newest per account (by timestamp; the legacy shape has none
// and counts as received now).
func evidenceFrom(t *testing.T, bodies [][]byte, received time.Time) map[string]*WebhookEvidence {
	t.Helper()
	out := map[string]*WebhookEvidence{}
	for _, raw := range bodies {
		var w struct {
			Event     string          `json:"event"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		ev := &WebhookEvidence{Event: w.Event, At: received}
		if w.Timestamp != "" {
			at, err := time.Parse(time.RFC3339Nano, w.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			ev.At = at
		}
		var id string
		if w.Event == "mono.accounts.jobs.update" {
			var d struct{ Account, Name, Status string }
			_ = json.Unmarshal(w.Data, &d)
			id, ev.JobName, ev.JobStatus = d.Account, d.Name, d.Status
		} else {
			var d struct {
				Account struct {
					ID string `json:"_id"`
				} `json:"account"`
				Meta struct {
					SyncStatus string `json:"sync_status"`
				} `json:"meta"`
			}
			_ = json.Unmarshal(w.Data, &d)
			id, ev.SyncStatus = d.Account.ID, d.Meta.SyncStatus
		}
		if prev := out[id]; prev == nil || !ev.At.Before(prev.At) {
			out[id] = ev
		}
	}
	return out
}

// The sandbox's accounts get their reasons as a live app's would: from the
// webhooks the sandbox sends, never from their reads.
func TestSandboxAccountsGetTheirReasonsFromWebhooks(t *testing.T) {
	var mu sync.Mutex
	clockNow := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clockNow
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		clockNow = clockNow.Add(d)
	}
	sb := sandbox.New(sandbox.Options{Seed: 1, Now: now, ConfirmDelay: 20 * time.Second})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	c, err := mono.NewClient(mono.Config{BaseURL: sb.URL(), SecretKey: sandbox.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var all []mono.Account
	for page, err := range c.Accounts(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Accounts...)
	}
	hooks := evidenceFrom(t, sb.Webhooks(), now())
	sig := func(id string, history ...PastAttempt) Signals {
		return Signals{Webhook: hooks[id], WebhooksChecked: true, History: history, HistoryChecked: true, Now: now()}
	}
	detail := func(id string) mono.Account {
		a, err := c.Account(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	kinds := map[ReasonKind]int{}
	for _, a := range all {
		r := ReasonFrom(detail(a.ID), sig(a.ID))
		kinds[r.Kind]++
		if ReasonFor(a).NeedsReauth() && hooks[a.ID] == nil && !a.DataStatus.Is(mono.StatusFailed) && !a.DataStatus.Is(mono.StatusUnavailable) {
			t.Fatalf("%s needs reauth from its read alone: %q", a.ID, ReasonFor(a).Evidence)
		}
	}
	if kinds[NoSignOfReauth] < len(all)/2 || kinds[PartnerBankLimitation] == 0 || kinds[ReasonUnknown] < len(all)/10 {
		t.Errorf("reasons over the sandbox: %v", kinds)
	}

	for i, sc := range sandbox.Scenarios() {
		r := ReasonFrom(detail(sc.ID), sig(sc.ID))
		switch sc.Scenario {
		case sandbox.ScenarioBalanceOnly:
			if r.Kind != PartnerBankLimitation || r.NeedsReauth() {
				t.Errorf("%s: %s %q", sc.Scenario, r.Kind, r.Evidence)
			}
		default:
			if r.Kind != ReasonUnknown || !r.NeedsReauth() || r.Summary != "Mono says this account needs reauth, but not why" {
				t.Errorf("scenario %d %s: %s %q %q", i, sc.Scenario, r.Kind, r.Summary, r.Evidence)
			}
		}
	}
	// The succeeds scenario: cached AVAILABLE, Mono's webhook says reauth.
	folake := ReasonFrom(detail(sandbox.Scenarios()[0].ID), sig(sandbox.Scenarios()[0].ID))
	want := "Mono webhook account_updated on 11 Mar at 09:00: sync_status REAUTHORISATION_REQUIRED"
	if folake.Evidence[0] != want || folake.Evidence[1] != "data_status AVAILABLE (Mono's cached data; it does not show the connection works)" {
		t.Errorf("succeeds scenario evidence %q", folake.Evidence)
	}
	// A previous wrong OTP on the wrong-OTP account says why.
	adaeze := sandbox.Scenarios()[1].ID
	r := ReasonFrom(detail(adaeze), sig(adaeze, PastAttempt{At: now().Add(-time.Hour), Outcome: "EXPIRED", Errors: []string{"INVALID_OTP"}}))
	if r.Kind != MFARequired {
		t.Errorf("wrong OTP history: %s %q", r.Kind, r.Evidence)
	}

	// A completed reauth: account_reauthorized, then account_updated
	// SUCCESSFUL; the account then shows no sign it needs reauth.
	tok, err := c.Reauthorise(ctx, adaeze)
	if err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	if _, err := sb.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	hooks = evidenceFrom(t, sb.Webhooks(), now())
	if r := ReasonFrom(detail(adaeze), sig(adaeze)); r.Kind != NoSignOfReauth ||
		r.Evidence[1] != "Mono webhook account_reauthorized at 09:01: the last reauth completed" {
		t.Errorf("after the reauth: %s %q", r.Kind, r.Evidence)
	}
	advance(20 * time.Second)
	hooks = evidenceFrom(t, sb.Webhooks(), now())
	r = ReasonFrom(detail(adaeze), sig(adaeze))
	if r.Kind != NoSignOfReauth || r.Evidence[0] != "data_status AVAILABLE" ||
		r.Evidence[1] != "Mono webhook account_updated at 09:01: sync_status SUCCESSFUL" {
		t.Errorf("after Mono's sync: %s %q", r.Kind, r.Evidence)
	}
}
