package tui

import (
	"context"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
)

// Resume: a model that outlives its program. `reauth serve` (tui/sshserve)
// keeps the final model of a program whose SSH connection dropped under a
// live attempt, and a new program of the same agent starts from it
// (Resume): the same attempt, its page and its claim, with every event the
// page received meanwhile. The model's life context (NewResumable) is what
// its page and claim end with; each program's ctx only stops that
// program's Cmds.

// NewResumable is New for a program whose model may outlive it: ctx ends
// with the program (its Cmds stop), life when the model is done with (its
// page closes and its claim is released then; Resume keeps it).
func NewResumable(ctx, life context.Context, deps Deps) Model {
	m := New(ctx, deps)
	m.life = life
	return m
}

// Resumable reports whether the model (a program's final one) has an
// attempt that a new program can carry on: a token or page live, or the
// check after a success under way (parked, it goes on; the agent who comes
// back sees its answer), with nothing in flight whose answer went with the
// old program (a Take, a page starting).
func (m Model) Resumable() bool {
	s := m.session
	if s == nil || m.starting != nil {
		return false
	}
	ph := s.sess.Phase()
	return (ph.Live() || ph == state.Verifying) && ph != state.PageOpening && !s.claims.busy
}

// Resume is the model a new program starts from after its agent's
// previous one stopped at dropped with a live attempt (parked, that
// program's final model, made by NewResumable): ctx and deps are the new
// program's. Its pane says "Resumed after the connection dropped
// (13:02:10–13:03:40)"; the page's events that arrived meanwhile (still
// queued in its channel, or read by the old program and never applied) are
// applied now, in order; Init re-arms the page's wait, the clock, the
// webhook and claims news and a verification under way.
func Resume(ctx context.Context, parked Model, deps Deps, dropped time.Time) Model {
	m := parked
	m.ctx = ctx
	m.attach(deps)
	m.clockOn, m.spinnerOn = true, false
	m.drain = nil // this server's drain, if any, is told to the new program
	var cmds []tea.Cmd
	if s := m.session; s != nil {
		c := m.screenCtx(screenSession)
		now := c.now()
		loc := now.Location()
		s.status.add(statusLine{at: now, tone: state.ToneInfo, text: "Resumed after the connection dropped (" +
			dropped.In(loc).Format("15:04:05") + "–" + now.In(loc).Format("15:04:05") + ")"})
		s.hostedBusy = false    // its answer went with the old program; h asks again
		s.claims.sentPhase = "" // the next refresh says the agent is back (the claim says parked)
		if s.page != nil {
			cmds = append(cmds, s.catchUp(&c))
		}
		if s.sess.Phase() == state.Verifying {
			cmds = append(cmds, verifyLater(&c, s, s.sess.Generation(), 0))
		}
		cmds = append(cmds, s.flush(&c))
	}
	for _, s := range m.checking {
		// Checks left running: their re-reads went with the old program.
		c := m.screenCtx(screenSession)
		cmds = append(cmds, verifyLater(&c, s, s.sess.Generation(), 0))
	}
	if len(m.unwritten) > 0 {
		// Left attempts' records still waiting for the audit: their
		// retries went with the old program.
		cmds = append(cmds, retryAuditLater())
	}
	m.syncKeys()
	m.resumed = tea.Batch(cmds...)
	return m
}

// ParkClaim tells the team that the agent of this parked model's attempt
// is away (their connection dropped at at; the attempt is kept for them):
// colleagues opening the account see it. I/O: call it outside a program.
// The resumed program's first claim refresh says they are back.
func (m Model) ParkClaim(ctx context.Context, at time.Time) error {
	return m.parkClaim(ctx, at, at)
}

// parkClaim writes the parked claim's words as of now, away since at.
func (m Model) parkClaim(ctx context.Context, at, now time.Time) error {
	s := m.session
	if s == nil || !s.claims.holding {
		return nil
	}
	p, ok := m.deps.Claims.(ClaimParker)
	if !ok {
		return nil
	}
	phase, step := claimWords(s.sess, now)
	s.claims.sentPhase, s.claims.sentStep, s.claims.sentAt = phase, step, now
	return p.Park(ctx, s.account.ID, s.id(), phase, step, at)
}

