package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// syncedMono answers account reads with Mono's sync_status SUCCESSFUL once
// synced is set: the read that verifies a reauth.
type syncedMono struct {
	MonoAPI
	mu     sync.Mutex
	synced bool
	reads  int
}

func (s *syncedMono) Account(ctx context.Context, id string) (mono.Account, error) {
	a, err := s.MonoAPI.Account(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if err == nil && s.synced {
		a.SyncStatus = mono.SyncStatusSuccessful
	}
	return a, err
}

// confirm makes the next reads show Mono's confirmation.
func (s *syncedMono) confirm() {
	s.mu.Lock()
	s.synced = true
	s.mu.Unlock()
}

func (s *syncedMono) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// awaitReread waits for the account to be read once more than now.
func (s *syncedMono) awaitReread(t *testing.T, what string) {
	t.Helper()
	before := s.readCount()
	pollUntil(t, what, func() bool { return s.readCount() > before })
}

// syncedHarness is a harness whose account reads go through a syncedMono,
// with VerifyFor set (0: the harness's).
func syncedHarness(t *testing.T, verifyFor time.Duration, tweak func(*Deps)) (*harness, *syncedMono) {
	t.Helper()
	var sm *syncedMono
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) {
		sm = &syncedMono{MonoAPI: d.Mono}
		d.Mono = sm
		if verifyFor > 0 {
			d.VerifyFor = verifyFor
		}
		if tweak != nil {
			tweak(d)
		}
	}})
	return h, sm
}

// parkAndSucceed opens a page, parks the model (its program gone: no more
// Updates) with RecordParked running, and has the customer succeed.
func parkAndSucceed(t *testing.T, h *harness) (stop func()) {
	stop, _ = parkAndSucceedWatch(t, h)
	return stop
}

// parkAndSucceedWatch is parkAndSucceed with a channel closed when
// RecordParked returns.
func parkAndSucceedWatch(t *testing.T, h *harness) (stop func(), finished <-chan struct{}) {
	t.Helper()
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	stop, finished = startRecorder(t, h)
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	return stop, finished
}

// startRecorder parks the harness's model: RecordParked runs on a
// goroutine (the program gone: no more Updates) until stop; finished is
// closed when it returns.
func startRecorder(t *testing.T, h *harness) (stop func(), finished <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m := h.m
	go func() {
		defer close(done)
		m.RecordParked(ctx, h.clock.Now())
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RecordParked did not stop")
		}
	}, done
}

// lastVerification is the newest verification record (ok false: none).
func lastVerification(h *harness) (audit.Record, bool) {
	recs := verificationRecords(h)
	if len(recs) == 0 {
		return audit.Record{}, false
	}
	return recs[len(recs)-1], true
}

func verificationRecords(h *harness) []audit.Record {
	var out []audit.Record
	for _, r := range h.audit.records() {
		if r.Action == audit.ActionVerification {
			out = append(out, r)
		}
	}
	return out
}

// A customer who succeeds while their agent is away gets the account
// checked as a program would: Mono's re-read confirms it, VERIFIED is
// recorded and the account's mark cleared, with no agent there.
func TestParkedSuccessIsVerified(t *testing.T) {
	cleared := make(chan string, 1)
	h, sm := syncedHarness(t, 0, func(d *Deps) {
		d.ClearMark = func(id string, _ time.Time) { cleared <- id }
	})
	stop := parkAndSucceed(t, h)
	defer stop()
	sm.confirm()
	select {
	case id := <-cleared:
		if id != h.m.session.account.ID {
			t.Fatalf("cleared %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mark was not cleared after a verified success while the agent was away")
	}
	wantVerified(t, h)
}

// When Mono does not confirm within VerifyFor, the parked attempt records
// that it is not confirmed (StillSyncing), as a program would, and the
// re-reads stop.
func TestParkedSuccessNotConfirmedSaysSo(t *testing.T) {
	h, sm := syncedHarness(t, time.Minute, nil)
	stop := parkAndSucceed(t, h)
	defer stop()
	// The details read came before the park; a re-read after the success
	// is the parked model checking.
	sm.awaitReread(t, "a re-read while the agent is away")
	h.clock.Advance(2 * time.Minute) // past VerifyFor: the next re-read gives up
	pollUntil(t, "StillSyncing recorded", func() bool {
		last, ok := lastVerification(h)
		return ok && last.Outcome == state.StillSyncing.String()
	})
	if last, _ := lastVerification(h); !strings.Contains(last.Detail, "not confirmed") {
		t.Fatalf("StillSyncing record %+v", last)
	}
	reads := sm.readCount()
	stop()
	if now := sm.readCount(); now != reads {
		t.Fatalf("re-reads went on after giving up: %d then %d", reads, now)
	}
}

// pollUntil checks cond every few milliseconds until it holds, failing the
// test after a deadline.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// The customer closes the tab after succeeding while the agent is away:
// the check goes on without the page, and once it has its answer the
// recorder has nothing left to do and returns (it used to go round the
// ended page forever).
func TestParkedRecorderEndsWhenNothingIsLeft(t *testing.T) {
	h, sm := syncedHarness(t, time.Minute, nil)
	stop, finished := parkAndSucceedWatch(t, h)
	defer stop()
	sm.awaitReread(t, "a re-read while the agent is away")
	h.pages.last().end(connect.EndClosed)
	sm.awaitReread(t, "a re-read after the page ended")
	h.clock.Advance(2 * time.Minute) // past VerifyFor: the next re-read is the last
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("RecordParked did not return with its page ended and its check done")
	}
	if last, ok := lastVerification(h); !ok || last.Outcome != state.StillSyncing.String() {
		t.Fatalf("verification records %+v, want StillSyncing", verificationRecords(h))
	}
}

