package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// leaveDuringTheCheck has the customer succeed on the open account and the
// agent press esc while the account is being checked; it returns the
// account's name.
func leaveDuringTheCheck(t *testing.T, h *harness) string {
	t.Helper()
	succeedIntoTheCheck(t, h)
	name := h.m.session.title()
	h.key("esc")
	h.until("the account list", func(m Model) bool { return m.session == nil })
	return name
}

// succeedIntoTheCheck has the customer succeed on the wrong-OTP account's
// page, and waits for the check after the success to begin.
func succeedIntoTheCheck(t *testing.T, h *harness) {
	t.Helper()
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
}

// wantVerified fails unless the newest verification record is VERIFIED.
func wantVerified(t *testing.T, h *harness) {
	t.Helper()
	if rec, ok := lastVerification(h); !ok || rec.Outcome != state.Verified.String() {
		t.Fatalf("verification records %+v, want VERIFIED", verificationRecords(h))
	}
}

// The agent moves on once the customer is done: the check after the
// success goes on without its screen, its answer is recorded (VERIFIED
// here, not "unconfirmed" because the agent left) and said on the list.
func TestLeftCheckGoesOnToItsAnswer(t *testing.T) {
	h, sm := syncedHarness(t, time.Minute, nil)
	name := leaveDuringTheCheck(t, h)
	if rec, ok := lastVerification(h); ok {
		t.Fatalf("leaving recorded the check already: %+v", rec)
	}
	if len(h.m.checking) != 1 || !h.m.liveAttempt() {
		t.Fatalf("the check is not kept (%d kept; a drain must wait for it)", len(h.m.checking))
	}
	words := func() string { return strings.Join(strings.Fields(plain(h.m)), " ") }
	if v := words(); !strings.Contains(v, "Checking that Mono has fresh data for "+name+" after the reauth") {
		t.Fatalf("the list does not say the check goes on:\n%s", plain(h.m))
	}
	sm.confirm()
	h.until("the check's answer", func(m Model) bool { return len(m.checking) == 0 })
	pollUntil(t, "the answer recorded", func() bool { _, ok := lastVerification(h); return ok })
	rec, _ := lastVerification(h)
	if rec.Outcome != state.Verified.String() {
		t.Fatalf("verification records %+v, want VERIFIED", verificationRecords(h))
	}
	v := words()
	if strings.Contains(v, "Checking that Mono") || !strings.Contains(v, name+" (verified): Mono's re-read shows data synced after the reauth") {
		t.Fatalf("the list does not say the answer:\n%s", plain(h.m))
	}
	if h.m.liveAttempt() {
		t.Fatal("a drain would still wait after the check answered")
	}
}

// Opening the account again brings the attempt back on screen, still being
// checked; the check's answer then shows there.
func TestLeftCheckComesBackWhenTheAccountIsOpened(t *testing.T) {
	h, sm := syncedHarness(t, time.Minute, nil)
	leaveDuringTheCheck(t, h)
	kept := h.m.checking[0]
	h.send(openAccountMsg{account: kept.account})
	if h.m.session != kept || len(h.m.checking) != 0 || h.m.session.sess.Phase() != state.Verifying {
		t.Fatalf("reopened: same screen %v, %d kept, phase %s", h.m.session == kept, len(h.m.checking), h.m.session.sess.Phase())
	}
	sm.confirm()
	h.until("verified on screen", func(m Model) bool { return m.session.sess.Phase() == state.Verified })
	if strings.Contains(plain(h.m), "Checking that Mono") {
		t.Fatalf("the account screen shows the list's line:\n%s", plain(h.m))
	}
}

// The program's end (a quit from the list, a dropped connection) stops a
// check still going, recorded unconfirmed with words of its own.
func TestLeftCheckStopsWithTheProgram(t *testing.T) {
	h, _ := syncedHarness(t, time.Minute, nil)
	leaveDuringTheCheck(t, h)
	h.key("ctrl+c")
	h.until("the program quits", func(Model) bool { return h.quit })
	if h.m.EndLive("reauth was stopped before the attempt ended; the customer's page stopped with it.") {
		t.Error("EndLive says it ended a live attempt; the attempt had its outcome")
	}
	rec, ok := lastVerification(h)
	if !ok || rec.Outcome != state.StillSyncing.String() ||
		!strings.Contains(rec.Detail, "reauth ended while the check ran after the agent had left the account.") {
		t.Fatalf("verification records %+v", verificationRecords(h))
	}
}

