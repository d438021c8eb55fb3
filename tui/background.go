package tui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/state"
)

// Checks that go on after the agent leaves.
//
// After a success the account is checked, by re-reads and by Mono's
// webhooks (its account_updated with sync SUCCESSFUL is its one word that
// the data is fresh), until Mono confirms (VERIFIED) or Deps.VerifyFor
// passes ("not confirmed").
// The agent's natural move once the customer is done is esc, to the next
// customer; stopping the check there left most successes recorded
// "unconfirmed". So an attempt left while it is being checked stays with
// the model (Model.checking) until the check answers: its re-reads and
// Mono's webhooks about its account go on reaching it, through Update as
// for the screen on screen; its answer is written to the audit and said
// on the list. Opening the account again brings the attempt back on screen.
// When the program ends, a front end that can wait carries the checks
// still going to their answers (SplitChecks, FinishChecks: reauth serve on
// a goroutine of its own, the local TUI before it exits, saying so);
// EndLive stops what is left, recorded unconfirmed.

// maxChecking bounds the checks kept after their screen was left: each
// answers within VerifyFor, so more than a few at once means an agent
// clicking through accounts; the oldest is stopped (recorded unconfirmed)
// to make room.
const maxChecking = 4

// checkedShown is how many finished checks the list keeps saying.
const checkedShown = 3

// keepChecking keeps s, a session screen being left, when its attempt is
// being checked after a success (it reports whether it did). Its page, if
// any, is closed as for any screen left.
func (m *Model) keepChecking(s *sessionScreen) (kept bool, cmd tea.Cmd) {
	if s == nil || s.sess.Phase() != state.Verifying {
		return false, nil
	}
	var cmds []tea.Cmd
	list := slices.Clone(m.checking)
	if len(list) >= maxChecking {
		oldest := list[0]
		list = list[1:]
		cmds = append(cmds, m.stopCheck(oldest, "The agent left more accounts being checked than reauth keeps; this one stopped first."))
		m.search.checked(oldest.account.ID, oldest.title(), oldest.sess.Phase(), oldest.sess.Verification())
	}
	m.checking = append(list, s)
	m.search.checksChanged(m.checking)
	return true, tea.Batch(append(cmds, s.dropPage())...)
}

// stopCheck ends a kept check unanswered (recorded as such) and returns
// the Cmd writing its records.
func (m *Model) stopCheck(s *sessionScreen, why string) tea.Cmd {
	c := m.screenCtx(screenSession)
	c.front = false
	s.endAttempt(&c, why)
	return s.flush(&c)
}

// takeChecking removes and returns the kept check on account id, if any.
func (m *Model) takeChecking(id string) *sessionScreen {
	i := slices.IndexFunc(m.checking, func(s *sessionScreen) bool { return s.account.ID == id })
	if i < 0 {
		return nil
	}
	s := m.checking[i]
	m.checking = slices.Delete(slices.Clone(m.checking), i, i+1)
	m.search.checksChanged(m.checking)
	return s
}

// toChecking hands a message to the kept checks: a re-read's answer to
// the attempt it was made for, Mono's webhooks to the check on their
// account. It reports whether one of them took msg (a re-read's answer is
// never for another screen).
func (m Model) toChecking(msg tea.Msg) (Model, tea.Cmd, bool) {
	var s *sessionScreen
	switch msg := msg.(type) {
	case verifyResultMsg:
		i := slices.IndexFunc(m.checking, func(s *sessionScreen) bool { return s.id() == msg.attempt })
		if i < 0 {
			return m, nil, false
		}
		s = m.checking[i]
	case AccountSignal:
		i := slices.IndexFunc(m.checking, func(s *sessionScreen) bool { return s.account.ID == msg.AccountID })
		if i < 0 {
			return m, nil, false
		}
		s = m.checking[i]
	default:
		return m, nil, false
	}
	c := m.screenCtx(screenSession)
	c.front = false
	cmd, _ := s.update(&c, msg)
	if s.sess.Phase() != state.Verifying {
		// The check has its answer (written by cmd's flush): say it on
		// the list, where the agent is. Its journal is kept for retries
		// should the store fail to take the answer, as for a screen left.
		m.takeChecking(s.account.ID)
		m.search.checked(s.account.ID, s.title(), s.sess.Phase(), s.sess.Verification())
		cmd = tea.Batch(cmd, m.keepUnwritten(s.journal))
	}
	m, posted := m.settle(cmd, c.posted)
	_, isSignal := msg.(AccountSignal)
	return m, posted, !isSignal
}