// RecordParked keeps a parked model's attempt going while its agent is
// away (I/O: run it on a goroutine of its own, outside any program, and
// stop it before the model is resumed, handed over or ended): each event
// the customer's page sends is applied as the program would have applied
// it and recorded at once, the claim says where the customer is (still
// "away since" dropped), and an outcome is the attempt's own: a customer
// who succeeds while the agent is away is SUCCEEDED in the audit then, not
// whatever the end of the grace would say. After a success the account is
// checked as the program would (re-reads, and Mono's webhooks: its
// account_updated with sync SUCCESSFUL is the only word that the data is
// fresh, a read never says when it synced; until that or Deps.VerifyFor),
// and the result recorded and the account's mark cleared if verified, so
// an agent who never comes back leaves a verified (or "not confirmed")
// attempt, not a bare success. Mono's account_reauthorized is a success
// here too. The clock waits for the program that resumes the attempt.
// It returns when ctx ends, or when the attempt has no page left and is
// not verifying.
func (m Model) RecordParked(ctx context.Context, dropped time.Time) {
	news := m.webhookNews(ctx)
	var reread *time.Timer // the next re-read while verifying
	defer func() {
		if reread != nil {
			reread.Stop()
		}
	}()
	var ended Page // the page whose end was applied: nothing more to read
	for {
		s := m.session
		if s == nil || ctx.Err() != nil {
			return
		}
		p := s.page
		if p == ended {
			p = nil // kept by the session (as a program keeps it), but done
		}
		if p != nil {
			m.applyWaiting(ctx, dropped)
			if s.page != p {
				continue // the page was let go (an outcome, a token expired)
			}
		}
		var due <-chan time.Time
		if s.sess.Phase() == state.Verifying {
			if reread == nil {
				reread = time.NewTimer(s.nextReread(m.deps))
			}
			due = reread.C
		} else if p == nil {
			return
		}
		var events <-chan mono.WidgetEvent
		var done <-chan struct{}
		if p != nil {
			events, done = p.Events(), p.Done()
		}
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-news:
			if !ok {
				news = nil
			} else {
				m.signalParked(ctx, sig, dropped)
			}
			continue
		case <-due:
			reread = nil
			m.verifyParked(ctx, dropped)
			continue
		case ev, ok := <-events:
			if ok {
				// Held first: a stop between here and applying it loses
				// nothing (the next program or EndLive applies the inbox).
				s.inbox.hold(append(s.inbox.take(), ev))
				continue
			}
		case <-done:
		}
		// The page ended: what it queued before its end, then the end.
		m.applyWaiting(ctx, dropped)
		ended = p
		if s.page == p {
			c := m.screenCtx(screenSession)
			before := s.sess.Phase()
			s.pageEnded(&c, s.inbox.generation(), p.EndReason())
			m.settleParked(ctx, &c, before, dropped)
		}
	}
}

// FinishCheck carries on checking the account after a success, as the
// parked recorder does, until the check has its answer (VERIFIED, or "not
// confirmed" once Deps.VerifyFor has passed) or ctx ends: for a parked
// attempt whose grace ends in the middle of the check, so that its result
// is recorded rather than dropped with the model. I/O: call it outside any
// program, with the recorder stopped. It returns at once when the attempt
// is not being checked.
func (m Model) FinishCheck(ctx context.Context, dropped time.Time) {
	s := m.session
	if s == nil {
		return
	}
	// A bound beyond VerifyFor plus one backoff, should the clock or Mono
	// misbehave.
	ctx, cancel := context.WithTimeout(ctx, m.deps.VerifyFor+30*time.Second)
	defer cancel()
	m.awaitCheck(ctx, s, func(c *screenCtx, before state.Phase) { m.settleParked(ctx, c, before, dropped) })
}

