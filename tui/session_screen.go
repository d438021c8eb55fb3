package tui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// dialog is a yes/no question the agent must answer before going on.
type dialog int

const (
	noDialog dialog = iota
	confirmReplaceToken
	confirmLeaveLivePage
	confirmQuit
	confirmHealthyMint
)

// sessionScreen is one account's reauth: reason, token, page, live status.
// Every change of phase goes through state.Session.Apply.
type sessionScreen struct {
	// att is the attempt every front end runs (state.Attempt): the machine,
	// its status lines and its audit records. sess is att's current
	// session, kept beside it for reading.
	att  state.Attempt
	sess state.Session
	// journal holds att's audit records until a Cmd writes them, in
	// order, whichever Cmd runs first.
	journal  *auditQueue
	account  mono.Account
	status   statusPane
	page     Page // the served page, nil until PageServed
	reveal   bool // the token shown in full
	showLink bool // the page link shown in full (its secret included)
	showWhy  bool // the reason's evidence and script, once the page is open
	// contract is what the widget script takes ("token", "account"), found
	// before the first mint; "" until then. With "account" no token is
	// minted: t prepares the link.
	contract       string
	pendingReplace bool      // the mint waiting for the contract replaces a live token
	clearMarkAt    time.Time // a verified success to clear the account's mark for, at the next flush
	dialog         dialog
	picking        bool // choosing a reason override
	pickIdx        int
	hosted         string // hosted reauth link (link.mono.co), once created
	hostedBusy     bool
	notice         string // one-line feedback ("Link sent…"), cleared by the next key or after noticeFor
	noticeOK       bool
	noticeAt       time.Time
	verifyAt       time.Time // when verification began, bounds the re-reads
	// detailErr says why the account's details could not be read (the
	// list's copy stays on screen); R asks again.
	detailErr string
	// verifyErr is the last re-read failure shown, so a run of identical
	// failures adds one status line, not one per attempt.
	verifyErr string
}

// Messages of the session screen. Each result carries the state machine's
// generation at request time, so a late answer for an abandoned attempt is
// refused by Apply instead of overwriting the current one.
type (
	accountDetailMsg struct {
		gen     uint64
		account mono.Account
		signals state.Signals // Mono's webhooks and past attempts (Deps.SignalsFor)
		err     error
	}
	mintResultMsg struct {
		gen   uint64
		token mono.Token
		err   error
	}
	pageResultMsg struct {
		gen  uint64
		page Page
		err  error
	}
	// widgetMsg carries the events that were waiting when the page was
	// read (at least one, at most maxEventBatch), in the page's order: a
	// burst costs one Update and one View, not one per event.
	widgetMsg struct {
		gen  uint64
		page Page
		evs  []mono.WidgetEvent
	}
	pageEndedMsg struct {
		gen  uint64
		page Page
		why  string // Page.EndReason
	}
	verifyResultMsg struct {
		gen     uint64
		account mono.Account
		err     error
		kicked  bool // an extra read prompted by a webhook: schedules no follow-up
	}
	browserResultMsg struct{ err error }
	contractMsg      struct {
		contract string
		err      error
	}
	hostedLinkMsg struct {
		url string
		err error
	}
)

func newSessionScreen(m *Model, a mono.Account) *sessionScreen {
	s := &sessionScreen{att: state.NewAttempt(newSessionID()), account: a, status: newStatusPane(), journal: &auditQueue{}}
	s.apply(m, state.Event{Kind: state.AccountChosen, Account: a})
	return s
}

// id is the audit correlation id of this attempt.
func (s *sessionScreen) id() string { return s.att.ID() }

func newSessionID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start fetches the account's details (the list may lack the evidence) and
// records the start in the audit.
func (s *sessionScreen) start(m *Model) tea.Cmd {
	return tea.Batch(m.fetchDetail(s.sess.Generation(), s.account.ID), s.flush(m))
}

// apply runs one event through the attempt: its lines go to the status
// pane and its audit records wait in pending for the next flush, so they
// are written in the order they happened. A refused event changes nothing.
func (s *sessionScreen) apply(m *Model, ev state.Event) error {
	st, err := s.att.Apply(ev, m.deps.now())
	if err != nil {
		return err
	}
	s.sess = s.att.Session()
	for _, l := range st.Lines {
		s.status.add(statusLine{at: l.At, tone: l.Tone.String(), text: l.Text})
	}
	s.journal.push(st.Records)
	if st.After == state.Verified && st.Before != state.Verified {
		// A verified success clears the account's "needs reauth" mark
		// (in the store, by the next flush's Cmd: it writes a file).
		s.clearMarkAt = m.deps.now()
	}
	return nil
}

// flush is a Cmd that writes the journal's records (each waits for an
// fsync: never in Update), and clears the account's mark after a verified
// success.
func (s *sessionScreen) flush(m *Model) tea.Cmd {
	q, rec := s.journal, m.deps.Audit
	clearMark, at, id := m.deps.ClearMark, s.clearMarkAt, s.account.ID
	s.clearMarkAt = time.Time{}
	if rec == nil && (clearMark == nil || at.IsZero()) {
		return nil
	}
	return func() tea.Msg {
		q.drain(rec)
		if clearMark != nil && !at.IsZero() {
			clearMark(id, at)
		}
		return nil
	}
}

// auditQueue keeps an attempt's audit records in the order Update made
// them, for Cmds that run in any order: each drain writes everything queued
// so far, in order, one drain at a time, so records reach the audit in
// their Seq order however the Cmds are scheduled. It is the Cmds' buffer,
// not model state: Update only appends.
type auditQueue struct {
	mu      sync.Mutex
	pending []audit.Record
	writing sync.Mutex
}

func (q *auditQueue) push(recs []audit.Record) {
	if len(recs) == 0 {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, recs...)
	q.mu.Unlock()
}

// drain writes every queued record to rec, in order.
func (q *auditQueue) drain(rec Recorder) {
	if rec == nil {
		return
	}
	q.writing.Lock()
	defer q.writing.Unlock()
	q.mu.Lock()
	recs := q.pending
	q.pending = nil
	q.mu.Unlock()
	for _, r := range recs {
		rec.Record(r)
	}
}

