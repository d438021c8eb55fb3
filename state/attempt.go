package state

import (
	"fmt"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state/audit"
)

// Attempt is one reauth as every front end runs it — the TUI, `reauth
// link`, anything new: the machine ([Session]) plus what each change says
// ([Line]s, for a status pane or a transcript) and what it records (audit
// records, numbered in the order they happened). Front ends feed it the
// same events and so say and record the same things; only how they show
// them differs. Like Session it does no I/O and takes time as an argument;
// unlike Session it is changed in place (it numbers records).
type Attempt struct {
	id   string
	sess Session
	seq  int
}

// NewAttempt starts an attempt whose audit records carry id.
func NewAttempt(id string) Attempt { return Attempt{id: id, sess: New()} }

// ID is the audit correlation id of the attempt's records.
func (a *Attempt) ID() string { return a.id }

// Session is the machine's current value.
func (a *Attempt) Session() Session { return a.sess }

// Refine replaces the chosen account with a fuller read of the same account
// and what else is known about it (Mono's webhooks, its past attempts: sig)
// while the reason is still being explained, so the reason sees them. It
// records the reason as now shown (with Mono support's ids from the read):
// the agent reads this one, not the list's.
func (a *Attempt) Refine(acct mono.Account, sig Signals, now time.Time) ([]audit.Record, error) {
	if a.sess.phase != Explaining || acct.ID != a.sess.account.ID {
		return nil, &TransitionError{Phase: a.sess.phase, Event: AccountChosen, Why: "only the chosen account, while explaining"}
	}
	next, err := New().Apply(Event{Kind: AccountChosen, Account: acct, Signals: sig}, now)
	if err != nil {
		return nil, err
	}
	if a.sess.reason.Overridden {
		next.reason = next.reason.WithKind(a.sess.reason.Kind)
	}
	next.generation = a.sess.generation
	a.sess = next
	r := next.Reason()
	detail := strings.Join(r.Evidence, "; ")
	if ids := supportIDs(acct); ids != "" {
		detail += "; " + ids
	}
	a.seq++
	return []audit.Record{{Time: now, Session: a.id, Seq: a.seq, Account: acct.ID, Action: audit.ActionReasonShown,
		Reason: r.Kind.String(), Event: "after the account's details and signals", Detail: detail}}, nil
}

// TookOver records that this attempt took the account over from a
// colleague's attempt (from: their name; theirs: its audit session id;
// stale: they had stopped refreshing their claim). The machine does not
// change: the attempt goes on as it was.
func (a *Attempt) TookOver(from, theirs string, stale bool, now time.Time) []audit.Record {
	detail := "took over from " + from
	if stale {
		detail += " (their claim was stale: their program had stopped refreshing it)"
	}
	if theirs != "" {
		detail += "; their attempt " + theirs
	}
	a.seq++
	return []audit.Record{{Time: now, Session: a.id, Seq: a.seq, Account: a.sess.account.ID, Action: audit.ActionClaimTakenOver,
		Event: "took over from " + from, Detail: detail}}
}

// Interrupted is the outcome word of an attempt whose replica stopped
// (killed, or its host lost) while it was live: no program runs it any
// more, its page no longer answers, and no outcome of its own was
// recorded. A colleague's (or the same agent's) next attempt on the
// account records it (TookOverInterrupted).
const Interrupted = "INTERRUPTED"

// TookOverInterrupted records that this attempt took the account from an
// attempt whose replica had stopped (from: its agent's name; theirs: its
// audit session id; replica: the replica that ran it): this attempt's
// claim_taken_over, and the interrupted attempt's own end (an outcome
// record in its session, unnumbered: its numbering died with its replica),
// so the account's history does not show it live forever.
func (a *Attempt) TookOverInterrupted(from, theirs, replica string, now time.Time) []audit.Record {
	why := "the server running it (replica " + replica + ") went silent in the replicas' registry while it was live"
	a.seq++
	recs := []audit.Record{{Time: now, Session: a.id, Seq: a.seq, Account: a.sess.account.ID, Action: audit.ActionClaimTakenOver,
		Event: "took over from " + from, Detail: "took over from " + from + " (their attempt was interrupted: " + why + "); their attempt " + theirs}}
	if theirs != "" {
		recs = append(recs, audit.Record{Time: now, Session: theirs, Account: a.sess.account.ID, Action: audit.ActionOutcome,
			Outcome: Interrupted, Detail: "Interrupted: " + why + "; the other servers stopped serving its page. Recorded when attempt " +
				a.id + " took the account."})
	}
	return recs
}

// Line is one line of a status pane or a transcript.
type Line struct {
	At   time.Time
	Tone EventTone
	Text string
}

