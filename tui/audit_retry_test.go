package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/state/audit"
)

// outageAudit is an audit whose store can be down: while down, Append
// fails as a database that went away does (not audit.ErrRefused).
type outageAudit struct {
	*memAudit
	mu   sync.Mutex
	down bool
	// tries counts Appends made while down.
	tries int
}

func (o *outageAudit) setDown(down bool) {
	o.mu.Lock()
	o.down = down
	o.mu.Unlock()
}

func (o *outageAudit) Append(r audit.Record) error {
	o.mu.Lock()
	down := o.down
	if down {
		o.tries++
	}
	o.mu.Unlock()
	if down {
		return errors.New("audit store: connection refused")
	}
	o.memAudit.Record(r)
	return nil
}

// refusingAudit refuses one record for itself (audit.ErrRefused) and
// takes the rest.
type refusingAudit struct {
	*memAudit
	refuse audit.Action
}

func (a refusingAudit) Append(r audit.Record) error {
	if r.Action == a.refuse {
		return fmt.Errorf("%w: no", audit.ErrRefused)
	}
	a.memAudit.Record(r)
	return nil
}

func seqs(recs []audit.Record) []int {
	var out []int
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}

// Records the store fails to take (an outage) are not lost: they wait, in
// order and ahead of later ones, and the next drain after the gap writes
// them all; a drain inside the gap does not ask the store again. The
// page's answer waits for them too.
func TestJournalKeepsWhatTheStoreFailedToTake(t *testing.T) {
	au := &outageAudit{memAudit: &memAudit{}}
	p := &ackingPage{fakePage: newFakePage(0)}
	q := &auditQueue{retryGap: time.Hour}
	q.push([]audit.Record{{Action: audit.ActionWidgetEvent, Seq: 1}, {Action: audit.ActionWidgetEvent, Seq: 2}})
	q.ack(p, 2)
	au.setDown(true)
	if err := q.drain(au); err == nil {
		t.Fatal("a drain into a store that is down reported no error")
	}
	q.push([]audit.Record{{Action: audit.ActionOutcome, Seq: 3}})
	q.ack(p, 3)
	if err := q.drain(au); err == nil {
		t.Fatal("a drain inside the gap reported no error")
	}
	if au.tries != 1 {
		t.Fatalf("the store was asked %d times inside the gap, want once", au.tries)
	}
	if len(p.acked) != 0 || len(au.records()) != 0 {
		t.Fatalf("while down: acked %v, %d records", p.acked, len(au.records()))
	}
	au.setDown(false)
	q.tryNow()
	if err := q.drain(au); err != nil {
		t.Fatalf("drain after the store came back: %v", err)
	}
	if got := seqs(au.records()); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("written %v, want [1 2 3] in order", got)
	}
	if !slices.Equal(p.acked, []int64{3}) {
		t.Fatalf("acked %v, want [3] once everything was written", p.acked)
	}
	if q.unwritten() {
		t.Fatal("records still wait")
	}
}

// A record the audit refuses for itself would never be written: it is
// dropped, the others are written, and nothing waits.
func TestJournalDropsWhatTheAuditRefuses(t *testing.T) {
	au := refusingAudit{memAudit: &memAudit{}, refuse: audit.ActionPageEvent}
	q := &auditQueue{}
	q.push([]audit.Record{{Action: audit.ActionWidgetEvent, Seq: 1}, {Action: audit.ActionPageEvent, Seq: 2}, {Action: audit.ActionOutcome, Seq: 3}})
	_ = q.drain(au)
	if got := seqs(au.records()); !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("written %v, want [1 3]", got)
	}
	if q.unwritten() {
		t.Fatal("a refused record waits to be tried again")
	}
}

// outageHarness opens the wrong-OTP account on a harness whose audit can
// go down, waits for its opening records, then takes the store down (the
// journal retrying every millisecond) and overrides the reason: one
// record, which the store fails to take. It returns when that has been
// tried.
func outageHarness(t *testing.T, o harnessOpts) (*harness, *outageAudit) {
	t.Helper()
	var au *outageAudit
	o.tweak = func(d *Deps) {
		au = &outageAudit{memAudit: d.Audit.(*memAudit)}
		d.Audit = au
	}
	h := newHarness(t, o)
	openWrongOTP(t, h)
	h.until("the opening records written", func(Model) bool { return len(h.audit.records()) > 0 && !h.m.session.journal.unwritten() })
	h.m.session.journal.mu.Lock()
	h.m.session.journal.retryGap = time.Millisecond
	h.m.session.journal.mu.Unlock()
	au.setDown(true)
	h.key("r", "down", "enter") // another reason: an override is one record
	h.until("the override tried and kept", func(Model) bool {
		au.mu.Lock()
		defer au.mu.Unlock()
		return au.tries > 0
	})
	return h, au
}