// dropPage detaches the screen's page and returns the Cmd that closes it:
// closing ends the page server's session (and logs), so it is not done in
// Update.
func (s *sessionScreen) dropPage() tea.Cmd {
	p := s.page
	s.page = nil
	return closePage(p)
}

func closePage(p Page) tea.Cmd {
	if p == nil {
		return nil
	}
	return func() tea.Msg { p.Close(); return nil }
}

// fetchDetail reads the account's details and what else is known about it
// (Deps.SignalsFor: its webhook marks, its past attempts in the audit):
// both may do I/O, so both run here.
func (m Model) fetchDetail(gen uint64, id string) tea.Cmd {
	ctx, api, signalsFor := m.ctx, m.deps.Mono, m.deps.SignalsFor
	return func() tea.Msg {
		a, err := api.Account(ctx, id)
		var sig state.Signals
		if signalsFor != nil {
			sig = signalsFor(ctx, id)
		}
		return accountDetailMsg{gen: gen, account: a, signals: sig, err: err}
	}
}

// mint writes recs (the token_mint_requested record) before the request
// leaves the process, so every token Mono issues is in the audit even if
// the program dies before the answer.
func (m Model) mint(gen uint64, id string, journal *auditQueue) tea.Cmd {
	ctx, api, rec := m.ctx, m.deps.Mono, m.deps.Audit
	return func() tea.Msg {
		journal.drain(rec)
		t, err := api.Reauthorise(ctx, id)
		guard(rec, t.Value)
		return mintResultMsg{gen: gen, token: t, err: err}
	}
}

func (m Model) openPage(gen uint64, req PageRequest) tea.Cmd {
	ctx, pages, rec := m.ctx, m.deps.Pages, m.deps.Audit
	return func() tea.Msg {
		if pages == nil {
			return pageResultMsg{gen: gen, err: errors.New("no page server is configured")}
		}
		p, err := pages.Open(ctx, req)
		if err == nil {
			guard(rec, pageSecret(p.URL()))
		}
		return pageResultMsg{gen: gen, page: p, err: err}
	}
}

// maxEventBatch bounds the events one widgetMsg carries, so a flooding
// page still lets keys and other messages in between its bursts.
const maxEventBatch = 64

// waitEvent hands recs (this page's audit records from the last Update) to
// the audit, then reads the page's next events: the first one it waits for,
// then every one already queued behind it (up to maxEventBatch), in order.
// Events arrive through the page server's buffer, so this never holds up
// the browser's HTTP request.
func (m Model) waitEvent(gen uint64, p Page, journal *auditQueue) tea.Cmd {
	ctx, rec := m.ctx, m.deps.Audit
	return func() tea.Msg {
		// Each Record waits for an fsync: not on the way to the next
		// event. The journal keeps them in order.
		go journal.drain(rec)
		select {
		case ev, ok := <-p.Events():
			if !ok {
				return pageEndedMsg{gen: gen, page: p, why: p.EndReason()}
			}
			return widgetMsg{gen: gen, page: p, evs: guardCodes(rec, drainEvents(p, ev))}
		case <-p.Done():
			// Drain what was queued before the end so no outcome is lost.
			select {
			case ev, ok := <-p.Events():
				if ok {
					return widgetMsg{gen: gen, page: p, evs: guardCodes(rec, drainEvents(p, ev))}
				}
			default:
			}
			return pageEndedMsg{gen: gen, page: p, why: p.EndReason()}
		case <-ctx.Done():
			return nil
		}
	}
}

// pageSecret is the secret a page URL carries in its fragment.
func pageSecret(u string) string {
	_, frag, _ := strings.Cut(u, "#")
	return frag
}

// guardCodes registers the onSuccess codes of evs with rec before the
// events reach Update (and so before any record of them).
func guardCodes(rec Recorder, evs []mono.WidgetEvent) []mono.WidgetEvent {
	for _, ev := range evs {
		if ev.Data.Code != "" {
			guard(rec, ev.Data.Code)
		}
	}
	return evs
}

