package audit

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
)

// Contracts an attempt's widget took, as its records show.
const (
	ContractToken   = "token"   // a token was asked for or minted (token_mint_requested, token_minted)
	ContractAccount = "account" // the widget took the account id: no token (link_prepared)
)

// AttemptSummary is one attempt at an account, read back from its records:
// a line of the account screen's history.
type AttemptSummary struct {
	Session  string
	At       time.Time // the attempt's first record
	Agent    Agent     // who ran it (the first record naming an agent)
	Contract string    // ContractToken, ContractAccount, or "" when it never got that far
	// Outcome is the machine's word (SUCCEEDED, FAILED, EXPIRED, ENDED BY
	// AGENT, TAKEN OVER), "" when none was recorded. A success wins over
	// any outcome recorded after it, as in the machine.
	Outcome   string
	OutcomeAt time.Time
	// Verification is the verification record's word ("verified", "still
	// syncing"), "" when none was recorded.
	Verification   string
	VerificationAt time.Time
	// Errors are the widget errors seen (their type, or message when the
	// widget gave no type) and a failed mint, in the order they happened.
	Errors []string
}

// Summary is what `reauth audit --account X` prints before the records,
// and the history the account screen shows.
type Summary struct {
	// Line is the one-line answer, e.g. "last attempt 07:01 by bola:
	// SUCCEEDED, verified 07:03", or "no attempts recorded".
	Line string
	// Attempts are the account's attempts, newest first.
	Attempts []AttemptSummary
}

// Summarize reads account's attempts from recs (any records, any order;
// those of account, case-insensitive, are used). An attempt is one session
// that asked for a token, prepared a link, opened a page, saw the page or the
// widget, or has an outcome: a session in which the agent only looked at the
// account is not one. Times are shown in now's location, with the date when
// it is not now's day. It does no I/O and reads no clock.
func Summarize(recs []Record, account string, now time.Time) Summary {
	var mine []Record
	for _, r := range recs {
		if r.Session != "" && strings.EqualFold(r.Account, account) {
			mine = append(mine, r)
		}
	}
	mine = WithoutRepeats(mine)
	InAttemptOrder(mine)
	type acc struct {
		s       AttemptSummary
		attempt bool
		success bool
	}
	byID := map[string]*acc{}
	var order []string
	for _, r := range mine {
		a := byID[r.Session]
		if a == nil {
			a = &acc{s: AttemptSummary{Session: r.Session}}
			byID[r.Session] = a
			order = append(order, r.Session)
		}
		if a.s.At.IsZero() || r.Time.Before(a.s.At) {
			a.s.At = r.Time
		}
		if a.s.Agent == (Agent{}) && r.Agent != (Agent{}) {
			a.s.Agent = r.Agent
		}
		switch r.Action {
		case ActionTokenMintRequested, ActionTokenMinted:
			a.attempt = true
			if a.s.Contract == "" {
				a.s.Contract = ContractToken
			}
		case ActionLinkPrepared:
			a.attempt = true
			a.s.Contract = ContractAccount
		case ActionTokenMintFailed:
			a.attempt = true
			e := "mint failed"
			if d := mono.CleanText(r.Detail); d != "" {
				e += ": " + d
			}
			a.s.Errors = append(a.s.Errors, e)
		case ActionPageOpened, ActionPageEvent:
			a.attempt = true
		case ActionWidgetEvent:
			a.attempt = true
			text := strings.TrimSuffix(mono.CleanText(r.Event), " (after the outcome)")
			if e, ok := widgetError(text); ok {
				a.s.Errors = append(a.s.Errors, e)
			}
		case ActionOutcome:
			a.attempt = true
			o := strings.ToUpper(mono.CleanText(r.Outcome))
			if o != "" && !a.success {
				a.s.Outcome, a.s.OutcomeAt = o, r.Time
				a.success = o == "SUCCEEDED"
			}
		case ActionVerification:
			a.attempt = true
			a.s.Verification, a.s.VerificationAt = strings.ToLower(mono.CleanText(r.Outcome)), r.Time
		}
	}
	var out []AttemptSummary
	for _, id := range order {
		if a := byID[id]; a.attempt {
			out = append(out, a.s)
		}
	}
	slices.SortStableFunc(out, func(x, y AttemptSummary) int { return y.At.Compare(x.At) })
	return Summary{Line: summaryLine(out, now), Attempts: out}
}

// widgetError reads the machine's error sentence back: "Error: TYPE —
// message" gives TYPE, "Error: TEXT" gives TEXT.
func widgetError(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "Error: ")
	if !ok {
		return "", false
	}
	if t, _, found := strings.Cut(rest, " — "); found {
		rest = t
	}
	rest = strings.TrimSpace(rest)
	return rest, rest != ""
}

func summaryLine(attempts []AttemptSummary, now time.Time) string {
	if len(attempts) == 0 {
		return "no attempts recorded"
	}
	a := attempts[0]
	at := func(t time.Time) string {
		t = t.In(now.Location())
		y1, m1, d1 := t.Date()
		y2, m2, d2 := now.Date()
		if y1 == y2 && m1 == m2 && d1 == d2 {
			return t.Format("15:04")
		}
		return t.Format("2006-01-02 15:04")
	}
	who := a.Agent.User
	if who == "" {
		who = "an unknown agent"
	}
	s := "last attempt " + at(a.At) + " by " + who + ": "
	if a.Outcome == "" {
		s += "no outcome recorded"
	} else {
		s += a.Outcome
	}
	switch a.Verification {
	case "":
	case "verified":
		s += ", verified " + at(a.VerificationAt)
	case "still syncing":
		s += ", not confirmed by " + at(a.VerificationAt) + " (still syncing)"
	default:
		s += ", " + a.Verification + " " + at(a.VerificationAt)
	}
	if a.Outcome != "SUCCEEDED" && len(a.Errors) > 0 {
		s += " (" + strings.Join(CountRepeats(a.Errors), ", ") + ")"
	}
	return s
}

// CountRepeats keeps the first of each repeated string, in order, with its
// count: "INVALID_OTP ×2" (the summary line and the account screen's history
// say errors this way).
func CountRepeats(ss []string) []string {
	count := map[string]int{}
	var order []string
	for _, s := range ss {
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	for i, s := range order {
		if n := count[s]; n > 1 {
			order[i] = s + " ×" + strconv.Itoa(n)
		}
	}
	return order
}
