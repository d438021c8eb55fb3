// Package state is the reauth session machine: one value, [Session], that an
// agent's attempt to re-authorise one account moves through, one [Event] at a
// time, by [Session.Apply]. It is pure: no I/O, no clock (the caller passes
// now), no goroutines, no UI. The UI, `reauth link` and the tests all drive the
// same machine, so a phase means the same thing everywhere.
//
//	ChoosingAccount ──AccountChosen──▶ Explaining ──MintRequested──▶ Minting
//	      ▲                │  ▲                                  │  MintFailed ─▶ Explaining
//	      └──────Back──────┘  └──────────Back (token dropped)────┤
//	                                                             ▼ MintSucceeded
//	                 ┌─PageFailed── PageOpening ◀──PageRequested── TokenReady
//	                 ▼                  │ PageServed                ▲
//	             TokenReady             ▼                           │ Back (page dropped)
//	                                PageOpened ─────────────────────┘
//	                                    │ page opened / any widget event
//	                                    ▼
//	      ┌────────────────────────▶ WidgetLive ◀───────────────────────┐
//	      │ onClose without success    │  ▲ page (re)opened, events     │ page reopened
//	      ▼                            │  │                             │
//	WidgetClosed (Reopen on the page)  │  └── PageClosed ◀── unload / page silent
//	                                   │
//	   success from the widget or Mono's account_reauthorized webhook, from
//	   any of these phases or after Failed/Expired/EndedByAgent/TakenOver:
//	        ─▶ Succeeded ─VerifyStarted─▶ Verifying ─▶ Verified | StillSyncing
//	   (VerifyStopped, the check cut short by its front end's end, ─▶ StillSyncing)
//	   (MonoSynced, Mono's account_updated with sync SUCCESSFUL, ─▶ Verified)
//	   page_error                          ─▶ Failed
//	   the agent ends it (AgentEnded)      ─▶ EndedByAgent
//	   a newer page for the account        ─▶ TakenOver
//	   a colleague takes the claim over    ─▶ TakenOver (named; also from Minting, TokenReady)
//	   token reaches ExpiresAt             ─▶ Expired  (from TokenReady … PageClosed)
//
//	Failed, Expired, EndedByAgent, TakenOver ──MintRequested──▶ Minting (a fresh attempt)
//	any phase ──Reset──▶ ChoosingAccount;  Tick is accepted everywhere.
//
// Rules worth knowing:
//
//   - Illegal events return a [*TransitionError] (errors.Is ErrIllegal) and the
//     session exactly as it was. [Session.Can] tells the UI which event kinds
//     the current phase accepts, so keys can be enabled per phase.
//   - Generation: every request that starts async work (MintRequested,
//     PageRequested) or abandons it (Back, Reset) bumps [Session.Generation].
//     Every event that answers such work (mint, page, widget and verify
//     results) carries the Generation read right after the request was
//     applied; one from an older generation is rejected as stale (errors.Is
//     ErrStale, and ErrIllegal), so a slow mint or an old page can never
//     overwrite a newer attempt. Mono's webhooks answer no request: they
//     carry the account and Mono's time instead, and one older than the
//     attempt is refused.
//   - A closed widget or a closed page is not an outcome while the link is
//     live: the customer can press Reopen, reload, or open the link again
//     (the page server lets the newest page take over), and the attempt goes
//     on. The attempt ends only when the widget or Mono reports success, the
//     page cannot run the widget, the token expires, the agent ends it, or a
//     newer attempt's page takes the account over.
//   - Success always wins: a success from the widget or Mono's webhook turns
//     a live attempt, or one that ended Failed, Expired, EndedByAgent or
//     TakenOver, into Succeeded. It is never "ignored".
//   - After success, Verified needs a fresh signal: Mono's account_updated
//     with sync SUCCESSFUL ([MonoSynced]) or a re-read showing a sync after
//     the success. data_status AVAILABLE alone describes Mono's cached data,
//     so it is reported as such, never as verified.
//   - Token expiry is judged against the now passed to Apply, before and after
//     every event: at or after ExpiresAt, a session with a token and no outcome
//     becomes Expired. The caller sends Tick about once a second so the
//     countdown reaches zero even when nothing else happens. An event that is
//     illegal after that expiry is refused with the session unchanged; the
//     next Tick expires it.
//   - Minting while a live token exists needs Event.Replace: the UI asks the
//     agent first. After an outcome the token is spent (a token is never
//     reused), so minting needs no confirmation and starts a fresh attempt.
//   - Outcomes never change once set, except to Succeeded (above), by Reset
//     or by a new mint. Page and widget events that arrive after an outcome
//     (onClose after SUCCESS, heartbeats, the tab's unload) are expected, so
//     they are not errors: the session only counts them in [Session.Ignored]
//     and keeps the page's connected flag and last-seen time current.
//   - A widget ERROR is remembered until the customer makes progress again,
//     and said in the situation line and, if the token then expires, in the
//     outcome.
//   - Back: Explaining → ChoosingAccount; Minting → Explaining (the late mint
//     result is stale); TokenReady → Explaining (the unused token is dropped;
//     it simply expires at Mono); PageOpening/PageOpened → TokenReady (the page
//     is dropped, the token kept, since no customer used it). Once the widget
//     is live, or after an outcome, Back is illegal: the agent waits for an
//     outcome, ends the attempt (AgentEnded) or uses Reset.
//
// The token's value is a secret: it is only ever held, never formatted; every
// String method here prints its fingerprint at most.
package state

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
)

