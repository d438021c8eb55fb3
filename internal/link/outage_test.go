package link

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

func (a *memAudit) failing(on bool) {
	a.mu.Lock()
	a.fail = on
	a.mu.Unlock()
}

func (a *memAudit) failedTries() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tries
}

// An audit outage mid-run loses no record: what the store failed to take
// is written later, in order (seq 1, 2, 3… with no hole), each stamped with
// when it happened; the events are printed as they come meanwhile.
func TestAuditOutageMidRunLosesNoRecord(t *testing.T) {
	withSeq := func(seq int64, e mono.WidgetEvent) mono.WidgetEvent { e.Seq = seq; return e }
	p := newPage()
	au, done := runInBackground(t, p)
	au.failing(true)
	p.events <- withSeq(1, ev(mono.EventOpened, mono.EventData{}))
	waitFor(t, func() bool { return au.failedTries() > 0 })
	au.failing(false)
	p.events <- withSeq(2, ev(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "wrong code"}))
	p.events <- withSeq(3, ev(mono.EventSuccess, mono.EventData{}))
	p.events <- withSeq(4, cb(mono.CallbackClose))
	r := <-done
	if r.err != nil || r.res.Outcome.Kind != state.OutcomeSucceeded {
		t.Fatalf("run: %v, outcome %s", r.err, r.res.Outcome.Kind)
	}
	if r.res.Unwritten != 0 {
		t.Fatalf("%d records left unwritten after the store came back", r.res.Unwritten)
	}
	var widget []string
	for i, rec := range au.recs {
		if rec.Seq != i+1 {
			t.Fatalf("record %d has seq %d: a hole or a reorder in %v", i, rec.Seq, au.actions())
		}
		if rec.Time.IsZero() {
			t.Errorf("record %d (%s) not stamped with when it happened", i, rec.Action)
		}
		if rec.Action == audit.ActionWidgetEvent {
			widget = append(widget, rec.Event)
		}
	}
	if len(widget) < 3 || !strings.Contains(strings.Join(widget, "|"), "INVALID_OTP") {
		t.Fatalf("widget records %q: the outage's events are missing", widget)
	}
	if !slices.Contains(au.actions(), audit.ActionOutcome) {
		t.Fatal("no outcome record")
	}
	out := strings.Join(r.out, "\n")
	if !strings.Contains(out, "Audit store not taking records (disk full)") || !strings.Contains(out, "Audit store back") {
		t.Fatalf("the run did not say the store stopped and came back:\n%s", out)
	}
}

// A store that stays down to the end: the outcome stands and is printed,
// and the result says how many records the audit lacks.
func TestAuditDownToTheEndIsReported(t *testing.T) {
	p := newPage()
	au, done := runInBackground(t, p)
	au.failing(true)
	p.events <- ev(mono.EventSuccess, mono.EventData{})
	p.events <- cb(mono.CallbackClose)
	r := <-done
	if r.res.Outcome.Kind != state.OutcomeSucceeded {
		t.Fatalf("outcome %s", r.res.Outcome.Kind)
	}
	if r.res.Unwritten == 0 || r.res.UnwrittenErr == nil || !strings.Contains(r.res.UnwrittenErr.Error(), "disk full") {
		t.Fatalf("unwritten %d (%v), want the outcome's records counted", r.res.Unwritten, r.res.UnwrittenErr)
	}
	if !strings.Contains(strings.Join(r.out, "\n"), "SUCCEEDED") && !strings.Contains(strings.Join(r.out, "\n"), "Re-authorised") {
		t.Fatalf("the outcome was not printed:\n%s", strings.Join(r.out, "\n"))
	}
}

// runInBackground starts a run on p and returns its audit once the page is
// open, and where the run's end arrives.
func runInBackground(t *testing.T, p *page) (*memAudit, <-chan run) {
	t.Helper()
	auCh := make(chan *memAudit, 1)
	done := make(chan run, 1)
	go func() {
		done <- runWith(t, context.Background(), p, func(o *Options) { auCh <- o.Audit.(*memAudit) })
	}()
	au := <-auCh
	waitFor(t, func() bool { return slices.Contains(au.actions(), audit.ActionPageOpened) })
	return au, done
}
