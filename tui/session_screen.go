package tui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

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
	confirmTakeOver // a colleague holds the account's claim (session_claims.go)
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
	journal *auditQueue
	account mono.Account
	status  statusPane
	page    Page // the served page, nil until PageServed
	// inbox holds the page's events read by a Cmd and not yet applied
	// (resume.go): the Cmds' buffer, as the journal is.
	inbox    *eventInbox
	reveal   bool // the token shown in full
	showLink bool // the page link shown in full (its secret included)
	showWhy  bool // the reason's evidence and script, once the page is open
	showQR   bool // the page link as a QR code (its secret included), asked for with p
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
	// signals are what else was known about the account when its details
	// were last read (Deps.SignalsFor): Mono's webhook, past attempts.
	signals state.Signals
	// history is the account's last attempts as the audit told them when
	// its details were last read (Deps.Attempts); nil: not read.
	history *accountHistory
	// detailSeq numbers the detail reads asked for; detailSeen is the
	// newest applied, so an older read finishing late (before a webhook's
	// news) never replaces a newer one.
	detailSeq, detailSeen uint64
	// mintWhenIn: the agent pressed the mint key before the account's
	// details were in. Whether to ask first ("no sign it needs reauth")
	// depends on them, so the mint waits for the first read to land.
	mintWhenIn bool
	// refusal is Mono refusing a hosted link for this account ("cannot be
	// re-authorised"): shown as the outcome of a refused mint is.
	refusal *state.Outcome
	// verifyErr is the last re-read failure shown, so a run of identical
	// failures adds one status line, not one per attempt.
	verifyErr string
	// claims is the attempt's part in the team's claims (session_claims.go).
	claims sessionClaim
}

