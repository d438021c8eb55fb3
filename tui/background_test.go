package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
)

// leaveDuringTheCheck has the customer succeed on the open account and the
// agent press esc while the account is being checked; it returns the
// account's name.
func leaveDuringTheCheck(t *testing.T, h *harness) string {
	t.Helper()
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
	name := h.m.session.title()
	h.key("esc")
	h.until("the account list", func(m Model) bool { return m.session == nil })
	return name
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
