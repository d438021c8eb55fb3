package tui

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

// isMe reports whether a claim's holder is this program's agent, by their
// SSH key (another session of theirs: a second terminal, a reconnect), so
// they are never named to themselves as a colleague.
func (c *screenCtx) isMe(holder audit.Agent) bool {
	return holder.KeyFingerprint != "" && holder.KeyFingerprint == c.deps.AgentKey
}

// The account screen's part in the team's claims (Deps.Claims): one live
// attempt per account. The attempt takes its account's claim when the agent
// starts it (t, or o on a token), before anything else happens; held by a
// colleague, the agent is asked first ("Take over from ada?"). While the
// attempt runs the claim says what it is at (refreshed with each flush, and
// at least every claim.RefreshEvery); its outcome, or leaving it, releases
// it. A colleague's live claim shows on the account; news that a colleague
// took it over from this attempt ends the attempt TAKEN OVER, naming them.

// claimIntent is what the agent asked for that needs the claim first.
type claimIntent int

const (
	intentMint claimIntent = iota + 1 // t: mint (or prepare the link)
	intentPage                        // o: open the page
)

// sessionClaim is the screen's claim state.
type sessionClaim struct {
	holding bool // this attempt holds its account's claim
	// other is a colleague's live claim on the account, as last heard
	// (nil: none, or this attempt's own).
	other *claim.Claim
	// sentPhase, sentStep and sentAt are what the last refresh said, and
	// when.
	sentPhase, sentStep string
	sentAt              time.Time
	// intent and replace wait for the claim (and, when held, for the
	// agent's answer to confirmTakeOver).
	intent  claimIntent
	replace bool
	busy    bool // a Take is in flight
	// version is the newest version of the account's claim this screen
	// has heard of (take answers, reads and news). News reaches the
	// program on its own channel, not in step with the take's answer: a
	// colleague's refresh written before this attempt took the account
	// over can arrive after the take, and must not read as them taking
	// it back.
	version int64
	// w orders the claim's writes (nil until the first).
	w *claimWriter
}

// claimWriter is the Cmds' buffer for the claim's refreshes and release,
// as the audit journal is for records: Update sets what the claim should
// say; each Cmd writes the newest of it, one at a time, so a slow refresh
// never lands after a newer one, and nothing from an attempt's claim
// (gen) touches the next one's. Update only ever takes mu (held for a few
// field reads); io, held across a write's I/O, is the Cmds' alone.
type claimWriter struct {
	io          sync.Mutex
	mu          sync.Mutex
	gen         int // bumped by each take
	phase, step string
	released    bool
}

func (s *sessionScreen) writer() *claimWriter {
	if s.claims.w == nil {
		s.claims.w = &claimWriter{}
	}
	return s.claims.w
}

type (
	// claimTakeMsg is a Take's answer.
	claimTakeMsg struct {
		claim    claim.Claim
		err      error
		takeOver bool
	}
	// claimReadMsg is the account's claim as read (on opening, or after a
	// refresh found this attempt no longer holds it).
	claimReadMsg struct {
		claim claim.Claim
		found bool
	}
	// claimLostMsg: a refresh was refused (claim.ErrNotHeld); read the
	// claim to learn who has it.
	claimLostMsg struct{ account string }
)

// updateClaims handles the claim messages; ok is false for others.
func (s *sessionScreen) updateClaims(c *screenCtx, msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case ClaimSignal:
		return s.onClaim(c, msg.Claim), true
	case claimReadMsg:
		if !msg.found {
			return nil, true
		}
		return s.onClaim(c, msg.claim), true
	case claimLostMsg:
		if msg.account != s.account.ID {
			return nil, true
		}
		return readClaim(c, s.account.ID), true
	case claimTakeMsg:
		return s.onClaimTake(c, msg), true
	}
	return nil, false
}

// heard notes cl's version; false when it is no newer than what the
// screen has heard already (older news, to be ignored). A claim without a
// version (0) is always news.
func (sc *sessionClaim) heard(cl claim.Claim) bool {
	if cl.Version == 0 {
		return true
	}
	if cl.Version <= sc.version {
		return false
	}
	sc.version = cl.Version
	return true
}

