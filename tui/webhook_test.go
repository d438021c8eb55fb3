package tui

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
)

// A real Mono webhook, through the real handler and store, marks an account
// NEEDS REAUTH in the search list; account_reauthorized takes it off the
// "needs reauth only" list again.
func TestWebhookMarksAccountNeedsReauth(t *testing.T) {
	store, err := webhook.OpenStore(filepath.Join(t.TempDir(), "webhooks.json"))
	if err != nil {
		t.Fatal(err)
	}
	signals := make(chan AccountSignal, 4)
	srv := httptest.NewServer(webhook.NewHandler(webhook.Config{Secret: "hook-secret", Store: store,
		OnEvent: func(ev webhook.Event) {
			signals <- AccountSignal{AccountID: ev.AccountID, Event: ev.Name, NeedsReauth: ev.NeedsReauth(),
				Reauthorized: ev.Kind == webhook.Reauthorized}
		}}))
	defer srv.Close()
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) {
		d.NeedsReauth = store.NeedsReauth
		d.Signals = func(context.Context) <-chan AccountSignal { return signals }
	}})
	h.until("loaded", loaded)
	var healthy mono.Account
	for _, a := range h.m.search.accounts {
		if !a.NeedsReauth() && a.DataStatus.Is(mono.StatusAvailable) {
			healthy = a
			break
		}
	}
	if healthy.ID == "" {
		t.Fatal("fixture has no healthy account")
	}
	h.key("tab") // needs reauth only
	for _, i := range h.m.search.visible {
		if h.m.search.accounts[i].ID == healthy.ID {
			t.Fatal("healthy account listed as needing reauth before the webhook")
		}
	}
	err = webhook.Send(context.Background(), srv.URL, "hook-secret",
		webhook.Payload(webhook.ReauthRequired, healthy.ID, "evt-1"))
	if err != nil {
		t.Fatal(err)
	}
	h.until("marked", func(m Model) bool {
		for _, i := range m.search.visible {
			if m.search.accounts[i].ID == healthy.ID {
				return true
			}
		}
		return false
	})
	h.typeText(strings.Fields(healthy.Name)[0])
	h.until("filtered", func(m Model) bool { return m.search.result.Query != "" })
	if v := plain(h.m); !strings.Contains(v, healthy.Name) || !strings.Contains(v, "NEEDS REAUTH") {
		t.Fatalf("mark not shown:\n%s", v)
	}
	err = webhook.Send(context.Background(), srv.URL, "hook-secret",
		webhook.Payload(webhook.Reauthorized, healthy.ID, "evt-2"))
	if err != nil {
		t.Fatal(err)
	}
	h.until("off the needs-reauth list", func(m Model) bool {
		for _, i := range m.search.visible {
			if m.search.accounts[i].ID == healthy.ID {
				return false
			}
		}
		return true
	})
}
