package tui

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state"
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

// Mono's account_updated carries its data_status: once the sync after a
// reauth is confirmed, the account's badge (here and on the list) says what
// the webhook said, not the PROCESSING of the re-read before it beside
// "fresh data confirmed".
func TestSyncWebhookUpdatesTheBadge(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.NeedsReauth = nil }})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	tok := h.m.session.sess.Token()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	h.until("succeeded", func(m Model) bool { return m.session.sess.Phase() >= state.Succeeded })
	if _, err := h.sb.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	h.until("the re-read's PROCESSING", func(m Model) bool {
		return m.session.sess.Verification().Status.Is(mono.StatusProcessing)
	})
	if v := plain(h.m); !strings.Contains(v, "PROCESSING") {
		t.Fatalf("fixture: the badge does not say PROCESSING:\n%s", v)
	}
	id := h.m.session.account.ID
	h.webhooks <- AccountSignal{AccountID: id, Event: "mono.events.account_updated",
		SyncStatus: mono.SyncStatusSuccessful, DataStatus: mono.StatusAvailable, At: h.clock.Now()}
	h.until("verified", func(m Model) bool { return m.session.sess.Phase() == state.Verified })
	h.until("the badge", func(m Model) bool { return !strings.Contains(plain(m), "PROCESSING") })
	if v := plain(h.m); !strings.Contains(v, "AVAILABLE") {
		t.Fatalf("the badge after the sync webhook:\n%s", v)
	}
	h.until("the list's copy", func(m Model) bool {
		a, ok := m.search.lookup(id)
		return ok && a.DataStatus.Is(mono.StatusAvailable)
	})
}

// The outcome's headline is what the agent acts on: at 80 columns a long
// one wraps beside its badge instead of losing its end at the screen's edge.
func TestOutcomeHeadlineWrapsAtEightyColumns(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 80, height: 24})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	h.until("succeeded", func(m Model) bool { return m.session.sess.Phase() >= state.Succeeded })
	h.monoSynced()
	h.until("verified", func(m Model) bool { return m.session.sess.Phase() == state.Verified })
	headline := h.m.session.sess.Verification().Headline
	if len(headline) < 80-12 {
		t.Fatalf("fixture: the headline %q fits one line", headline)
	}
	var banner []string
	lines := strings.Split(plain(h.m), "\n")
	for i, l := range lines {
		if strings.Contains(l, "SUCCEEDED ") && !strings.Contains(l, "✓") {
			banner = append(banner, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "SUCCEEDED")))
			if i+1 < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "Next") {
				banner = append(banner, strings.TrimSpace(lines[i+1]))
			}
		}
	}
	if got := strings.Join(banner, " "); got != headline {
		t.Fatalf("the banner reads %q, want %q:\n%s", got, headline, plain(h.m))
	}
}
