package connect

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
)

// Handing a live page to another replica (issue 19: an agent whose
// connection to one replica dropped comes back through another, and the
// attempt, page included, moves with them). The old replica Exports the
// session: it ends there as EndMoved and every request for it from then on
// is forwarded to the new one; the new replica Adopts the Handoff: a live
// Session with the same id, secret, pairing code, page instance and
// delivery state, which delivers what the old Session's consumer had not
// read first. The customer's page notices nothing.

// Handoff is everything another replica's Server needs to carry on a live
// Session (Server.Export gives it, Server.Adopt takes it). It is plain JSON
// for the runtime to send between replicas.
//
// It carries the session's secrets (the page secret, the token, onSuccess
// codes in its events): never log it. String, GoString, Format and LogValue
// show only what identifies it; only encoding/json sees its content.
type Handoff struct {
	Version int `json:"version"` // HandoffVersion
	// From and To: the replica that exported it and the one it is for.
	From string `json:"from"`
	To   string `json:"to"`
	// ExportedAt is the exporting server's clock when it was taken.
	ExportedAt time.Time `json:"exported_at"`

	ID          string        `json:"id"`
	Secret      string        `json:"secret"`
	PairingCode string        `json:"pairing_code"`
	Params      SessionParams `json:"params"`
	Contract    Contract      `json:"contract"`  // token or account, as resolved
	Reference   string        `json:"reference"` // as used (Params.Reference, or the random one)

	// In-order delivery.
	NextSeq   int64              `json:"next_seq"`             // the next seq delivered in order
	HighSeq   int64              `json:"high_seq"`             // the highest seq accepted
	Held      []HandoffHeld      `json:"held,omitempty"`       // posts waiting for a gap, by seq
	Skipped   []int64            `json:"skipped,omitempty"`    // seqs a gap timeout gave up on
	FirstSeen []string           `json:"first_seen,omitempty"` // "callback:name" pairs delivered once
	Codes     []string           `json:"codes,omitempty"`      // onSuccess codes seen (redacted from later text)
	Pending   []mono.WidgetEvent `json:"pending,omitempty"`    // accepted, not yet read by a consumer, in order

	// The page.
	Contact   bool      `json:"contact"`            // it has been heard from
	LastSeen  time.Time `json:"last_seen,omitzero"` // when, by the exporter's clock
	Gone      bool      `json:"gone"`               // "page gone" reported since
	PageID    string    `json:"page_id,omitempty"`  // the newest page instance
	Opens     int       `json:"opens"`              // config fetches so far
	Succeeded bool      `json:"succeeded"`          // a success was accepted

	// Rate limit buckets (tokens left) and the drop count.
	PostTokens    float64 `json:"post_tokens"`
	ReserveTokens float64 `json:"reserve_tokens"`
	Dropped       int64   `json:"dropped"`

	// Sandbox: the stand-in's completion, once run (never run twice).
	Sandbox *SandboxOutcome `json:"sandbox,omitempty"`
}

// HandoffHeld is a post held behind a gap, and how long it had waited.
type HandoffHeld struct {
	Event    mono.WidgetEvent `json:"event"`
	WaitedMs int64            `json:"waited_ms"`
}

// HandoffVersion is the Handoff layout this package writes and reads.
const HandoffVersion = 1

// String identifies the handoff without any of its secrets.
func (h Handoff) String() string {
	return "connect.Handoff{" + h.ID + " " + h.From + "->" + h.To + " account " + h.Params.Account.ID +
		" token " + h.Params.Token.Fingerprint() + " next seq " + strconv.FormatInt(h.NextSeq, 10) +
		" pending " + strconv.Itoa(len(h.Pending)) + " held " + strconv.Itoa(len(h.Held)) + "}"
}

// GoString does the same for %#v.
func (h Handoff) GoString() string { return h.String() }

// Format does the same for every verb (%d, %x… included), so no way of
// printing a Handoff shows its fields.
func (h Handoff) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(h.String())) }