// A check that answers while the audit's store is down keeps its answer
// for the retries, as a screen left does: it is written once the store is
// back, not lost with the check.
func TestLeftCheckAnswerSurvivesAnOutage(t *testing.T) {
	var au *outageAudit
	h, sm := syncedHarness(t, time.Minute, func(d *Deps) {
		au = &outageAudit{memAudit: d.Audit.(*memAudit)}
		d.Audit = au
	})
	leaveDuringTheCheck(t, h)
	kept := h.m.checking[0]
	h.until("the success written", func(Model) bool { return !kept.journal.unwritten() })
	kept.journal.mu.Lock()
	kept.journal.retryGap = time.Millisecond
	kept.journal.mu.Unlock()
	au.setDown(true)
	sm.confirm()
	h.until("the check's answer", func(m Model) bool { return len(m.checking) == 0 })
	if len(h.m.unwritten) != 1 || h.m.unwritten[0] != kept.journal {
		t.Fatalf("%d journals kept for retries, want the check's", len(h.m.unwritten))
	}
	au.setDown(false)
	h.until("the answer written after the outage", func(m Model) bool {
		rec, ok := lastVerification(h)
		return ok && rec.Outcome == state.Verified.String() && len(m.unwritten) == 0
	})
}

// A program's end does not cut a check left running short when its front
// end can wait: SplitChecks hands it over and FinishChecks carries it to
// Mono's answer, recorded; what ctx cuts short is recorded unconfirmed
// with why.
func TestFinishChecksCarriesALeftCheckToItsAnswer(t *testing.T) {
	h, sm := syncedHarness(t, time.Minute, nil)
	name := leaveDuringTheCheck(t, h)
	rest, checks := h.m.SplitChecks()
	if len(rest.Checking()) != 0 || len(checks.Checking()) != 1 || checks.Checking()[0] != name {
		t.Fatalf("split: rest %v, checks %v", rest.Checking(), checks.Checking())
	}
	if left := checks.CheckingLeft(); left != time.Minute {
		t.Fatalf("CheckingLeft %s, want VerifyFor (the clock has not moved)", left)
	}
	h.clock.Advance(20 * time.Second)
	if left := checks.CheckingLeft(); left != 40*time.Second {
		t.Fatalf("CheckingLeft %s, want 40s", left)
	}
	if rest.EndLive("The agent quit reauth.") {
		t.Error("EndLive ended a live attempt; there was none")
	}
	if _, ok := lastVerification(h); ok {
		t.Fatal("the rest's end recorded the check")
	}
	sm.confirm()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := checks.FinishChecks(ctx, "stopped")
	if len(got) != 1 || got[0].Name != name || got[0].Phase != state.Verified || got[0].Headline == "" {
		t.Fatalf("results %+v", got)
	}
	wantVerified(t, h)
}

func TestFinishChecksStopsWhenItsContextEnds(t *testing.T) {
	h, _ := syncedHarness(t, time.Minute, nil)
	leaveDuringTheCheck(t, h)
	_, checks := h.m.SplitChecks()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := checks.FinishChecks(ctx, "The server shut down.")
	if len(got) != 1 || got[0].Phase != state.StillSyncing {
		t.Fatalf("results %+v", got)
	}
	if rec, ok := lastVerification(h); !ok || rec.Outcome != state.StillSyncing.String() || !strings.Contains(rec.Detail, "The server shut down.") {
		t.Fatalf("verification records %+v", verificationRecords(h))
	}
}

// Mono's reads never say when the account synced: its account_updated
// webhook with sync SUCCESSFUL does. FinishChecks follows the webhooks, so
// a check carried on after its program confirms fresh data from it.
func TestFinishChecksFollowsMonosWebhook(t *testing.T) {
	subs := make(chan chan AccountSignal, 8)
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.VerifyFor = time.Minute; subscriptions(subs)(d) }})
	leaveDuringTheCheck(t, h)
	id := h.m.checking[0].account.ID
	<-subs // the program's own
	_, checks := h.m.SplitChecks()
	res := make(chan []CheckResult, 1)
	go func() { res <- checks.FinishChecks(context.Background(), "stopped") }()
	news := nextSubscription(t, subs)
	news <- AccountSignal{AccountID: "another", Event: "mono.events.account_updated", SyncStatus: mono.SyncStatusSuccessful}
	news <- AccountSignal{AccountID: id, Event: "mono.events.account_updated", SyncStatus: mono.SyncStatusSuccessful}
	select {
	case got := <-res:
		if len(got) != 1 || got[0].Phase != state.Verified {
			t.Fatalf("results %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook did not answer the check")
	}
	wantVerified(t, h)
}

