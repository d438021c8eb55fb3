package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// waitEvent hands over everything already queued, in order, at most
// maxEventBatch at a time, and nothing is skipped between batches; events
// queued before the page ended still arrive before the end.
func TestWaitEventBatchesQueuedEventsInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &screenCtx{ctx: ctx}
	p := &fakePage{events: make(chan mono.WidgetEvent, 3*maxEventBatch), done: make(chan struct{})}
	const n = 2*maxEventBatch + 22
	for i := range n {
		p.events <- mono.WidgetEvent{Seq: int64(i + 1), Callback: mono.CallbackHeartbeat}
	}
	var sizes []int
	next := int64(1)
	for next <= n {
		msg, ok := waitEvent(c, 7, p, nil, nil)().(widgetMsg)
		if !ok || msg.gen != 7 || msg.page != p {
			t.Fatalf("got %#v", msg)
		}
		for _, ev := range msg.evs {
			if ev.Seq != next {
				t.Fatalf("seq %d where %d was due", ev.Seq, next)
			}
			next++
		}
		sizes = append(sizes, len(msg.evs))
	}
	if !slices.Equal(sizes, []int{maxEventBatch, maxEventBatch, 22}) {
		t.Errorf("batch sizes %v, want [%d %d 22]", sizes, maxEventBatch, maxEventBatch)
	}

	// The page ends with events still queued: they come first, then the end.
	for i := range 3 {
		p.events <- mono.WidgetEvent{Seq: int64(n + 1 + i), Callback: mono.CallbackEvent, Name: mono.EventError}
	}
	p.Close()
	msg, ok := waitEvent(c, 7, p, nil, nil)().(widgetMsg)
	if !ok || len(msg.evs) != 3 || msg.evs[0].Seq != n+1 || msg.evs[2].Seq != n+3 {
		t.Fatalf("after the end: got %#v, want the 3 queued events", msg)
	}
	if _, ok := waitEvent(c, 7, p, nil, nil)().(pageEndedMsg); !ok {
		t.Fatal("no pageEndedMsg once the queue was empty")
	}

	// A closed channel ends a batch; the next read reports the end.
	q := &fakePage{events: make(chan mono.WidgetEvent, 4), done: make(chan struct{})}
	q.events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackLoad}
	q.events <- mono.WidgetEvent{Seq: 2, Callback: mono.CallbackClose}
	close(q.events)
	if msg, ok := waitEvent(c, 1, q, nil, nil)().(widgetMsg); !ok || len(msg.evs) != 2 {
		t.Fatalf("got %#v", msg)
	}
	if _, ok := waitEvent(c, 1, q, nil, nil)().(pageEndedMsg); !ok {
		t.Fatal("no pageEndedMsg after the channel closed")
	}
}

// chanAudit hands each record to the test as it is recorded.
type chanAudit chan audit.Record

func (c chanAudit) Record(r audit.Record) { c <- r }

// The records waitEvent is given are written in their order.
func TestWaitEventRecordsInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := make(chanAudit)
	c := &screenCtx{ctx: ctx, deps: Deps{Audit: rec}}
	var recs []audit.Record
	for i := range 10 {
		recs = append(recs, audit.Record{Action: audit.ActionWidgetEvent, Event: fmt.Sprint(i)})
	}
	p := &fakePage{events: make(chan mono.WidgetEvent, 1), done: make(chan struct{})}
	p.events <- mono.WidgetEvent{Seq: 1, Callback: mono.CallbackHeartbeat}
	q := &auditQueue{}
	q.push(recs[:4])
	// Two Cmds drain the same journal, the later one started first: the
	// records still arrive in the order Update queued them.
	q2 := func() { q.push(recs[4:]); go waitEvent(c, 1, p, q, nil)() }
	q2()
	go waitEvent(c, 1, p, q, nil)()
	for i := range 10 {
		if r := <-rec; r.Event != fmt.Sprint(i) {
			t.Fatalf("record %q where %d was due", r.Event, i)
		}
	}
}