// Step is what one event changed: the lines to show and the records to
// write, each in order.
type Step struct {
	Before, After Phase
	Lines         []Line
	Records       []audit.Record
}

// Changed reports whether the phase moved.
func (st Step) Changed() bool { return st.Before != st.After }

// NewOutcome reports whether this step set an outcome (or turned one into
// a success).
func (st Step) NewOutcome() bool {
	for _, r := range st.Records {
		if r.Action == audit.ActionOutcome {
			return true
		}
	}
	return false
}

// Apply runs ev through the machine at now. On error nothing changes and
// the step is empty.
func (a *Attempt) Apply(ev Event, now time.Time) (Step, error) {
	before := a.sess
	next, err := before.Apply(ev, now)
	if err != nil {
		return Step{}, err
	}
	a.sess = next
	st := Step{Before: before.phase, After: next.phase}
	line := func(tone EventTone, text string) { st.Lines = append(st.Lines, Line{At: now, Tone: tone, Text: text}) }
	record := func(r audit.Record) { st.Records = append(st.Records, r) }

	switch ev.Kind {
	case AccountChosen:
		r := next.Reason()
		record(audit.Record{Action: audit.ActionSessionStarted})
		record(audit.Record{Action: audit.ActionReasonShown, Reason: r.Kind.String(), Detail: strings.Join(r.Evidence, "; ")})
	case ReasonOverridden:
		record(audit.Record{Action: audit.ActionReasonOverridden, Reason: next.Reason().Kind.String()})
	case MintRequested:
		record(audit.Record{Action: audit.ActionTokenMintRequested, Reason: next.Reason().Kind.String()})
	case LinkPrepared:
		line(ToneInfo, "Link prepared (no token: the widget takes the account id), works until "+ev.At.Local().Format("15:04:05"))
		record(audit.Record{Action: audit.ActionLinkPrepared, Detail: "contract account: no token minted", TokenExpiresAt: ev.At})
	case MintSucceeded:
		t := next.Token()
		line(ToneInfo, "Token minted "+t.Fingerprint()+", expires "+t.ExpiresAt.Local().Format("15:04:05"))
		record(audit.Record{Action: audit.ActionTokenMinted, TokenFingerprint: t.Fingerprint(), TokenExpiresAt: t.ExpiresAt,
			Reason: next.Reason().Kind.String()})
	case MintFailed:
		line(ToneError, "Mint failed: "+next.MintError())
		record(audit.Record{Action: audit.ActionTokenMintFailed, Detail: next.MintError()})
	case PageServed:
		if before.PageURL() != next.PageURL() {
			line(ToneInfo, "Page ready, pairing code "+next.PairingCode())
			record(audit.Record{Action: audit.ActionPageOpened, PageURL: StripFragment(next.PageURL())})
		}
	case PageFailed:
		line(ToneError, "Could not start the page: "+errText(ev.Err, "the page could not be served"))
	case Widget:
		a.widgetLines(ev.Widget, before, next, line, record)
	case PageGone:
		text := "Page closed: it stopped responding or was closed"
		if ev.Replaced {
			text = "Page replaced: a newer page was opened for this account"
		}
		line(ToneWarning, text)
		record(audit.Record{Action: audit.ActionPageEvent, Event: text})
	case MonoReauthorized:
		line(ToneSuccess, "Mono webhook: account re-authorised")
	case MonoSynced:
		line(ToneSuccess, "Mono webhook: account synced successfully")
	}

	if next.phase == Expired && before.phase != Expired {
		line(ToneWarning, "Token expired")
	}
	if o := next.Outcome(); o.Kind != OutcomeNone && (o.Kind != before.Outcome().Kind || o.Headline != before.Outcome().Headline) {
		line(o.Kind.Tone(), o.Kind.String()+": "+o.Headline)
		detail := o.Headline
		if o.Detail != "" {
			detail += " " + o.Detail
		}
		record(audit.Record{Action: audit.ActionOutcome, Outcome: o.Kind.String(), Detail: detail})
	}
	if (next.phase == Verified || next.phase == StillSyncing) && before.phase != next.phase {
		v := next.Verification()
		tone := ToneSuccess
		if next.phase == StillSyncing {
			tone = ToneWarning
		}
		line(tone, v.Headline)
		record(audit.Record{Action: audit.ActionVerification, Outcome: next.phase.String(), Detail: v.Headline})
	}
	for i := range st.Records {
		a.seq++
		st.Records[i].Session, st.Records[i].Account, st.Records[i].Seq = a.id, next.Account().ID, a.seq
		// Stamped here, not when written: a record the audit takes late
		// (after an outage, a retry) still says when it happened.
		st.Records[i].Time = now
	}
	return st, nil
}