// readClaim reads the account's claim.
func readClaim(c *screenCtx, account string) tea.Cmd {
	claims, ctx := c.deps.Claims, c.ctx
	if claims == nil {
		return nil
	}
	return func() tea.Msg {
		cl, ok, err := claims.Get(ctx, account)
		if err != nil {
			return nil // the account shows no claim; taking it still asks the store
		}
		return claimReadMsg{claim: cl, found: ok}
	}
}

// needClaim: the attempt must take its account's claim before intent (no
// claims, or already held: it need not).
func (s *sessionScreen) needClaim(c *screenCtx) bool {
	return c.deps.Claims != nil && !s.claims.holding
}

// takeClaim asks for the claim, then does intent (onClaimTake).
func (s *sessionScreen) takeClaim(c *screenCtx, intent claimIntent, replace, takeOver bool) tea.Cmd {
	s.claims.intent, s.claims.replace = intent, replace
	if s.claims.busy {
		return nil
	}
	s.claims.busy = true
	w := s.writer()
	w.mu.Lock()
	w.gen++
	w.released = false
	w.mu.Unlock()
	claims, ctx := c.deps.Claims, c.ctx
	account, attempt := s.account.ID, s.id()
	return func() tea.Msg {
		w.io.Lock() // after any write of the attempt's previous claim
		defer w.io.Unlock()
		cl, err := claims.Take(ctx, account, attempt, "starting an attempt", "", takeOver)
		return claimTakeMsg{claim: cl, err: err, takeOver: takeOver}
	}
}

func (s *sessionScreen) onClaimTake(c *screenCtx, msg claimTakeMsg) tea.Cmd {
	s.claims.busy = false
	intent := s.claims.intent
	s.claims.intent = 0
	var held *claim.HeldError
	switch {
	case errors.As(msg.err, &held):
		// A colleague's live attempt: ask before taking it from them.
		cl := held.Claim
		s.claims.heard(cl)
		s.claims.other = &cl
		s.claims.intent = intent
		s.dialog = confirmTakeOver
		return nil
	case msg.err != nil:
		// The store did not answer: the attempt goes on without a claim
		// (colleagues are not warned off), and the agent is told.
		s.status.add(statusLine{at: c.now(), tone: state.ToneWarning,
			text: "Claim not recorded (colleagues will not see you on this account): " + plainError(msg.err)})
	default:
		s.claims.heard(msg.claim)
		s.claims.holding = true
		s.claims.other = nil
		s.claims.sentPhase, s.claims.sentStep, s.claims.sentAt = msg.claim.Phase, msg.claim.Step, c.now()
		// If the program ends without the agent leaving (an SSH drop), the
		// claim is released then (the page closes too).
		releaseOnEnd(c, s.account.ID, s.id())
		if f := msg.claim.From; f != nil && f.Interrupted {
			who := claim.Name(f.Holder)
			s.journal.push(s.att.TookOverInterrupted(who, f.Attempt, f.Replica, c.now()))
			whose := who + "'s"
			if c.isMe(f.Holder) {
				whose = "your own" // a reconnect after the replica running it died
			}
			s.status.add(statusLine{at: c.now(), tone: state.ToneWarning, text: "You took this account from " + whose +
				" interrupted attempt (the server running it went silent; recorded as " + state.Interrupted + ")"})
		} else if f != nil {
			who := claim.Name(f.Holder)
			s.journal.push(s.att.TookOver(who, f.Attempt, f.Stale, c.now()))
			text := "You took over this account from " + who
			if c.isMe(f.Holder) {
				text = "You took over this account from your other session"
			}
			if f.Stale {
				text += " (their claim was stale: no sign of their program since " +
					f.LastSeen.In(c.now().Location()).Format("15:04") + ")"
			}
			s.status.add(statusLine{at: c.now(), tone: state.ToneWarning, text: text})
		}
	}
	switch intent {
	case intentMint:
		return s.requestMint(c, s.claims.replace)
	case intentPage:
		return s.openPage(c)
	}
	return s.flush(c)
}

// releaseOnEnd releases the claim when the program ends (the store keeps
// it otherwise until it goes stale).
func releaseOnEnd(c *screenCtx, account, attempt string) {
	claims := c.deps.Claims
	context.AfterFunc(c.life, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = claims.Release(ctx, account, attempt)
	})
}