// drainEvents returns first and the events already waiting behind it, up to
// maxEventBatch, without blocking. A closed channel ends the batch; the
// next waitEvent reports the end.
func drainEvents(p Page, first mono.WidgetEvent) []mono.WidgetEvent {
	evs := []mono.WidgetEvent{first}
	for len(evs) < maxEventBatch {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}

// initiateHosted asks Mono for a hosted reauth link (for a customer who is
// not at the agent's screen); ref ties Mono's webhooks back to this session.
func (m Model) initiateHosted(accountID, ref string) tea.Cmd {
	ctx, api, redirect := m.ctx, m.deps.Mono, m.deps.RedirectURL
	return func() tea.Msg {
		u, err := api.InitiateReauth(ctx, accountID, "reauth-"+ref, redirect)
		return hostedLinkMsg{url: u, err: err}
	}
}

func (m Model) launchBrowser(url string) tea.Cmd {
	open := m.deps.OpenBrowser
	if open == nil {
		return nil
	}
	return func() tea.Msg { return browserResultMsg{err: open(url)} }
}

func (m Model) verifyLater(gen uint64, id string, after time.Duration) tea.Cmd {
	ctx, api := m.ctx, m.deps.Mono
	return func() tea.Msg {
		t := time.NewTimer(after)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
		a, err := api.Account(ctx, id)
		return verifyResultMsg{gen: gen, account: a, err: err}
	}
}

// record writes an audit entry off the UI goroutine (it fsyncs).
func (m Model) record(e audit.Record) tea.Cmd {
	return m.recordCmd([]audit.Record{e})
}

// recordAll writes audit entries one after another, in order, off the UI
// goroutine.
func (m Model) recordAll(es []audit.Record) func() {
	rec := m.deps.Audit
	if rec == nil || len(es) == 0 {
		return nil
	}
	return func() {
		for _, e := range es {
			rec.Record(e)
		}
	}
}

// update handles the session's own messages; ok is false for others.
func (s *sessionScreen) update(m *Model, msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case accountDetailMsg:
		if msg.gen != s.sess.Generation() || s.sess.Phase() != state.Explaining {
			return nil, true // the agent has moved on; the list's data stays
		}
		msg.signals.Now = m.deps.now()
		if msg.err != nil {
			// Details are a refinement: the list's copy stays and the agent
			// can carry on, but must know the reason may lack evidence.
			s.detailErr = plainError(msg.err)
		} else {
			s.detailErr = ""
			s.account = mergeAccount(s.account, msg.account)
		}
		// The fuller account and the signals let the reason see its evidence.
		recs, err := s.att.Refine(s.account, msg.signals, m.deps.now())
		if err != nil {
			return nil, true
		}
		s.sess = s.att.Session()
		s.journal.push(recs)
		return s.flush(m), true
	case mintResultMsg:
		return s.onMint(m, msg), true
	case pageResultMsg:
		return s.onPage(m, msg), true
	case widgetMsg:
		return s.onWidget(m, msg), true
	case pageEndedMsg:
		if msg.page != s.page {
			return nil, true
		}
		before := s.sess.Phase()
		if msg.why == connect.EndExpired {
			// The page server ended it at the token's expiry: the clock
			// says so too.
			_ = s.apply(m, state.Event{Kind: state.Tick})
		} else {
			_ = s.apply(m, state.Event{Kind: state.PageGone, Generation: msg.gen, Replaced: msg.why == connect.EndReplaced})
		}
		return tea.Batch(s.afterChange(m, before), s.flush(m)), true
	case verifyResultMsg:
		return s.onVerify(m, msg), true
	case hostedLinkMsg:
		s.hostedBusy = false
		if msg.err != nil {
			s.setNotice(m, "Hosted link failed: "+plainError(msg.err), false)
			return nil, true
		}
		s.hosted = mono.CleanText(msg.url)
		// Mono documents no lifetime for a hosted link and sends no widget
		// events from it: only its webhooks tell how it went.
		text := "Hosted reauth link created and sent to your clipboard; its progress comes only from Mono's webhooks"
		if !m.deps.WebhookReceiver {
			text = "Hosted reauth link created and sent to your clipboard. No webhook receiver runs here (--webhook-addr), so its progress will not show by itself: check the account later"
		}
		s.status.add(statusLine{at: m.deps.now(), tone: "info", text: text})
		return tea.Batch(tea.SetClipboard(s.hosted), m.record(audit.Record{Session: s.id(), Account: s.account.ID,
			Action: audit.ActionHostedLinkCreated, PageURL: s.hosted})), true
	case contractMsg:
		if msg.err != nil {
			s.setNotice(m, plainError(msg.err), false)
			return nil, true
		}
		s.notice = ""
		s.contract = msg.contract
		return s.requestMint(m, s.pendingReplace), true
	case browserResultMsg:
		if msg.err != nil {
			s.setNotice(m, "Could not open a browser here: press l to show the link, c to copy it.", false)
		}
		return nil, true
	}
	return nil, false
}

// mergeAccount lays a detail read over the list's copy: Mono's detail reply
// lacks the customer's name and email that the list carries. The sync
// fields are not carried over: a detail read without them means Mono no
// longer reports a problem (after a reauth, that is the point).
func mergeAccount(list, detail mono.Account) mono.Account {
	if detail.Customer.Name == "" {
		detail.Customer.Name = list.Customer.Name
	}
	if detail.Customer.Email == "" {
		detail.Customer.Email = list.Customer.Email
	}
	if detail.Customer.ID == "" {
		detail.Customer.ID = list.Customer.ID
	}
	if detail.Institution.ID == "" {
		detail.Institution.ID = list.Institution.ID
	}
	if detail.LastSyncedAt.IsZero() {
		detail.LastSyncedAt = list.LastSyncedAt
	}
	return detail
}

func (s *sessionScreen) onMint(m *Model, msg mintResultMsg) tea.Cmd {
	before := s.sess.Phase()
	if msg.err != nil {
		refused := mono.KindOf(msg.err) == mono.KindCannotReauth
		if s.apply(m, state.Event{Kind: state.MintFailed, Generation: msg.gen, Err: errors.New(plainError(msg.err)), Refused: refused}) != nil {
			return nil
		}
		return tea.Batch(s.afterChange(m, before), s.flush(m))
	}
	if s.apply(m, state.Event{Kind: state.MintSucceeded, Generation: msg.gen, Token: msg.token}) != nil {
		return nil // stale: a newer request or Back superseded it
	}
	s.reveal = false
	return tea.Batch(s.afterChange(m, before), s.flush(m))
}

func (s *sessionScreen) onPage(m *Model, msg pageResultMsg) tea.Cmd {
	// The token can expire while the page starts: Apply then moves the
	// session to Expired, and afterChange records that outcome.
	before := s.sess.Phase()
	if msg.err != nil {
		_ = s.apply(m, state.Event{Kind: state.PageFailed, Generation: msg.gen, Err: errors.New(plainError(msg.err))})
		return tea.Batch(s.afterChange(m, before), s.flush(m))
	}
	err := s.apply(m, state.Event{Kind: state.PageServed, Generation: msg.gen, PageURL: msg.page.URL(), Pairing: msg.page.PairingCode()})
	if err != nil || s.sess.Phase().HasOutcome() {
		// Nobody is waiting for this page any more, or its token expired
		// while it started: a page for a dead token must not reach the
		// customer.
		return tea.Batch(closePage(msg.page), s.afterChange(m, before), s.flush(m))
	}
	var closeOld tea.Cmd
	if s.page != msg.page {
		closeOld = s.dropPage()
	}
	s.page = msg.page
	// If the program ends without a quit key (SSH drop, shutdown, signal),
	// the customer's page must still be closed.
	context.AfterFunc(m.ctx, msg.page.Close)
	return tea.Batch(closeOld, m.waitEvent(msg.gen, msg.page, s.journal), m.launchBrowser(msg.page.URL()))
}