// Phase is where a session is in the reauth flow.
type Phase int

const (
	ChoosingAccount Phase = iota // searching; no account yet
	Explaining                   // account chosen, reason shown
	Minting                      // token request in flight
	TokenReady                   // live token, no page yet
	PageOpening                  // page server starting / URL being issued
	PageOpened                   // page served, waiting for the browser
	WidgetLive                   // page connected, widget events arriving
	WidgetClosed                 // the customer closed the widget without success; the page offers Reopen
	PageClosed                   // the page was closed or went silent; the link still works
	Succeeded                    // outcome: the widget or Mono reported success
	Failed                       // outcome: the page could not run the widget
	Expired                      // outcome: the token expired first
	EndedByAgent                 // outcome: the agent ended the attempt
	TakenOver                    // outcome: a newer attempt's page took the account over
	Verifying                    // after success: re-reading the account
	Verified                     // terminal: a fresh signal confirmed the account's data
	StillSyncing                 // terminal: re-authorised, fresh data not confirmed within the bound
)

var phaseNames = [...]string{
	ChoosingAccount: "choosing account",
	Explaining:      "explaining",
	Minting:         "minting token",
	TokenReady:      "token ready",
	PageOpening:     "opening page",
	PageOpened:      "page opened",
	WidgetLive:      "widget live",
	WidgetClosed:    "widget closed",
	PageClosed:      "page closed",
	Succeeded:       "succeeded",
	Failed:          "failed",
	Expired:         "expired",
	EndedByAgent:    "ended by agent",
	TakenOver:       "taken over",
	Verifying:       "verifying",
	Verified:        "verified",
	StillSyncing:    "still syncing",
}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// tokenLive reports whether a phase holds an unspent token with no outcome:
// the phases that expire, and that need Replace to mint again.
func (p Phase) tokenLive() bool {
	switch p {
	case TokenReady, PageOpening, PageOpened, WidgetLive, WidgetClosed, PageClosed:
		return true
	}
	return false
}

// Live reports whether the attempt is under way with a live token and no
// outcome (the phases Tick can expire).
func (p Phase) Live() bool { return p.tokenLive() }

// HasOutcome reports whether the phase comes after an outcome was set.
func (p Phase) HasOutcome() bool {
	switch p {
	case Succeeded, Failed, Expired, EndedByAgent, TakenOver, Verifying, Verified, StillSyncing:
		return true
	}
	return false
}

// successCanWin: outcome phases a later success still turns into Succeeded.
func (p Phase) successCanWin() bool {
	return p == Failed || p == Expired || p == EndedByAgent || p == TakenOver
}

// LinkEnded reports whether the attempt's page link no longer works in
// this phase: the token expired, the agent ended the attempt, or a newer
// attempt took the account over. (After a success or a failure the page
// still shows the customer how it ended.)
func (p Phase) LinkEnded() bool {
	return p == Expired || p == EndedByAgent || p == TakenOver
}

// Succeeded reports whether the phase comes after a success.
func (p Phase) Succeeded() bool {
	return p == Succeeded || p == Verifying || p == Verified || p == StillSyncing
}

// EventKind says what happened. The zero value is not a valid kind, so a
// forgotten Kind is refused rather than read as AccountChosen.
type EventKind int

const (
	AccountChosen    EventKind = iota + 1 // Event.Account
	ReasonOverridden                      // Event.Reason
	MintRequested                         // Event.Replace when a live token exists
	MintSucceeded                         // Event.Token, Event.Generation
	MintFailed                            // Event.Err, Event.Generation
	PageRequested                         // the agent asked for the page
	PageServed                            // Event.PageURL, Event.Pairing, Event.Generation
	PageFailed                            // Event.Err, Event.Generation
	PageConnected                         // the page's first contact; Event.Generation
	Widget                                // Event.Widget, Event.Generation
	PageGone                              // heartbeat lost or unload; Event.Generation
	Tick                                  // the clock; only the now passed to Apply matters
	VerifyStarted                         // the UI began re-reading the account
	VerifyResult                          // Event.Account (or Event.Err), Event.GaveUp, Event.Generation
	AgentEnded                            // the agent ended the attempt; Event.Why
	LinkPrepared                          // no token (the widget takes the account id); Event.At: when the link ends
	MonoReauthorized                      // Mono's account_reauthorized webhook; Event.AccountID, Event.At
	MonoSynced                            // Mono's account_updated with sync SUCCESSFUL; Event.AccountID, Event.At
	ClaimTaken                            // a colleague took the account's claim over from this attempt; Event.By, Event.At
	Back                                  // the agent's esc
	Reset                                 // start over
	VerifyStopped                         // the check after a success stopped before its answer; Event.Why
)