// onClaim takes news of the account's claim: a colleague's claim to show,
// or the news that a colleague took it from this attempt.
func (s *sessionScreen) onClaim(c *screenCtx, cl claim.Claim) tea.Cmd {
	if cl.Account != s.account.ID || !s.claims.heard(cl) {
		return nil
	}
	if cl.Attempt == s.id() {
		if !cl.Live() {
			s.claims.other = nil
		}
		return nil // this attempt's own write
	}
	if !cl.Live() {
		s.claims.other = nil
		return nil
	}
	s.claims.other = &cl
	if !s.claims.holding {
		return nil
	}
	// A colleague holds it now: they took it over from this attempt (or
	// took it as stale). The attempt ends TAKEN OVER, naming them; its
	// page stops.
	s.claims.holding = false
	at := c.now()
	if f := cl.From; f != nil && f.Attempt == s.id() && !f.At.IsZero() {
		at = f.At
	}
	before := s.sess.Phase()
	if s.apply(c, state.Event{Kind: state.ClaimTaken, By: claim.Name(cl.Holder), BySelf: c.isMe(cl.Holder), At: at}) != nil {
		return nil
	}
	s.dialog = noDialog
	return tea.Batch(s.afterChange(c, before), s.flush(c))
}

// attemptHolds reports whether a phase is one of an attempt that holds its
// account's claim: from the mint to the outcome.
func attemptHolds(p state.Phase) bool {
	return p == state.Minting || p.Live()
}