// An attempt left (esc) while the store is down keeps its records: the
// model tries them again until the store takes them, each stamped with
// when it happened, not when it was written.
func TestLeftAttemptsRecordsAreWrittenAfterTheOutage(t *testing.T) {
	h, au := outageHarness(t, harnessOpts{})
	written := len(h.audit.records()) // the override is not among them
	happened := h.clock.Now()         // the override's time: the clock has not moved since
	h.key("esc")
	h.until("back on the list", func(m Model) bool { return m.session == nil })
	if len(h.m.unwritten) != 1 {
		t.Fatalf("%d journals kept, want the left attempt's", len(h.m.unwritten))
	}
	h.tick(time.Minute) // written later; stamped with when it happened
	au.setDown(false)
	h.until("written after the outage", func(m Model) bool { return len(h.audit.records()) > written && len(m.unwritten) == 0 })
	var override *audit.Record
	for _, r := range h.audit.records()[written:] {
		if r.Action == audit.ActionReasonOverridden {
			override = &r
		}
	}
	if override == nil || !override.Time.Equal(happened) {
		t.Fatalf("override record %+v, want one stamped %s", override, happened)
	}
}

// At the program's end the records still waiting get one more try
// (WriteUnwritten): written if the store is back, else counted so the
// front end can say they are lost.
func TestWriteUnwrittenAtTheEnd(t *testing.T) {
	h, au := outageHarness(t, harnessOpts{})
	if n := h.m.WriteUnwritten(true); n != 1 {
		t.Fatalf("with the store down, %d records reported unwritten, want 1", n)
	}
	if n := h.m.WriteUnwritten(false); n != 0 {
		t.Fatalf("without the attempt's own journal, %d reported", n)
	}
	au.setDown(false)
	if n := h.m.WriteUnwritten(true); n != 0 {
		t.Fatalf("with the store back, %d records left", n)
	}
	if !slices.Contains(h.audit.actions(), audit.ActionReasonOverridden) {
		t.Fatal("the override was not written at the end")
	}
}

// The agent is told in the pane when the audit's store stops taking the
// attempt's records (why, how many wait, that no token can be minted) and
// when it takes them again: once each, not on every retry.
func TestPaneSaysWhenTheAuditStoreStopsAndComesBack(t *testing.T) {
	h, au := outageHarness(t, harnessOpts{width: 120, height: 40})
	const down = "Audit store not taking records (audit store: connection refused): 1 waiting"
	h.until("the pane says the store is down", func(m Model) bool {
		if !strings.Contains(plain(m), down) {
			h.tick(time.Second) // the screen's clock: each tick flushes
			return false
		}
		return true
	})
	// More retries while down (each tick flushes; a retry once the gap
	// has passed): said once.
	h.until("the retries", func(Model) bool {
		au.mu.Lock()
		tries := au.tries
		au.mu.Unlock()
		if tries >= 3 {
			return true
		}
		h.tick(time.Second)
		return false
	})
	au.setDown(false)
	h.until("the pane says the store is back", func(m Model) bool {
		if !strings.Contains(plain(m), "Audit store back") {
			h.tick(time.Second)
			return false
		}
		return true
	})
	if n := strings.Count(plain(h.m), "Audit store not taking records"); n != 1 {
		t.Fatalf("the outage is said %d times, want once:\n%s", n, plain(h.m))
	}
	if !slices.Contains(h.audit.actions(), audit.ActionReasonOverridden) {
		t.Fatal("the override was not written once the store was back")
	}
}

// A resumed program takes up the retries of left attempts' journals that
// still wait for the audit (their timer went with the old program).
func TestResumedProgramRetriesLeftJournals(t *testing.T) {
	var au *outageAudit
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) {
		au = &outageAudit{memAudit: d.Audit.(*memAudit)}
		d.Audit = au
	}})
	openWrongOTP(t, h)
	h.mintAndOpenPage()
	left := &auditQueue{retryGap: time.Millisecond}
	left.push([]audit.Record{{Action: audit.ActionOutcome, Session: "left-1", Seq: 9}})
	au.setDown(true)
	_ = left.drain(au) // the store fails it: it waits
	h.m.unwritten = append(h.m.unwritten, left)
	au.setDown(false)
	h.m = Resume(context.Background(), h.m, h.deps, h.clock.Now())
	h.exec(h.m.Init())
	h.until("the left journal written by the resumed program", func(Model) bool {
		for _, r := range h.audit.records() {
			if r.Session == "left-1" {
				return true
			}
		}
		return false
	})
}
