package connect

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reauth/reauth/mono"
)

// SessionParams describe one reauth attempt.
type SessionParams struct {
	// Account to re-authorise (shown masked on the page).
	Account mono.Account
	// Token minted for the account. Required by ContractToken (an empty
	// token is allowed so the page can show the SDK's own error); unused by
	// ContractAccount, which needs no mint. An expired token is refused.
	Token mono.Token
	// Contract this session's page passes to reauthorise(): what
	// Server.ResolveContract answered before the mint. Empty (or
	// ContractAuto): Config.Contract when that is token or account, the
	// stand-in's in sandbox mode; under ContractAuto with Mono's script it
	// must be set (a *ConfigError otherwise), since only the script can
	// tell. The page checks it against the script again (its probe) and
	// refuses to start on a mismatch (CONTRACT_MISMATCH).
	Contract Contract
	// Scenario drives the sandbox widget (see the sandbox scenario names);
	// ignored in live mode.
	Scenario string
	// Reference is passed to Connect and comes back in every event's data.
	// Empty: a random one.
	Reference string
}

// Sandbox scenarios the simulated widget understands ("" means succeeds).
// They match the fake Mono's scenario account names.
const (
	ScenarioSucceeds            = "succeeds"
	ScenarioWrongOTPThenSuccess = "wrong_otp_then_success"
	ScenarioBankError           = "bank_error"
	ScenarioClosesOnMFA         = "closes_on_mfa"
	ScenarioCannotReauth        = "cannot_reauth"
	ScenarioTokenExpires        = "token_expires"
)

// PageGone is the Name of the synthetic unload event the server makes when a
// page that was heard from goes silent for HeartbeatTimeout. Server-made
// events have Seq 0; the page's own unload has an empty Name.
const PageGone = mono.EventPageGone

// tuning of the delivery path. Per server so tests can shrink or widen it;
// nothing else changes it after NewServer.
type tuning struct {
	eventBuffer  int           // Events() channel capacity
	chatterQueue int           // droppable events allowed to wait behind a full channel
	holdMax      int           // out-of-order posts held while waiting for a gap
	holdWindow   time.Duration // how long a held post waits for the gaps before it
	maxSeqAhead  int64         // a seq this far past the next expected one is refused
	rateBurst    float64       // token bucket per session: burst...
	rateRefill   float64       // ...and tokens per second
	reserveBurst float64       // outcomes' own bucket, used when the first is empty: burst...
	reserveRate  float64       // ...and tokens per second
	maxTombs     int           // ended session ids remembered for 410 Gone
	firstSeenCap int           // distinct (callback, name) pairs whose first event is kept
	expiryGrace  time.Duration // posts still taken this long after the token expires
	refusalLog   time.Duration // at most one log line about refused requests per this
	recordedWait time.Duration // an outcome's answer waits this long at most for its record (AckRecorded)
}

func defaultTuning() tuning {
	return tuning{
		eventBuffer:  64,
		chatterQueue: 16,
		holdMax:      32,
		holdWindow:   1500 * time.Millisecond,
		maxSeqAhead:  4096,
		rateBurst:    DefaultPageBurst,
		rateRefill:   DefaultPageRate,
		reserveBurst: 8,
		reserveRate:  1,
		maxTombs:     1024,
		firstSeenCap: 64,
		// A success Mono accepted just before the token expired can reach
		// us a little later (page.js retries a post for about 16 s): it must
		// still count, so the session ends as expired only after this.
		expiryGrace:  30 * time.Second,
		refusalLog:   10 * time.Second,
		recordedWait: RecordedAckWait,
	}
}

// queued is an accepted event waiting for the pump; chat marks it droppable
// (decided when it was queued).
type queued struct {
	ev   mono.WidgetEvent
	chat bool
}

// heldPost is a post that arrived ahead of a gap in the seqs, and when it
// was accepted (monotonic): it waits at most holdWindow from then.
type heldPost struct {
	ev mono.WidgetEvent
	at time.Time
}

