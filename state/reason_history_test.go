package state

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state/audit"
)

// runAttempt plays one attempt through the real machine and returns its
// audit records as the audit log would hold them (stamped with a time).
func runAttempt(t *testing.T, id string, acct mono.Account, start time.Time, events []mono.WidgetEvent, end *Event) []audit.Record {
	t.Helper()
	a := NewAttempt(id)
	var recs []audit.Record
	now := start
	step := func(ev Event) {
		t.Helper()
		st, err := a.Apply(ev, now)
		if err != nil {
			t.Fatalf("%s: %v", ev.Kind, err)
		}
		for _, r := range st.Records {
			r.Time = now
			recs = append(recs, r)
		}
		now = now.Add(time.Second)
	}
	gen := func() uint64 { return a.Session().Generation() }
	step(Event{Kind: AccountChosen, Account: acct})
	if events == nil && end == nil {
		return recs // the agent only looked at the account
	}
	step(Event{Kind: MintRequested})
	tok := mono.Token{AccountID: acct.ID, Value: "tokABCDEFGHIJKLMNOPQ", MintedAt: start, ExpiresAt: start.Add(mono.TokenLifetime)}
	step(Event{Kind: MintSucceeded, Generation: gen(), Token: tok})
	step(Event{Kind: PageRequested})
	step(Event{Kind: PageServed, Generation: gen(), PageURL: "http://127.0.0.1:41234/s/abc", Pairing: "KQ-47"})
	step(Event{Kind: PageConnected, Generation: gen()})
	for _, we := range events {
		step(Event{Kind: Widget, Generation: gen(), Widget: we})
	}
	if end != nil {
		if end.Kind == Tick {
			now = tok.ExpiresAt
		}
		ev := *end
		ev.Generation = gen()
		step(ev)
	}
	return recs
}

// PastAttempts reads back, from the audit records the machine writes, each
// earlier attempt's start, outcome, widget errors and exit page — the
// history ReasonFrom takes.
func TestPastAttemptsFromTheAudit(t *testing.T) {
	acct := account(mono.StatusAvailable, full...)
	other := acct
	other.ID = "5ca1ab1e0000000000000009"
	otp := func() mono.WidgetEvent {
		return onEvent(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"})
	}
	var recs []audit.Record
	// 1. Wrong OTP twice, then success.
	recs = append(recs, runAttempt(t, "s1", acct, at0914, []mono.WidgetEvent{
		onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), otp(),
		onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), otp(),
		onEvent(mono.EventSuccess, mono.EventData{Code: "code_SECRET"}),
		callback(mono.CallbackClose), // after the outcome
	}, nil)...)
	// 2. Left on the MFA page; the token ran out.
	recs = append(recs, runAttempt(t, "s2", acct, at0914.Add(time.Hour), []mono.WidgetEvent{
		onEvent(mono.EventExit, mono.EventData{PageName: "MFA"}), callback(mono.CallbackClose),
	}, &Event{Kind: Tick})...)
	// 3. Bank error, error without a type, then the agent ended it.
	recs = append(recs, runAttempt(t, "s3", acct, at1402, []mono.WidgetEvent{
		onEvent(mono.EventError, mono.EventData{ErrorType: "BANK_UNAVAILABLE", ErrorMessage: "GTBank is not responding"}),
		onEvent(mono.EventError, mono.EventData{ErrorMessage: "Something went wrong"}),
	}, &Event{Kind: AgentEnded})...)
	// Not attempts: the agent only looked; another account's attempt.
	recs = append(recs, runAttempt(t, "s4", acct, at1500, nil, nil)...)
	recs = append(recs, runAttempt(t, "s5", other, at1402, []mono.WidgetEvent{otp()}, nil)...)
	// A token minted from the command line: no outcome recorded.
	recs = append(recs, audit.Record{Time: at0914.Add(-time.Hour), Session: "token-1", Seq: 1, Account: acct.ID, Action: audit.ActionTokenMintRequested},
		audit.Record{Time: at0914.Add(-time.Hour + time.Second), Session: "token-1", Seq: 2, Account: acct.ID, Action: audit.ActionTokenMinted})
	// Records without a session (a webhook) belong to no attempt.
	recs = append(recs, audit.Record{Time: at1500, Account: acct.ID, Action: audit.ActionWebhookReceived, Event: "mono.events.account_updated"})
	slices.Reverse(recs) // any order

	got := PastAttempts(recs, acct.ID)
	want := []PastAttempt{
		{At: at0914.Add(-time.Hour)},
		{At: at0914, Outcome: "SUCCEEDED", Errors: []string{"INVALID_OTP", "INVALID_OTP"}},
		{At: at0914.Add(time.Hour), Outcome: "EXPIRED", ExitPage: "MFA"},
		{At: at1402, Outcome: "ENDED BY AGENT", Errors: []string{"BANK_UNAVAILABLE", "Something went wrong"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d attempts: %+v", len(got), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.At.Equal(w.At) || g.Outcome != w.Outcome || !slices.Equal(g.Errors, w.Errors) || g.ExitPage != w.ExitPage {
			t.Errorf("attempt %d\n got %+v\nwant %+v", i, g, w)
		}
	}

	// Fed to ReasonFrom with Mono's webhook, they give the reason and the
	// evidence names them.
	r := ReasonFrom(acct, Signals{Webhook: hook("mono.events.account_updated", at1500, "REAUTHORISATION_REQUIRED"),
		WebhooksChecked: true, History: got, HistoryChecked: true, Now: reasonNow})
	wantEvidence := []string{
		"Mono webhook account_updated at 15:00: sync_status REAUTHORISATION_REQUIRED",
		"data_status AVAILABLE (Mono's cached data; it does not show the connection works)",
		"Previous attempt at 14:02: Error BANK_UNAVAILABLE; Error Something went wrong; outcome ENDED BY AGENT",
		"Previous attempt at 10:14: closed the widget on the MFA page; outcome EXPIRED → MFA required by the bank",
		"Previous attempt at 09:14: Error INVALID_OTP twice; outcome SUCCEEDED",
		"1 earlier attempt not shown",
	}
	if r.Kind != MFARequired || !slices.Equal(r.Evidence, wantEvidence) {
		t.Errorf("%s\n got %q\nwant %q", r.Kind, r.Evidence, wantEvidence)
	}
	if PastAttempts(recs, "6650f0c2a1b2c3d4e5f6ffff") != nil {
		t.Error("an account with no records has attempts")
	}
}

