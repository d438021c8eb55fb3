package tui

import (
	"context"
	"errors"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
)

// Hand-over between replicas (issue 19): an agent whose connection to one
// `reauth serve` replica dropped under a live attempt may reconnect through
// another. The replica that parked the attempt (resume.go) hands it over:
// HandOff writes what its journal still holds, so the store has every record
// of the attempt, and gives the machine's snapshot, what the old program
// read from the page and never applied, and the page to move (the runtime
// moves it: mono/connect's Export/Adopt). The receiving replica rebuilds
// the status pane from the attempt's records read back from the store
// (Handoff.History) and carries on: ResumeHandedOver.

// Handoff is a parked attempt moving to another replica. It travels over the
// replicas' authenticated internal channel, never to a log or the audit: the
// snapshot holds the token.
type Handoff struct {
	Attempt  state.AttemptSnapshot `json:"attempt"`
	Contract string                `json:"contract,omitempty"`
	Hosted   string                `json:"hosted,omitempty"`
	// Pending are the page's events the old program read and never applied
	// (its inbox), in order: they are applied first.
	Pending []mono.WidgetEvent `json:"pending,omitempty"`
	// Dropped is when the agent's connection dropped; From the replica the
	// attempt ran on.
	Dropped time.Time `json:"dropped"`
	From    string    `json:"from"`

	// Page is the moved page on the receiving replica and History the
	// attempt's lines as the store tells them (state.LinesFromRecords): the
	// receiving runtime sets both; they are not sent.
	Page    Page         `json:"-"`
	History []state.Line `json:"-"`
}

// Elsewhere is what a connecting agent's claims on other replicas come to:
// the parked attempt handed over to this replica (nil: none), and their
// attempts that could not come back (said on the account list).
type Elsewhere struct {
	Handoff  *Handoff
	Stranded []Stranded
}

// HandOff is what a parked model (one whose program stopped when its
// connection dropped) gives another replica: ok false when it has no live
// attempt to give. It writes the records its journal still holds first
// (I/O: call it outside a program), so that the store has every record of
// the attempt when the receiver reads them; an error then means the attempt
// must not move (the receiver's history would miss records). page is the
// attempt's page (nil: none open), for the runtime to move.
func (m Model) HandOff(from string) (h Handoff, page Page, ok bool, err error) {
	s := m.session
	if s == nil || !m.Resumable() || !s.sess.Phase().Live() {
		// A check after a success stays with its replica: it holds no
		// claim, so no other replica asks for it.
		return Handoff{}, nil, false, nil
	}
	if err := s.journal.drain(m.deps.Audit); err != nil {
		return Handoff{}, nil, false, err
	}
	h = Handoff{Attempt: s.att.Snapshot(), Contract: s.contract, Hosted: s.hosted, From: from}
	if s.page != nil {
		select {
		case <-s.page.Done():
		default:
			page = s.page
			s.inbox.stopReading() // the stopped program's last read lands first
			h.Pending = s.inbox.take()
		}
	}
	return h, page, true, nil
}

// ResumeHandedOver is the model a program starts from when its agent
// reconnected to this replica and the attempt their dropped connection
// left on another was handed over (h, with its moved page and its history
// from the store): the same attempt, its seq numbering carried on, its
// claim held (the runtime's next refresh says this replica runs it). ctx,
// life and deps are as for NewResumable.
func ResumeHandedOver(ctx, life context.Context, deps Deps, h Handoff) (Model, error) {
	att, err := state.RestoreAttempt(h.Attempt)
	if err != nil {
		return Model{}, err
	}
	sess := att.Session()
	if !sess.Phase().Live() {
		return Model{}, errors.New("the handed-over attempt is not live")
	}
	m := NewResumable(ctx, life, deps)
	s := &sessionScreen{att: att, sess: sess, account: sess.Account(), status: newStatusPane(), journal: &auditQueue{},
		contract: h.Contract, hosted: h.Hosted,
		// The reason came with the attempt, from the details the old
		// replica read: a mint after Back to Explaining does not wait
		// for a read nobody asked for.
		detailSeq: 1, detailSeen: 1}
	for _, l := range h.History {
		s.status.add(statusLine{at: l.At, tone: l.Tone, text: l.Text})
	}
	m.screen, m.session = screenSession, s
	c := m.screenCtx(screenSession)
	now := c.now()
	loc := now.Location()
	from := "another server"
	if h.From != "" {
		from = "replica " + h.From
	}
	s.status.add(statusLine{at: now, tone: state.ToneInfo, text: "Resumed after the connection dropped (" +
		h.Dropped.In(loc).Format("15:04:05") + "–" + now.In(loc).Format("15:04:05") + "), moved from " + from})
	// This replica's audit learns the attempt's secrets now, as the old one
	// did when it minted and served them, so no record here can hold them.
	if v := sess.Token().Value; v != "" {
		guard(deps.Audit, v)
	}
	if h.Page != nil {
		guard(deps.Audit, pageSecret(h.Page.URL()))
	}
	var cmds []tea.Cmd
	if deps.Claims != nil {
		// The attempt holds its claim already (the old replica kept it):
		// this program refreshes it (saying where it runs now) and lets it
		// go when it is done.
		s.claims.holding = true
		releaseOnEnd(&c, s.account.ID, s.id())
	}
	if h.Page != nil {
		s.page = h.Page
		context.AfterFunc(life, h.Page.Close)
		s.inbox = &eventInbox{gen: sess.Generation()}
		s.inbox.hold(h.Pending)
		cmds = append(cmds, s.catchUp(&c))
	}
	if sess.Phase() == state.Verifying {
		cmds = append(cmds, verifyLater(&c, s, sess.Generation(), 0))
	}
	cmds = append(cmds, s.flush(&c))
	m.search.leave()
	m.syncKeys()
	m.focusClaims()
	m.resumed = tea.Batch(cmds...)
	return m, nil
}