// Session is one page for one reauth attempt. Its methods are safe for
// concurrent use.
type Session struct {
	srv       *Server
	id        string
	secret    string // never log: it authorises posts for this session
	pairing   string
	url       string
	params    SessionParams
	contract  Contract // token or account, resolved by NewSession
	reference string

	events  chan mono.WidgetEvent
	quit    chan struct{} // closed by end: the pump flushes and stops
	done    chan struct{} // closed by the pump after Events is closed
	notify  chan struct{}
	stopped chan struct{}
	endOnce sync.Once
	dropped atomic.Int64

	completeMu sync.Mutex // serialises sandbox completion

	mu         sync.Mutex
	ended      string   // why the session ended; "" while open
	codes      []string // onSuccess codes seen, redacted from later text
	nextSeq    int64    // next seq delivered in order
	highSeq    int64    // highest seq accepted
	held       map[int64]heldPost
	skipped    map[int64]struct{} // seqs jumped over when a gap timed out
	queue      []queued           // accepted, in order, waiting for the pump
	sending    bool               // the pump has taken an event from queue and not yet sent it
	queuedChat int                // droppable events in queue
	firstSeen  map[string]bool
	contact    bool      // the page has fetched its config or posted
	lastMono   time.Time // monotonic time of last contact (watchdog)
	lastWall   time.Time // wall time of last contact (LastSeen)
	gone       bool      // "page gone" reported since the last contact
	pageID     string    // the newest page instance ("" before the first config fetch)
	opens      int       // config fetches so far: the first is PAGE_OPENED, later ones PAGE_REOPENED
	expiring   bool      // the pump has asked the server to end the session as expired
	succeeded  bool      // a success was accepted: an end after it is told as EndSucceeded
	posts      bucket    // every post
	reserve    bucket    // outcomes only, when posts is empty (takeTokenLocked)
	sandbox    *SandboxOutcome
	exporting  bool     // ending as EndMoved: the pump hands its state over (finish)
	handed     *Handoff // what the pump handed over, for Server.Export

	recMu    sync.Mutex
	recSeq   int64         // the consumer has recorded every event up to this seq (Recorded)
	recWaker chan struct{} // closed and replaced when recSeq rises
}

// RecordedAckWait bounds how long the answer to an outcome event waits for
// its record (Config.AckRecorded). Past it the page is answered anyway: the
// event reached the agent's app, which says why it could not record it
// (the audit down), and a page retrying would not make it durable.
const RecordedAckWait = 5 * time.Second

// Recorded tells the session that its consumer has durably recorded every
// event it delivered up to seq (the page's own numbering, as delivered, in
// order): the answers to outcome posts waiting for that go out
// (Config.AckRecorded). Lower seqs than one already said change nothing.
func (s *Session) Recorded(seq int64) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if seq <= s.recSeq {
		return
	}
	s.recSeq = seq
	if s.recWaker != nil {
		close(s.recWaker)
		s.recWaker = nil
	}
}

// waitRecorded waits until the consumer has recorded seq, the session
// ends, ctx ends or bound passes; it reports whether it was recorded.
func (s *Session) waitRecorded(ctx context.Context, seq int64, bound time.Duration) bool {
	var timeout <-chan time.Time
	for {
		s.recMu.Lock()
		if s.recSeq >= seq {
			s.recMu.Unlock()
			return true
		}
		if s.recWaker == nil {
			s.recWaker = make(chan struct{})
		}
		wake := s.recWaker
		s.recMu.Unlock()
		if timeout == nil {
			t := time.NewTimer(bound)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wake:
		case <-s.done:
			return false
		case <-ctx.Done():
			return false
		case <-timeout:
			return false
		}
	}
}

// ID is the session id (in the page path; not a secret on its own).
func (s *Session) ID() string { return s.id }

// URL is the page address including the secret fragment. Show it to the
// agent; never log it.
func (s *Session) URL() string { return s.url }

// PairingCode is the short code shown both in the TUI and on the page.
func (s *Session) PairingCode() string { return s.pairing }

// Contract is what this session's page passes to reauthorise():
// ContractToken (the minted token) or ContractAccount (the account id).
func (s *Session) Contract() Contract { return s.contract }

