package audit

import (
	"reflect"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	lagos := time.FixedZone("WAT", 3600)
	day := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC) // 07:00 in Lagos
	at := func(min int) time.Time { return day.Add(time.Duration(min) * time.Minute) }
	now := at(120)
	const acc = "65f1c0ffee0123456789abcd"
	bola := Agent{User: "bola", Via: ViaLocal}
	ada := Agent{User: "ada", Via: ViaSSH, KeyFingerprint: "SHA256:abc"}
	// attempt builds one session's records as state.Attempt writes them.
	attempt := func(session string, agent Agent, start int, steps ...Record) []Record {
		out := []Record{
			{Action: ActionSessionStarted},
			{Action: ActionReasonShown, Reason: "MFA required by the bank"},
		}
		out = append(out, steps...)
		for i := range out {
			out[i].Session, out[i].Account, out[i].Seq, out[i].Agent = session, acc, i+1, agent
			if out[i].Time.IsZero() {
				out[i].Time = at(start + i/4)
			}
		}
		return out
	}
	minted := []Record{
		{Action: ActionTokenMintRequested, Reason: "MFA required by the bank"},
		{Action: ActionTokenMinted, TokenFingerprint: "sha256:ab12cd34ef56"},
		{Action: ActionPageOpened, PageURL: "http://127.0.0.1:4000/s/x"},
	}
	cat := func(parts ...[]Record) []Record {
		var out []Record
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	succeeded := attempt("s1", bola, 1, cat(minted, []Record{
		{Action: ActionWidgetEvent, Event: "Customer chose GTBank"},
		{Action: ActionWidgetEvent, Event: "Error: INVALID_OTP — wrong code"},
		{Action: ActionWidgetEvent, Event: "Success: the account is re-authorised"},
		{Action: ActionOutcome, Outcome: "SUCCEEDED", Detail: "The customer finished.", Time: at(2)},
		{Action: ActionVerification, Outcome: "verified", Detail: "fresh data confirmed", Time: at(3)},
	})...)
	failed := attempt("s0", ada, -60, cat(minted, []Record{
		{Action: ActionWidgetEvent, Event: "Error: INVALID_OTP — wrong code"},
		{Action: ActionWidgetEvent, Event: "Error: INVALID_OTP"},
		{Action: ActionWidgetEvent, Event: "Error: BANK_ERROR — bank down (after the outcome)"},
		{Action: ActionOutcome, Outcome: "FAILED", Time: at(-55)},
	})...)
	lookedOnly := attempt("s2", ada, 30) // no mint, no page: not an attempt
	linkPrepared := attempt("s3", bola, 40,
		Record{Action: ActionLinkPrepared, Detail: "contract account: no token minted"},
		Record{Action: ActionPageOpened, PageURL: "http://127.0.0.1:4000/s/y"},
		Record{Action: ActionOutcome, Outcome: "FAILED", Time: at(45)},
		Record{Action: ActionOutcome, Outcome: "SUCCEEDED", Time: at(46)}, // Mono's webhook: success wins
		Record{Action: ActionOutcome, Outcome: "EXPIRED", Time: at(47)},
		Record{Action: ActionVerification, Outcome: "still syncing", Time: at(50)},
	)
	noOutcome := attempt("s4", Agent{}, 60, minted...)
	mintFailed := attempt("s5", bola, 70,
		Record{Action: ActionTokenMintRequested},
		Record{Action: ActionTokenMintFailed, Detail: "Mono is rate limiting us (429)"},
	)
	yesterday := attempt("s6", ada, -24*60, cat(minted, []Record{{Action: ActionOutcome, Outcome: "EXPIRED", Time: at(-24*60 + 10)}})...)
	other := attempt("s7", bola, 90, minted...)
	for i := range other {
		other[i].Account = "someone-else"
	}
	webhook := Record{Time: at(5), Account: acc, Action: ActionWebhookReceived, Event: "account_updated"}

	tests := []struct {
		name     string
		recs     []Record
		line     string
		sessions []string
	}{
		{"nothing", nil, "no attempts recorded", nil},
		{"only looked, and a webhook", cat(lookedOnly, []Record{webhook}), "no attempts recorded", nil},
		{"succeeded and verified", succeeded, "last attempt 07:01 by bola: SUCCEEDED, verified 07:03", []string{"s1"}},
		{"newest first, whatever the order given", cat(succeeded, failed, other),
			"last attempt 07:01 by bola: SUCCEEDED, verified 07:03", []string{"s1", "s0"}},
		{"failed with its errors", failed, "last attempt 06:00 by ada: FAILED (INVALID_OTP ×2, BANK_ERROR)", []string{"s0"}},
		{"success wins, still syncing", cat(succeeded, linkPrepared),
			"last attempt 07:40 by bola: SUCCEEDED, not confirmed by 07:50 (still syncing)", []string{"s3", "s1"}},
		{"no outcome, no agent", cat(succeeded, noOutcome), "last attempt 08:00 by an unknown agent: no outcome recorded", []string{"s4", "s1"}},
		{"mint failed", mintFailed, "last attempt 08:10 by bola: no outcome recorded (mint failed: Mono is rate limiting us (429))", []string{"s5"}},
		{"another day shows the date", yesterday, "last attempt 2026-11-24 07:00 by ada: EXPIRED", []string{"s6"}},
		{"account id in another case", succeeded, "last attempt 07:01 by bola: SUCCEEDED, verified 07:03", []string{"s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			account := acc
			if tt.name == "account id in another case" {
				account = "65F1C0FFEE0123456789ABCD"
			}
			s := Summarize(tt.recs, account, now.In(lagos))
			if s.Line != tt.line {
				t.Errorf("line\n got %q\nwant %q", s.Line, tt.line)
			}
			var got []string
			for _, a := range s.Attempts {
				got = append(got, a.Session)
			}
			if !reflect.DeepEqual(got, tt.sessions) {
				t.Errorf("attempts %v, want %v", got, tt.sessions)
			}
		})
	}

	// The history rows carry what the account screen shows.
	s := Summarize(cat(failed, succeeded, linkPrepared), acc, now)
	want := []AttemptSummary{
		{Session: "s3", At: at(40), Agent: bola, Contract: ContractAccount, Outcome: "SUCCEEDED", OutcomeAt: at(46),
			Verification: "still syncing", VerificationAt: at(50)},
		{Session: "s1", At: at(1), Agent: bola, Contract: ContractToken, Outcome: "SUCCEEDED", OutcomeAt: at(2),
			Verification: "verified", VerificationAt: at(3), Errors: []string{"INVALID_OTP"}},
		{Session: "s0", At: at(-60), Agent: ada, Contract: ContractToken, Outcome: "FAILED", OutcomeAt: at(-55),
			Errors: []string{"INVALID_OTP", "INVALID_OTP", "BANK_ERROR"}},
	}
	if !reflect.DeepEqual(s.Attempts, want) {
		t.Errorf("attempts\n got %+v\nwant %+v", s.Attempts, want)
	}
}