// widgetLines says and records one widget event. Heartbeats say nothing;
// onLoad and LOADED say the same thing, so only LOADED is shown.
func (a *Attempt) widgetLines(we mono.WidgetEvent, before, next Session, line func(EventTone, string), record func(audit.Record)) {
	if we.Callback == mono.CallbackHeartbeat || we.Callback == mono.CallbackLoad {
		return
	}
	sentence, tone := Describe(we), Kind(we)
	if we.IsPageOpen() {
		line(ToneInfo, sentence)
		record(audit.Record{Action: audit.ActionPageEvent, Event: sentence})
		return
	}
	late := before.phase.HasOutcome() && !(we.IsSuccess() && (before.phase.successCanWin() || before.phase.Succeeded()))
	if late {
		// It decides nothing now (the widget always closes itself after a
		// success; a page may still chatter): say so, quietly.
		tone = ToneFaint
		if !we.IsClose() {
			sentence += " (after the outcome)"
		}
	}
	line(tone, sentence)
	record(audit.Record{Action: audit.ActionWidgetEvent, Event: sentence})
}

// Tone is the colour an outcome banner or line takes.
func (k OutcomeKind) Tone() EventTone {
	switch k {
	case OutcomeSucceeded:
		return ToneSuccess
	case OutcomeFailed:
		return ToneError
	default:
		return ToneWarning
	}
}

// Situation is the "Now" line of a live attempt: where the customer is and
// what the agent should say next.
type Situation struct {
	Where string
	Next  string
}

// Situation says where a live attempt stands at now, from the events seen
// so far ("" fields outside the page phases).
func (s Session) Situation(now time.Time) Situation {
	left := "the link works for " + remaining(s.token, now) + " more"
	switch s.phase {
	case PageOpening:
		return Situation{Where: "Starting the page…"}
	case PageOpened:
		return Situation{Where: "The customer has not opened the page yet.", Next: "read them the link or send it; " + left + "."}
	case WidgetClosed:
		where := "The customer closed the widget"
		if s.exitPage != "" {
			where += " on the " + pageLabel(s.exitPage)
		}
		where += "."
		next := "ask them to press Reopen on the page; " + left + "."
		if s.errorPending && s.lastError.Type != "" {
			where += " The widget had reported " + withStop(errorSentence(s.lastError.Type, s.lastError.Message))
		} else if isMFAPage(s.exitPage) {
			next = "ask whether they received the code from their bank, then press Reopen; " + left + "."
		}
		return Situation{Where: where, Next: next}
	case PageClosed:
		return Situation{Where: "The customer closed the page (or it stopped responding).",
			Next: "ask them to open the link again (the same link); " + left + "."}
	case WidgetLive:
		switch {
		case s.errorPending && s.lastError.Type != "":
			next := "the bank or Mono failed; the customer can try again now, or later with a new token."
			if userFixable(s.lastError.Type) {
				next = "ask the customer to check what they entered and try again."
			}
			return Situation{Where: withStop(errorSentence(s.lastError.Type, s.lastError.Message)), Next: next}
		case s.exitPage != "":
			return Situation{Where: "The customer is leaving the widget on the " + pageLabel(s.exitPage) + ".",
				Next: "ask what stopped them; they can press Reopen on the page."}
		case strings.HasPrefix(s.lastStep, "Account linked"):
			return Situation{Where: "Account linked; the widget is finishing.", Next: "ask the customer to press Continue in the widget to finish."}
		case s.lastStep != "":
			return Situation{Where: "Last step: " + withStop(s.lastStep), Next: "wait; help with the next step if they ask."}
		default:
			return Situation{Where: "The customer has the page open.", Next: "ask them to follow the steps in the widget."}
		}
	}
	return Situation{}
}

// remaining is a token's time left as M:SS.
func remaining(t mono.Token, now time.Time) string {
	d := t.Remaining(now).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// StripFragment drops a URL's #fragment (where the page secret lives), for
// what is recorded or logged.
func StripFragment(u string) string {
	base, _, _ := strings.Cut(u, "#")
	return base
}

// supportIDs are what Mono support asks for about an account's sync, for
// the audit ("" when the read carried none).
func supportIDs(a mono.Account) string {
	var parts []string
	if a.DataRequestID != "" {
		parts = append(parts, "data_request_id "+a.DataRequestID)
	}
	if a.SessionID != "" {
		parts = append(parts, "session_id "+a.SessionID)
	}
	return strings.Join(parts, "; ")
}