// In the program too, the check left running hears Mono's webhooks: the
// account_updated that confirms fresh data answers it (reads never can).
func TestLeftCheckHearsMonosWebhook(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.VerifyFor = time.Minute }})
	name := leaveDuringTheCheck(t, h)
	id := h.m.checking[0].account.ID
	h.webhooks <- AccountSignal{AccountID: id, Event: "mono.events.account_updated", SyncStatus: mono.SyncStatusSuccessful}
	h.until("the webhook's answer", func(m Model) bool { return len(m.checking) == 0 })
	pollUntil(t, "the answer recorded", func() bool { _, ok := lastVerification(h); return ok })
	wantVerified(t, h)
	if v := plain(h.m); !strings.Contains(v, name+" (verified):") {
		t.Fatalf("the list does not say the answer:\n%s", v)
	}
}

// At most maxChecking checks are kept: leaving a fifth stops the oldest,
// recorded unconfirmed and saying why; the others go on.
func TestLeftChecksAreBounded(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.VerifyFor = time.Minute }})
	h.until("loaded", loaded)
	var ids []string
	for _, a := range h.m.search.accounts {
		if len(ids) == maxChecking+1 {
			break
		}
		if !h.m.needsReauth(a) {
			continue
		}
		h.send(openAccountMsg{account: a})
		h.until("details", func(m Model) bool { return m.session.detailsIn() })
		if !h.m.session.sess.Reason().NeedsReauth() || !h.m.session.sess.Can(state.MintRequested) {
			h.key("esc")
			continue
		}
		h.key("t")
		h.until("minted or refused", func(m Model) bool {
			ph := m.session.sess.Phase()
			return ph == state.TokenReady || ph.HasOutcome()
		})
		if h.m.session.sess.Phase() != state.TokenReady {
			h.key("esc") // the sandbox's scenario: Mono refuses this one
			continue
		}
		h.key("o")
		h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
		h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
		h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
		ids = append(ids, a.ID)
		h.key("esc")
		h.until("the list", func(m Model) bool { return m.session == nil })
	}
	if len(ids) != maxChecking+1 {
		t.Fatalf("fixture: %d accounts to re-authorise", len(ids))
	}
	if len(h.m.checking) != maxChecking || h.m.checking[0].account.ID != ids[1] {
		t.Fatalf("%d checks kept, the oldest on %s; want %d from %s", len(h.m.checking), h.m.checking[0].account.ID, maxChecking, ids[1])
	}
	if v := strings.Join(strings.Fields(plain(h.m)), " "); !strings.Contains(v, "(not confirmed): Re-authorised; the check stopped") {
		t.Fatalf("the list does not say the oldest check stopped:\n%s", plain(h.m))
	}
	pollUntil(t, "the oldest check stopped", func() bool {
		for _, r := range h.audit.records() {
			if r.Action == audit.ActionVerification && r.Account == ids[0] {
				return r.Outcome == state.StillSyncing.String() && strings.Contains(r.Detail, "more accounts being checked than reauth keeps")
			}
		}
		return false
	})
}

// Mono's confirmation whose news never reached the check (a lost
// notification, a program that had not subscribed yet) is still found: each
// re-read asks the webhook store too (the table is the truth, the news a
// wake-up). Here no news is delivered at all.
func TestCheckFindsMonosConfirmationInTheStore(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.VerifyFor = time.Minute; d.Signals = nil }})
	leaveDuringTheCheck(t, h)
	id := h.m.checking[0].account.ID
	_, checks := h.m.SplitChecks()
	body := `{"event":"mono.events.account_updated","event_id":"evt_store_confirm","timestamp":"` +
		h.clock.Now().UTC().Format(time.RFC3339Nano) + `","data":{"account":{"_id":"` + id +
		`"},"meta":{"data_status":"AVAILABLE","sync_status":"SUCCESSFUL","has_new_data":true}}}`
	ev, err := webhook.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.marks.Record(ev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := checks.FinishChecks(ctx, "stopped")
	if len(got) != 1 || got[0].Phase != state.Verified {
		t.Fatalf("results %+v", got)
	}
	wantVerified(t, h)
}

// Quitting from the account screen while it is checked keeps the check
// for the front end (as leaving it does), rather than recording it stopped.
func TestQuitDuringTheCheckKeepsIt(t *testing.T) {
	h, _ := syncedHarness(t, time.Minute, nil)
	succeedIntoTheCheck(t, h)
	h.key("q")
	h.until("the program quits", func(Model) bool { return h.quit })
	if _, checks := h.m.SplitChecks(); len(checks.Checking()) != 1 {
		t.Fatalf("the check was not kept for the front end: %v", checks.Checking())
	}
	if rec, ok := lastVerification(h); ok {
		t.Fatalf("quitting recorded the check: %+v", rec)
	}
}