// webhookNews subscribes to Mono's webhooks for a model outside any
// program (nil without them).
func (m Model) webhookNews(ctx context.Context) <-chan AccountSignal {
	if m.deps.Signals == nil {
		return nil
	}
	return m.deps.Signals(ctx)
}

// signalParked applies a webhook about the parked attempt's account, as
// the program would: Mono's success, or its confirmation of fresh data
// (AccountSignal.outcomeEvent), recorded at once.
func (m Model) signalParked(ctx context.Context, sig AccountSignal, dropped time.Time) {
	s := m.session
	if s == nil {
		return
	}
	c := m.screenCtx(screenSession)
	before := s.sess.Phase()
	if s.applyWebhook(&c, sig) {
		m.settleParked(ctx, &c, before, dropped)
	}
}

// verifyParked is one post-success re-read of the account for a parked
// model, applied and recorded as onVerify does in a program. A re-read cut
// short by the recorder's stop is not applied: the resumed program reads
// again.
func (m Model) verifyParked(ctx context.Context, dropped time.Time) {
	s := m.session
	c := m.screenCtx(screenSession)
	a, err := c.deps.Mono.Account(ctx, s.account.ID)
	if ctx.Err() != nil {
		return
	}
	before := s.sess.Phase()
	if s.applyReread(&c, s.sess.Generation(), a, err, latestWebhook(c.deps, s.account.ID)) {
		m.settleParked(ctx, &c, before, dropped)
	}
}

// applyWaiting applies the page's events that no program applied (the
// inbox, then everything queued in the page's channel), in order, to a
// model outside any program, and writes what they recorded (I/O). It
// reports whether there were any. dropped is when the agent left (zero:
// not parked, the claim's words are left to the caller).
func (m Model) applyWaiting(ctx context.Context, dropped time.Time) bool {
	s := m.session
	if s == nil || s.page == nil {
		return false
	}
	p, gen := s.page, s.inbox.generation()
	evs := s.waiting()
	if len(evs) == 0 {
		return false
	}
	c := m.screenCtx(screenSession)
	for _, ev := range guardCodes(c.deps.Audit, evs) {
		if s.page != p {
			break // an earlier event ended this page
		}
		before := s.sess.Phase()
		err := s.apply(&c, state.Event{Kind: state.Widget, Generation: gen, Widget: ev})
		s.journal.ack(p, ev.Seq)
		if err != nil {
			continue
		}
		m.settleParked(ctx, &c, before, dropped)
	}
	if !dropped.IsZero() {
		m.settleParked(ctx, &c, s.sess.Phase(), dropped)
	}
	return true
}

// settleParked is afterChange and flush for a model outside any program:
// a page that can do nothing more is closed, the records written, the
// claim released when the attempt no longer holds the account, or (parked
// since dropped) its words brought up to date.
func (m Model) settleParked(ctx context.Context, c *screenCtx, before state.Phase, dropped time.Time) {
	s := m.session
	if gone, _ := s.settle(c, before); gone != nil {
		gone.Close()
	}
	_ = s.journal.drain(c.deps.Audit)
	if at := s.clearMarkAt; !at.IsZero() {
		// Verified while the agent is away: the mark goes, as a
		// program's flush would clear it.
		s.clearMarkAt = time.Time{}
		if c.deps.ClearMark != nil {
			c.deps.ClearMark(s.account.ID, at)
		}
	}
	if !attemptHolds(s.sess.Phase()) {
		if op := s.claimOp(c); op != nil {
			op() // the release
		}
		return
	}
	if dropped.IsZero() {
		return // not parked: the caller's next flush refreshes the claim
	}
	now := c.now()
	phase, step := claimWords(s.sess, now)
	if phase != s.claims.sentPhase || step != s.claims.sentStep {
		_ = m.parkClaim(ctx, dropped, now)
	}
}

