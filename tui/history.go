package tui

import (
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// accountHistory is what the audit said about an account's attempts when
// its details were read (Deps.Attempts): the account screen's History.
type accountHistory struct {
	summary audit.Summary
	ok      bool // false: the audit could not be read
}

// maxHistoryRows is how many earlier attempts the History block lists.
const maxHistoryRows = 3

// historyLabel starts the History block; its rows are indented as the
// reason's From and Say lines go on (historyIndent).
const (
	historyLabel  = "History "
	historyIndent = "     "
)

// liveElsewhere is an attempt on the account that the team's claims say is
// running somewhere else (a colleague's, or the agent's other session), or
// was until its server went silent: the audit has no outcome for it yet,
// and the History says what the claim knows instead of "no outcome".
type liveElsewhere struct {
	attempt string // its audit session id; "": none
	word    string // "in progress", "interrupted"
}

// historyLines is the account screen's History block, at most room lines
// (none when room < 1): the audit's summary line, then up to
// maxHistoryRows earlier attempts, one line each (when, who, contract,
// outcome and verification, the errors seen). current is the attempt on
// screen: it is not an earlier attempt, so it is never listed. When the
// newest is live's attempt, the rows alone are shown (the summary line
// would say "no outcome recorded" of it). h nil: not read (yet), nothing
// shown.
func historyLines(st *Styles, h *accountHistory, current string, live liveElsewhere, now time.Time, width, room int) []string {
	if h == nil || room < 1 {
		return nil
	}
	label := st.Label.Render(historyLabel)
	if !h.ok {
		// Never "no attempts": the audit did not answer.
		return []string{ansi.Truncate(label+st.Warning.Render("history unavailable")+
			st.Faint.Render(" (the audit could not be read)"), width, "…")}
	}
	var earlier []audit.AttemptSummary
	for _, a := range h.summary.Attempts {
		if a.Session != current {
			earlier = append(earlier, a)
		}
	}
	if len(earlier) == 0 {
		return []string{label + st.Faint.Render("no earlier attempts")}
	}
	earlier = earlier[:min(len(earlier), maxHistoryRows)]
	rows := historyRows(st, earlier, live, now)
	var out []string
	if newest := h.summary.Attempts[0]; newest.Session != current && (newest.Session != live.attempt || newest.Outcome != "") {
		// The summary line speaks of the newest attempt, an earlier one.
		out = append(out, label+st.Value.Render(h.summary.Line))
	} else {
		// The newest is this one (a re-read after its mint), or one the
		// claims say is live elsewhere: the rows alone.
		out = append(out, label+rows[0])
		rows = rows[1:]
	}
	for _, r := range rows {
		out = append(out, historyIndent+r)
	}
	for i := range out {
		out[i] = ansi.Truncate(out[i], width, "…")
	}
	return out[:min(len(out), room)]
}

// historyRows renders attempts one line each, their columns aligned:
// when, who, contract, outcome (and verification), the errors seen.
func historyRows(st *Styles, attempts []audit.AttemptSummary, live liveElsewhere, now time.Time) []string {
	const cols = 4
	plain := make([][cols]string, len(attempts))
	styled := make([][cols]string, len(attempts))
	var widths [cols]int
	for i, a := range attempts {
		who := a.Agent.User
		if who == "" {
			who = "unknown agent"
		}
		who = ansi.Truncate(who, 16, "…")
		contract := a.Contract
		if contract == "" {
			contract = "—" // it never got as far as a token or a link
		}
		when := historyTime(a.At, now)
		oPlain, oStyled := historyOutcome(st, a, live)
		plain[i] = [cols]string{when, who, contract, oPlain}
		styled[i] = [cols]string{st.Faint.Render(when), st.Value.Render(who), st.Faint.Render(contract), oStyled}
		for j, p := range plain[i] {
			widths[j] = max(widths[j], ansi.StringWidth(p))
		}
	}
	out := make([]string, len(attempts))
	for i, a := range attempts {
		var b strings.Builder
		for j := range cols {
			if j > 0 {
				b.WriteString("  ")
			}
			b.WriteString(styled[i][j])
			b.WriteString(strings.Repeat(" ", widths[j]-ansi.StringWidth(plain[i][j])))
		}
		if len(a.Errors) > 0 {
			b.WriteString("  " + st.Tone(state.ToneError).Render(strings.Join(audit.CountRepeats(a.Errors), ", ")))
		}
		out[i] = strings.TrimRight(b.String(), " ")
	}
	return out
}

// historyOutcome is an attempt's outcome and verification, plain (for the
// column's width) and styled by their typed tones.
func historyOutcome(st *Styles, a audit.AttemptSummary, live liveElsewhere) (plain, styled string) {
	if a.Outcome == "" && live.attempt != "" && a.Session == live.attempt {
		return live.word, st.Tone(state.ToneWarning).Render(live.word)
	}
	if a.Outcome == "" {
		return "no outcome", st.Tone(state.ToneFaint).Render("no outcome")
	}
	tone := state.ToneInfo
	if k := outcomeKindOf(a.Outcome); k != state.OutcomeNone {
		tone = k.Tone()
	}
	plain, styled = a.Outcome, st.Tone(tone).Render(a.Outcome)
	if v := a.Verification; v != "" {
		vt := state.ToneInfo
		switch v {
		case "verified":
			vt = state.ToneSuccess
		case "still syncing":
			vt = state.ToneWarning
		}
		plain += ", " + v
		styled += st.Faint.Render(", ") + st.Tone(vt).Render(v)
	}
	return plain, styled
}

// outcomeKindOf reads the audit's outcome word back as the machine's kind
// (OutcomeNone for a word it does not know).
func outcomeKindOf(word string) state.OutcomeKind {
	for k := state.OutcomeSucceeded; k <= state.OutcomeTakenOver; k++ {
		if strings.EqualFold(word, k.String()) {
			return k
		}
	}
	return state.OutcomeNone
}

// historyTime is t in local time: the time alone today, with the day this
// year, with the year before.
func historyTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return t.Format("15:04")
	case y1 == y2:
		return t.Format("02 Jan 15:04")
	}
	return t.Format("02 Jan 2006")
}