// LogValue is what log/slog records of it.
func (h Handoff) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("session", h.ID),
		slog.String("from", h.From),
		slog.String("to", h.To),
		slog.String("account", h.Params.Account.ID),
		slog.String("token", h.Params.Token.Fingerprint()),
		slog.Int64("next_seq", h.NextSeq),
		slog.Int("pending", len(h.Pending)),
		slog.Int("held", len(h.Held)),
	)
}

// Errors from Export and Adopt (match with errors.Is). Their text never
// holds a secret.
var (
	ErrNoSession  = errors.New("widget page: no live session with that id here")
	ErrCannotMove = errors.New("widget page: cannot hand the session over")
	// ErrNoLiveReplica is Config.Forward's answer for an owner that is
	// known not to be a live replica.
	ErrNoLiveReplica  = errors.New("widget page: no live replica by that id")
	ErrBadHandoff     = errors.New("widget page: malformed handoff")
	ErrHandoffExpired = errors.New("widget page: the handed-over session has expired")
	ErrSessionLive    = errors.New("widget page: that session is already live here")
)

// movedEntry is a session this server handed to replica to; requests for it
// go there until until (the session's own end by expiry).
type movedEntry struct {
	to    string
	until time.Time // by Config.Now
}

// movedTTL bounds how long a moved session without an expiry (the account
// contract mints no token) is remembered.
const movedTTL = 24 * time.Hour

// Export takes the live session id out of this server and hands it to
// replica to: it returns the Handoff that replica's Server.Adopt takes, and
// from now on every request for the session (its page, config, event posts,
// the sandbox's plan and completion) that reaches this server is forwarded
// to to (Config.Forward(to)). The old *Session ends as EndMoved; the events
// its consumer had not read are in Handoff.Pending, not in its Events
// channel (stop reading it before the call: a reader still waiting takes
// what reaches it first).
//
// Until to has adopted it, a request for the page is answered 503 (the
// page retries). If to refuses it, Adopt the Handoff back here. This server
// forgets the move once Forward no longer knows to (the page is then told
// its link is no longer active, as for any replica that is gone) or once the
// session would have expired.
//
// Errors: no live session id (ErrNoSession), no Config.Forward, to not a
// valid replica id, this server's own, or unknown to Forward
// (ErrCannotMove).
func (s *Server) Export(id, to string) (Handoff, error) {
	switch {
	case s.set.Forward == nil:
		return Handoff{}, fmt.Errorf("%w: no Config.Forward", ErrCannotMove)
	case !ValidReplicaID(to):
		return Handoff{}, fmt.Errorf("%w: %q is not a replica id", ErrCannotMove, to)
	case to == s.set.ReplicaID:
		return Handoff{}, fmt.Errorf("%w: %q is this replica", ErrCannotMove, to)
	}
	if u, err := s.set.Forward(to); err != nil {
		return Handoff{}, fmt.Errorf("%w: replica %q: %w", ErrCannotMove, to, err)
	} else if u == nil {
		return Handoff{}, fmt.Errorf("%w: replica %q is not known", ErrCannotMove, to)
	}
	s.mu.Lock()
	sess := s.sessions[id]
	if sess == nil || s.closed {
		s.mu.Unlock()
		return Handoff{}, fmt.Errorf("%w (%s)", ErrNoSession, id)
	}
	if sess.pastExpiryGrace() {
		s.mu.Unlock()
		s.endSession(sess, EndExpired)
		return Handoff{}, fmt.Errorf("%w (%s: expired)", ErrNoSession, id)
	}
	delete(s.sessions, id)
	if s.byAccount[sess.params.Account.ID] == sess {
		delete(s.byAccount, sess.params.Account.ID)
	}
	s.addMovedLocked(id, movedEntry{to: to, until: sess.movedUntil()})
	s.mu.Unlock()

	// A sandbox completion in flight finishes first, so its answer moves
	// with the session (and is never run twice).
	sess.completeMu.Lock()
	h, ok := sess.endMoved()
	sess.completeMu.Unlock()
	if !ok {
		// It ended on its own meanwhile (its owner closed it, or it
		// expired): that is the page's answer here, not a move.
		s.forgetMoved(id, to, sess.EndReason())
		return Handoff{}, fmt.Errorf("%w (%s: %s)", ErrNoSession, id, sess.EndReason())
	}
	h.From, h.To = s.set.ReplicaID, to
	s.set.Logger.Info("widget session handed over", "session", id, "to", to, "account", h.Params.Account.ID,
		"token", h.Params.Token.Fingerprint(), "pending", len(h.Pending), "held", len(h.Held))
	return h, nil
}