// When the grace ends in the middle of the check, FinishCheck carries it
// to its answer (here Mono confirms: VERIFIED) with the recorder stopped.
func TestFinishCheckRecordsTheAnswer(t *testing.T) {
	h, sm := syncedHarness(t, time.Minute, nil)
	stop := parkAndSucceed(t, h)
	sm.awaitReread(t, "a re-read while the agent is away")
	stop() // the grace ends: the recorder stops mid-check
	if len(verificationRecords(h)) != 0 {
		t.Fatal("fixture: the check already had its answer")
	}
	sm.confirm()
	h.m.FinishCheck(context.Background(), h.clock.Now())
	recs := verificationRecords(h)
	if len(recs) != 1 || recs[0].Outcome != state.Verified.String() {
		t.Fatalf("verification records %+v, want one VERIFIED", recs)
	}
}

// The check after a success stops unanswered when the program's end lets
// the attempt go (EndLive: a dropped connection that cannot be kept, a
// shutdown). It records that the fresh data is unconfirmed and why,
// instead of leaving a bare SUCCEEDED nobody checked; the success stays
// the attempt's outcome. (Leaving the account or quitting does not stop
// it: background_test.go.)
func TestStoppedCheckIsRecordedUnconfirmed(t *testing.T) {
	for _, tc := range []struct {
		name, why string
		stop      func(h *harness)
	}{
		{"the program's end", "The agent's connection dropped.", func(h *harness) {
			if h.m.EndLive("The agent's connection dropped.") {
				t.Error("EndLive says it ended a live attempt; the attempt had its outcome")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := syncedHarness(t, time.Minute, nil)
			openWrongOTP(t, h)
			h.mintAndOpenPage()
			h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
			h.until("verifying", func(m Model) bool { return m.session.sess.Phase() == state.Verifying })
			tc.stop(h)
			pollUntil(t, "the stopped check recorded", func() bool {
				_, ok := lastVerification(h)
				return ok
			})
			last, _ := lastVerification(h)
			if last.Outcome != state.StillSyncing.String() || !strings.Contains(last.Detail, "the check stopped before Mono confirmed fresh data") ||
				!strings.Contains(last.Detail, tc.why) {
				t.Fatalf("verification record %+v", last)
			}
			for _, r := range h.audit.records() {
				if r.Action == audit.ActionOutcome && r.Outcome != "SUCCEEDED" {
					t.Fatalf("another outcome over the success: %+v", r)
				}
			}
		})
	}
}

// subscriptions makes Deps.Signals give each subscriber a channel of its
// own, handed to the test in order (the program's first).
func subscriptions(subs chan chan AccountSignal) func(*Deps) {
	return func(d *Deps) {
		d.Signals = func(context.Context) <-chan AccountSignal {
			ch := make(chan AccountSignal, 4)
			subs <- ch
			return ch
		}
	}
}

// nextSubscription is the next subscriber's channel (subscriptions).
func nextSubscription(t *testing.T, subs chan chan AccountSignal) chan AccountSignal {
	t.Helper()
	select {
	case ch := <-subs:
		return ch
	case <-time.After(10 * time.Second):
		t.Fatal("nothing follows Mono's webhooks")
		return nil
	}
}

// awaitSuccessRecorded waits for a SUCCEEDED outcome in the audit.
func awaitSuccessRecorded(t *testing.T, h *harness) {
	t.Helper()
	pollUntil(t, "the success recorded", func() bool {
		for _, r := range h.audit.records() {
			if r.Action == audit.ActionOutcome && r.Outcome == "SUCCEEDED" {
				return true
			}
		}
		return false
	})
}

// parkWithNews opens a page on the wrong-OTP account and parks the model
// with RecordParked running (its program gone), returning the account's
// id (read before the recorder owns the model), the recorder's webhook
// subscription, and how to stop it.
func parkWithNews(t *testing.T, h *harness, subs chan chan AccountSignal) (id string, news chan AccountSignal, stop func()) {
	t.Helper()
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	id = h.m.session.account.ID
	stop, _ = startRecorder(t, h)
	return id, nextSubscription(t, subs), stop
}

// Mono's reads never say when the account synced; its account_updated
// webhook with sync SUCCESSFUL does. The parked recorder hears it: a
// success while the agent is away is VERIFIED from Mono's word, not left
// "not confirmed" for want of a read that can confirm.
func TestParkedCheckHearsMonosWebhook(t *testing.T) {
	subs := make(chan chan AccountSignal, 8)
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.VerifyFor = time.Minute; subscriptions(subs)(d) }})
	<-subs // the program's own
	id, news, stop := parkWithNews(t, h, subs)
	defer stop()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	awaitSuccessRecorded(t, h)
	news <- AccountSignal{AccountID: id, Event: "mono.events.account_updated", SyncStatus: mono.SyncStatusSuccessful}
	pollUntil(t, "VERIFIED recorded", func() bool {
		rec, ok := lastVerification(h)
		return ok && rec.Outcome == state.Verified.String()
	})
}

// Mono's account_reauthorized while the agent is away is the attempt's
// success, recorded then (success from any signal wins).
func TestParkedAttemptHearsMonosSuccess(t *testing.T) {
	subs := make(chan chan AccountSignal, 8)
	h := newHarness(t, harnessOpts{tweak: subscriptions(subs)})
	<-subs
	id, news, stop := parkWithNews(t, h, subs)
	defer stop()
	news <- AccountSignal{AccountID: id, Event: "mono.events.account_reauthorized", Reauthorized: true}
	awaitSuccessRecorded(t, h)
}
