package tui

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// A program that stopped under a live attempt (its connection dropped, the
// server shut down) is ended with EndLive. Events its page received that
// no Update applied come first: a customer who succeeded in that moment is
// SUCCEEDED in the audit, not ENDED BY AGENT, and EndLive says it ended
// nothing.
func TestEndLiveAppliesWhatThePageSentFirst(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess}
	// No h.until: no Update applies it, as when the program has stopped.
	// The page's wait (a Cmd) reads it into the inbox, where a program
	// that stopped before applying it leaves it.
	deadline := time.Now().Add(10 * time.Second)
	for !h.m.session.inbox.holds() {
		if time.Now().After(deadline) {
			t.Fatal("the page's wait never read the event")
		}
		runtime.Gosched()
	}
	if h.m.EndLive("The server restarted while the attempt was live.") {
		t.Fatal("EndLive ended an attempt whose customer had succeeded")
	}
	if ph := h.m.session.sess.Phase(); !ph.Succeeded() {
		t.Fatalf("phase %v, want a success", ph)
	}
	if got := outcomesRecorded(h); !slices.Equal(got, []string{"SUCCEEDED"}) {
		t.Fatalf("outcomes recorded %v, want [SUCCEEDED]", got)
	}
}

// holds reports whether the inbox has events.
func (in *eventInbox) holds() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.evs) > 0
}

// With nothing waiting, EndLive ends the attempt with the reason given.
func TestEndLiveEndsALiveAttempt(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	if !h.m.EndLive("The server restarted while the attempt was live.") {
		t.Fatal("EndLive ended nothing")
	}
	if ph := h.m.session.sess.Phase(); ph != state.EndedByAgent {
		t.Fatalf("phase %v, want EndedByAgent", ph)
	}
}

// ackingPage is a page that hears which of its events are recorded.
type ackingPage struct {
	*fakePage
	acked []int64
}

func (p *ackingPage) Recorded(seq int64) { p.acked = append(p.acked, seq) }

// The journal tells a page its events are recorded only after a drain has
// written every record pushed before (the one the store failed to take
// included: it is written first, late); with nothing that records, at
// once.
func TestJournalSaysRecordedAfterItsRecords(t *testing.T) {
	p := &ackingPage{fakePage: newFakePage(0)}
	q := &auditQueue{}
	q.push([]audit.Record{{Action: audit.ActionWidgetEvent}})
	q.ack(p, 3)
	if len(p.acked) != 0 {
		t.Fatal("said recorded before any drain")
	}
	failing := &failingAppender{}
	_ = q.drain(failing)
	if len(p.acked) != 0 {
		t.Fatalf("said recorded after a failed append: %v", p.acked)
	}
	q.push([]audit.Record{{Action: audit.ActionWidgetEvent}})
	q.ack(p, 4)
	au := &memAudit{}
	_ = q.drain(au)
	if len(p.acked) != 1 || p.acked[0] != 4 || len(au.records()) != 2 {
		t.Fatalf("after a good drain: acked %v, %d records (want the failed one and the new one)", p.acked, len(au.records()))
	}
	q.ack(p, 5)
	_ = q.drain(nil)
	if len(p.acked) != 2 || p.acked[1] != 5 {
		t.Fatalf("without a recorder: acked %v", p.acked)
	}
}

// failingAppender refuses every record.
type failingAppender struct{}

func (failingAppender) Record(audit.Record)       {}
func (failingAppender) Append(audit.Record) error { return errors.New("disk full") }

// stallingAudit is the harness's audit with a SecretGuard that holds up
// the Cmd registering one onSuccess code: the page's wait has then taken
// the event off the page's channel and not yet put it in the inbox.
type stallingAudit struct {
	*memAudit
	code    string
	once    sync.Once // the first Guard of code (the page's wait) stalls
	entered chan struct{}
	release chan struct{}
}

func (a *stallingAudit) Guard(secrets ...string) {
	for _, s := range secrets {
		if s == a.code {
			a.once.Do(func() {
				close(a.entered)
				<-a.release
			})
		}
	}
}

// The race the review found: the stopped program's page wait had read the
// customer's success off the channel, and not yet held it, when EndLive
// looked. EndLive found nothing waiting and recorded ENDED BY AGENT over a
// customer who had succeeded. Now whoever takes the page over stops that
// wait and waits for it first.
func TestEndLiveWaitsForTheStoppedProgramsLastRead(t *testing.T) {
	h, sa := stalledSuccess(t, "code_live_abc")
	ended := make(chan bool, 1)
	go func() { ended <- h.m.EndLive("The server restarted while the attempt was live.") }()
	// Let the wait go on once EndLive has asked it to stop (or EndLive
	// has already finished without asking: the bug).
	waitStopAsked(t, h.m.session.inbox, func() bool { return len(ended) > 0 })
	close(sa.release)
	var got bool
	select {
	case got = <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("EndLive did not return")
	}
	if got {
		t.Fatal("EndLive ended an attempt whose customer had succeeded")
	}
	if ph := h.m.session.sess.Phase(); !ph.Succeeded() {
		t.Fatalf("phase %v, want a success", ph)
	}
	if got := outcomesRecorded(h); !slices.Equal(got, []string{"SUCCEEDED"}) {
		t.Fatalf("outcomes recorded %v, want [SUCCEEDED]", got)
	}
}

// outcomesRecorded is every outcome word the harness's audit holds, in order.
func outcomesRecorded(h *harness) []string {
	var out []string
	for _, r := range h.audit.records() {
		if r.Action == audit.ActionOutcome {
			out = append(out, r.Outcome)
		}
	}
	return out
}

// waitStopAsked waits until something has asked the page's wait to stop
// (stopReading) or finished says the taker returned without asking (the
// bug the stall tests catch).
func waitStopAsked(t *testing.T, in *eventInbox, finished func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in.mu.Lock()
		asked := in.epoch > 0
		in.mu.Unlock()
		if asked || finished() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("neither finished nor stopped the page's wait")
		}
		runtime.Gosched()
	}
}

// stalledSuccess opens a page on a harness whose audit stalls the page's
// wait on code, and has the customer succeed with it: it returns once the
// wait has the success in hand and not yet in the inbox (as when its
// program stops at that instant). close(sa.release) lets the wait go on.
func stalledSuccess(t *testing.T, code string) (*harness, *stallingAudit) {
	t.Helper()
	sa := &stallingAudit{code: code, entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) {
		sa.memAudit = d.Audit.(*memAudit)
		d.Audit = sa
	}})
	h.audit = sa.memAudit
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	h.pages.last().events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackSuccess, Data: mono.EventData{Code: sa.code}}
	select {
	case <-sa.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the page's wait never read the event")
	}
	return h, sa
}