// movedUntil is when a moved entry for s is forgotten: when s would have
// ended as expired, or movedTTL from now without an expiry.
func (s *Session) movedUntil() time.Time {
	if exp := s.params.Token.ExpiresAt; !exp.IsZero() {
		return exp.Add(s.srv.set.tune.expiryGrace)
	}
	return s.srv.set.Now().Add(movedTTL)
}

func (s *Server) addMovedLocked(id string, m movedEntry) {
	if _, again := s.moved[id]; again {
		s.movedList = slices.DeleteFunc(s.movedList, func(x string) bool { return x == id })
	}
	s.dropTombLocked(id)
	s.moved[id] = m
	s.movedList = append(s.movedList, id)
	now := s.set.Now()
	for len(s.movedList) > 0 {
		oldest := s.movedList[0]
		old, ok := s.moved[oldest]
		switch {
		case ok && len(s.movedList) > s.set.tune.maxTombs:
			s.forgetMovedLocked(oldest, EndServerClosed)
		case ok && !now.Before(old.until):
			s.forgetMovedLocked(oldest, EndExpired)
		default:
			return
		}
	}
}

// forgetMoved forgets that id moved to to (if it still says so): requests
// for it are answered as for a session that ended for why.
func (s *Server) forgetMoved(id, to, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.moved[id]; ok && m.to == to {
		s.forgetMovedLocked(id, why)
	}
}

func (s *Server) forgetMovedLocked(id, why string) {
	delete(s.moved, id)
	s.movedList = slices.DeleteFunc(s.movedList, func(x string) bool { return x == id })
	s.addTombLocked(id, why)
}

func (s *Server) dropMovedLocked(id string) {
	if _, ok := s.moved[id]; ok {
		delete(s.moved, id)
		s.movedList = slices.DeleteFunc(s.movedList, func(x string) bool { return x == id })
	}
}

// routeOf says who answers a request for session id: this server (local:
// a session it holds or one it ended), the replica it moved to (movedTo),
// or neither (both zero: the owner the id names). A moved entry past its
// time is forgotten here, leaving a tombstone: then it is local.
func (s *Server) routeOf(id string) (local bool, movedTo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; ok {
		return true, ""
	}
	if _, ok := s.tombs[id]; ok {
		return true, ""
	}
	m, ok := s.moved[id]
	if !ok {
		return false, ""
	}
	if !s.set.Now().Before(m.until) {
		s.forgetMovedLocked(id, EndExpired)
		return true, ""
	}
	return false, m.to
}