// onWidget applies a page's events in their order, as if each came in its
// own message. Status lines and the audit's widget_event records follow the
// same order; phase changes (outcomes) are reacted to after the event that
// caused them.
func (s *sessionScreen) onWidget(m *Model, msg widgetMsg) tea.Cmd {
	if msg.page != s.page {
		return nil // an old page still talking: ignore it
	}
	var cmds []tea.Cmd
	for _, ev := range msg.evs {
		if msg.page != s.page {
			break // an earlier event ended this page (its token expired)
		}
		before := s.sess.Phase()
		if s.apply(m, state.Event{Kind: state.Widget, Generation: msg.gen, Widget: ev}) != nil {
			continue
		}
		if c := s.afterChange(m, before); c != nil {
			cmds = append(cmds, c)
		}
	}
	if msg.page != s.page {
		// Stop reading the dropped page; what this batch must record still is.
		return tea.Batch(append(cmds, s.flush(m))...)
	}
	wait := m.waitEvent(msg.gen, msg.page, s.journal)
	if len(cmds) == 0 {
		return wait // the usual case: no tea.Batch round trip per event
	}
	return tea.Batch(append(cmds, wait)...)
}

// recordCmd is recordAll as a tea.Cmd.
func (m Model) recordCmd(es []audit.Record) tea.Cmd {
	f := m.recordAll(es)
	if f == nil {
		return nil
	}
	return func() tea.Msg { f(); return nil }
}

// afterChange reacts to a phase change (the attempt has said and recorded
// it): an expired token's page is closed, a success starts verification.
func (s *sessionScreen) afterChange(m *Model, before state.Phase) tea.Cmd {
	now := m.deps.now()
	after := s.sess.Phase()
	if after == before {
		return nil
	}
	var cmds []tea.Cmd
	if after == state.Expired || after == state.EndedByAgent || after == state.TakenOver {
		cmds = append(cmds, s.dropPage()) // its page can do nothing more
	}
	if after == state.Succeeded {
		if s.apply(m, state.Event{Kind: state.VerifyStarted, Generation: s.sess.Generation()}) == nil {
			// The header and banner say the account is being checked.
			s.verifyAt = now
			cmds = append(cmds, m.verifyLater(s.sess.Generation(), s.account.ID, 0))
		}
	}
	return tea.Batch(cmds...)
}

func (s *sessionScreen) onVerify(m *Model, msg verifyResultMsg) tea.Cmd {
	now := m.deps.now()
	gaveUp := now.Sub(s.verifyAt) >= m.deps.VerifyFor
	ev := state.Event{Kind: state.VerifyResult, Generation: msg.gen, Account: msg.account, Err: msg.err, GaveUp: gaveUp}
	if msg.err != nil {
		ev.Account = mono.Account{}
	}
	if s.apply(m, ev) != nil {
		return nil
	}
	if msg.err == nil {
		// The fresh read replaces the stale copy here and in the list, so
		// badges stop saying NEEDS REAUTH once Mono agrees.
		s.account = mergeAccount(s.account, msg.account)
		m.search.replace(s.account)
		s.verifyErr = ""
	} else if hint := plainError(msg.err); hint != s.verifyErr {
		// Re-reads go on by themselves (they are safe reads); the agent
		// still needs to know why the answer is taking a while.
		s.verifyErr = hint
		s.status.add(statusLine{at: now, tone: "warning", text: "Re-read failed, will retry: " + hint})
	}
	if s.sess.Phase() == state.Verifying && !msg.kicked { // kicked: the scheduled re-reads carry on by themselves
		return tea.Batch(s.flush(m), m.verifyLater(msg.gen, s.account.ID, verifyBackoff(m.deps.VerifyEvery, s.sess.Verification().Checks)))
	}
	return s.flush(m)
}

// onSignal reacts to Mono's webhooks about this session's account. Mono's
// success (account_reauthorized) wins like the widget's; an account_updated
// with sync SUCCESSFUL confirms fresh data; while verifying, any other news
// prompts an immediate re-read.
func (s *sessionScreen) onSignal(m *Model, sig AccountSignal) tea.Cmd {
	now := m.deps.now()
	at := sig.At
	if at.IsZero() {
		at = now
	}
	before := s.sess.Phase()
	var ev state.Event
	switch {
	case sig.Reauthorized:
		ev = state.Event{Kind: state.MonoReauthorized, AccountID: sig.AccountID, At: at}
	case strings.EqualFold(sig.SyncStatus, mono.SyncStatusSuccessful):
		ev = state.Event{Kind: state.MonoSynced, AccountID: sig.AccountID, At: at}
	}
	if ev.Kind != 0 && s.apply(m, ev) == nil {
		return tea.Batch(s.afterChange(m, before), s.flush(m))
	}
	text := "Mono webhook: " + sig.Event
	tone := "info"
	switch {
	case sig.NeedsReauth:
		text, tone = "Mono webhook: this account needs reauth", "warning"
	case sig.Reauthorized:
		text, tone = "Mono webhook: account re-authorised", "success"
	case sig.DataStatus != "":
		text = "Mono webhook: account updated, data " + string(sig.DataStatus.Normal())
	}
	s.status.add(statusLine{at: now, tone: tone, text: text})
	if s.sess.Phase() != state.Verifying {
		return nil
	}
	gen, id, ctx, api := s.sess.Generation(), s.account.ID, m.ctx, m.deps.Mono
	return func() tea.Msg {
		a, err := api.Account(ctx, id)
		return verifyResultMsg{gen: gen, account: a, err: err, kicked: true}
	}
}

// verifyBackoff spaces the post-success re-reads out: every, 2×every, 4×…
// capped at 15s, so a slow bank sync does not mean a steady drumbeat of reads.
func verifyBackoff(every time.Duration, checks int) time.Duration {
	d := every
	for i := 1; i < checks && d < 15*time.Second; i++ {
		d *= 2
	}
	return min(d, 15*time.Second)
}

// onClock advances countdowns; the machine expires the token itself.
func (s *sessionScreen) onClock(m *Model, now time.Time) tea.Cmd {
	before := s.sess.Phase()
	if s.apply(m, state.Event{Kind: state.Tick}) != nil {
		return nil
	}
	return tea.Batch(s.afterChange(m, before), s.flush(m))
}

// noticeFor is how long a notice stays without a key.
const noticeFor = 8 * time.Second