// stopChecking ends every kept check unanswered, with why, and writes
// their records (I/O: for a program's final model, EndLive).
func (m *Model) stopChecking(why string) {
	for _, s := range m.checking {
		if cmd := m.stopCheck(s, why); cmd != nil {
			cmd()
		}
	}
	m.checking = nil
}

// checkingLines are the list's lines about the checks that answered,
// newest first, then those under way, each sentence wrapped to width, at
// most maxLines in all.
func (s *searchScreen) checkingLines(c *screenCtx, width, maxLines int) []string {
	if maxLines < 1 || len(s.checks)+len(s.checkedNotes) == 0 {
		return nil
	}
	st := c.styles
	var out []string
	add := func(sentence string, style func(...string) string) {
		for l := range strings.SplitSeq(ansi.Wrap(sentence, max(1, width), ""), "\n") {
			if len(out) < maxLines {
				out = append(out, style(l))
			}
		}
	}
	// The answers first (news), then one sentence for the checks going on.
	for _, n := range s.checkedNotes {
		add(n.text, st.Value.Render)
	}
	if len(s.checks) > 0 {
		names := make([]string, len(s.checks))
		for i, n := range s.checks {
			names[i] = n.text
		}
		add("Checking that Mono has fresh data for "+strings.Join(names, ", ")+" after the reauth; the answer goes to the audit and shows here.", st.Faint.Render)
	}
	return out
}

// checkNote is a line the list says about an account's check: the name
// of an account being checked, or a check's answer.
type checkNote struct {
	account string // the account's id
	text    string
}

// checksChanged sets the accounts being checked, as the list says them.
func (s *searchScreen) checksChanged(list []*sessionScreen) {
	s.checks = nil
	for _, c := range list {
		s.checks = append(s.checks, checkNote{account: c.account.ID, text: c.title()})
	}
}

// checked says a kept check's answer on the list (until the account is
// opened, or newer answers push it out).
func (s *searchScreen) checked(id, name string, ph state.Phase, v state.Verification) {
	note := checkNote{account: id, text: name + " (" + checkWord(ph) + "): " + v.Headline}
	s.checkedNotes = append([]checkNote{note}, s.checkedNotes...)
	if len(s.checkedNotes) > checkedShown {
		s.checkedNotes = s.checkedNotes[:checkedShown]
	}
}

// forgetChecked drops the answers said about account id (its screen is
// open again: it says them itself).
func (s *searchScreen) forgetChecked(id string) {
	s.checkedNotes = slices.DeleteFunc(slices.Clone(s.checkedNotes), func(n checkNote) bool { return n.account == id })
}

// CheckAside is a program's final model with the account screen's check
// after a success, if one is under way, set aside with the checks left
// running (as leaving the screen would), for SplitChecks: for a front end
// that lets the program go without parking it (an idle timeout, a drain's
// end) yet can carry the check to its answer. I/O: it closes the screen's
// page, if any.
func (m Model) CheckAside() Model {
	if kept, cmd := m.keepChecking(m.session); kept {
		m.session = nil
		if cmd != nil {
			cmd()
		}
	}
	return m
}

// SplitChecks parts a program's final model into the model without its
// checks left running (rest: EndLive, WriteUnwritten, park it) and a model
// holding only them (checks: FinishChecks, then WriteUnwritten), so that
// each can be let go on a goroutine of its own.
func (m Model) SplitChecks() (rest, checks Model) {
	rest, checks = m, m
	rest.checking = nil
	checks.session, checks.unwritten = nil, nil
	return rest, checks
}

// Checking is the names of the accounts whose checks the model holds.
func (m Model) Checking() []string {
	names := make([]string, 0, len(m.checking))
	for _, s := range m.checking {
		names = append(names, s.title())
	}
	return names
}