// Adopt carries on a session another replica handed over (Export): a live
// Session on this server with the same id (whichever replica the id names:
// a session held here wins over forwarding to its owner), secret, pairing
// code, page instance and delivery state. Its Events channel delivers
// h.Pending first, in order, then what the page posts from now on, deduped
// and ordered from where the old session stopped. A session already open
// here for the same account is ended as replaced, as by NewSession.
//
// Refused: a handoff whose id is live here (ErrSessionLive), a malformed
// one (ErrBadHandoff), one past its session's expiry (the token's expiry
// and the grace after it: ErrHandoffExpired), or a server not running.
func (s *Server) Adopt(h Handoff) (*Session, error) {
	if err := s.checkHandoff(h); err != nil {
		return nil, err
	}
	if exp := h.Params.Token.ExpiresAt; !exp.IsZero() && !s.set.Now().Before(exp.Add(s.set.tune.expiryGrace)) {
		return nil, fmt.Errorf("%w (%s)", ErrHandoffExpired, h.ID)
	}
	s.mu.Lock()
	if !s.started || s.closed {
		s.mu.Unlock()
		return nil, errors.New("widget page: server is not running")
	}
	if _, live := s.sessions[h.ID]; live {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w (%s)", ErrSessionLive, h.ID)
	}
	sess := buildSession(s, h.ID, h.Secret, h.PairingCode, s.base, h.Params, h.Contract, h.Reference)
	sess.restore(h, time.Now())
	prev := s.byAccount[h.Params.Account.ID]
	s.sessions[sess.id] = sess
	s.byAccount[h.Params.Account.ID] = sess
	s.dropMovedLocked(sess.id)
	s.dropTombLocked(sess.id)
	sess.start()
	s.mu.Unlock()

	if prev != nil {
		s.endSession(prev, EndReplaced)
	}
	s.set.Logger.Info("widget session adopted", "session", sess.id, "from", h.From, "account", h.Params.Account.ID,
		"contract", string(sess.contract), "token", h.Params.Token.Fingerprint(), "pending", len(h.Pending), "held", len(h.Held))
	return sess, nil
}

// EndUnadopted is for a handoff this server could not Adopt: the old
// replica forwards the page's requests here from Export on, and without a
// session here they would be answered 503 "moving" (retry) until the
// moved entry there expires, the customer's page retrying a link that can
// no longer work. The session is answered as ended here instead (410,
// server_closed), which the page shows. A session live here is left alone.
func (s *Server) EndUnadopted(id string) {
	if !validSessionID(id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, live := s.sessions[id]; live {
		return
	}
	s.addTombLocked(id, EndServerClosed)
	s.set.Logger.Warn("a handed-over widget session could not be adopted; its page is told it ended", "session", id)
}

// checkHandoff refuses a handoff this package did not write, or one whose
// state could not have come from a session.
func (s *Server) checkHandoff(h Handoff) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrBadHandoff, what) }
	tu := s.set.tune
	switch {
	case h.Version != HandoffVersion:
		return bad("version " + strconv.Itoa(h.Version) + ", want " + strconv.Itoa(HandoffVersion))
	case !validSessionID(h.ID):
		return bad("session id")
	case len(h.Secret) < 32 || len(h.Secret) > 64 || !validPageID(h.Secret):
		return bad("page secret")
	case h.PairingCode == "" || len(h.PairingCode) > 16:
		return bad("pairing code")
	case strings.TrimSpace(h.Params.Account.ID) == "":
		return bad("account")
	case h.Contract != ContractToken && h.Contract != ContractAccount:
		return bad("contract")
	case h.Params.Token.AccountID != "" && h.Params.Token.AccountID != h.Params.Account.ID:
		return bad("token minted for another account")
	case h.NextSeq < 1 || h.HighSeq < 0 || h.HighSeq > h.NextSeq+tu.maxSeqAhead:
		return bad("seq state")
	case len(h.Held) > tu.holdMax:
		return bad("held posts")
	case len(h.Skipped) > 4*tu.holdMax:
		return bad("skipped seqs")
	case len(h.Codes) > maxCodesKept:
		return bad("codes")
	case len(h.FirstSeen) > tu.firstSeenCap:
		return bad("first-seen events")
	case !validPageID(h.PageID):
		return bad("page instance")
	case h.Opens < 0 || h.Dropped < 0:
		return bad("counts")
	case len(h.Pending) > maxPending:
		return bad("pending events")
	}
	for _, held := range h.Held {
		if held.Event.Seq < h.NextSeq || held.Event.Seq > h.HighSeq {
			return bad("held seq " + strconv.FormatInt(held.Event.Seq, 10))
		}
	}
	for _, seq := range h.Skipped {
		if seq < 1 || seq >= h.NextSeq {
			return bad("skipped seq " + strconv.FormatInt(seq, 10))
		}
	}
	return nil
}