func (s *sessionScreen) setNotice(m *Model, text string, ok bool) {
	s.notice, s.noticeOK, s.noticeAt = text, ok, m.deps.now()
}

func (s *sessionScreen) onKey(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	s.notice = ""
	if s.dialog != noDialog {
		switch {
		case key.Matches(msg, k.Yes):
			d := s.dialog
			s.dialog = noDialog
			switch d {
			case confirmReplaceToken:
				return s.requestMint(m, true)
			case confirmHealthyMint:
				return s.requestMint(m, false)
			case confirmQuit:
				return s.endAndQuit(m)
			}
			// Leaving a live attempt ends it, in the agent's name.
			_ = s.apply(m, state.Event{Kind: state.AgentEnded, Why: "The agent left the attempt."})
			return tea.Batch(s.flush(m), m.backToSearch())
		case key.Matches(msg, k.No):
			s.dialog = noDialog
		}
		return nil
	}
	if s.picking {
		kinds := state.AllReasonKinds()
		switch {
		case key.Matches(msg, k.Up):
			s.pickIdx = (s.pickIdx + len(kinds) - 1) % len(kinds)
		case key.Matches(msg, k.Down):
			s.pickIdx = (s.pickIdx + 1) % len(kinds)
		case key.Matches(msg, k.Open):
			s.picking = false
			if s.apply(m, state.Event{Kind: state.ReasonOverridden, Reason: kinds[s.pickIdx]}) == nil {
				return s.flush(m)
			}
		case key.Matches(msg, k.Back):
			s.picking = false
		}
		return nil
	}
	h := m.statusRows()
	switch {
	case key.Matches(msg, k.Retry):
		if s.detailErr != "" && s.sess.Phase() == state.Explaining {
			s.detailErr = ""
			return m.fetchDetail(s.sess.Generation(), s.account.ID)
		}
	case key.Matches(msg, k.Back):
		switch {
		case s.sess.Phase().Live():
			// A live token or page is never dropped without asking.
			s.dialog = confirmLeaveLivePage
		case s.sess.Can(state.Back):
			_ = s.apply(m, state.Event{Kind: state.Back})
			if s.sess.Phase() == state.ChoosingAccount {
				return m.backToSearch()
			}
			if s.sess.PageURL() == "" {
				return s.dropPage()
			}
		default:
			return m.backToSearch()
		}
	case key.Matches(msg, k.Mint):
		if s.sess.MintNeedsReplace(m.deps.now()) {
			s.dialog = confirmReplaceToken
			return nil
		}
		if s.sess.Phase() == state.Explaining && !s.sess.Reason().NeedsReauth() {
			// Nothing Mono sent says this account needs reauth: a token
			// (and the customer's time) may be wasted. Ask.
			s.dialog = confirmHealthyMint
			return nil
		}
		return s.requestMint(m, false)
	case key.Matches(msg, k.OpenPage):
		if s.sess.Phase() == state.TokenReady {
			if s.apply(m, state.Event{Kind: state.PageRequested}) == nil {
				scen := ""
				if m.deps.ScenarioFor != nil {
					scen = m.deps.ScenarioFor(s.account.ID)
				}
				return m.openPage(s.sess.Generation(), PageRequest{Account: s.account, Token: s.sess.Token(), Scenario: scen, Contract: s.contract})
			}
		} else if s.page != nil {
			return m.launchBrowser(s.page.URL())
		}
	case key.Matches(msg, k.CopyLink):
		if u := s.sess.PageURL(); u != "" {
			// OSC 52 is a request the terminal may ignore (tmux does by
			// default): say it was sent, how to check, and the way round.
			s.setNotice(m, "Link sent to your terminal's clipboard (OSC 52): paste it to check. Nothing? Press l to show it.", true)
			return tea.SetClipboard(u)
		}
	case key.Matches(msg, k.ShowLink):
		s.showLink = !s.showLink
	case key.Matches(msg, k.ShowWhy):
		s.showWhy = !s.showWhy
	case key.Matches(msg, k.Hosted):
		if s.hosted != "" {
			s.setNotice(m, "Hosted link sent to your terminal's clipboard (OSC 52): paste it to check.", true)
			return tea.SetClipboard(s.hosted)
		}
		if !s.hostedBusy {
			s.hostedBusy = true
			return m.initiateHosted(s.account.ID, s.id())
		}
	case key.Matches(msg, k.Reveal):
		s.reveal = !s.reveal
	case key.Matches(msg, k.CopyToken):
		if t := s.sess.Token(); t.Value != "" {
			s.setNotice(m, "Token sent to your terminal's clipboard (OSC 52): paste it to check. Nothing? Press v to show it.", true)
			return tea.SetClipboard(t.Value)
		}
	case key.Matches(msg, k.Reason):
		s.picking = true
		cur := s.sess.Reason().Kind
		for i, kind := range state.AllReasonKinds() {
			if kind == cur {
				s.pickIdx = i
			}
		}
	case key.Matches(msg, k.Up):
		s.status.scroll(-1, h)
	case key.Matches(msg, k.Down):
		s.status.scroll(1, h)
	case key.Matches(msg, k.PageUp):
		s.status.scroll(-h, h)
	case key.Matches(msg, k.PageDown):
		s.status.scroll(h, h)
	case key.Matches(msg, k.Top):
		s.status.toTop()
	case key.Matches(msg, k.Bottom):
		s.status.toBottom()
	}
	return nil
}

// endAndQuit records the agent's end of a live attempt, writes the
// attempt's records, closes the customer's page, then quits: in that order.
func (s *sessionScreen) endAndQuit(m *Model) tea.Cmd {
	if s.sess.Phase().Live() {
		_ = s.apply(m, state.Event{Kind: state.AgentEnded, Why: "The agent quit reauth."})
	}
	return tea.Sequence(s.flush(m), s.dropPage(), tea.Quit)
}

