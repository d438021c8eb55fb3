package tui

import (
	"errors"
	"runtime"
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
	var outcomes []string
	for _, r := range h.audit.records() {
		if r.Action == audit.ActionOutcome {
			outcomes = append(outcomes, r.Outcome)
		}
	}
	if len(outcomes) != 1 || outcomes[0] != "SUCCEEDED" {
		t.Fatalf("outcomes recorded %v, want [SUCCEEDED]", outcomes)
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
// written every record pushed before (none failing); with nothing that
// records, at once.
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
	if len(p.acked) != 1 || p.acked[0] != 4 || len(au.records()) != 1 {
		t.Fatalf("after a good drain: acked %v, %d records", p.acked, len(au.records()))
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