// Account is the account this session re-authorises.
func (s *Session) Account() mono.Account { return s.params.Account }

// Reference is the reference passed to Connect.
func (s *Session) Reference() string { return s.reference }

// Events delivers the page's events in seq order. It is closed after the
// session ends (Done) and what was pending has been handed over: to this
// channel's buffer, or, for a session moved to another replica
// (EndMoved), to the Handoff that Server.Export returned.
func (s *Session) Events() <-chan mono.WidgetEvent { return s.events }

// Done is closed when the session has ended (Close, a newer session for the
// same account, the server closing, or a move to another replica) and Events
// has been closed: once Done is closed, whatever is left is already buffered
// in Events, so a non-blocking drain of Events loses nothing. (A moved
// session's unread events went with its Handoff instead.)
func (s *Session) Done() <-chan struct{} { return s.done }

// Dropped counts droppable events (heartbeats, repeats of non-outcome
// events) discarded because the consumer of Events was behind.
func (s *Session) Dropped() int64 { return s.dropped.Load() }

// LastSeen is when the page was last heard from (zero before it loads).
func (s *Session) LastSeen() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastWall
}

// Close ends the session as its owner's (the agent's) decision: its page's
// requests get 410 Gone from now on, and the page says the support agent
// ended it — or the truer cause, when there is one: the account is
// re-authorised if the page reported a success, else the link expired if
// the token has (an app that closes the page because the reauth is done or
// the token ran out must not have the customer told the agent ended it).
func (s *Session) Close() { s.CloseWithReason(EndClosed) }

// CloseWithReason ends the session for one of the owner's reasons:
// EndClosed (the agent ended it), EndSucceeded (the reauth is done; the page
// says the account is re-authorised) or EndExpired. Any other value counts
// as EndClosed.
func (s *Session) CloseWithReason(why string) {
	switch why {
	case EndClosed, EndSucceeded, EndExpired:
	default:
		why = EndClosed
	}
	s.srv.endSession(s, why)
}

// Why a session ended (EndReason).
const (
	EndClosed       = "closed"                      // Close: its owner ended it
	EndReplaced     = "replaced by a newer session" // a newer session for the same account
	EndServerClosed = "server closed"               // the page server shut down
	EndExpired      = "expired"                     // the token expired (see Close and tuning.expiryGrace)
	EndSucceeded    = "succeeded"                   // CloseWithReason(EndSucceeded): the reauth is done
	// EndMoved: Server.Export handed the session to another replica, which
	// carries it on (Server.Adopt) with the same page; this Session object
	// is done with. Its page was not told anything: it keeps working.
	EndMoved = "moved to another server"
)

// endedReason is how a page is told why its session ended: the "reason" of
// the 410 reply, one word per EndReason for page.js to say in full.
func endedReason(why string) string {
	switch why {
	case EndExpired:
		return "expired"
	case EndReplaced:
		return "replaced"
	case EndSucceeded:
		return "succeeded"
	case EndServerClosed:
		return "server_closed"
	}
	return "ended_by_agent"
}