// maxPending bounds a handoff's pending events: far more than a session's
// rate limit lets a page queue behind a consumer that stopped reading
// before its agent came back.
const maxPending = 1 << 16

// validSessionID: "<replica>-<base64url>" as newSession makes them.
func validSessionID(id string) bool {
	owner, rest, ok := strings.Cut(id, "-")
	return ok && ValidReplicaID(owner) && rest != "" && len(rest) <= 64 && validPageID(rest)
}

// snapshotLocked is the session's state for a Handoff (its pending events
// aside: finish adds them). Called by the pump as it stops.
func (s *Session) snapshotLocked(now time.Time) Handoff {
	tu := &s.srv.set.tune
	h := Handoff{
		Version:       HandoffVersion,
		ExportedAt:    s.srv.set.Now(),
		ID:            s.id,
		Secret:        s.secret,
		PairingCode:   s.pairing,
		Params:        s.params,
		Contract:      s.contract,
		Reference:     s.reference,
		NextSeq:       s.nextSeq,
		HighSeq:       s.highSeq,
		Skipped:       slices.Sorted(maps.Keys(s.skipped)),
		FirstSeen:     slices.Sorted(maps.Keys(s.firstSeen)),
		Codes:         slices.Clone(s.codes),
		Contact:       s.contact,
		LastSeen:      s.lastWall,
		Gone:          s.gone,
		PageID:        s.pageID,
		Opens:         s.opens,
		Succeeded:     s.succeeded,
		PostTokens:    s.posts.level(now, tu.rateRefill, tu.rateBurst),
		ReserveTokens: s.reserve.level(now, tu.reserveRate, tu.reserveBurst),
		Dropped:       s.dropped.Load(),
	}
	for _, seq := range slices.Sorted(maps.Keys(s.held)) {
		p := s.held[seq]
		h.Held = append(h.Held, HandoffHeld{Event: p.ev, WaitedMs: now.Sub(p.at).Milliseconds()})
	}
	if s.sandbox != nil {
		o := *s.sandbox
		h.Sandbox = &o
	}
	return h
}

// restore sets a fresh session's state from h (before its pump starts).
// The heartbeat watchdog starts again from now: monotonic times do not
// cross machines, and a page that is really gone is still reported within
// one HeartbeatTimeout.
func (s *Session) restore(h Handoff, now time.Time) {
	tu := &s.srv.set.tune
	s.nextSeq, s.highSeq = h.NextSeq, h.HighSeq
	for _, held := range h.Held {
		waited := min(max(time.Duration(held.WaitedMs)*time.Millisecond, 0), tu.holdWindow)
		s.held[held.Event.Seq] = heldPost{ev: held.Event, at: now.Add(-waited)}
	}
	for _, seq := range h.Skipped {
		s.skipped[seq] = struct{}{}
	}
	for _, k := range h.FirstSeen {
		s.firstSeen[k] = true
	}
	s.codes = slices.Clone(h.Codes)
	s.contact, s.lastWall, s.gone = h.Contact, h.LastSeen, h.Gone
	if s.contact {
		s.lastMono = now
	}
	s.pageID, s.opens, s.succeeded = h.PageID, h.Opens, h.Succeeded
	s.posts = bucket{tokens: min(max(h.PostTokens, 0), tu.rateBurst), at: now}
	s.reserve = bucket{tokens: min(max(h.ReserveTokens, 0), tu.reserveBurst), at: now}
	s.dropped.Store(h.Dropped)
	if h.Sandbox != nil {
		o := *h.Sandbox
		s.sandbox = &o
	}
	// Already accepted once: every one is delivered (none is chatter to drop).
	for _, ev := range h.Pending {
		s.queue = append(s.queue, queued{ev: ev})
	}
}

// level is the bucket's tokens at now, without taking one.
func (b *bucket) level(now time.Time, refill, burst float64) float64 {
	return min(burst, b.tokens+now.Sub(b.at).Seconds()*refill)
}