func (s *sessionScreen) requestMint(m *Model, replace bool) tea.Cmd {
	if s.contract == "" {
		if r, ok := m.deps.Pages.(ContractResolver); ok {
			// Whether to mint at all depends on the widget script: find
			// out first (it may fetch the script), then come back here.
			s.pendingReplace = replace
			s.setNotice(m, "Checking which widget contract the Connect script takes…", true)
			ctx := m.ctx
			return func() tea.Msg {
				c, err := r.ResolveContract(ctx)
				return contractMsg{contract: c, err: err}
			}
		}
		s.contract = "token"
	}
	if replace && s.sess.Phase().Live() {
		// The live attempt ends here, in the agent's name, before the new
		// one starts: its page stops working.
		_ = s.apply(m, state.Event{Kind: state.AgentEnded, Why: "The agent minted a new token; this attempt's link stopped working."})
	}
	if s.contract == ContractAccount {
		// The widget takes the account id: nothing to mint; the link's
		// own lifetime stands in for a token's.
		s.status.dim()
		if err := s.apply(m, state.Event{Kind: state.LinkPrepared, At: m.deps.now().Add(mono.TokenLifetime)}); err != nil {
			s.setNotice(m, "Can't prepare the link now: "+s.sess.Phase().String(), false)
			return nil
		}
		return tea.Batch(s.dropPage(), s.flush(m))
	}
	if err := s.apply(m, state.Event{Kind: state.MintRequested, Replace: replace}); err != nil {
		s.setNotice(m, "Can't mint now: "+s.sess.Phase().String(), false)
		return nil
	}
	// The previous attempt's lines stay, dimmed, above the new one's.
	s.status.dim()
	// A new token makes the old page useless; close it so it can't report.
	return tea.Batch(s.dropPage(), m.mint(s.sess.Generation(), s.account.ID, s.journal))
}

// enableKeys turns on the session keys the current phase accepts.
func (s *sessionScreen) enableKeys(m *Model, k *KeyMap) {
	k.QuitKey.SetEnabled(true)
	if s.dialog != noDialog {
		k.Yes.SetEnabled(true)
		k.No.SetEnabled(true)
		// The quit key again confirms a quit; in other questions q is not
		// an answer.
		k.QuitKey.SetEnabled(s.dialog == confirmQuit)
		return
	}
	if s.picking {
		k.Up.SetEnabled(true)
		k.Down.SetEnabled(true)
		k.Open.SetEnabled(true)
		k.Open.SetHelp("enter", "choose")
		k.Back.SetEnabled(true)
		return
	}
	k.Open.SetHelp("enter", "open")
	ph := s.sess.Phase()
	k.Back.SetEnabled(true)
	k.Mint.SetEnabled(s.sess.Can(state.MintRequested) && ph != state.Minting)
	switch {
	case s.contract == ContractAccount:
		k.Mint.SetHelp("t", "prepare link") // the widget takes the account id: no token
	case ph.HasOutcome() || ph == state.Expired:
		k.Mint.SetHelp("t", "mint new token")
	default:
		k.Mint.SetHelp("t", "mint token")
	}
	k.Reason.SetEnabled(s.sess.Can(state.ReasonOverridden))
	k.Retry.SetEnabled(s.detailErr != "" && ph == state.Explaining)
	hasToken := s.sess.Token().Value != "" && !s.sess.Token().Expired(m.deps.now())
	k.Reveal.SetEnabled(hasToken)
	if s.reveal {
		k.Reveal.SetHelp("v", "hide token")
	} else {
		k.Reveal.SetHelp("v", "reveal token")
	}
	k.ShowLink.SetEnabled(s.sess.PageURL() != "")
	k.ShowWhy.SetEnabled(s.compactReason())
	if s.showWhy {
		k.ShowWhy.SetHelp("w", "hide why")
	} else {
		k.ShowWhy.SetHelp("w", "why & what to say")
	}
	if s.showLink {
		k.ShowLink.SetHelp("l", "hide link")
	} else {
		k.ShowLink.SetHelp("l", "show link")
	}
	k.CopyToken.SetEnabled(hasToken)
	k.OpenPage.SetEnabled(ph == state.TokenReady || (s.page != nil && m.deps.OpenBrowser != nil && !ph.HasOutcome()))
	k.CopyLink.SetEnabled(s.sess.PageURL() != "")
	k.Hosted.SetEnabled(!s.hostedBusy && (s.hosted != "" || !ph.HasOutcome()) && ph != state.WidgetLive && ph != state.WidgetClosed && ph != state.PageClosed)
	if s.hosted != "" {
		k.Hosted.SetHelp("h", "copy hosted link")
	} else {
		k.Hosted.SetHelp("h", "hosted link")
	}
	hasLines := len(s.status.lines) > m.statusRows()
	for _, b := range []*key.Binding{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Top, &k.Bottom} {
		b.SetEnabled(hasLines)
	}
}

// statusRows is the status pane's height on this screen size (see view).
func (m Model) statusRows() int { return max(3, m.height-16) }

// maskFragment hides a URL's fragment (the page secret) for display.
func maskFragment(u string) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		return u[:i] + "#••••••"
	}
	return u
}

// view renders the session screen in width×height cells.
// The smallest session screen that still shows the token, the link, the
// code, the status header, a few events and the outcome.
const (
	minSessionWidth  = 60
	minSessionHeight = 14
)