// Messages of the session screen. Each result carries the state machine's
// generation at request time, so a late answer for an abandoned attempt is
// refused by Apply instead of overwriting the current one.
type (
	accountDetailMsg struct {
		gen     uint64
		seq     uint64 // sessionScreen.detailSeq when asked
		account mono.Account
		signals state.Signals   // Mono's webhooks and past attempts (Deps.SignalsFor)
		history *accountHistory // the account's last attempts (Deps.Attempts); nil: not read
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
		attempt string // the attempt re-read for (sessionScreen.id)
		gen     uint64
		account mono.Account
		err     error
		webhook *state.WebhookEvidence // the store's newest webhook about the account, read with it
		kicked  bool                   // an extra read prompted by a webhook: schedules no follow-up
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

func newSessionScreen(c *screenCtx, a mono.Account) *sessionScreen {
	s := &sessionScreen{att: state.NewAttempt(newSessionID()), account: a, status: newStatusPane(), journal: &auditQueue{}}
	s.apply(c, state.Event{Kind: state.AccountChosen, Account: a})
	return s
}

func (s *sessionScreen) title() string { return s.account.Name }

// busy: the spinner turns while Mono mints or the page starts.
func (s *sessionScreen) busy() bool {
	ph := s.sess.Phase()
	return ph == state.Minting || ph == state.PageOpening
}

// ticking: countdowns and "last customer action Ns ago" move every second.
func (s *sessionScreen) ticking() bool { return true }

// id is the audit correlation id of this attempt.
func (s *sessionScreen) id() string { return s.att.ID() }

func newSessionID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start fetches the account's details (the list may lack the evidence) and
// records the start in the audit.
func (s *sessionScreen) start(c *screenCtx) tea.Cmd {
	return tea.Batch(s.readDetail(c), s.flush(c), readClaim(c, s.account.ID))
}

// onAuditNews says in the pane when the audit's store stops taking this
// attempt's records and when it takes them again: the agent should know
// that what happens meanwhile is not yet on record (and that a mint waits
// for it).
func (s *sessionScreen) onAuditNews(c *screenCtx, msg auditNewsMsg) {
	if !msg.down {
		s.status.add(statusLine{at: c.now(), tone: state.ToneSuccess, text: "Audit store back: the records that waited are written"})
		return
	}
	why := "it did not say why"
	if msg.err != nil {
		why = auditWhy(msg.err)
	}
	s.status.add(statusLine{at: c.now(), tone: state.ToneWarning, text: fmt.Sprintf(
		"Audit store not taking records (%s): %d waiting, written when it is back; no token can be minted meanwhile", why, msg.waiting)})
}

// detailsIn reports whether the account's details and signals have been
// read at least once (or failed to be): before that the reason on screen
// rests on the list's copy alone and may say "no sign" of a need that a
// webhook already shows.
func (s *sessionScreen) detailsIn() bool { return s.detailSeen > 0 }

// afterDetails acts on a fresh reason: a mint the agent asked for while
// the details were being read goes ahead (or asks first, as the mint key
// does), and a "start anyway?" question that the new reason answers is
// withdrawn rather than left asking about a reason no longer on screen.
func (s *sessionScreen) afterDetails(c *screenCtx) tea.Cmd {
	needs := s.sess.Reason().NeedsReauth()
	if s.mintWhenIn {
		s.mintWhenIn = false
		if s.sess.Phase() != state.Explaining || s.dialog != noDialog || !c.keys.Mint.Enabled() {
			// Moved on, asked something else, or minting was turned off
			// meanwhile (a server drain): the key press is spent.
			return nil
		}
		s.notice = ""
		if !needs {
			s.dialog = confirmHealthyMint
			return nil
		}
		return s.requestMint(c, false)
	}
	if s.dialog == confirmHealthyMint && needs {
		// The reason's own summary, no stronger than its signal ("Mono
		// reports a failed sync; it did not say reauth is required" is
		// not "needs reauth").
		s.dialog = noDialog
		s.setNotice(c, "Mono's details are in: "+s.sess.Reason().Summary+". Press t to mint.", true)
	}
	return nil
}

// readDetail asks for the account's details and signals again.
func (s *sessionScreen) readDetail(c *screenCtx) tea.Cmd {
	s.detailSeq++
	return fetchDetail(c, s.sess.Generation(), s.detailSeq, s.account.ID)
}

// apply runs one event through the attempt: its lines go to the status
// pane and its audit records wait in pending for the next flush, so they
// are written in the order they happened. A refused event changes nothing.
func (s *sessionScreen) apply(c *screenCtx, ev state.Event) error {
	st, err := s.att.Apply(ev, c.now())
	if err != nil {
		return err
	}
	s.sess = s.att.Session()
	for _, l := range st.Lines {
		s.status.add(statusLine{at: l.At, tone: l.Tone, text: l.Text})
	}
	s.journal.push(st.Records)
	if st.After == state.Verified && st.Before != state.Verified {
		// A verified success clears the account's "needs reauth" mark
		// (in the store, by the next flush's Cmd: it writes a file).
		s.clearMarkAt = c.now()
	}
	return nil
}

// flush is a Cmd that writes the journal's records (each waits for an
// fsync: never in Update), and clears the account's mark after a verified
// success.
func (s *sessionScreen) flush(c *screenCtx) tea.Cmd {
	q, rec := s.journal, c.deps.Audit
	clearMark, at, id := c.deps.ClearMark, s.clearMarkAt, s.account.ID
	s.clearMarkAt = time.Time{}
	// The claim's refresh or release follows the records (a takeover's
	// outcome is written before the account is free).
	claimOp := s.claimOp(c)
	if rec == nil && (clearMark == nil || at.IsZero()) && claimOp == nil {
		return nil
	}
	return func() tea.Msg {
		q.drain(rec)
		if clearMark != nil && !at.IsZero() {
			clearMark(id, at)
		}
		news, told := q.news()
		switch {
		case told && claimOp != nil:
			return tea.BatchMsg{func() tea.Msg { return news }, claimOp}
		case told:
			return news
		case claimOp != nil:
			return claimOp()
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
	// ackPage and ackSeq: once what is pending is written, the page's
	// events up to ackSeq are recorded (the page server then answers the
	// outcome posts waiting for that: connect.Config.AckRecorded).
	ackPage Page
	ackSeq  int64
	writing sync.Mutex
	// last is what the audit said of the newest record written (Appender
	// only; under writing): nil when it was written.
	last error
	// stalled: the audit's store failed to take the record at the head of
	// pending (an outage); it and everything after it wait there, in
	// order, and are tried again by a drain at least retryGap after
	// failedAt (so a store that is down is not asked once per drain).
	stalled  bool
	failedAt time.Time
	retryGap time.Duration // 0: auditRetryGap
	// stallErr is what the store said when it stalled (under mu); told
	// is the stall as last told to the screen (news).
	stallErr error
	told     bool
	// draining: a drain holds records taken from pending (under mu).
	draining bool
}

// auditNewsMsg tells the account screen that the audit's store stopped
// taking the attempt's records (down: waiting of them wait, err is why) or
// took them again.
type auditNewsMsg struct {
	down    bool
	waiting int
	err     error
}

// news is the change in the journal's stall since it was last told, if
// any: a message only when the store stops or starts taking records again,
// not on every drain.
func (q *auditQueue) news() (auditNewsMsg, bool) {
	if q == nil {
		return auditNewsMsg{}, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stalled == q.told {
		return auditNewsMsg{}, false
	}
	q.told = q.stalled
	return auditNewsMsg{down: q.stalled, waiting: len(q.pending), err: q.stallErr}, true
}

// waiting is how many records wait for the audit.
func (q *auditQueue) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// auditRetryGap is how soon after a failed write the audit is tried again.
const auditRetryGap = time.Second

// recordedAcker is a page that wants to know which of its events are
// recorded (*connect.Session).
type recordedAcker interface{ Recorded(seq int64) }

// ack says that the records pushed so far cover p's events up to seq.
func (q *auditQueue) ack(p Page, seq int64) {
	if _, ok := p.(recordedAcker); !ok || seq <= 0 {
		return
	}
	q.mu.Lock()
	q.ackPage, q.ackSeq = p, seq
	q.mu.Unlock()
}

func (q *auditQueue) push(recs []audit.Record) {
	if len(recs) == 0 {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, recs...)
	q.mu.Unlock()
}

// drain writes every queued record to rec, in order, and returns what the
// audit said of the newest record tried, by this drain or (when there was
// nothing left to write) by the drain that tried it: nil unless an Appender
// failed. A record the audit refuses for itself (audit.ErrRefused: it
// would never be written) is dropped and the rest go on. When the store
// fails to take one (an outage), it and everything after it stay queued,
// in order, for a later drain (after retryGap): a late record, still
// stamped with when it happened, rather than a hole. Records still queued
// when the attempt's screen is left are kept by the Model and tried on
// (Model.unwritten).
func (q *auditQueue) drain(rec Recorder) error {
	if q == nil {
		return nil
	}
	if rec == nil {
		// Nothing records here: the page need not wait for a record.
		q.mu.Lock()
		ackPage, ackSeq := q.ackPage, q.ackSeq
		q.pending, q.ackPage = nil, nil
		q.mu.Unlock()
		if ackPage != nil {
			ackPage.(recordedAcker).Recorded(ackSeq)
		}
		return nil
	}
	q.writing.Lock()
	defer q.writing.Unlock()
	app, _ := rec.(Appender)
	q.mu.Lock()
	gap := q.retryGap
	if gap <= 0 {
		gap = auditRetryGap
	}
	if app != nil && q.stalled && time.Since(q.failedAt) < gap {
		// The store failed a moment ago: what waits is tried later.
		q.mu.Unlock()
		return q.last
	}
	recs, ackPage, ackSeq := q.pending, q.ackPage, q.ackSeq
	// stalled stays as it was until this drain knows better.
	q.pending, q.ackPage, q.draining = nil, nil, true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.draining = false
		q.mu.Unlock()
	}()
	refused := false
	for i, r := range recs {
		if app == nil {
			rec.Record(r)
			continue
		}
		q.last = app.Append(r)
		switch {
		case q.last == nil:
		case !audit.Retryable(q.last):
			refused = true // never written, however often tried
		default:
			// The store did not take it: it and what follows wait, ahead
			// of anything queued since, and so does the page's answer.
			q.mu.Lock()
			q.pending = append(slices.Clone(recs[i:]), q.pending...)
			q.stalled, q.failedAt, q.stallErr = true, time.Now(), q.last
			if q.ackPage == nil {
				q.ackPage, q.ackSeq = ackPage, ackSeq
			}
			q.mu.Unlock()
			return q.last
		}
	}
	q.mu.Lock()
	q.stalled, q.stallErr = false, nil
	q.mu.Unlock()
	if ackPage != nil && !refused {
		ackPage.(recordedAcker).Recorded(ackSeq)
	}
	return q.last
}

// tryNow lets the next drain try the store at once, however recently it
// failed: an agent asking for a mint is owed a fresh answer.
func (q *auditQueue) tryNow() {
	q.mu.Lock()
	q.failedAt = time.Time{}
	q.mu.Unlock()
}

// unwritten reports whether records wait for the audit (or are being
// written: a drain under way may yet put them back).
func (q *auditQueue) unwritten() bool {
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) > 0 || q.draining
}

// dropPage detaches the screen's page and returns the Cmd that closes it:
// closing ends the page server's session (and logs), so it is not done in
// Update.
func (s *sessionScreen) dropPage() tea.Cmd {
	p := s.page
	s.page = nil
	return closePage(p)
}

// pageEnded applies the end of the page of generation gen, why being the
// page server's reason.
func (s *sessionScreen) pageEnded(c *screenCtx, gen uint64, why string) {
	if why == connect.EndExpired {
		// The page server ended it at the token's expiry: the clock says
		// so too.
		_ = s.apply(c, state.Event{Kind: state.Tick})
		return
	}
	_ = s.apply(c, state.Event{Kind: state.PageGone, Generation: gen, Replaced: why == connect.EndReplaced})
}

// update handles the session's own messages; ok is false for others.
func (s *sessionScreen) update(c *screenCtx, msg tea.Msg) (tea.Cmd, bool) {
	if cmd, ok := s.updateClaims(c, msg); ok {
		return cmd, true
	}
	switch msg := msg.(type) {
	case clockMsg:
		return s.onClock(c), true
	case AccountSignal:
		if msg.AccountID != s.account.ID {
			return nil, true
		}
		return s.onSignal(c, msg), true
	case accountDetailMsg:
		if msg.gen != s.sess.Generation() || s.sess.Phase() != state.Explaining || msg.seq <= s.detailSeen {
			return nil, true // the agent has moved on (or a newer read is in); the list's data stays
		}
		s.detailSeen = msg.seq
		s.signals = msg.signals
		s.history = msg.history
		msg.signals.Now = c.now()
		if msg.err != nil {
			// Details are a refinement: the list's copy stays and the agent
			// can carry on, but must know the reason may lack evidence.
			s.detailErr = plainError(msg.err)
		} else {
			s.detailErr = ""
			s.account = mergeAccount(s.account, msg.account)
		}
		// The fuller account and the signals let the reason see its evidence.
		recs, err := s.att.Refine(s.account, msg.signals, c.now())
		if err != nil {
			return nil, true
		}
		s.sess = s.att.Session()
		s.journal.push(recs)
		return tea.Batch(s.flush(c), s.afterDetails(c)), true
	case auditNewsMsg:
		s.onAuditNews(c, msg)
		return nil, true
	case mintResultMsg:
		return s.onMint(c, msg), true
	case pageResultMsg:
		return s.onPage(c, msg), true
	case widgetMsg:
		return s.onWidget(c, msg), true
	case pageEndedMsg:
		if msg.page != s.page {
			return nil, true
		}
		before := s.sess.Phase()
		s.pageEnded(c, msg.gen, msg.why)
		return tea.Batch(s.afterChange(c, before), s.flush(c)), true
	case verifyResultMsg:
		if msg.attempt != s.id() {
			return nil, true // another attempt's (a check left running takes its own first)
		}
		return s.onVerify(c, msg), true
	case hostedLinkMsg:
		s.hostedBusy = false
		if msg.err != nil {
			if refusedByMono(msg.err) {
				// Mono will not re-authorise this account: the same outcome
				// and next step as when it refuses to mint a token.
				if o, ok := refusedOutcome(s.account, c.now()); ok {
					s.refusal = &o
					s.status.add(statusLine{at: c.now(), tone: state.ToneError, text: "Hosted link refused: " + o.Headline})
					return nil, true
				}
			}
			s.setNotice(c, "Hosted link failed: "+plainError(msg.err), false)
			return nil, true
		}
		s.hosted = mono.CleanText(msg.url)
		// Mono documents no lifetime for a hosted link and sends no widget
		// events from it: only its webhooks tell how it went.
		text := "Hosted reauth link created and sent to your clipboard; its progress comes only from Mono's webhooks"
		if !c.deps.WebhookReceiver {
			text = "Hosted reauth link created and sent to your clipboard. No webhook receiver runs here (--webhook-addr), so its progress will not show by itself: check the account later"
		}
		s.status.add(statusLine{at: c.now(), tone: state.ToneInfo, text: text})
		return tea.Batch(tea.SetClipboard(s.hosted), record(c, audit.Record{Session: s.id(), Account: s.account.ID,
			Action: audit.ActionHostedLinkCreated, PageURL: s.hosted})), true
	case contractMsg:
		if msg.err != nil {
			s.setNotice(c, plainError(msg.err), false)
			return nil, true
		}
		s.notice = ""
		s.contract = msg.contract
		return s.requestMint(c, s.pendingReplace), true
	case browserResultMsg:
		if msg.err != nil {
			s.setNotice(c, "Could not open a browser here: press l to show the link, c to copy it.", false)
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

func (s *sessionScreen) onMint(c *screenCtx, msg mintResultMsg) tea.Cmd {
	before := s.sess.Phase()
	if msg.err != nil {
		refused := mono.KindOf(msg.err) == mono.KindCannotReauth
		if s.apply(c, state.Event{Kind: state.MintFailed, Generation: msg.gen, Err: errors.New(plainError(msg.err)), Refused: refused}) != nil {
			return nil
		}
		return tea.Batch(s.afterChange(c, before), s.flush(c))
	}
	if s.apply(c, state.Event{Kind: state.MintSucceeded, Generation: msg.gen, Token: msg.token}) != nil {
		return nil // stale: a newer request or Back superseded it
	}
	s.reveal = false
	return tea.Batch(s.afterChange(c, before), s.flush(c))
}

func (s *sessionScreen) onPage(c *screenCtx, msg pageResultMsg) tea.Cmd {
	// The token can expire while the page starts: Apply then moves the
	// session to Expired, and afterChange records that outcome.
	before := s.sess.Phase()
	if msg.err != nil {
		_ = s.apply(c, state.Event{Kind: state.PageFailed, Generation: msg.gen, Err: errors.New(plainError(msg.err))})
		return tea.Batch(s.afterChange(c, before), s.flush(c))
	}
	err := s.apply(c, state.Event{Kind: state.PageServed, Generation: msg.gen, PageURL: msg.page.URL(), Pairing: msg.page.PairingCode()})
	if err != nil || s.sess.Phase().HasOutcome() {
		// Nobody is waiting for this page any more, or its token expired
		// while it started: a page for a dead token must not reach the
		// customer.
		return tea.Batch(closePage(msg.page), s.afterChange(c, before), s.flush(c))
	}
	var closeOld tea.Cmd
	if s.page != msg.page {
		closeOld = s.dropPage()
	}
	s.page = msg.page
	// If the program ends without a quit key (SSH drop, shutdown, signal),
	// the customer's page must still be closed.
	context.AfterFunc(c.life, msg.page.Close)
	s.inbox = &eventInbox{gen: msg.gen}
	return tea.Batch(closeOld, waitEvent(c, msg.gen, msg.page, s.journal, s.inbox), launchBrowser(c, msg.page.URL()))
}

// onWidget applies a page's events in their order, as if each came in its
// own message. Status lines and the audit's widget_event records follow the
// same order; phase changes (outcomes) are reacted to after the event that
// caused them.
func (s *sessionScreen) onWidget(c *screenCtx, msg widgetMsg) tea.Cmd {
	if msg.page != s.page {
		return nil // an old page still talking: ignore it
	}
	s.inbox.taken()
	var cmds []tea.Cmd
	for _, ev := range msg.evs {
		if msg.page != s.page {
			break // an earlier event ended this page (its token expired)
		}
		before := s.sess.Phase()
		err := s.apply(c, state.Event{Kind: state.Widget, Generation: msg.gen, Widget: ev})
		s.journal.ack(msg.page, ev.Seq) // applied (or refused by the machine): nothing more to record of it
		if err != nil {
			continue
		}
		if c := s.afterChange(c, before); c != nil {
			cmds = append(cmds, c)
		}
	}
	if msg.page != s.page {
		// Stop reading the dropped page; what this batch must record still is.
		return tea.Batch(append(cmds, s.flush(c))...)
	}
	if op := s.claimOp(c); op != nil {
		cmds = append(cmds, op) // where the customer is, for colleagues (the claim)
	}
	wait := waitEvent(c, msg.gen, msg.page, s.journal, s.inbox)
	if len(cmds) == 0 {
		return wait // the usual case: no tea.Batch round trip per event
	}
	return tea.Batch(append(cmds, wait)...)
}

// afterChange reacts to a phase change (the attempt has said and recorded
// it): an expired token's page is closed, a success starts verification.
func (s *sessionScreen) afterChange(c *screenCtx, before state.Phase) tea.Cmd {
	dropped, verify := s.settle(c, before)
	var cmds []tea.Cmd
	if dropped != nil {
		cmds = append(cmds, closePage(dropped))
	}
	if verify {
		cmds = append(cmds, verifyLater(c, s, s.sess.Generation(), 0))
	}
	return tea.Batch(cmds...)
}

// settle is the model's own part of afterChange, for a program and for a
// parked model alike (RecordParked): the page is let go when it can do
// nothing more (dropped, for the caller to close), and a success starts
// verification (verify: a check of the account is due).
func (s *sessionScreen) settle(c *screenCtx, before state.Phase) (dropped Page, verify bool) {
	after := s.sess.Phase()
	if after == before {
		return nil, false
	}
	if after.LinkEnded() {
		dropped = s.page
		s.page = nil
	}
	if after == state.Succeeded {
		if s.apply(c, state.Event{Kind: state.VerifyStarted, Generation: s.sess.Generation()}) == nil {
			// The header and banner say the account is being checked.
			s.verifyAt = c.now()
			verify = true
		}
	}
	return dropped, verify
}

// applyReread applies one post-success re-read of the account (a, or the
// error that came instead, and w, the webhook store's newest word on it)
// to the attempt, giving up once VerifyFor has
// passed since the check began, and keeps a fresh read as the account's
// copy. It reports whether the machine took it (false: a stale answer).
// The program (onVerify) and a parked model (verifyParked) both use it.
func (s *sessionScreen) applyReread(c *screenCtx, gen uint64, a mono.Account, err error, w *state.WebhookEvidence) bool {
	if w != nil && w.ConfirmsSync() && gen == s.sess.Generation() {
		// Mono's confirmation is in the webhook store although its news
		// did not reach this attempt (the machine refuses one older than
		// the attempt).
		at := w.At
		if at.IsZero() {
			at = c.now()
		}
		if s.apply(c, state.Event{Kind: state.MonoSynced, AccountID: s.account.ID, At: at}) == nil {
			if err == nil {
				s.account = mergeAccount(s.account, a)
			}
			return true
		}
	}
	ev := state.Event{Kind: state.VerifyResult, Generation: gen, Account: a, Err: err,
		GaveUp: c.now().Sub(s.verifyAt) >= c.deps.VerifyFor}
	if err != nil {
		ev.Account = mono.Account{}
	}
	if s.apply(c, ev) != nil {
		return false
	}
	if err == nil {
		s.account = mergeAccount(s.account, a)
	}
	return true
}

// nextReread is how long until the next post-success re-read: VerifyEvery,
// doubling with each check done (verifyBackoff).
func (s *sessionScreen) nextReread(d Deps) time.Duration {
	return verifyBackoff(d.VerifyEvery, s.sess.Verification().Checks)
}

func (s *sessionScreen) onVerify(c *screenCtx, msg verifyResultMsg) tea.Cmd {
	now := c.now()
	if !s.applyReread(c, msg.gen, msg.account, msg.err, msg.webhook) {
		return nil
	}
	if msg.err == nil {
		// The fresh read replaces the stale copy in the list too, so
		// badges stop saying NEEDS REAUTH once Mono agrees.
		c.post(accountReadMsg{account: s.account})
		s.verifyErr = ""
	} else if hint := plainError(msg.err); hint != s.verifyErr {
		// Re-reads go on by themselves (they are safe reads); the agent
		// still needs to know why the answer is taking a while.
		s.verifyErr = hint
		s.status.add(statusLine{at: now, tone: state.ToneWarning, text: "Re-read failed, will retry: " + hint})
	}
	if s.sess.Phase() == state.Verifying && !msg.kicked { // kicked: the scheduled re-reads carry on by themselves
		return tea.Batch(s.flush(c), verifyLater(c, s, msg.gen, s.nextReread(c.deps)))
	}
	return s.flush(c)
}

// outcomeEvent is the attempt's event a webhook is, if any (at: when it
// happened): Mono's success (account_reauthorized) or its confirmation of
// fresh data (account_updated with sync SUCCESSFUL).
func (sig AccountSignal) outcomeEvent(at time.Time) (state.Event, bool) {
	switch {
	case sig.Reauthorized:
		return state.Event{Kind: state.MonoReauthorized, AccountID: sig.AccountID, At: at}, true
	case mono.SyncSucceeded(sig.SyncStatus):
		return state.Event{Kind: state.MonoSynced, AccountID: sig.AccountID, At: at}, true
	}
	return state.Event{}, false
}

// applyWebhook applies a webhook about this screen's account that is an
// event of the attempt (AccountSignal.outcomeEvent), reporting whether the
// machine took it.
func (s *sessionScreen) applyWebhook(c *screenCtx, sig AccountSignal) bool {
	if sig.AccountID != s.account.ID {
		return false
	}
	at := sig.At
	if at.IsZero() {
		at = c.now()
	}
	ev, ok := sig.outcomeEvent(at)
	return ok && s.apply(c, ev) == nil
}

// onSignal reacts to Mono's webhooks about this session's account. Mono's
// success (account_reauthorized) wins like the widget's; an account_updated
// with sync SUCCESSFUL confirms fresh data; while verifying, any other news
// prompts an immediate re-read.
func (s *sessionScreen) onSignal(c *screenCtx, sig AccountSignal) tea.Cmd {
	now := c.now()
	before := s.sess.Phase()
	if ds := sig.DataStatus.Normal(); ds != "" && ds != s.account.DataStatus.Normal() {
		// Mono's newest word on its cached data (account_updated's
		// meta.data_status): the badge here and on the list follow it,
		// so a confirmed sync does not sit beside the PROCESSING of the
		// read before it.
		s.account.DataStatus = ds
		c.post(accountReadMsg{account: s.account})
	}
	if s.applyWebhook(c, sig) {
		return tea.Batch(s.afterChange(c, before), s.flush(c))
	}
	text := "Mono webhook: " + sig.Event
	tone := state.ToneInfo
	switch {
	case sig.NeedsReauth:
		text, tone = "Mono webhook: this account needs reauth", state.ToneWarning
	case sig.Reauthorized:
		text, tone = "Mono webhook: account re-authorised", state.ToneSuccess
	case sig.DataStatus != "":
		text = "Mono webhook: account updated, data " + string(sig.DataStatus.Normal())
	}
	s.status.add(statusLine{at: now, tone: tone, text: text})
	switch s.sess.Phase() {
	case state.Explaining:
		// The reason on screen rests on the signals read when the account
		// opened: read them (and the account) again so the reason and its
		// evidence are derived from what Mono has just said.
		return s.readDetail(c)
	case state.Verifying:
		return rereadAccount(c, s, s.sess.Generation())
	}
	return nil
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
func (s *sessionScreen) onClock(c *screenCtx) tea.Cmd {
	before := s.sess.Phase()
	if s.apply(c, state.Event{Kind: state.Tick}) != nil {
		return nil
	}
	return tea.Batch(s.afterChange(c, before), s.flush(c))
}

// noticeFor is how long a notice stays without a key.
const noticeFor = 8 * time.Second

func (s *sessionScreen) setNotice(c *screenCtx, text string, ok bool) {
	s.notice, s.noticeOK, s.noticeAt = text, ok, c.now()
}

// refusedOutcome is the outcome the machine gives a mint Mono refuses for
// a (the account cannot be re-authorised), for a refusal that came another
// way (a hosted link): asked of a scratch session, so its words and next
// step are the machine's own, and nothing is applied to the attempt or
// recorded. ok is false when the machine would not mint for a at all.
func refusedOutcome(a mono.Account, now time.Time) (state.Outcome, bool) {
	s, err := state.New().Apply(state.Event{Kind: state.AccountChosen, Account: a}, now)
	if err == nil {
		s, err = s.Apply(state.Event{Kind: state.MintRequested}, now)
	}
	if err == nil {
		s, err = s.Apply(state.Event{Kind: state.MintFailed, Generation: s.Generation(), Refused: true,
			Err: errors.New("the account cannot be re-authorised")}, now)
	}
	o := s.Outcome()
	return o, err == nil && o.Kind == state.OutcomeFailed
}

// supportIDs are what Mono support asks for about the account's sync, as
// "name value" parts: the read's data_request_id and session_id, else the
// data_request_id of Mono's newest webhook about it. None: nil.
func (s *sessionScreen) supportIDs() []string {
	a := s.account
	var ids []string
	drq := a.DataRequestID
	if drq == "" && s.signals.Webhook != nil {
		drq = mono.CleanText(s.signals.Webhook.DataRequestID)
	}
	if drq != "" {
		ids = append(ids, "data_request_id "+drq)
	}
	if a.SessionID != "" {
		ids = append(ids, "session_id "+a.SessionID)
	}
	return ids
}

// refusedByMono reports Mono saying the account cannot be re-authorised:
// the client's KindCannotReauth (a refused mint), or a 4xx reply with the
// words Mono uses (the client classifies only the mint's reply so far).
func refusedByMono(err error) bool {
	if mono.KindOf(err) == mono.KindCannotReauth {
		return true
	}
	var me *mono.Error
	if !errors.As(err, &me) || me.Status < 400 || me.Status >= 500 {
		return false
	}
	m := strings.ToLower(strings.Join(strings.Fields(me.Message), " "))
	m = strings.ReplaceAll(strings.ReplaceAll(m, "can not", "cannot"), "re-authori", "reauthori")
	return strings.Contains(m, "cannot be reauthorised") || strings.Contains(m, "cannot be reauthorized")
}
