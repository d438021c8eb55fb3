package tui

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/link"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// appendAudit is link's durable audit, in memory.
type appendAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (a *appendAudit) Append(r audit.Record) error {
	a.mu.Lock()
	a.recs = append(a.recs, r)
	a.mu.Unlock()
	return nil
}

// sameParts is what must match between the two front ends' records: all
// but the time, the attempt's id, the agent and the token's fingerprint
// (each front end mints its own token), up to the outcome (the TUI goes on
// to verify; `reauth link` ends there).
func sameParts(recs []audit.Record) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Action == audit.ActionTokenMinted && r.TokenFingerprint == "" {
			r.Detail = "MISSING FINGERPRINT"
		}
		r.Time, r.Session, r.Agent, r.TokenFingerprint = time.Time{}, "", audit.Agent{}, ""
		out = append(out, r)
		if r.Action == audit.ActionOutcome {
			break
		}
	}
	return out
}

// withoutFingerprint drops the one part of a status line that differs
// between two mints.
var fingerprintRE = regexp.MustCompile(`sha256:[0-9a-f]+`)

func page0(evs ...mono.WidgetEvent) []mono.WidgetEvent { return evs }

// The same widget events fed to the TUI and to `reauth link` give the same
// outcome, the same status lines and the same audit records: both drive
// one state.Attempt.
func TestTUIAndLinkAgree(t *testing.T) {
	ev := func(name string, d mono.EventData) mono.WidgetEvent {
		return mono.WidgetEvent{Callback: mono.CallbackEvent, Name: name, Data: d}
	}
	cb := func(c mono.Callback) mono.WidgetEvent { return mono.WidgetEvent{Callback: c} }
	wrongOTP := ev(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"})
	reopen := mono.WidgetEvent{Callback: mono.CallbackPageOpen, Name: mono.EventPageReopened}
	cases := []struct {
		name   string
		events []mono.WidgetEvent
		end    string // the page server ends the page after the events ("" never)
		want   state.OutcomeKind
	}{
		{"wrong OTP then success", page0(ev(mono.EventOpened, mono.EventData{}), ev(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), wrongOTP,
			ev(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), ev(mono.EventSuccess, mono.EventData{Code: "code_SECRET"}), cb(mono.CallbackClose)),
			"", state.OutcomeSucceeded},
		// ERROR → SUBMIT_MFA → close used to be FAILED in link and ABANDONED
		// in the TUI; a close is no outcome now, and the reload that follows
		// carries the attempt to its success.
		{"error, retry, close, reload, success", page0(wrongOTP, ev(mono.EventSubmitMFA, mono.EventData{}), cb(mono.CallbackClose),
			cb(mono.CallbackUnload), reopen, ev(mono.EventSuccess, mono.EventData{}), cb(mono.CallbackClose)), "", state.OutcomeSucceeded},
		{"closed on MFA, page error", page0(ev(mono.EventExit, mono.EventData{PageName: "MFA"}), cb(mono.CallbackClose),
			mono.WidgetEvent{Callback: mono.CallbackPageError, Data: mono.EventData{ErrorMessage: "connect.js threw"}}), "", state.OutcomeFailed},
		{"a newer page takes over", page0(ev(mono.EventOpened, mono.EventData{}), cb(mono.CallbackClose)), connect.EndReplaced, state.OutcomeTakenOver},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The TUI.
			h := newHarness(t, harnessOpts{width: 100, height: 60})
			openWrongOTP(t, h)
			h.mintAndOpenPage()
			p := h.pages.last()
			for _, e := range c.events {
				p.events <- e
			}
			if c.end != "" {
				h.until("events applied", func(m Model) bool { return m.session.sess.Phase() == state.WidgetClosed })
				p.end(c.end)
			}
			h.until("outcome", func(m Model) bool { return m.session.sess.Outcome().Kind != state.OutcomeNone })
			if got := h.m.session.sess.Outcome().Kind; got != c.want {
				t.Fatalf("TUI outcome %s, want %s", got, c.want)
			}
			var tuiLines []string
			for _, l := range h.m.session.status.lines {
				tuiLines = append(tuiLines, fingerprintRE.ReplaceAllString(l.text, "sha256:…"))
			}

			// `reauth link`, on the same account, clock and events.
			acct := h.m.session.account
			lp := newFakePage(0)
			for _, e := range c.events {
				lp.events <- e
			}
			if c.end != "" {
				lp.end(c.end)
			}
			la := &appendAudit{}
			pr, pw := io.Pipe()
			var printed []string
			read := make(chan struct{})
			go func() {
				defer close(read)
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					printed = append(printed, sc.Text())
				}
			}()
			known := h.deps.SignalsFor(context.Background(), acct.ID)
			known.Now = h.clock.Now()
			res, err := link.Run(context.Background(), link.Options{Account: acct, Known: known, Mint: h.deps.Mono, Audit: la, Out: pw, Now: h.clock.Now,
				Open: func(context.Context, mono.Account, mono.Token) (link.Page, error) { return lp, nil }})
			pw.Close()
			<-read
			if err != nil || res.Outcome.Kind != c.want {
				t.Fatalf("link: %v %+v, want %s", err, res.Outcome, c.want)
			}
			if res.Outcome != h.m.session.sess.Outcome() {
				t.Errorf("outcomes differ:\nTUI  %+v\nlink %+v", h.m.session.sess.Outcome(), res.Outcome)
			}
			var linkLines []string
			clock := regexp.MustCompile(`^\d\d:\d\d:\d\d `)
			for _, l := range printed {
				if clock.MatchString(l) && !strings.HasPrefix(l[9:], "Next: ") {
					linkLines = append(linkLines, fingerprintRE.ReplaceAllString(l[9:], "sha256:…"))
				}
			}
			if !slices.Equal(tuiLines, linkLines) {
				t.Errorf("status lines differ:\nTUI  %q\nlink %q", tuiLines, linkLines)
			}

			h.until("the TUI's outcome record", func(Model) bool { return slices.Contains(h.audit.actions(), audit.ActionOutcome) })
			tuiRecs, linkRecs := sameParts(h.audit.recsCopy()), sameParts(la.recs)
			if !slices.EqualFunc(tuiRecs, linkRecs, func(a, b audit.Record) bool { return a == b }) {
				t.Errorf("audit records differ:\nTUI  %+v\nlink %+v", tuiRecs, linkRecs)
			}
			for i, r := range linkRecs {
				if r.Seq != i+1 {
					t.Errorf("link record %d has seq %d", i, r.Seq)
				}
			}
		})
	}
}