// CheckingLeft is how long the model's checks left running may still take
// at most (0: none): the last of them gives up VerifyFor after it began.
func (m Model) CheckingLeft() time.Duration {
	var left time.Duration
	now := m.deps.now()
	for _, s := range m.checking {
		left = max(left, s.verifyAt.Add(m.deps.VerifyFor).Sub(now))
	}
	return left
}

// checkWord is a finished check's answer in one word or two: "verified",
// or "not confirmed" (StillSyncing: whether the account is still syncing
// nobody knows; only that Mono did not confirm fresh data).
func checkWord(ph state.Phase) string {
	if ph == state.Verified {
		return "verified"
	}
	return "not confirmed"
}

// Word is the check's answer as the list and the local TUI say it.
func (r CheckResult) Word() string { return checkWord(r.Phase) }

// CheckResult is how a check left running ended (FinishChecks).
type CheckResult struct {
	Name     string      // the account's name
	Phase    state.Phase // Verified, or StillSyncing (not confirmed, or stopped)
	Headline string      // the verification's one sentence
}

// FinishChecks carries the model's checks left running to their answers,
// re-reading each account as the program did, until each check answers
// (VERIFIED, or not confirmed once Deps.VerifyFor has passed since it
// began) or ctx ends; a check still going then stops unanswered, recorded
// with why (or, when Mono's reads hang past the bound, saying so). Each answer is written to the audit (and a verified account's
// mark cleared) as it comes. I/O that may take VerifyFor: call it on a
// program's final model (or SplitChecks' checks), outside any program.
func (m Model) FinishChecks(ctx context.Context, why string) []CheckResult {
	if len(m.checking) == 0 {
		return nil
	}
	// A bound beyond VerifyFor plus one backoff, should the clock or Mono
	// misbehave.
	bounded, cancel := context.WithTimeout(ctx, m.deps.VerifyFor+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range m.checking {
		wg.Go(func() { m.finishCheck(bounded, s) })
	}
	wg.Wait()
	if ctx.Err() == nil {
		why = "Mono's re-reads did not answer in time."
	}
	out := make([]CheckResult, 0, len(m.checking))
	for _, s := range m.checking {
		if cmd := m.stopCheck(s, why); cmd != nil {
			cmd()
		}
		out = append(out, CheckResult{Name: s.title(), Phase: s.sess.Phase(), Headline: s.sess.Verification().Headline})
	}
	return out
}

// finishCheck carries s's check to its answer or until ctx ends, writing
// each change's records (FinishChecks runs one per check; each owns its
// screen).
func (m Model) finishCheck(ctx context.Context, s *sessionScreen) {
	m.awaitCheck(ctx, s, func(c *screenCtx, _ state.Phase) {
		if cmd := s.flush(c); cmd != nil {
			cmd()
		}
	})
}

// awaitCheck runs s's check after a success outside any program, until it
// answers or ctx ends: Mono's webhooks about the account as they come (its
// account_updated with sync SUCCESSFUL is the only word that the data is
// fresh: a read never says when it synced), and a re-read at each backoff,
// with the webhook store's newest word. After each change it calls settle
// (before: the phase before it), which writes what the change recorded.
// A re-read cut short by ctx is not applied.
func (m Model) awaitCheck(ctx context.Context, s *sessionScreen, settle func(c *screenCtx, before state.Phase)) {
	news := m.webhookNews(ctx)
	var reread *time.Timer // the next re-read; webhooks do not put it off
	defer func() {
		if reread != nil {
			reread.Stop()
		}
	}()
	for s.sess.Phase() == state.Verifying {
		if reread == nil {
			reread = time.NewTimer(s.nextReread(m.deps))
		}
		c := m.screenCtx(screenSession)
		c.front = false
		before, applied := s.sess.Phase(), false
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-news:
			if !ok {
				news = nil
				continue
			}
			applied = s.applyWebhook(&c, sig)
		case <-reread.C:
			reread = nil
			a, err := c.deps.Mono.Account(ctx, s.account.ID)
			if ctx.Err() != nil {
				return
			}
			applied = s.applyReread(&c, s.sess.Generation(), a, err, latestWebhook(c.deps, s.account.ID))
		}
		if applied {
			settle(&c, before)
		}
	}
}