func (s *sessionScreen) view(m *Model, width, height int) string {
	st := m.styles
	if width < minSessionWidth || height < minSessionHeight {
		// Lines would silently vanish (the code, the status): say so
		// instead, with what still matters most.
		lines := []string{
			st.Warning.Render(fmt.Sprintf("Terminal too small (%d×%d): make it at least %d×%d.", width, height, minSessionWidth, minSessionHeight)),
			st.Value.Render(phaseWords(s.sess.Phase())),
		}
		if c := s.sess.PairingCode(); c != "" {
			lines = append(lines, st.Label.Render("Code ")+st.Accent.Bold(true).Render(c))
		}
		if o := s.sess.Outcome(); o.Kind != state.OutcomeNone {
			lines = append(lines, st.Value.Bold(true).Render(o.Kind.String()))
		}
		for i := range lines {
			lines[i] = ansi.Truncate(lines[i], width, "…")
		}
		return joinLines(lines)
	}
	now := m.deps.now()
	a := s.account
	ph := s.sess.Phase()
	var top []string

	// Account: who and where.
	label := statusLabel(a, m.marked(a.ID))
	line1 := st.Value.Bold(true).Render(a.Name) + st.Faint.Render(" · ") + st.Value.Render(a.Institution.Name) +
		st.Faint.Render(" · ") + st.Value.Render(a.MaskedNumber()) + "  " + st.Badge[label].Render(label)
	details := []string{}
	if a.Customer.Email != "" {
		details = append(details, a.Customer.Email)
	}
	if a.AuthMethod != "" {
		details = append(details, strings.ReplaceAll(a.AuthMethod, "_", " "))
	}
	details = append(details, "id "+a.ID)
	if a.DataRequestID != "" {
		// What Mono support asks for about a failed sync.
		details = append(details, "data_request_id "+a.DataRequestID)
	}
	top = append(top, line1, st.Faint.Render(strings.Join(details, " · ")))
	if s.detailErr != "" && ph == state.Explaining {
		top = append(top, ansi.Truncate(st.Warning.Render("Details not loaded: "+s.detailErr)+st.Faint.Render("  (R to retry)"), width, "…"))
	}
	top = append(top, "")

	// Reason: full before the page opens, one line after (room for events).
	r := s.sess.Reason()
	why := st.Label.Render("Why  ") + st.Warning.Render(r.Kind.String())
	if r.Overridden {
		why += st.Faint.Render(" (set by agent)")
	}
	top = append(top, why)
	if !s.compactReason() || s.showWhy {
		if len(r.Evidence) > 0 {
			// The evidence is why the agent can trust the reason: wrap it
			// (up to three lines) rather than cut it.
			ev := strings.Split(lipgloss.NewStyle().Width(max(20, width-5)).Render(strings.Join(r.Evidence, "; ")), "\n")
			if len(ev) > 3 {
				ev = append(ev[:2], ansi.Truncate(ev[2], max(10, width-6), "…"))
			}
			for i, l := range ev {
				p := "     "
				if i == 0 {
					p = st.Label.Render("From ")
				}
				top = append(top, p+st.Faint.Render(l))
			}
		}
		say := strings.Join(r.Script, " ")
		wrapped := lipgloss.NewStyle().Width(max(20, width-5)).Render(say)
		for i, l := range strings.Split(wrapped, "\n") {
			p := "     "
			if i == 0 {
				p = st.Label.Render("Say  ")
			}
			top = append(top, p+st.Value.Italic(true).Render(l))
		}
	}
	top = append(top, "")

	// Token.
	top = append(top, s.tokenLine(m, now))
	// Page.
	top = append(top, s.pageLines(m, now, width)...)

	// Status pane header.
	header := st.Section.Render("Status") + st.Faint.Render("  "+phaseWords(ph))
	if s.sess.PageURL() != "" {
		if s.sess.PageConnected() {
			header += st.Success.Render("  ● page connected")
		} else {
			header += st.Faint.Render("  ○ waiting for the page")
		}
		if t := s.sess.LastCustomerAction(); !t.IsZero() {
			// Customer actions only: a heartbeat says the page is open,
			// not that anyone is using it.
			header += st.Faint.Render(fmt.Sprintf("  last customer action %s ago", ago(now.Sub(t))))
		}
	}
	top = append(top, ansi.Truncate(header, width, "…"))

	bottom := s.bottomLines(m, width)
	paneH := max(1, height-len(top)-len(bottom))
	pane := s.status.view(st, width, paneH)
	if len(s.status.lines) == 0 {
		pane[0] = st.Faint.Render(emptyStatusHint(ph))
	}
	all := append(append(top, pane...), bottom...)
	return joinLines(all)
}

// compactReason: once the page is starting, the reason takes one line (the
// status pane needs the room); w shows the evidence and script again.
func (s *sessionScreen) compactReason() bool {
	ph := s.sess.Phase()
	return ph >= state.PageOpening && ph != state.Explaining
}

func emptyStatusHint(ph state.Phase) string {
	switch ph {
	case state.Explaining:
		return "Read the reason to the customer, then press t to mint a reauth token."
	case state.Minting:
		return "Asking Mono for a reauth token…"
	case state.TokenReady:
		return "Press o to open the page with Mono's widget for the customer."
	}
	return "Waiting for events…"
}

func (s *sessionScreen) tokenLine(m *Model, now time.Time) string {
	st := m.styles
	t := s.sess.Token()
	ph := s.sess.Phase()
	switch {
	case ph == state.Minting:
		return st.Label.Render("Token ") + m.spinner.View() + st.Faint.Render(" minting…")
	case s.sess.MintError() != "" && t.Value == "":
		return st.Label.Render("Token ") + st.Error.Render(s.sess.MintError())
	case t.Value == "" && !t.ExpiresAt.IsZero():
		// The account contract: no token; the link's own end.
		return st.Label.Render("Link  ") + st.Value.Render("prepared, no token (the widget takes the account id)") +
			st.Faint.Render("  works until "+t.ExpiresAt.Local().Format("15:04:05"))
	case t.Value == "":
		return st.Label.Render("Token ") + st.Faint.Render("none yet")
	}
	shown := t.Masked()
	if s.reveal {
		shown = t.Value
	}
	expires := t.ExpiresAt.Local().Format("15:04:05")
	if ph.HasOutcome() && ph != state.Expired {
		return st.Label.Render("Token ") + st.Faint.Render(shown+"  used by this attempt — a new attempt needs a new token")
	}
	if t.Expired(now) || ph == state.Expired {
		return st.Label.Render("Token ") + st.Faint.Render(shown) + "  " + st.Error.Render("EXPIRED") +
			st.Faint.Render(" at "+expires+" — press t for a new one")
	}
	left := t.Remaining(now)
	countdown := fmt.Sprintf("%02d:%02d left", int(left.Minutes()), int(left.Seconds())%60)
	cs := st.Success
	if left < 2*time.Minute {
		cs = st.Warning
	}
	return st.Label.Render("Token ") + st.Value.Render(shown) + st.Faint.Render("  expires "+expires+"  ") + cs.Render(countdown)
}