var eventNames = [...]string{
	AccountChosen:    "account chosen",
	ReasonOverridden: "reason overridden",
	MintRequested:    "mint requested",
	MintSucceeded:    "mint succeeded",
	MintFailed:       "mint failed",
	PageRequested:    "page requested",
	PageServed:       "page served",
	PageFailed:       "page failed",
	PageConnected:    "page connected",
	Widget:           "widget event",
	PageGone:         "page gone",
	Tick:             "tick",
	VerifyStarted:    "verify started",
	VerifyResult:     "verify result",
	AgentEnded:       "agent ended",
	LinkPrepared:     "link prepared",
	MonoReauthorized: "mono reauthorized",
	MonoSynced:       "mono synced",
	ClaimTaken:       "claim taken",
	Back:             "back",
	Reset:            "reset",
	VerifyStopped:    "verify stopped",
}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// answersRequest reports whether an event kind is the result of async work
// and so must carry the session's current Generation.
func (k EventKind) answersRequest() bool {
	switch k {
	case MintSucceeded, MintFailed, PageServed, PageFailed, PageConnected, Widget, PageGone, VerifyResult:
		return true
	}
	return false
}

// fromPage reports whether an event kind comes from the page or its server;
// these are ignored, not refused, once an outcome is set.
func (k EventKind) fromPage() bool {
	switch k {
	case PageServed, PageFailed, PageConnected, Widget, PageGone:
		return true
	}
	return false
}

// Event is one input to the machine. Only the fields listed for its Kind are
// read. It may hold a token and a widget success code, so its String never
// prints fields.
type Event struct {
	Kind       EventKind
	Generation uint64           // results: the Generation read after the request
	Account    mono.Account     // AccountChosen; VerifyResult (the re-read account)
	Reason     ReasonKind       // ReasonOverridden
	Replace    bool             // MintRequested: the agent confirmed replacing a live token
	Token      mono.Token       // MintSucceeded
	Err        error            // MintFailed, PageFailed; VerifyResult when the re-read failed
	PageURL    string           // PageServed
	Pairing    string           // PageServed: the short code shown in the TUI and the page
	Widget     mono.WidgetEvent // Widget
	GaveUp     bool             // VerifyResult: the caller stops re-reading after this one
	Replaced   bool             // PageGone: a newer page for the same account ended this one
	Refused    bool             // MintFailed: Mono says the account cannot be re-authorised
	Why        string           // AgentEnded, VerifyStopped: why, in the agent's words or the front end's (optional)
	By         string           // ClaimTaken: who took the account over (the colleague's name)
	BySelf     bool             // ClaimTaken: By is this attempt's own agent, in another session of theirs (same key)
	Signals    Signals          // AccountChosen: Mono's webhooks and past attempts, for the reason
	AccountID  string           // MonoReauthorized, MonoSynced: the account Mono named
	At         time.Time        // MonoReauthorized, MonoSynced: Mono's timestamp (or receipt time); LinkPrepared: the link's end; ClaimTaken: when
}

// String shows the kind and generation only: the event may carry secrets.
func (e Event) String() string {
	return fmt.Sprintf("Event{%s gen=%d}", e.Kind, e.Generation)
}

// GoString keeps %#v as safe as %v.
func (e Event) GoString() string { return e.String() }

// ErrIllegal matches every refused event; ErrStale matches the ones refused
// because they belong to an older generation.
var (
	ErrIllegal = errors.New("illegal transition")
	ErrStale   = errors.New("stale event")
)

// TransitionError says which event a phase refused, and why when the phase
// alone does not explain it.
type TransitionError struct {
	Phase Phase
	Event EventKind
	Why   string // optional detail, never a secret
	Stale bool   // the event carried an older Generation
}

