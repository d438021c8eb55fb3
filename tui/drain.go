package tui

import (
	"context"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/state"
)

// DrainNotice tells a program that its server is draining (`reauth serve`
// on SIGTERM, tui/sshserve): the root shows a notice at the top of every
// screen until the program ends, and starting a new attempt (t, h, and o on
// a ready token) is off, with the notice as the reason. The attempt already
// live carries on.
type DrainNotice struct {
	// Until is when the server ends the sessions still running.
	Until time.Time
	// Live, if set, is told from the program's goroutine whether the
	// account screen has a live attempt (a claim being taken, a mint in
	// flight, a token, a page, the check after a success): at once, then
	// whenever that changes. The server lets a program without one go.
	Live func(live bool)
}

// drainState is the notice as the model keeps it (a pointer: Update's
// copies of the model share what was last reported).
type drainState struct {
	until    time.Time
	live     func(bool)
	reported int8 // 0: nothing yet, 1: live, 2: not live
}

// onDrain takes the notice.
func (m Model) onDrain(n DrainNotice) (Model, tea.Cmd) {
	m.drain = &drainState{until: n.Until, live: n.Live}
	m.syncKeys()
	return m, nil
}

// liveAttempt reports whether the account screen's attempt is live, or
// checking the account after a success: what a drain waits for (the check
// answers within VerifyFor; cut short, it could only be recorded
// unconfirmed). It is the model's own knowledge (the phase the machine is
// in), not the claims': an attempt whose claim could not be recorded is
// live all the same.
func (m *Model) liveAttempt() bool {
	s := m.session
	if len(m.checking) > 0 {
		return true // checks left running answer within VerifyFor too
	}
	if s == nil {
		return false
	}
	ph := s.sess.Phase()
	return attemptHolds(ph) || ph == state.Verifying || s.claims.busy
}

// reportDrain tells the server (DrainNotice.Live) when the attempt's
// liveness changed. Update calls it after every message.
func (m *Model) reportDrain() {
	d := m.drain
	if d == nil || d.live == nil {
		return
	}
	now := int8(2)
	if m.liveAttempt() {
		now = 1
	}
	if now != d.reported {
		d.reported = now
		d.live(now == 1)
	}
}

// drainKeys turns off the keys that would start a new attempt (syncKeys
// calls it last).
func (m *Model) drainKeys() {
	if m.drain == nil {
		return
	}
	m.keys.Mint.SetEnabled(false)
	m.keys.Hosted.SetEnabled(false)
	if m.session != nil && m.session.sess.Phase() == state.TokenReady {
		m.keys.OpenPage.SetEnabled(false) // o would open a new page
	}
}

// drainLine is the notice at the top of every screen ("" when not
// draining): "This server is restarting: finish with your current customer
// within 5 minutes (by 13:45); new attempts are off."
func (m Model) drainLine(w int) string {
	d := m.drain
	if d == nil {
		return ""
	}
	now := m.deps.now()
	var text string
	if left := d.until.Sub(now); left > 0 {
		mins := int((left + time.Minute - 1) / time.Minute)
		unit := " minutes"
		if mins == 1 {
			unit = " minute"
		}
		text = "This server is restarting: finish with your current customer within " + strconv.Itoa(mins) + unit +
			" (by " + d.until.In(now.Location()).Format("15:04") + "); new attempts are off."
	} else {
		text = "This server is restarting: new attempts are off; reconnect to carry on."
	}
	return m.styles.Warning.Render(ansi.Truncate(text, w, "…"))
}

// EndLive ends the account screen's live attempt, if any, in the program's
// final model (what tea.Program.Run returned: never while the program
// runs): the attempt ends ENDED BY AGENT with why as its headline ("The
// server restarted…"), its records are written and its claim released,
// before EndLive returns. A program whose context ended under a live
// attempt (a dropped connection, the end of a drain) would otherwise leave
// it with no outcome in the audit. A check after a success still under way
// stops there, recorded unconfirmed with why (state.VerifyStopped). It
// reports whether it ended a live attempt.
func (m Model) EndLive(why string) bool {
	// Checks left running stop unanswered: their words are their own
	// (nobody was on their screen).
	m.stopChecking("reauth ended while the check ran after the agent had left the account.")
	s := m.session
	if s == nil {
		return false
	}
	// What the customer did that no program applied comes first: a
	// success there is the attempt's outcome, not the agent's absence.
	m.applyWaiting(context.Background(), time.Time{})
	live := s.sess.Phase().Live()
	c := m.screenCtx(screenSession)
	if !s.endAttempt(&c, why) {
		return false
	}
	if cmd := s.flush(&c); cmd != nil {
		cmd()
	}
	return live
}