// EndReason says why the session ended (one of the End constants), or ""
// while it is open. It is set before Done is closed.
func (s *Session) EndReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func newSession(srv *Server, p SessionParams, contract Contract, base string, pairing string) (*Session, error) {
	idBytes := make([]byte, 16)
	if err := srv.labelBytes(idBytes); err != nil {
		return nil, fmt.Errorf("widget page: random: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(idBytes)
	if srv.set.ReplicaID != "" {
		id = srv.set.ReplicaID + "-" + id // the owner (see OwnerOf)
	}
	secret, err := randomString(32)
	if err != nil {
		return nil, err
	}
	ref := strings.TrimSpace(p.Reference)
	if ref == "" {
		r, err := randomString(9)
		if err != nil {
			return nil, err
		}
		ref = "reauth_" + r
	}
	return buildSession(srv, id, secret, pairing, base, p, contract, ref), nil
}

// buildSession is a fresh session's state (newSession, Server.Adopt).
func buildSession(srv *Server, id, secret, pairing, base string, p SessionParams, contract Contract, ref string) *Session {
	return &Session{
		srv:       srv,
		id:        id,
		secret:    secret,
		pairing:   pairing,
		url:       base + "/s/" + id + "#" + secret,
		params:    p,
		contract:  contract,
		reference: ref,
		events:    make(chan mono.WidgetEvent, srv.set.tune.eventBuffer),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		notify:    make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		nextSeq:   1,
		held:      map[int64]heldPost{},
		skipped:   map[int64]struct{}{},
		firstSeen: map[string]bool{},
		posts:     bucket{tokens: srv.set.tune.rateBurst, at: time.Now()},
		reserve:   bucket{tokens: srv.set.tune.reserveBurst, at: time.Now()},
	}
}

// randomString is n bytes from crypto/rand, base64url without padding.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("widget page: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// pairingAlphabet leaves out look-alikes (0/O, 1/I/L, 2/Z, 5/S, 8/B).
const pairingAlphabet = "ACDEFGHJKMNPQRTUVWXY34679"

func newPairingCode(read func([]byte) error) (string, error) {
	b := make([]byte, 4)
	if err := read(b); err != nil {
		return "", fmt.Errorf("widget page: random: %w", err)
	}
	// 256 % 25 = 6, a bias too small to matter for a code people compare
	// by eye; it is not a secret.
	c := make([]byte, 0, 5)
	for i, v := range b {
		if i == 2 {
			c = append(c, '-')
		}
		c = append(c, pairingAlphabet[int(v)%len(pairingAlphabet)])
	}
	return string(c), nil
}

// start runs the session's pump until the session ends.
func (s *Session) start() { go s.run() }

// run moves accepted events from the queue to the Events channel, and fires
// the heartbeat watchdog and the out-of-order hold timeout. It closes
// s.events, and is its only sender once the session has ended. HTTP handlers
// never block on a slow consumer: under s.mu they append to s.queue, or hand
// an event straight to the channel when nothing waits ahead of it
// (enqueueLocked).
func (s *Session) run() {
	defer close(s.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		s.checkTimersLocked(now)
		var next mono.WidgetEvent
		have := len(s.queue) > 0
		if have {
			q := s.queue[0]
			s.queue[0] = queued{}
			s.queue = s.queue[1:]
			next = q.ev
			if q.chat {
				s.queuedChat--
			}
		}
		s.sending = have
		wake := s.nextWakeLocked(now)
		s.mu.Unlock()

		if have {
			select {
			case s.events <- next:
				continue
			case <-s.quit:
				s.finish(&next)
				return
			}
		}
		timer.Stop()
		if wake > 0 {
			timer.Reset(wake)
		}
		select {
		case <-s.notify:
		case <-timer.C:
		case <-s.quit:
			s.finish(nil)
			return
		}
	}
}

// finish hands over what fits in the channel's buffer, closes it, then
// closes done. The session has ended, so nobody is obliged to read any more.
//
// A session moving to another replica (endMoved) keeps everything instead:
// what its consumer has not read from the channel's buffer, then the event
// in flight and the queue, in order, go into its Handoff with the rest of
// its state, and the channel is closed empty.
func (s *Session) finish(inFlight *mono.WidgetEvent) {
	s.mu.Lock()
	pending := s.queue
	s.queue = nil
	exporting := s.exporting
	s.mu.Unlock()
	if inFlight != nil {
		pending = append([]queued{{ev: *inFlight}}, pending...)
	}
	if exporting {
		var unread []mono.WidgetEvent
	drain:
		for {
			select {
			case ev := <-s.events: // this goroutine is the only sender
				unread = append(unread, ev)
			default:
				break drain
			}
		}
		for _, q := range pending {
			unread = append(unread, q.ev)
		}
		s.mu.Lock()
		h := s.snapshotLocked(time.Now())
		h.Pending = unread
		s.handed = &h
		s.mu.Unlock()
		close(s.events)
		close(s.done)
		return
	}
	for _, q := range pending {
		select {
		case s.events <- q.ev:
		default:
			s.dropped.Add(1)
		}
	}
	close(s.events)
	close(s.done)
}

func (s *Session) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// checkTimersLocked emits "page gone" after HeartbeatTimeout of silence,
// releases held posts whose hold window has passed, and asks for the
// session to end once its token is past expiry and the grace after it.
func (s *Session) checkTimersLocked(now time.Time) {
	if s.contact && !s.gone && now.Sub(s.lastMono) >= s.srv.set.HeartbeatTimeout {
		s.gone = true
		s.enqueueLocked(mono.WidgetEvent{
			Seq:      0,
			Callback: mono.CallbackUnload,
			Name:     PageGone,
			At:       s.srv.set.Now(),
		})
		s.srv.set.Logger.Warn("widget page went silent", "session", s.id, "after", s.srv.set.HeartbeatTimeout)
	}
	if len(s.held) > 0 {
		s.releaseHeldLocked(now)
	}
	if !s.expiring && s.pastExpiryGrace() {
		// end waits for this goroutine to stop: it cannot run here.
		s.expiring = true
		go s.srv.endSession(s, EndExpired)
	}
}

// endCause is the cause a page is told when its session ends for why: an
// end by the agent's app or by the server shutting down, after a success,
// is the success; otherwise, once the token has expired, the expiry.
func (s *Session) endCause(why string) string {
	if why != EndClosed && why != EndServerClosed {
		return why
	}
	s.mu.Lock()
	succeeded := s.succeeded
	s.mu.Unlock()
	switch {
	case succeeded:
		return EndSucceeded
	case s.tokenExpired():
		return EndExpired
	}
	return why
}

// tokenExpired: the token has reached its expiry by the server's clock
// (never, without a token expiry, as with the account contract). It reads
// nothing s.mu guards.
func (s *Session) tokenExpired() bool {
	exp := s.params.Token.ExpiresAt
	return !exp.IsZero() && !s.srv.set.Now().Before(exp)
}

// pastExpiryGrace: the token expired more than expiryGrace ago; from then on
// the session ends as expired.
func (s *Session) pastExpiryGrace() bool {
	exp := s.params.Token.ExpiresAt
	return !exp.IsZero() && !s.srv.set.Now().Before(exp.Add(s.srv.set.tune.expiryGrace))
}

func (s *Session) nextWakeLocked(now time.Time) time.Duration {
	var wake time.Duration
	consider := func(at time.Time) {
		d := at.Sub(now)
		if d <= 0 {
			d = time.Millisecond
		}
		if wake == 0 || d < wake {
			wake = d
		}
	}
	if s.contact && !s.gone {
		consider(s.lastMono.Add(s.srv.set.HeartbeatTimeout))
	}
	for _, h := range s.held {
		consider(h.at.Add(s.srv.set.tune.holdWindow))
	}
	if exp := s.params.Token.ExpiresAt; !exp.IsZero() && !s.expiring {
		// The deadline is on the wall clock (which tests may move); the
		// pump re-checks it whenever it wakes.
		consider(now.Add(exp.Add(s.srv.set.tune.expiryGrace).Sub(s.srv.set.Now())))
	}
	return wake
}

// droppable: chatter the consumer can live without when it falls behind.
// The first event of each (callback, name) is kept so a status pane never
// misses a step it has not seen yet.
func (s *Session) droppable(ev mono.WidgetEvent) bool {
	if ev.MustDeliver() {
		return false
	}
	if ev.Callback == mono.CallbackHeartbeat {
		return true
	}
	// Past the cap, every pair counts as seen: a page inventing names
	// cannot grow the undroppable set without bound.
	return s.firstSeen[string(ev.Callback)+":"+ev.Name] || len(s.firstSeen) >= s.srv.set.tune.firstSeenCap
}

// enqueueLocked hands an in-order event to the consumer, unless it is
// chatter and the consumer is behind. When nothing waits ahead of it (the
// queue is empty and the pump holds no event on its way) and the channel has
// room, it goes into Events at once; otherwise it joins the queue for the
// pump. Going through the pump costs a goroutine switch per event, and with
// many pages busy on two cores each switch waited its turn for a core
// (BENCHMARKS.md, 2). The order is kept either way: both paths decide under
// s.mu, and the pump's event in flight (sending) comes first.
func (s *Session) enqueueLocked(ev mono.WidgetEvent) {
	chat := s.droppable(ev)
	if chat {
		if len(s.events) == cap(s.events) || s.queuedChat >= s.srv.set.tune.chatterQueue {
			s.dropped.Add(1)
			return
		}
	} else if !ev.MustDeliver() {
		s.firstSeen[string(ev.Callback)+":"+ev.Name] = true
	}
	// s.events is closed only by the pump after the session has ended (s.ended
	// is set under s.mu first), so it is open here.
	if len(s.queue) == 0 && !s.sending && s.ended == "" {
		select {
		case s.events <- ev:
			return
		default:
		}
	}
	if chat {
		s.queuedChat++
	}
	s.queue = append(s.queue, queued{ev: ev, chat: chat})
	s.wake()
}

func (s *Session) drainHeldLocked() {
	for {
		h, ok := s.held[s.nextSeq]
		if !ok {
			return
		}
		delete(s.held, s.nextSeq)
		s.enqueueLocked(h.ev)
		s.nextSeq++
	}
}

// releaseHeldLocked stops waiting for the gaps before every held post that
// has waited its full hold window: it skips all of them at once, up to the
// newest such post, and delivers what is held up to there in order. So a
// post is delivered within one hold window of its acceptance however many
// gaps come before it (waiting for each gap in turn made a success behind
// 32 gaps wait 48 s). Posts still inside their own window stay held.
func (s *Session) releaseHeldLocked(now time.Time) {
	upTo := int64(-1)
	for seq, h := range s.held {
		if now.Sub(h.at) >= s.srv.set.tune.holdWindow && seq > upTo {
			upTo = seq
		}
	}
	if upTo >= 0 {
		s.skipToLocked(upTo)
	}
}

// skipToLocked gives up on every missing seq up to upTo: it delivers the held
// posts up to upTo in order (and whatever follows them without a gap), and
// remembers the seqs jumped over, so an outcome among them that turns up
// late is still delivered (out of order) rather than lost.
func (s *Session) skipToLocked(upTo int64) {
	if upTo < s.nextSeq {
		return
	}
	seqs := make([]int64, 0, len(s.held))
	for seq := range s.held {
		if seq <= upTo {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		for miss := s.nextSeq; miss < seq && len(s.skipped) < 4*s.srv.set.tune.holdMax; miss++ {
			s.skipped[miss] = struct{}{}
		}
		s.enqueueLocked(s.held[seq].ev)
		delete(s.held, seq)
		s.nextSeq = seq + 1
	}
	s.drainHeldLocked()
}

// skipAllHeldLocked delivers everything held, skipping every gap.
func (s *Session) skipAllHeldLocked() {
	upTo := int64(-1)
	for seq := range s.held {
		upTo = max(upTo, seq)
	}
	s.skipToLocked(upTo)
}

// lowestHeldLocked is the lowest held seq (-1 when nothing is held).
func (s *Session) lowestHeldLocked() int64 {
	lowest := int64(-1)
	for seq := range s.held {
		if lowest < 0 || seq < lowest {
			lowest = seq
		}
	}
	return lowest
}

// verdict is a session's answer to one request from a page.
type verdict struct {
	status int    // HTTP status; 200/204 when accepted
	why    string // a refusal in short plain words (never a secret)
	ended  string // with 410: the EndReason the page is told
	moved  bool   // with 409: a newer page instance holds the session
	expire bool   // the session must now end as expired (the caller ends it, outside s.mu)
}

// endedVerdict is the answer to any request to an ended (or expired)
// session.
func endedVerdict(why string) verdict {
	if why == EndMoved {
		// Moved to another replica while this request was on its way:
		// the page retries, and its retry is forwarded to the new holder.
		return movingVerdict()
	}
	return verdict{status: 410, why: "this page's session has ended (" + why + ")", ended: why}
}

// accept files a validated post from page instance page ("" when the post
// names none: only tools do that, and they count as the newest page). On
// refusal nothing about the session changes (bar the rate limiter's own
// count).
func (s *Session) accept(ev mono.WidgetEvent, page string) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != "" {
		return endedVerdict(s.ended)
	}
	if s.pastExpiryGrace() {
		v := endedVerdict(EndExpired)
		v.expire = true
		return v
	}
	if page != "" && page != s.pageID {
		// A newer page took the session over (a reload, the link opened
		// again, another device). This one must stop, and its unload is not
		// the page going away: the newer page is live.
		return verdict{status: 409, why: "a newer page holds this session", moved: true}
	}
	if ev.Seq > s.nextSeq+s.srv.set.tune.maxSeqAhead {
		return verdict{status: 400, why: "seq too far ahead"}
	}
	now := time.Now()
	if !s.takeTokenLocked(now, ev.IsOutcome()) {
		return verdict{status: 429, why: "too many events"}
	}
	s.touchLocked(now)
	if ev.Seq > s.highSeq {
		s.highSeq = ev.Seq
	}
	if ev.IsSuccess() {
		s.succeeded = true
	}
	ev = s.redactLocked(ev)
	switch {
	case ev.Seq < s.nextSeq:
		// Usually a retry of a post whose reply was lost. A seq that a gap
		// timeout skipped is new though: keep it if it must be delivered.
		if _, skipped := s.skipped[ev.Seq]; skipped {
			delete(s.skipped, ev.Seq)
			if ev.MustDeliver() {
				s.enqueueLocked(ev)
			} else {
				s.dropped.Add(1)
			}
		}
	case ev.Seq == s.nextSeq:
		s.enqueueLocked(ev)
		s.nextSeq++
		s.drainHeldLocked()
	default:
		if _, dup := s.held[ev.Seq]; dup {
			break
		}
		s.held[ev.Seq] = heldPost{ev: ev, at: now}
		for len(s.held) > s.srv.set.tune.holdMax {
			s.skipToLocked(s.lowestHeldLocked())
		}
		s.wake() // re-arm the pump's hold timer
	}
	return verdict{status: 204}
}

func (s *Session) touchLocked(now time.Time) {
	if !s.contact || s.gone {
		// The pump's timer is not watching for silence yet: it must see this
		// contact (an event handed straight to Events does not wake it).
		s.wake()
	}
	s.contact = true
	s.lastMono = now
	s.lastWall = s.srv.set.Now()
	s.gone = false
}

// takeTokenLocked is a per-session token bucket: a flooding page is refused
// with 429 without costing any other session anything. An outcome that finds
// the bucket empty may take from a small reserve of its own: a page flooding
// chatter must not keep out the one event that says how the reauth ended
// (page.js gives up retrying after a while), and the reserve is small enough
// that flooding outcomes instead gains a page little (they are never
// dropped once accepted, so their rate is what bounds their queue).
func (s *Session) takeTokenLocked(now time.Time, outcome bool) bool {
	tu := &s.srv.set.tune
	if s.posts.take(now, tu.rateRefill, tu.rateBurst) {
		return true
	}
	return outcome && s.reserve.take(now, tu.reserveRate, tu.reserveBurst)
}

// bucket is a token bucket's state.
type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// take refills b at refill tokens a second up to burst, then takes a token
// if there is one.
func (b *bucket) take(now time.Time, refill, burst float64) bool {
	b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*refill)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// openPage is called when a page fetches its config. The newest page wins:
// while the session is open and its token live, a reload, the link opened
// again after the tab was closed, or opened on another device takes the
// session over. The new instance gets its own id (its posts carry it; an
// older instance's posts are answered 409 from now on) and a seqStart past
// every seq accepted so far, so nothing the older page still sends can
// collide with the new one's. The consumer hears PAGE_OPENED the first time
// and PAGE_REOPENED after that; neither is ever dropped.
func (s *Session) openPage() (seqStart int64, pageID string, v verdict) {
	id, err := randomString(12) // tells instances apart; not a secret
	if err != nil {
		return 0, "", verdict{status: 500, why: "could not start the page"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != "" {
		return 0, "", endedVerdict(s.ended)
	}
	if s.tokenExpired() {
		// A new page could not start the widget with this token.
		v := endedVerdict(EndExpired)
		v.expire = s.pastExpiryGrace()
		return 0, "", v
	}
	now := time.Now()
	// A page reloading in a loop must not flood the consumer with
	// never-dropped PAGE_REOPENED events: opening costs a post.
	if !s.posts.take(now, s.srv.set.tune.rateRefill, s.srv.set.tune.rateBurst) {
		return 0, "", verdict{status: 429, why: "too many page loads"}
	}
	// The older page can no longer fill its gaps (its posts are refused
	// from now on): deliver what it left held.
	s.skipAllHeldLocked()
	if s.highSeq >= s.nextSeq {
		s.nextSeq = s.highSeq + 1
	}
	s.pageID = id
	name := mono.EventPageOpened
	if s.opens > 0 {
		name = mono.EventPageReopened
	}
	s.opens++
	s.touchLocked(now)
	s.enqueueLocked(mono.WidgetEvent{Seq: 0, Callback: mono.CallbackPageOpen, Name: name, At: s.srv.set.Now()})
	return s.nextSeq, id, verdict{status: 200}
}

// expiresIn is how long the token has left by the server's clock (0 when it
// has none). The page counts down from this rather than comparing
// expiresAt with its own clock, which may be wrong.
func (s *Session) expiresIn() time.Duration {
	exp := s.params.Token.ExpiresAt
	if exp.IsZero() {
		return 0
	}
	return max(exp.Sub(s.srv.set.Now()), time.Millisecond)
}

// end marks the session ended; it returns once the pump has stopped.
func (s *Session) end(why string) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		if s.ended == "" {
			s.ended = why
		}
		s.mu.Unlock()
		close(s.quit)
	})
	<-s.stopped
}

// endMoved ends the session as moved to another replica and returns its
// state for the Handoff (with what its consumer has not read); false when it
// had already ended for another reason.
func (s *Session) endMoved() (Handoff, bool) {
	moved := false
	s.endOnce.Do(func() {
		s.mu.Lock()
		if s.ended == "" {
			s.ended, s.exporting, moved = EndMoved, true, true
		}
		s.mu.Unlock()
		close(s.quit)
	})
	<-s.stopped
	if !moved {
		return Handoff{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := *s.handed
	s.handed = nil
	return h, true
}

// redactLocked removes this session's secrets — the token, the page secret
// and every onSuccess code it has seen (this event's included) — from the
// event's text, so a page (or a widget error) quoting one cannot put it on
// a screen, in a transcript, a log or the audit. Data.Code keeps the code
// itself: it is a secret field nobody prints.
func (s *Session) redactLocked(ev mono.WidgetEvent) mono.WidgetEvent {
	if c := ev.Data.Code; len(c) >= minRedactLen && !slices.Contains(s.codes, c) && len(s.codes) < maxCodesKept {
		s.codes = append(s.codes, c)
	}
	secrets := append([]string{s.params.Token.Value, s.secret}, s.codes...)
	d := &ev.Data
	for _, f := range []*string{&ev.Name, &d.InstitutionID, &d.InstitutionName, &d.AuthMethod, &d.PrevAuthMethod, &d.MFAType,
		&d.ErrorType, &d.ErrorMessage, &d.PageName, &d.Reference} {
		for _, secret := range secrets {
			if len(secret) >= minRedactLen && strings.Contains(*f, secret) {
				*f = strings.ReplaceAll(*f, secret, Redacted)
			}
		}
	}
	return ev
}

// Redacted stands in for a secret in an event's text (mono.Redacted).
const Redacted = mono.Redacted

// minRedactLen: shorter strings are too likely to be ordinary text; every
// real token, page secret and code is longer. maxCodesKept bounds what a
// page inventing codes can make the session remember.
const (
	minRedactLen = 8
	maxCodesKept = 16
)
