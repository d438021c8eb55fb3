package tui

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/state"
)

// heldSignals wraps Deps.SignalsFor so the test decides when the account's
// details land: each read waits for release, and the webhook the reads
// report can be switched to "needs reauth" mid-test.
type heldSignals struct {
	release chan struct{}
	needs   atomic.Bool
}

func (hs *heldSignals) tweak(d *Deps) {
	d.SignalsFor = func(ctx context.Context, id string) state.Signals {
		select {
		case <-hs.release:
		case <-ctx.Done():
		}
		sig := state.Signals{WebhooksChecked: true}
		if hs.needs.Load() {
			sig.Webhook = &state.WebhookEvidence{Event: "mono.events.account_updated", SyncStatus: "REAUTHORISATION_REQUIRED"}
		}
		return sig
	}
}

// openHealthy opens an account whose list copy shows no need (data
// AVAILABLE, no mark).
func openHealthy(t *testing.T, h *harness) {
	t.Helper()
	h.until("loaded", loaded)
	for _, a := range h.m.search.accounts {
		if !h.m.needsReauth(a) && a.DataStatus.Is("AVAILABLE") {
			h.typeText(a.ID)
			h.until("opened", func(m Model) bool { return m.session != nil })
			return
		}
	}
	t.Fatal("fixture: no healthy account")
}

// Before the details are in, the screen draws no conclusion from the
// list's copy alone, and t waits for them: when they show a need, the mint
// goes ahead without asking "start anyway?" about a reason already gone.
// (Seen in CI: t pressed a moment after opening asked "No sign this account
// needs reauth (Unknown)" over a webhook that said it did.)
func TestMintPressedBeforeTheDetailsWaitsForThem(t *testing.T) {
	hs := &heldSignals{release: make(chan struct{})}
	hs.needs.Store(true)
	h := newHarness(t, harnessOpts{width: 100, height: 40, tweak: hs.tweak})
	openHealthy(t, h)
	v := plain(h.m)
	if !strings.Contains(v, "reading the account's details") || strings.Contains(v, "No sign it needs reauth") {
		t.Fatalf("before the details, the reason should not be concluded:\n%s", v)
	}
	h.key("t")
	if h.m.session.dialog != noDialog || h.m.session.sess.Phase() != state.Explaining {
		t.Fatalf("t before the details: dialog %v, phase %s", h.m.session.dialog, h.m.session.sess.Phase())
	}
	if v := plain(h.m); !strings.Contains(v, "Reading the account's details first") {
		t.Fatalf("the wait is not said:\n%s", v)
	}
	close(hs.release)
	h.until("minted once the details showed the need", func(m Model) bool {
		if m.session.dialog == confirmHealthyMint {
			t.Fatalf("asked 'start anyway?' for an account that needs reauth:\n%s", plain(m))
		}
		return m.session.sess.Phase() == state.TokenReady
	})
	if k := h.m.session.sess.Reason().Kind; !k.NeedsReauth() {
		t.Fatalf("reason %s", k)
	}
}

// t before the details, and the details show no need: the question is
// asked then, as it is when t comes after them.
func TestMintPressedBeforeTheDetailsAsksWhenThereIsNoNeed(t *testing.T) {
	hs := &heldSignals{release: make(chan struct{})}
	h := newHarness(t, harnessOpts{width: 100, height: 40, tweak: hs.tweak})
	openHealthy(t, h)
	h.key("t")
	close(hs.release)
	h.until("asked", func(m Model) bool { return m.session.dialog == confirmHealthyMint })
	if v := plain(h.m); !strings.Contains(v, "No sign this account needs reauth") {
		t.Fatalf("screen:\n%s", v)
	}
	if ph := h.m.session.sess.Phase(); ph != state.Explaining {
		t.Fatalf("minted without the answer: %s", ph)
	}
}