// The sentences PastAttempts reads back are Describe's: a change to either
// is caught here.
func TestPastAttemptsReadsDescribesSentences(t *testing.T) {
	for _, tc := range []struct {
		ev       mono.WidgetEvent
		errType  string
		exitPage string
	}{
		{onEvent(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}), "INVALID_OTP", ""},
		{onEvent(mono.EventError, mono.EventData{ErrorType: "BANK_UNAVAILABLE"}), "BANK_UNAVAILABLE", ""},
		{onEvent(mono.EventError, mono.EventData{ErrorMessage: "Try again"}), "Try again", ""},
		{onEvent(mono.EventExit, mono.EventData{PageName: "MFA"}), "", "MFA"},
		{onEvent(mono.EventExit, mono.EventData{PageName: "LOGIN"}), "", "LOGIN"},
		{onEvent(mono.EventExit, mono.EventData{}), "", ""},
		{onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), "", ""},
	} {
		s := Describe(tc.ev)
		e, isErr := errorFromSentence(s)
		p, isExit := exitPageFromSentence(s)
		if e != tc.errType || isErr != (tc.errType != "") || p != tc.exitPage || isExit != (tc.exitPage != "") {
			t.Errorf("%q: error %q (%v) exit %q (%v)", s, e, isErr, p, isExit)
		}
	}
}

// A record the audit holds twice (a write retried after a commit that
// timed out once the store had taken it) happened once: one INVALID_OTP
// is not "twice", which would say MFA; the summary line is the same.
func TestARecordWrittenTwiceCountsOnce(t *testing.T) {
	acct := account(mono.StatusAvailable, full...)
	recs := runAttempt(t, "s1", acct, at0914, []mono.WidgetEvent{
		onEvent(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}),
	}, &Event{Kind: AgentEnded})
	var twice []audit.Record
	for _, r := range recs {
		twice = append(twice, r)
		if r.Action == audit.ActionWidgetEvent || r.Action == audit.ActionOutcome {
			twice = append(twice, r)
		}
	}
	once, got := PastAttempts(recs, acct.ID), PastAttempts(twice, acct.ID)
	if len(got) != 1 || !slices.Equal(got[0].Errors, []string{"INVALID_OTP"}) || !reflect.DeepEqual(once, got) {
		t.Fatalf("with repeats %+v, without %+v", got, once)
	}
	if a, b := audit.Summarize(recs, acct.ID, at1500), audit.Summarize(twice, acct.ID, at1500); a.Line != b.Line || !reflect.DeepEqual(a.Attempts, b.Attempts) {
		t.Fatalf("summary with repeats %q, without %q", b.Line, a.Line)
	}
}
