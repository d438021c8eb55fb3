package tui

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state"
)

// clipboardOf runs cmd and returns the text it asks the terminal to put on
// its clipboard (tea.SetClipboard's message is a string type).
func clipboardOf(t *testing.T, cmd tea.Cmd) string {
	t.Helper()
	if cmd == nil {
		t.Fatal("no Cmd")
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok && len(b) == 1 {
		msg = b[0]()
	}
	v := reflect.ValueOf(msg)
	if !v.IsValid() || v.Kind() != reflect.String || !strings.Contains(v.Type().String(), "lipboard") {
		t.Fatalf("not a clipboard message: %T %v", msg, msg)
	}
	return v.String()
}

// Mono support's ids (data_request_id, session_id) show whole at 80×24,
// and s sends them to the terminal's clipboard (OSC 52) with the honest
// notice the link copy uses; s shows in the footer only when there are ids.
func TestSupportIDsShownWholeAndCopied(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 80, height: 24})
	openWrongOTP(t, h)
	h.until("support ids", func(m Model) bool {
		return m.session.account.DataRequestID != "" && m.session.account.SessionID != ""
	})
	a := h.m.session.account
	v := plain(h.m)
	for _, want := range []string{"data_request_id " + a.DataRequestID, "session_id " + a.SessionID, "id " + a.ID} {
		if !strings.Contains(v, want) {
			t.Errorf("%q is not shown whole at 80×24:\n%s", want, v)
		}
	}
	if !strings.Contains(footerLine(h.m), "s copy support ids") || !h.m.keys.CopyIDs.Enabled() {
		t.Fatalf("the footer does not offer s: %q", footerLine(h.m))
	}
	next, cmd := h.m.Update(keyMsg("s"))
	h.m = next.(Model)
	got := clipboardOf(t, cmd)
	want := "account_id " + a.ID + "; data_request_id " + a.DataRequestID + "; session_id " + a.SessionID
	if got != want {
		t.Fatalf("copied %q, want %q", got, want)
	}
	if v := plain(h.m); !strings.Contains(v, "Support ids sent to your terminal's clipboard") || strings.Contains(v, "copied") {
		t.Fatalf("copy notice:\n%s", v)
	}
	for _, l := range strings.Split(plain(h.m), "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Fatalf("a line is %d cells wide at 80: %q", w, l)
		}
	}

	// An account read with no ids offers no s.
	h2 := newHarness(t, harnessOpts{width: 80, height: 24, tweak: func(d *Deps) { d.Mono = noIDs{d.Mono} }})
	openWrongOTP(t, h2)
	if h2.m.keys.CopyIDs.Enabled() || strings.Contains(plain(h2.m), "copy support ids") || strings.Contains(plain(h2.m), "Support ") {
		t.Fatalf("s offered without ids:\n%s", plain(h2.m))
	}
}

// noIDs is Mono whose account reads carry no support ids.
type noIDs struct{ MonoAPI }

func (n noIDs) Account(ctx context.Context, id string) (mono.Account, error) {
	a, err := n.MonoAPI.Account(ctx, id)
	a.DataRequestID, a.SessionID = "", ""
	return a, err
}

// A webhook about the open account, while its reason is on screen, derives
// the reason again from the fresh signals (Deps.SignalsFor): the reason and
// its evidence shown are what Mono has just said.
func TestWebhookWhileOpenDerivesTheReasonAgain(t *testing.T) {
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
	h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) {
		d.NeedsReauth = store.NeedsReauth
		d.SignalsFor = MarkSignals(store, nil)
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
	h.typeText(healthy.ID)
	h.until("opened", func(m Model) bool { return m.session != nil })
	h.until("details", func(m Model) bool { return m.session.detailSeen > 0 })
	if r := h.m.session.sess.Reason(); r.NeedsReauth() {
		t.Fatalf("fixture: %s already needs reauth (%v)", healthy.ID, r.Evidence)
	}
	err = webhook.Send(context.Background(), srv.URL, "hook-secret",
		webhook.Payload(webhook.ReauthRequired, healthy.ID, "evt-1"))
	if err != nil {
		t.Fatal(err)
	}
	h.until("reason derived again", func(m Model) bool {
		r := m.session.sess.Reason()
		return r.NeedsReauth() && strings.Contains(strings.Join(r.Evidence, " "), "reauthorisation_required")
	})
	v := plain(h.m)
	if !strings.Contains(v, "reauthorisation_required") || strings.Contains(v, "No sign this account needs reauth") {
		t.Fatalf("the screen does not show the fresh reason:\n%s", v)
	}
	// t now mints without asking (the account needs reauth).
	h.key("t")
	if h.m.session.dialog != noDialog {
		t.Fatalf("t still asks as for a healthy account:\n%s", plain(h.m))
	}
	h.until("minted", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
}

// Mono refusing a hosted link ("cannot be re-authorised") is the same
// outcome banner, with the same next step, as Mono refusing to mint a
// token; t and h are no longer offered.
func TestHostedLinkRefusalIsTheRefusedOutcome(t *testing.T) {
	// The refused mint, for its words.
	m := newHarness(t, harnessOpts{width: 120, height: 40})
	m.until("loaded", loaded)
	m.typeText("babajide")
	m.until("filtered", func(m Model) bool { return m.search.result.Query == "babajide" })
	m.key("enter", "t")
	m.until("mint refused", func(m Model) bool { return m.session.sess.Phase() == state.Failed })
	minted := m.m.session.sess.Outcome()

	for _, refusal := range []error{
		&mono.Error{Kind: mono.KindCannotReauth, Op: "create hosted reauth link", Status: 400, Message: "This account can not be re-authorised."},
		// As the client classifies a hosted link's 4xx today.
		&mono.Error{Kind: mono.KindBadRequest, Op: "create hosted reauth link", Status: 400, Message: "This account can not be re-authorised."},
	} {
		h := newHarness(t, harnessOpts{width: 120, height: 40, tweak: func(d *Deps) { d.Mono = refusingHosted{d.Mono, refusal} }})
		h.until("loaded", loaded)
		h.typeText("babajide")
		h.until("filtered", func(m Model) bool { return m.search.result.Query == "babajide" })
		h.key("enter")
		h.until("details", func(m Model) bool { return m.session.detailSeen > 0 })
		h.key("h")
		h.until("refused", func(m Model) bool { return m.session.refusal != nil })
		got := *h.m.session.refusal
		// The next step names the account: the same account here.
		if got != minted {
			t.Fatalf("hosted refusal %+v, refused mint %+v", got, minted)
		}
		v := plain(h.m)
		if !strings.Contains(v, "FAILED") || !strings.Contains(v, minted.Headline) || !strings.Contains(v, "link the account again") ||
			!strings.Contains(v, h.m.session.account.ID+".") {
			t.Fatalf("no outcome banner with the next step:\n%s", v)
		}
		if h.m.keys.Mint.Enabled() || h.m.keys.Hosted.Enabled() || strings.Contains(footerLine(h.m), "t mint") {
			t.Fatalf("t or h still offered:\n%s", v)
		}
		if strings.Contains(v, "Hosted link failed") {
			t.Fatalf("only a notice:\n%s", v)
		}
	}
}

// refusingHosted is Mono refusing every hosted link with err.
type refusingHosted struct {
	MonoAPI
	err error
}

func (r refusingHosted) InitiateReauth(context.Context, string, string, string) (string, error) {
	return "", r.err
}