// A burst applied as one widgetMsg leaves the screen, the phase, the
// outcome and the audit exactly as the same events one message each.
func TestBatchAppliesLikeOneMessagePerEvent(t *testing.T) {
	burst := []mono.WidgetEvent{
		{Callback: mono.CallbackLoad},
		{Callback: mono.CallbackEvent, Name: mono.EventOpened},
		{Callback: mono.CallbackHeartbeat},
		{Callback: mono.CallbackEvent, Name: mono.EventInstitutionSelected, Data: mono.EventData{InstitutionName: "GTBank", AuthMethod: "internet_banking"}},
		{Callback: mono.CallbackEvent, Name: mono.EventSubmitMFA, Data: mono.EventData{MFAType: "OTP"}},
		{Callback: mono.CallbackEvent, Name: mono.EventError, Data: mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}},
		{Callback: mono.CallbackEvent, Name: mono.EventSubmitMFA, Data: mono.EventData{MFAType: "OTP"}},
		{Callback: mono.CallbackEvent, Name: mono.EventSuccess},
		{Callback: mono.CallbackSuccess},
		{Callback: mono.CallbackEvent, Name: mono.EventError, Data: mono.EventData{ErrorType: "LATE", ErrorMessage: "after the outcome"}},
		{Callback: mono.CallbackClose},
	}
	type result struct {
		lines   []string
		phase   state.Phase
		outcome state.Outcome
		widget  []string // widget_event records, in the order written
		actions []audit.Action
	}
	run := func(batched bool) result {
		h := newHarness(t, harnessOpts{})
		openWrongOTP(t, h)
		h.mintAndOpenPage()
		s := h.m.session
		gen, page := s.sess.Generation(), s.page
		before := len(h.audit.actions())
		var evs []mono.WidgetEvent
		for i, ev := range burst {
			ev.Seq, ev.At = int64(i+1), h.clock.Now()
			evs = append(evs, ev)
		}
		if batched {
			h.send(widgetMsg{gen: gen, page: page, evs: evs})
		} else {
			for _, ev := range evs {
				h.send(widgetMsg{gen: gen, page: page, evs: []mono.WidgetEvent{ev}})
			}
		}
		// Every event but the heartbeat and onLoad is recorded, plus the
		// outcome. Count those kinds only: other records (the verification
		// after success) may land first, from goroutines of their own.
		wantWidget := len(burst) - 2
		h.until("audit records", func(Model) bool {
			as := h.audit.actions()[before:]
			return countAction(as, audit.ActionWidgetEvent) >= wantWidget && countAction(as, audit.ActionOutcome) >= 1
		})
		var r result
		for _, l := range h.m.session.status.lines {
			r.lines = append(r.lines, l.tone.String()+" "+l.text)
		}
		r.phase, r.outcome = h.m.session.sess.Phase(), h.m.session.sess.Outcome()
		h.audit.mu.Lock()
		for _, rec := range h.audit.recs[before:] {
			r.actions = append(r.actions, rec.Action)
			if rec.Action == audit.ActionWidgetEvent {
				r.widget = append(r.widget, rec.Event)
			}
		}
		h.audit.mu.Unlock()
		return r
	}
	one, batch := run(false), run(true)
	if !slices.Equal(one.lines, batch.lines) {
		t.Errorf("status lines differ:\none by one %q\nbatched    %q", one.lines, batch.lines)
	}
	if one.phase != batch.phase || one.outcome != batch.outcome || batch.outcome.Kind != state.OutcomeSucceeded {
		t.Errorf("one by one: %v %+v; batched: %v %+v", one.phase, one.outcome, batch.phase, batch.outcome)
	}
	// One message per event writes its records from separate goroutines (any
	// order); a batch writes them in the events' order.
	var shown []string
	for _, l := range batch.lines {
		// The outcome's own line is an outcome record, not a widget_event.
		if _, text, ok := cutTone(l); ok && text != "" && !strings.HasPrefix(text, "SUCCEEDED: ") {
			shown = append(shown, text)
		}
	}
	if !slices.Equal(batch.widget, shown[len(shown)-len(batch.widget):]) {
		t.Errorf("batched widget_event records out of order:\n%q\nscreen %q", batch.widget, shown)
	}
	slices.Sort(one.widget)
	sorted := slices.Sorted(slices.Values(batch.widget))
	if !slices.Equal(one.widget, sorted) {
		t.Errorf("widget_event records differ:\none by one %q\nbatched    %q", one.widget, sorted)
	}
	if n := countAction(batch.actions, audit.ActionOutcome); n != 1 || countAction(one.actions, audit.ActionOutcome) != 1 {
		t.Errorf("outcome records: batched %d, one by one %d; want 1 each", n, countAction(one.actions, audit.ActionOutcome))
	}
}

func cutTone(line string) (tone, text string, ok bool) {
	for i := range line {
		if line[i] == ' ' {
			return line[:i], line[i+1:], true
		}
	}
	return "", "", false
}

func countAction(as []audit.Action, a audit.Action) int {
	n := 0
	for _, x := range as {
		if x == a {
			n++
		}
	}
	return n
}