// waiting takes the page's events that no program applied: those held in
// the inbox, then everything queued in the page's channel, in order.
func (s *sessionScreen) waiting() []mono.WidgetEvent {
	s.inbox.stopReading() // a stopped program's last read lands first
	evs := s.inbox.take()
	for {
		select {
		case ev, ok := <-s.page.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// catchUp applies the page's events the old program never applied (held
// in the inbox, then everything queued in the page's channel), in order,
// and returns the Cmds that follow, the page's next wait among them.
func (s *sessionScreen) catchUp(c *screenCtx) tea.Cmd {
	p, gen := s.page, s.inbox.generation()
	evs := s.waiting() // a closed channel: the next wait reports the end
	if len(evs) == 0 {
		return waitEvent(c, gen, p, s.journal, s.inbox)
	}
	return s.onWidget(c, widgetMsg{gen: gen, page: p, evs: guardCodes(c.deps.Audit, evs)})
}

// eventInbox holds the batch of a page's events a Cmd has read and handed
// to the program, until Update applies it: a program that stops between
// the two (its connection dropped) would otherwise lose them, and Resume
// applies them first. It is the Cmds' buffer, not model state (as the
// audit journal is): Update only empties it.
//
// It also knows the Cmd reading the page (waitEvent), so that whoever takes
// the page over from a stopped program (Resume, the parked recorder,
// EndLive) can first stop that Cmd and wait for it: a Cmd that had just
// taken an event off the page's channel when its program stopped would
// otherwise hold it a moment after the taker looked, and the event would
// be applied by nobody (or overwritten by the next program's batch).
type eventInbox struct {
	gen uint64 // the page's generation

	mu  sync.Mutex
	evs []mono.WidgetEvent
	// epoch counts stopReading calls: a Cmd made before the latest one
	// (its program stopped before it ran) reads nothing.
	epoch  uint64
	reader *inboxReader // the Cmd reading the page now; nil: none
}

// inboxReader is one waitEvent Cmd at work: stop asks it to return without
// reading; done is closed once it has returned (what it read is held).
type inboxReader struct{ stop, done chan struct{} }

// readingEpoch is the epoch a Cmd made now reads in (see startReading).
func (in *eventInbox) readingEpoch() uint64 {
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.epoch
}

// startReading registers the calling Cmd, made in epoch, as the page's
// reader; ok is false when the page was taken over since (the Cmd must not
// read). A nil inbox reads without the protocol (r nil).
func (in *eventInbox) startReading(epoch uint64) (r *inboxReader, ok bool) {
	if in == nil {
		return nil, true
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if epoch != in.epoch {
		return nil, false
	}
	r = &inboxReader{stop: make(chan struct{}), done: make(chan struct{})}
	in.reader = r
	return r, true
}

// doneReading: r has returned, with whatever it read held.
func (in *eventInbox) doneReading(r *inboxReader) {
	if in == nil || r == nil {
		return
	}
	in.mu.Lock()
	if in.reader == r {
		in.reader = nil
	}
	in.mu.Unlock()
	close(r.done)
}

// stopReading stops the Cmd reading the page, if one is at it, and waits
// until it has returned: after it, everything taken off the page's channel
// is in the inbox, and no Cmd made before it reads again.
func (in *eventInbox) stopReading() {
	if in == nil {
		return
	}
	in.mu.Lock()
	in.epoch++
	r := in.reader
	in.reader = nil
	in.mu.Unlock()
	if r != nil {
		close(r.stop)
		<-r.done
	}
}

// stopped is r's stop channel (nil, never ready, without the protocol).
func (r *inboxReader) stopped() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.stop
}

func (in *eventInbox) hold(evs []mono.WidgetEvent) []mono.WidgetEvent {
	if in != nil {
		in.mu.Lock()
		in.evs = evs
		in.mu.Unlock()
	}
	return evs
}

// taken: the batch held has been applied.
func (in *eventInbox) taken() { in.take() }

func (in *eventInbox) take() []mono.WidgetEvent {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	evs := in.evs
	in.evs = nil
	return evs
}

func (in *eventInbox) generation() uint64 {
	if in == nil {
		return 0
	}
	return in.gen
}