// claimOp is what the next flush does with the claim (nil: nothing). It
// decides now, in Update, and returns the I/O for the Cmd.
func (s *sessionScreen) claimOp(c *screenCtx) func() tea.Msg {
	claims := c.deps.Claims
	if claims == nil || !s.claims.holding {
		return nil
	}
	ctx, account, attempt := c.ctx, s.account.ID, s.id()
	w := s.writer()
	w.mu.Lock()
	defer w.mu.Unlock()
	gen := w.gen
	if !attemptHolds(s.sess.Phase()) {
		s.claims.holding = false
		w.released = true
		return func() tea.Msg {
			w.io.Lock()
			defer w.io.Unlock()
			w.mu.Lock()
			cur := w.gen
			w.mu.Unlock()
			if cur != gen {
				return nil // a newer take: that claim is not this one to release
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = claims.Release(ctx, account, attempt)
			return nil
		}
	}
	now := c.now()
	phase, step := claimWords(s.sess, now)
	if phase == s.claims.sentPhase && step == s.claims.sentStep && now.Sub(s.claims.sentAt) < claim.RefreshEvery {
		return nil
	}
	s.claims.sentPhase, s.claims.sentStep, s.claims.sentAt = phase, step, now
	w.phase, w.step = phase, step
	return func() tea.Msg {
		w.io.Lock()
		defer w.io.Unlock()
		// The newest words Update has set, whichever refresh runs last.
		w.mu.Lock()
		cur, released, phase, step := w.gen, w.released, w.phase, w.step
		w.mu.Unlock()
		if cur != gen || released {
			return nil
		}
		if err := claims.Update(ctx, account, attempt, phase, step); errors.Is(err, claim.ErrNotHeld) {
			return claimLostMsg{account: account}
		}
		return nil
	}
}

// claimWords is what a colleague reads of the attempt: "page live" and
// where the customer is ("customer's last step: submitted OTP").
func claimWords(sess state.Session, now time.Time) (phase, step string) {
	switch sess.Phase() {
	case state.Minting:
		return "minting a token", ""
	case state.TokenReady:
		if sess.Token().Value == "" {
			return "link prepared, page not opened yet", ""
		}
		return "token minted, page not opened yet", ""
	case state.PageOpening:
		return "starting the page", ""
	case state.PageOpened:
		return "page sent, customer not on it yet", ""
	case state.WidgetLive, state.WidgetClosed:
		phase = "page live"
	case state.PageClosed:
		return "page closed, the link still works", ""
	default:
		return phaseWords(sess.Phase()), ""
	}
	where := strings.TrimSuffix(sess.Situation(now).Where, ".")
	if rest, ok := strings.CutPrefix(where, "Last step: "); ok {
		return phase, "customer's last step: " + lowerFirst(rest)
	}
	where = strings.TrimPrefix(where, "The ")
	return phase, lowerFirst(where)
}

// lowerFirst lowers a sentence's first letter unless it starts an acronym
// (OTP, MFA).
func lowerFirst(s string) string {
	if len(s) < 2 || (s[1] >= 'A' && s[1] <= 'Z') {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// heldLine is a colleague's live claim on the account, for the screen:
// "ada is re-authorising this account since 07:00 — page live, …" ("":
// none).
func (s *sessionScreen) heldLine(c *screenCtx) string {
	o := s.claims.other
	if o == nil || !o.Live() || s.claims.holding || s.dialog == confirmTakeOver {
		return "" // (the question says it all)
	}
	now := c.now()
	if s.otherInterrupted(c) {
		// Its replica went silent in the registry (most likely killed or
		// its host lost; all we know is it stopped saying it is alive): the
		// other replicas no longer forward its page, whatever the claim
		// last said.
		return claim.Name(o.Holder) + "'s attempt here was interrupted: the server running it went silent (last word " +
			o.Updated.In(now.Location()).Format("15:04") + "); the other servers no longer serve its page. t starts a new attempt (nobody is asked)."
	}
	if c.isMe(o.Holder) && o.Parked.IsZero() {
		// The agent's own claim from another session: a second terminal,
		// or a connection that dropped without the server noticing yet
		// (its program still runs). Not "a colleague".
		line := "You are re-authorising this account in another session since " + o.Since.In(now.Location()).Format("15:04")
		if d := o.Doing(); d != "" {
			line += " — " + d
		}
		return line + " (a terminal still open, or a connection that dropped and is not yet noticed). t takes it over here; that session's attempt stops."
	}
	line := o.Sentence(now.Location())
	if !o.Parked.IsZero() {
		line += " (away since " + o.Parked.In(now.Location()).Format("15:04") + ": connection dropped, attempt kept for them)"
	}
	if o.StaleAt(now, claim.DefaultStaleAfter) {
		line += " (no word from their program since " + o.Updated.In(now.Location()).Format("15:04") + ": t takes it without asking them)"
	}
	return line
}

// otherInterrupted reports whether the claim of another attempt on the
// account names a replica that went silent in the registry: its attempt
// was interrupted.
func (s *sessionScreen) otherInterrupted(c *screenCtx) bool {
	o := s.claims.other
	return o != nil && o.Replica != "" && c.deps.ReplicaGone != nil && c.deps.ReplicaGone(o.Replica, o.Updated)
}

// liveElsewhere is the attempt another live claim on the account names,
// for the History: "in progress", "interrupted" when its server went
// silent, "no word since 14:05" when its program stopped refreshing the
// claim; none when this attempt holds the claim.
func (s *sessionScreen) liveElsewhere(c *screenCtx) liveElsewhere {
	o := s.claims.other
	if o == nil || !o.Live() || s.claims.holding || o.Attempt == s.id() {
		return liveElsewhere{}
	}
	if s.otherInterrupted(c) {
		return liveElsewhere{attempt: o.Attempt, word: "interrupted"}
	}
	if now := c.now(); o.StaleAt(now, claim.DefaultStaleAfter) {
		// Its program stopped saying it is there: "in progress" would
		// claim more than is known.
		return liveElsewhere{attempt: o.Attempt, word: "no word since " + o.Updated.In(now.Location()).Format("15:04")}
	}
	return liveElsewhere{attempt: o.Attempt, word: "in progress"}
}

// takeOverQuestion is the confirmTakeOver dialog's text.
func (s *sessionScreen) takeOverQuestion(c *screenCtx) string {
	o := s.claims.other
	if o == nil {
		return "A colleague is re-authorising this account. Take it over? Their page stops and they are told.  y / n"
	}
	who := claim.Name(o.Holder)
	what := "since " + o.Since.In(c.now().Location()).Format("15:04")
	if d := o.Doing(); d != "" {
		what += " — " + d
	}
	if c.isMe(o.Holder) {
		return "Take it over from your other session (" + what + ")? Its page stops and it is told.  y / n"
	}
	return "Take over from " + who + " (" + what + ")? Their page stops; " + who + " is told.  y / n"
}