// "Start anyway?" is withdrawn when a webhook's news (re-read details)
// shows the need it asked about: the question no longer matches the
// screen, and the agent is told to press t.
func TestStartAnywayIsWithdrawnWhenTheNeedArrives(t *testing.T) {
	hs := &heldSignals{release: make(chan struct{})}
	close(hs.release)
	h := newHarness(t, harnessOpts{width: 100, height: 40, tweak: hs.tweak})
	openHealthy(t, h)
	h.until("details", func(m Model) bool { return m.session.detailsIn() })
	h.key("t")
	if h.m.session.dialog != confirmHealthyMint {
		t.Fatalf("t did not ask:\n%s", plain(h.m))
	}
	hs.needs.Store(true)
	h.webhooks <- AccountSignal{AccountID: h.m.session.account.ID, Event: "mono.events.account_updated",
		SyncStatus: "REAUTHORISATION_REQUIRED", NeedsReauth: true, At: h.clock.Now()}
	h.until("withdrawn", func(m Model) bool { return m.session.dialog == noDialog })
	v := plain(h.m)
	if !strings.Contains(v, "this account needs reauth") || !strings.Contains(v, "Press t to mint") {
		t.Fatalf("the agent is not told why the question went:\n%s", v)
	}
	if ph := h.m.session.sess.Phase(); ph != state.Explaining {
		t.Fatalf("withdrawing the question minted: %s", ph)
	}
}

// t pressed before the details, then the server starts draining (new
// attempts off): when the details land, nothing is minted.
func TestMintWaitingForDetailsIsSpentByADrain(t *testing.T) {
	hs := &heldSignals{release: make(chan struct{})}
	hs.needs.Store(true)
	h := newHarness(t, harnessOpts{width: 100, height: 40, tweak: hs.tweak})
	openHealthy(t, h)
	h.key("t")
	h.send(DrainNotice{Until: h.clock.Now().Add(5 * time.Minute)})
	close(hs.release)
	h.until("details", func(m Model) bool { return m.session.detailsIn() })
	if ph := h.m.session.sess.Phase(); ph != state.Explaining {
		t.Fatalf("minted during a drain: %s", ph)
	}
	if slices.Contains(h.sb.RequestLog(), "POST /accounts/"+h.m.session.account.ID+"/reauthorise") {
		t.Fatal("a mint reached Mono during a drain")
	}
}

// The empty status pane's one line follows the reason: no invitation to
// mint before the details are read, nor when they say a reauth would not
// help; the plain "press t" once they show the need.
func TestEmptyPaneHintFollowsTheReason(t *testing.T) {
	hs := &heldSignals{release: make(chan struct{})}
	h := newHarness(t, harnessOpts{width: 100, height: 40, tweak: hs.tweak})
	openHealthy(t, h)
	if v := plain(h.m); !strings.Contains(v, "Reading the account's details; the reason follows.") || strings.Contains(v, "press t to mint") {
		t.Fatalf("before the details, the pane invites a mint:\n%s", v)
	}
	close(hs.release)
	h.until("details in", func(m Model) bool { return m.session.detailsIn() })
	if v := plain(h.m); !strings.Contains(v, "nothing Mono sent says a reauth would help (t asks first)") || strings.Contains(v, "press t to mint") {
		t.Fatalf("a healthy account's pane invites a mint:\n%s", v)
	}

	h2 := newHarness(t, harnessOpts{width: 100, height: 40})
	openWrongOTP(t, h2)
	if v := plain(h2.m); !strings.Contains(v, "Read the reason to the customer, then press t to mint a reauth token.") {
		t.Fatalf("an account that needs reauth lacks the mint hint:\n%s", v)
	}
}

// A webhook says the account needs reauth without saying why: the Why line
// says that in the data's own words (the reason's Summary), not a bare
// "Unknown" that reads as if the need were in doubt, nor a need stronger
// than the signal (an Unknown reason may rest on a failed sync alone).
func TestUnknownCauseStillSaysTheNeed(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 120, height: 40})
	openWrongOTP(t, h)
	if k := h.m.session.sess.Reason().Kind; k != state.ReasonUnknown {
		t.Fatalf("fixture: reason %s, want Unknown", k)
	}
	v := plain(h.m)
	if !strings.Contains(v, "Why  Mono says this account needs reauth, but not why") || strings.Contains(v, "Why  Unknown") {
		t.Fatalf("the Why line:\n%s", v)
	}
	if l := state.ReasonUnknown.Label(); strings.Contains(strings.ToLower(l), "needs reauth") {
		t.Fatalf("the kind's label claims a need on its own: %q", l)
	}
	if got := state.ReasonUnknown.String(); got != "Unknown" {
		t.Fatalf("the audit's name for the kind changed: %q", got)
	}
}