func (s *sessionScreen) pageLines(m *Model, now time.Time, width int) []string {
	st := m.styles
	u := s.sess.PageURL()
	ph := s.sess.Phase()
	switch {
	case ph == state.PageOpening:
		return []string{st.Label.Render("Page  ") + m.spinner.View() + st.Faint.Render(" starting…")}
	case s.sess.PageError() != "" && u == "":
		return []string{st.Label.Render("Page  ") + st.Error.Render(s.sess.PageError())}
	case u == "":
		return append([]string{st.Label.Render("Page  ") + st.Faint.Render("not opened")}, s.hostedLines(m, width)...)
	}
	// OSC 8 makes the URL clickable; the visible text is the URL itself so
	// terminals without hyperlinks still show it in full.
	// Cut the visible text, not the link: the OSC 8 target stays whole and
	// its terminator is never truncated away.
	// The page secret (the fragment) never shows: the link target and `c`
	// carry it, the screen (and screenshots, recordings) do not.
	shown := maskFragment(u)
	if s.showLink {
		shown = u // the agent asked: l shows the whole link, secret included
	}
	link := ansi.SetHyperlink(u) + st.Link.Render(ansi.Truncate(shown, max(10, width-7), "…")) + ansi.ResetHyperlink()
	lines := []string{st.Label.Render("Page  ") + link,
		st.Label.Render("Code  ") + st.Accent.Bold(true).Render(s.sess.PairingCode()) +
			st.Faint.Render("  — the customer's page shows the same code")}
	if m.deps.PageNote != "" {
		lines = append(lines, st.Warning.Render(ansi.Truncate(m.deps.PageNote, width, "…")))
	}
	return append(lines, s.hostedLines(m, width)...)
}

func (s *sessionScreen) hostedLines(m *Model, width int) []string {
	if s.hosted == "" {
		return nil
	}
	st := m.styles
	link := ansi.SetHyperlink(s.hosted) + st.Link.Render(ansi.Truncate(s.hosted, max(10, width-8), "…")) + ansi.ResetHyperlink()
	return []string{st.Label.Render("Hosted ") + link}
}

func (s *sessionScreen) bottomLines(m *Model, width int) []string {
	st := m.styles
	var out []string
	switch {
	case s.dialog == confirmReplaceToken:
		left := s.sess.Token().Remaining(m.deps.now())
		out = append(out, strings.Split(st.Dialog.Width(width).Render(fmt.Sprintf(
			"A token is still live (%s left). Mint a new one? The old page stops working.  y / n", ago(left))), "\n")...)
	case s.dialog == confirmLeaveLivePage:
		out = append(out, strings.Split(st.Dialog.Width(width).Render(
			"This attempt is live (its link works for "+ago(s.sess.Token().Remaining(m.deps.now()))+
				" more). Leave and end it? The customer's page stops working.  y / n"), "\n")...)
	case s.dialog == confirmHealthyMint:
		r := s.sess.Reason()
		out = append(out, strings.Split(st.Dialog.Width(width).Render(
			"No sign this account needs reauth ("+r.Kind.String()+"). Start a reauth anyway?  y / n"), "\n")...)
	case s.dialog == confirmQuit:
		out = append(out, strings.Split(st.Dialog.Width(width).Render(
			"This attempt is live (its link works for "+ago(s.sess.Token().Remaining(m.deps.now()))+
				" more). Quit reauth and end it? The customer's page stops working.  y / n (or the quit key again)"), "\n")...)
	case s.picking:
		out = append(out, st.Section.Render("Why does this account need reauth?"))
		for i, kind := range state.AllReasonKinds() {
			p := "  "
			if i == s.pickIdx {
				p = st.Cursor.Render("▌ ")
			}
			out = append(out, p+kind.String())
		}
	default:
		if o := s.sess.Outcome(); o.Kind != 0 && s.sess.Phase().HasOutcome() {
			name := strings.ToUpper(o.Kind.String())
			headline, next := o.Headline, o.NextStep
			if v := s.sess.Verification(); v.Headline != "" {
				headline, next = v.Headline, v.NextStep
			}
			banner := st.Banner[name].Render(name) + " " + st.Value.Bold(true).Render(headline)
			out = append(out, ansi.Truncate(banner, width, "…"))
			if next != "" {
				out = append(out, ansi.Truncate(st.Label.Render("Next ")+st.Value.Render(next), width, "…"))
			}
		}
	}
	if sit := s.sess.Situation(m.deps.now()); sit.Where != "" && s.dialog == noDialog && !s.picking {
		out = append(out, ansi.Truncate(st.Label.Render("Now  ")+st.Value.Render(sit.Where), width, "…"))
		if sit.Next != "" {
			out = append(out, ansi.Truncate(st.Label.Render("Next ")+st.Value.Render(sit.Next), width, "…"))
		}
	}
	if s.notice != "" && m.deps.now().Sub(s.noticeAt) < noticeFor {
		style := st.Warning
		if s.noticeOK {
			style = st.Success
		}
		out = append(out, ansi.Truncate(style.Render(s.notice), width, "…"))
	}
	return out
}

func phaseWords(p state.Phase) string {
	switch p {
	case state.Explaining:
		return "reason shown"
	case state.Minting:
		return "minting token"
	case state.TokenReady:
		return "token ready"
	case state.PageOpening:
		return "starting page"
	case state.PageOpened:
		return "page opened, waiting for the customer"
	case state.WidgetLive:
		return "widget live"
	case state.WidgetClosed:
		return "widget closed, link still live"
	case state.PageClosed:
		return "page closed, link still live"
	case state.Succeeded:
		return "succeeded"
	case state.Failed:
		return "failed"
	case state.Expired:
		return "token expired"
	case state.EndedByAgent:
		return "ended by agent"
	case state.TakenOver:
		return "taken over"
	case state.Verifying:
		return "re-authorised, waiting for fresh data"
	case state.Verified:
		return "re-authorised, fresh data confirmed"
	case state.StillSyncing:
		return "re-authorised, fresh data not confirmed yet"
	}
	return p.String()
}

// ago renders a duration for people: 4s, 2m05s.
func ago(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