func (e *TransitionError) Error() string {
	msg := "state: cannot apply " + e.Event.String() + " while " + e.Phase.String()
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

// Is makes errors.Is(err, ErrIllegal) true for every TransitionError, and
// errors.Is(err, ErrStale) true for stale ones.
func (e *TransitionError) Is(target error) bool {
	return target == ErrIllegal || (e.Stale && target == ErrStale)
}

// OutcomeKind is how an attempt ended. The zero value means no outcome yet.
type OutcomeKind int

const (
	OutcomeNone OutcomeKind = iota
	OutcomeSucceeded
	OutcomeFailed
	OutcomeExpired
	OutcomeEndedByAgent
	OutcomeTakenOver
)

var outcomeNames = [...]string{
	OutcomeNone:         "NONE",
	OutcomeSucceeded:    "SUCCEEDED",
	OutcomeFailed:       "FAILED",
	OutcomeExpired:      "EXPIRED",
	OutcomeEndedByAgent: "ENDED BY AGENT",
	OutcomeTakenOver:    "TAKEN OVER",
}

// String is the banner and audit word: SUCCEEDED, FAILED, EXPIRED, ENDED BY AGENT, TAKEN OVER.
func (k OutcomeKind) String() string {
	if k >= 0 && int(k) < len(outcomeNames) {
		return outcomeNames[k]
	}
	return fmt.Sprintf("OutcomeKind(%d)", int(k))
}

// Outcome is the result of an attempt in plain words for the agent.
type Outcome struct {
	Kind     OutcomeKind
	Headline string // what happened, one sentence
	Detail   string // supporting fact, may be empty
	NextStep string // what the agent should do now, starting lower-case
}

// String is "Headline Next: next step", the one line a banner or
// `reauth link` prints.
func (o Outcome) String() string {
	if o.NextStep == "" {
		return o.Headline
	}
	return o.Headline + " Next: " + o.NextStep
}

// WidgetError is the last ERROR the widget reported.
type WidgetError struct {
	Type    string // e.g. INVALID_OTP, BANK_ERROR
	Message string
}

// Verification is what re-reading the account after success found.
type Verification struct {
	Status   mono.DataStatus // data_status of the latest read
	Account  mono.Account    // the latest read
	Checks   int             // results received, failed reads included
	LastErr  string          // the latest failed read, if any
	Headline string          // set once Verified or StillSyncing
	NextStep string
}

// Session is one reauth attempt. It is a value: Apply returns a new one and
// never changes the receiver, so the UI can keep the previous value freely.
// Its fields are read through the accessors below.
type Session struct {
	phase        Phase
	generation   uint64
	account      mono.Account
	reason       Reason
	token        mono.Token
	mintErr      string
	pageURL      string
	pairing      string
	pageErr      string
	connected    bool
	pageOpens    int       // page_open events seen (the first open, then reopens)
	lastEventAt  time.Time // the page's last sign of life, heartbeats included
	lastAction   time.Time // the customer's last action in the widget
	lastStep     string    // the widget step the customer last reached
	lastError    WidgetError
	errorPending bool // an ERROR not yet followed by progress
	exitPage     string
	startedAt    time.Time // when this attempt's token was requested
	succeededAt  time.Time
	successFrom  string // what reported the success: "the widget", "Mono's webhook"
	outcome      Outcome
	verification Verification
	ignored      int
	refused      bool    // Mono said the account cannot be re-authorised: no mint helps
	signals      Signals // what the reason was derived from besides the account
}

// New is a session waiting for the agent to choose an account.
func New() Session { return Session{phase: ChoosingAccount} }

func (s Session) Phase() Phase { return s.phase }

// Generation is the counter results must carry; see the package doc.
func (s Session) Generation() uint64 { return s.generation }

// Account is the chosen account (zero before AccountChosen).
func (s Session) Account() mono.Account { return s.account }

// Reason is why the account needs reauth, derived or overridden.
func (s Session) Reason() Reason { return s.reason.clone() }

// Token is the current token (zero when none). Its Value is a secret.
func (s Session) Token() mono.Token { return s.token }

// MintError is why the last mint failed ("" if it did not).
func (s Session) MintError() string { return s.mintErr }

// PageURL and PairingCode identify the served page ("" until PageServed).
func (s Session) PageURL() string     { return s.pageURL }
func (s Session) PairingCode() string { return s.pairing }

// PageError is why the page could not be served ("" if it was).
func (s Session) PageError() string { return s.pageErr }

// PageConnected reports whether the page has been heard from and not lost.
func (s Session) PageConnected() bool { return s.connected }

// LastEventAt is when the page last sent anything, heartbeats included
// (zero before that), in the caller's clock.
func (s Session) LastEventAt() time.Time { return s.lastEventAt }

// LastCustomerAction is when the customer last did something in the widget
// (zero before that): heartbeats and the widget loading do not count.
func (s Session) LastCustomerAction() time.Time { return s.lastAction }

// LastError is the last widget ERROR (zero if none).
func (s Session) LastError() WidgetError { return s.lastError }

// ExitPage is the widget page the customer left from (EXIT's pageName).
func (s Session) ExitPage() string { return s.exitPage }

// Outcome is how the attempt ended; Kind is OutcomeNone until it has.
func (s Session) Outcome() Outcome { return s.outcome }

// Verification is what re-reading the account found so far.
func (s Session) Verification() Verification { return s.verification }

// Ignored counts page and widget events that arrived after the outcome.
func (s Session) Ignored() int { return s.ignored }

// MintNeedsReplace reports whether minting now would replace a live token,
// so the UI must ask first and send MintRequested with Replace.
func (s Session) MintNeedsReplace(now time.Time) bool {
	return s.phase.tokenLive() && !s.token.Expired(now)
}

// String is for logs: no token value, no page secret.
func (s Session) String() string {
	return fmt.Sprintf("Session{%s gen=%d account=%q token=%s outcome=%s}",
		s.phase, s.generation, s.account.ID, s.token.Fingerprint(), s.outcome.Kind)
}

// GoString keeps %#v from printing the token's value through reflection.
func (s Session) GoString() string { return s.String() }

// live lists the event kinds every phase with a live page accepts.
var live = []EventKind{ReasonOverridden, MintRequested, PageServed, PageConnected, Widget, PageGone, AgentEnded, MonoReauthorized, MonoSynced, ClaimTaken}

// late lists the page-side kinds an outcome phase accepts (and ignores,
// except a success) plus Mono's success signals.
var lateKinds = []EventKind{PageServed, PageFailed, PageConnected, Widget, PageGone, MonoReauthorized, MonoSynced}

// allowed lists, per phase, the event kinds Apply accepts (besides Tick and
// Reset, which every phase accepts).
var allowed = map[Phase][]EventKind{
	ChoosingAccount: {AccountChosen},
	Explaining:      {ReasonOverridden, MintRequested, LinkPrepared, Back},
	Minting:         {ReasonOverridden, MintSucceeded, MintFailed, ClaimTaken, Back},
	TokenReady:      {ReasonOverridden, MintRequested, PageRequested, AgentEnded, MonoReauthorized, MonoSynced, ClaimTaken, Back},
	PageOpening:     append([]EventKind{PageFailed, Back}, live...),
	PageOpened:      append([]EventKind{Back}, live...),
	WidgetLive:      live,
	WidgetClosed:    live,
	PageClosed:      live,
	Succeeded:       append([]EventKind{VerifyStarted}, lateKinds...),
	Failed:          append([]EventKind{MintRequested, LinkPrepared}, lateKinds...),
	Expired:         append([]EventKind{MintRequested, LinkPrepared}, lateKinds...),
	EndedByAgent:    append([]EventKind{MintRequested, LinkPrepared}, lateKinds...),
	TakenOver:       append([]EventKind{MintRequested, LinkPrepared, ClaimTaken}, lateKinds...),
	Verifying:       append([]EventKind{VerifyResult, VerifyStopped}, lateKinds...),
	Verified:        lateKinds,
	StillSyncing:    lateKinds,
}

// Can reports whether the current phase accepts events of this kind. Apply
// may still refuse one for its data: a stale Generation, a missing Replace,
// a token or re-read for another account.
func (s Session) Can(kind EventKind) bool {
	if kind == Tick || kind == Reset {
		return true
	}
	if (kind == MintRequested || kind == LinkPrepared) && (s.refused || s.reason.Kind == AccountUnlinked) {
		// Mono refused this account, or says its link is gone: no token
		// or link can re-authorise it; the customer must link it again.
		return false
	}
	for _, k := range allowed[s.phase] {
		if k == kind {
			return true
		}
	}
	return false
}

// Apply returns the session after ev happened at now. On error it returns s
// unchanged.
func (s Session) Apply(ev Event, now time.Time) (Session, error) {
	if ev.Kind == Reset {
		return Session{phase: ChoosingAccount, generation: s.generation + 1}, nil
	}
	cur := s.expire(now)
	if !cur.Can(ev.Kind) {
		return s, &TransitionError{Phase: cur.phase, Event: ev.Kind}
	}
	if ev.Kind.answersRequest() && ev.Generation != cur.generation {
		return s, &TransitionError{Phase: cur.phase, Event: ev.Kind, Stale: true,
			Why: fmt.Sprintf("generation %d, current %d", ev.Generation, cur.generation)}
	}
	next, why := cur.step(ev, now)
	if why != "" {
		return s, &TransitionError{Phase: cur.phase, Event: ev.Kind, Why: why}
	}
	return next.expire(now), nil
}

// step applies an event the phase accepts. A non-empty why refuses it.
func (s Session) step(ev Event, now time.Time) (Session, string) {
	if ev.Kind == MonoReauthorized || ev.Kind == MonoSynced {
		return s.fromMono(ev, now)
	}
	if ev.Kind == Widget && ev.Widget.IsSuccess() && s.phase.successCanWin() {
		s.lastEventAt, s.lastAction = now, now
		s.ignored++ // the page's own chatter count still sees it
		return s.succeed(now, "the widget"), ""
	}
	if s.phase.HasOutcome() && ev.Kind.fromPage() {
		return s.late(ev, now), ""
	}
	switch ev.Kind {
	case Tick:
		return s, ""
	case AccountChosen:
		if ev.Account.ID == "" {
			return s, "the account has no id"
		}
		s.account = ev.Account
		s.signals = ev.Signals
		s.reason = ReasonFrom(ev.Account, ev.Signals)
		s.phase = Explaining
	case ReasonOverridden:
		if !ev.Reason.valid() {
			return s, "unknown reason kind"
		}
		s.reason = s.reason.WithKind(ev.Reason)
	case MintRequested:
		if s.MintNeedsReplace(now) && !ev.Replace {
			return s, "a live token exists; confirm with Replace"
		}
		s = s.freshAttempt()
		s.startedAt = now
		s.phase = Minting
	case LinkPrepared:
		if !ev.At.After(now) {
			return s, "the link would end before it starts"
		}
		// The widget takes the account id: no token is minted, and the
		// link's own end stands in for the token's expiry.
		s = s.freshAttempt()
		s.startedAt = now
		s.token = mono.Token{AccountID: s.account.ID, MintedAt: now, ExpiresAt: ev.At}
		s.phase = TokenReady
	case MintSucceeded:
		if ev.Token.Value == "" {
			return s, "the minted token is empty"
		}
		if ev.Token.AccountID != "" && ev.Token.AccountID != s.account.ID {
			return s, "the token is for another account"
		}
		s.token = ev.Token
		s.phase = TokenReady
	case MintFailed:
		s.mintErr = errText(ev.Err, "the token could not be minted")
		s.phase = Explaining
		if ev.Refused {
			// Not a failure to retry: Mono will not re-authorise this
			// account, so the attempt ends here with what to do instead.
			s.refused = true
			s.phase = Failed
			s.outcome = Outcome{
				Kind:     OutcomeFailed,
				Headline: "Mono says this account cannot be re-authorised.",
				Detail:   "Mono refused to mint a reauth token for it.",
				NextStep: "the customer must link the account again from scratch; if it should work, escalate to Mono support with account id " + s.account.ID + ".",
			}
		}
	case PageRequested:
		s.generation++
		s.pageErr = ""
		s.phase = PageOpening
	case PageServed:
		s.pageURL, s.pairing = ev.PageURL, ev.Pairing
		if s.phase == PageOpening {
			s.phase = PageOpened
		}
	case PageFailed:
		s.pageErr = errText(ev.Err, "the page could not be served")
		s.phase = TokenReady
	case PageConnected:
		s.connected, s.lastEventAt = true, now
		s.phase = WidgetLive
	case Widget:
		s = s.widget(ev.Widget, now)
	case PageGone:
		s.lastEventAt = now
		s.connected = false
		if ev.Replaced {
			s = s.takenOver()
		} else {
			s.phase = PageClosed
		}
	case AgentEnded:
		s = s.endedByAgent(ev.Why)
	case ClaimTaken:
		at := ev.At
		if at.IsZero() {
			at = now
		}
		s = s.takenOverBy(ev.By, ev.BySelf, at)
	case VerifyStarted:
		s.verification = Verification{}
		s.phase = Verifying
	case VerifyResult:
		return s.verify(ev)
	case VerifyStopped:
		s = s.verifyStopped(ev.Why)
	case Back:
		return s.back(), ""
	}
	return s, ""
}

// freshAttempt clears everything that belonged to the previous token.
func (s Session) freshAttempt() Session {
	return Session{
		phase:      s.phase,
		generation: s.generation + 1,
		account:    s.account,
		reason:     s.reason,
		signals:    s.signals,
	}
}

func (s Session) back() Session {
	switch s.phase {
	case Explaining:
		return Session{phase: ChoosingAccount, generation: s.generation + 1}
	case Minting, TokenReady:
		s = s.freshAttempt()
		s.phase = Explaining
	case PageOpening, PageOpened:
		s.generation++
		s.pageURL, s.pairing, s.pageErr = "", "", ""
		s.connected, s.lastEventAt, s.pageOpens = false, time.Time{}, 0
		s.phase = TokenReady
	}
	return s
}

// expire moves a session whose live token has reached its expiry to Expired.
func (s Session) expire(now time.Time) Session {
	if !s.phase.tokenLive() || !s.token.Expired(now) {
		return s
	}
	s.phase = Expired
	s.outcome = Outcome{
		Kind:     OutcomeExpired,
		Headline: "The token expired before the customer finished.",
		Detail:   "It expired at " + s.token.ExpiresAt.Format("15:04:05") + "." + s.whereLeft(),
		NextStep: "press t to mint a new token if the customer wants to try again.",
	}
	return s
}

// whereLeft is a sentence (with a leading space) on where the customer got
// to, for an outcome's detail; "" when nothing is known.
func (s Session) whereLeft() string {
	var parts []string
	if s.errorPending && s.lastError.Type != "" {
		parts = append(parts, "The widget last reported "+withStop(errorSentence(s.lastError.Type, s.lastError.Message)))
	}
	switch {
	case s.exitPage != "":
		parts = append(parts, "The customer was last on the "+pageLabel(s.exitPage)+".")
	case s.lastStep != "":
		parts = append(parts, "Last step: "+withStop(s.lastStep))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// late records a page-side event that arrived after the outcome.
func (s Session) late(ev Event, now time.Time) Session {
	s.ignored++
	switch ev.Kind {
	case PageConnected:
		s.connected, s.lastEventAt = true, now
	case PageGone:
		s.connected, s.lastEventAt = false, now
	case Widget:
		s.lastEventAt = now
		s.connected = !ev.Widget.IsPageGone()
	}
	return s
}

// fromMono applies Mono's webhooks about the account: a success from Mono
// wins like the widget's; a sync SUCCESSFUL after it confirms fresh data.
func (s Session) fromMono(ev Event, now time.Time) (Session, string) {
	if ev.AccountID != s.account.ID {
		return s, "the webhook is for another account"
	}
	at := ev.At
	if at.IsZero() {
		at = now
	}
	if !s.startedAt.IsZero() && at.Before(s.startedAt) {
		return s, "the webhook is older than this attempt"
	}
	from := "Mono's account_reauthorized webhook"
	if ev.Kind == MonoSynced {
		from = "Mono's account_updated webhook (sync SUCCESSFUL)"
	}
	if !s.phase.Succeeded() {
		s = s.succeed(now, from)
	}
	if ev.Kind == MonoSynced && s.phase != Verified {
		s.phase = Verified
		s.verification.Headline = "Mono confirmed a successful sync at " + at.Format("15:04:05") + ": the account's data is current."
		s.verification.NextStep = "tell the customer everything is working; nothing else to do."
	}
	return s, ""
}

// widget applies one relayed widget callback while no outcome is set.
func (s Session) widget(we mono.WidgetEvent, now time.Time) Session {
	s.lastEventAt = now
	s.connected = true
	if we.IsCustomerAction() {
		s.lastAction = now
	}
	if we.IsSuccess() {
		return s.succeed(now, "the widget")
	}
	switch {
	case we.IsPageOpen():
		s.pageOpens++
		s.phase = WidgetLive
	case we.IsClose():
		s.phase = WidgetClosed
	case we.IsPageGone():
		s.connected = false
		s.phase = PageClosed
	case we.IsPageError():
		return s.pageFailed(we)
	case we.IsError():
		s.lastError = WidgetError{Type: mono.CleanText(we.Data.ErrorType), Message: mono.CleanText(we.Data.ErrorMessage)}
		s.errorPending = true
		s.phase = WidgetLive
	case we.IsExit():
		s.exitPage = mono.CleanText(we.Data.PageName)
		s.phase = WidgetLive
	case we.IsProgress():
		// The customer carried on after an error (or after leaving).
		s.errorPending = false
		s.exitPage = ""
		s.lastStep = Describe(we)
		s.phase = WidgetLive
	default:
		if s.phase != WidgetClosed {
			s.phase = WidgetLive
		}
	}
	return s
}

func (s Session) succeed(now time.Time, from string) Session {
	s.phase = Succeeded
	s.succeededAt = now
	s.successFrom = from
	detail := "The customer finished re-authorising the account (reported by " + from + ")."
	if bank := strings.TrimSpace(s.account.Institution.Name); bank != "" {
		detail = "The customer finished re-authorising their " + bank + " account (reported by " + from + ")."
	}
	s.outcome = Outcome{
		Kind:     OutcomeSucceeded,
		Headline: "Re-authorised. Waiting for Mono to confirm fresh data…",
		Detail:   detail,
		NextStep: "tell the customer they are done; their data may take a few minutes to refresh.",
	}
	s.verification = Verification{}
	return s
}

// takenOver ends the attempt because a newer page for the same account took
// over (another attempt: a new mint, another window's attempt, or under
// `reauth serve` another agent): the customer did not abandon anything.
func (s Session) takenOver() Session {
	s.phase = TakenOver
	s.outcome = Outcome{
		Kind:     OutcomeTakenOver,
		Headline: "A newer page for this account took over.",
		Detail:   "Another attempt opened a page for this account." + s.whereLeft(),
		NextStep: "check who opened it (reauth audit --account " + s.account.ID + ") before minting again.",
	}
	return s
}

// takenOverBy ends the attempt because a colleague took the account's claim
// over (the team has one live attempt per account): it names them. After a
// page replacement that came first (TakenOver without a name), it names
// them too. self: the agent took it over themself, from another session
// (a second terminal, a reconnect while this one hung): it says so rather
// than naming them to themself as a colleague.
func (s Session) takenOverBy(by string, self bool, at time.Time) Session {
	by = strings.TrimSpace(mono.CleanText(by))
	if by == "" {
		by = "Another agent"
	}
	s.phase = TakenOver
	s.connected = false
	if self {
		s.outcome = Outcome{
			Kind:     OutcomeTakenOver,
			Headline: "You took this account over in another session at " + at.Local().Format("15:04") + ".",
			Detail:   "That session (" + by + ", the same key) is re-authorising it now; this attempt's page stopped." + s.whereLeft(),
			NextStep: "carry on in your other session; nothing more to do here.",
		}
		return s
	}
	s.outcome = Outcome{
		Kind:     OutcomeTakenOver,
		Headline: by + " took over this account at " + at.Local().Format("15:04") + ".",
		Detail:   "They are re-authorising it now; this attempt's page stopped." + s.whereLeft(),
		NextStep: "leave the account to " + by + ", or talk to them before taking it back (t asks first).",
	}
	return s
}

// endedByAgent is the agent's own end of a live attempt.
func (s Session) endedByAgent(why string) Session {
	s.phase = EndedByAgent
	s.connected = false
	headline := "The agent ended the attempt."
	if w := strings.TrimSpace(mono.CleanText(why)); w != "" {
		headline = withStop(w)
	}
	s.outcome = Outcome{
		Kind:     OutcomeEndedByAgent,
		Headline: headline,
		Detail:   strings.TrimSpace(s.whereLeft()),
		NextStep: "mint a new token if the customer wants to try again.",
	}
	return s
}

func (s Session) pageFailed(we mono.WidgetEvent) Session {
	s.phase = Failed
	s.outcome = Outcome{
		Kind:     OutcomeFailed,
		Headline: withStop(pageErrorSentence(we)),
		Detail:   "The page could not run the widget.",
		NextStep: "mint a new token and open the page again; tell the team if it keeps happening.",
	}
	return s
}

// freshAfterSuccess reports whether a re-read shows data Mono synced since
// this attempt began (a sync could not succeed while the account needed
// reauth, and Mono completes the reauth before the widget says so): a
// sync_status of SUCCESSFUL, or a last sync after the attempt's start, when
// Mono sends those fields (it documents neither on account reads, so their
// absence proves nothing).
func (s Session) freshAfterSuccess(a mono.Account) bool {
	if mono.SyncSucceeded(a.SyncStatus) {
		return true
	}
	since := s.startedAt
	if since.IsZero() {
		since = s.succeededAt
	}
	return !a.LastSyncedAt.IsZero() && !since.IsZero() && a.LastSyncedAt.After(since)
}

func (s Session) verify(ev Event) (Session, string) {
	if ev.Err == nil && ev.Account.ID != s.account.ID {
		return s, "the re-read is for another account"
	}
	v := s.verification
	v.Checks++
	if ev.Err != nil {
		v.LastErr = errText(ev.Err, "the account could not be re-read")
	} else {
		v.Account, v.Status, v.LastErr = ev.Account, ev.Account.DataStatus.Normal(), ""
	}
	s.verification = v
	status := string(v.Status)
	if status == "" {
		status = "not read"
	}
	switch {
	case ev.Err == nil && s.freshAfterSuccess(ev.Account):
		s.phase = Verified
		s.verification.Headline = "Mono's re-read shows data synced after the reauth (data " + status + ")."
		s.verification.NextStep = "tell the customer everything is working; nothing else to do."
	case ev.GaveUp:
		s.phase = StillSyncing
		s.verification.Headline = "Re-authorised; Mono has not confirmed fresh data yet (data " + status + ")."
		if v.Status.Is(mono.StatusAvailable) || v.Status.Is(mono.StatusPartial) {
			s.verification.Headline = "Re-authorised; Mono reports data " + status + " (its cached data), but no sync has confirmed it yet."
		}
		s.verification.NextStep = "tell the customer the reauth worked and their data may take a while to refresh; check the account again later."
	case v.Status.Is(mono.StatusAvailable) || v.Status.Is(mono.StatusPartial):
		s.verification.Headline = "Mono reports data " + status + "; waiting for Mono's sync to confirm."
	}
	return s, ""
}

// verifyStopped ends a check that its front end stopped before Mono
// confirmed fresh data (the agent quit or left, their connection dropped,
// the server shut down): the reauth stands, the fresh data is unconfirmed,
// and the record says why nobody knows more.
func (s Session) verifyStopped(why string) Session {
	s.phase = StillSyncing
	status := string(s.verification.Status)
	if status == "" {
		status = "not read"
	}
	headline := "Re-authorised; the check stopped before Mono confirmed fresh data (data " + status + ")."
	if w := strings.TrimSpace(mono.CleanText(why)); w != "" {
		headline += " " + withStop(w)
	}
	s.verification.Headline = headline
	s.verification.NextStep = "open the account again later to see whether Mono's data has refreshed."
	return s
}

// isMFAPage reports whether the widget page a customer left is the MFA step.
func isMFAPage(page string) bool {
	p := strings.ToUpper(page)
	return strings.Contains(p, "MFA") || strings.Contains(p, "OTP")
}

// userFixable reports whether an error type means the customer typed
// something wrong, as opposed to the bank or Mono failing.
func userFixable(errorType string) bool {
	t := strings.ToUpper(errorType)
	for _, hint := range []string{"OTP", "MFA", "CREDENTIAL", "PASSWORD", "INVALID"} {
		if strings.Contains(t, hint) {
			return true
		}
	}
	return false
}

// pageLabel turns a pageName into "MFA page"; names already ending in "page"
// are kept as they are.
func pageLabel(page string) string {
	if strings.HasSuffix(strings.ToLower(page), "page") {
		return page
	}
	return page + " page"
}

func withStop(s string) string {
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

// errText renders an error for the agent, cleaned because it may quote a
// reply from the API or the browser.
func errText(err error, fallback string) string {
	if err == nil {
		return fallback
	}
	if msg := strings.TrimSpace(mono.CleanText(err.Error())); msg != "" {
		return msg
	}
	return fallback
}
