package sshserve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2/bubbletea"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// endReason says why the server (not the agent) ended a session.
type endReason int

const (
	endNone endReason = iota
	endIdle
	endShutdown
	endDrain // let go by a drain: no live attempt (Server.Drain)
)

// agentSession is one agent's SSH session and its program.
type agentSession struct {
	srv   *Server
	sess  ssh.Session
	agent audit.Agent
	label string // short identity for the header

	lastInput atomic.Int64 // unix nanos of the agent's last keystroke/resize

	done chan struct{} // closed when the program has ended and the farewell is out

	mu      sync.Mutex
	why     endReason
	program *tea.Program
	cancel  context.CancelFunc
}

// endGrace is how long a session asked to end (idle, shutdown) gets to do
// so before its connection is closed under it. A client that stopped
// reading (a suspended ssh) blocks the program's writes, and so its quit,
// forever; it must not keep a session slot or hold up a shutdown.
const endGrace = 5 * time.Second

// handle serves one SSH session: it is the server's only handler.
func (s *Server) handle(sess ssh.Session) {
	_, winch, hasPTY := sess.Pty()
	if !hasPTY {
		refuse(sess, NoPTYMessage)
		return
	}
	as := &agentSession{srv: s, sess: sess, done: make(chan struct{})}
	// From here on every path, refusals included, must keep draining
	// window changes until the session closes.
	go as.forwardResizes(winch)
	if sess.RawCommand() != "" || sess.Subsystem() != "" {
		refuse(sess, NoCommandMessage)
		return
	}
	key := sess.PublicKey()
	if key == nil { // cannot happen: only public-key auth is offered
		refuse(sess, "reauth: public-key authentication is required")
		return
	}
	agent, ok := s.identify(key, sess.User())
	if !ok {
		s.logger.Info("session refused: key no longer authorized", "claimed_user", cleanUser(sess.User()),
			"key", agent.KeyFingerprint, "remote", sess.RemoteAddr().String())
		refuse(sess, RevokedMessage)
		return
	}
	as.agent, as.label = agent, agentLabel(agent)
	if msg, ok := s.admit(as); !ok {
		s.logger.Info("session refused", append(agentAttrs(agent), "why", msg)...)
		refuse(sess, msg)
		return
	}
	start := time.Now()
	if s.cfg.Connected != nil {
		defer s.cfg.Connected()()
	}
	s.logger.Info("agent connected", append(agentAttrs(agent), "remote", sess.RemoteAddr().String())...)
	// Released before the exit status goes out, so an agent who reconnects
	// at once is not refused as over MaxSessions by their own old session.
	code, why := func() (int, string) {
		defer close(as.done)
		defer s.release(as)
		return as.run()
	}()
	s.logger.Info("agent disconnected", append(agentAttrs(agent),
		"after", time.Since(start).Round(time.Second), "ended_by", why)...)
	_ = sess.Exit(code)
}

// refuse writes one line to the client's stderr and exits with status 1.
func refuse(sess ssh.Session, msg string) {
	_, _ = fmt.Fprintln(sess.Stderr(), msg)
	_ = sess.Exit(1)
}

// run runs the agent's program until it ends and returns the exit status
// and a word for the log.
func (as *agentSession) run() (int, string) {
	s := as.srv
	// The session's context ends with the connection; ours also ends when
	// the program does, so this agent's pages and loaders stop with it.
	ctx, cancel := context.WithCancel(as.sess.Context())
	defer cancel()

	deps := s.cfg.NewDeps(as.agent)
	deps.Agent = as.label
	deps.OpenBrowser = nil // the server's desktop is nobody's browser
	if deps.PageNote == "" && s.cfg.PublicURL == "" {
		deps.PageNote = NoPublicURLNote
	}
	// The agent's attempt their dropped connection left, if they come
	// back for it (resume.go); with ResumeGrace, a new model's page and
	// claim end with life, which outlives the program when it is parked.
	var resumed *parkedAttempt
	life, endLife := ctx, context.CancelFunc(func() {})
	if s.cfg.ResumeGrace > 0 {
		if resumed = s.unpark(as.agent.KeyFingerprint); resumed != nil {
			life, endLife = resumed.life, resumed.endLife
		} else {
			life, endLife = context.WithCancel(context.Background())
		}
	}
	parked := false
	defer func() {
		if !parked {
			endLife()
		}
	}()
	var pages *sessionPages
	if deps.Pages != nil {
		// However the program ends (quit, dropped connection, idle,
		// shutdown), every page this agent opened ends with the session, so
		// a customer is never left on a page nobody is watching; unless
		// the attempt is parked for its agent (then its pages end with it).
		pages = &sessionPages{inner: deps.Pages}
		if resumed != nil && resumed.pages != nil {
			pages = resumed.pages
		}
		defer func() {
			if !parked {
				pages.closeAll()
			}
		}()
		deps.Pages = pages
	}
	as.touch()
	input := newInputRelay(as.sess, as.touch)
	defer input.Close()
	opts := append(bubbletea.MakeOptions(as.sess),
		// Wish's default emulated PTY: the input is the session channel
		// itself, read through the relay so the idle timer sees each key
		// as it arrives.
		tea.WithInput(input),
		tea.WithContext(ctx),
		// The server's SIGINT/SIGTERM belong to main's graceful shutdown,
		// not to each agent's program.
		tea.WithoutSignalHandler(),
		tea.WithFPS(tui.FrameRate),
	)
	// The client chooses its PTY size, and Bubble Tea sizes its cell
	// buffers from the initial one unchecked: a pty-req of 65535x65535 is
	// billions of cells on a server every agent shares. Clamp it here (this
	// option comes after MakeOptions', so it wins), and every window-change
	// in forwardResizes.
	pty, _, _ := as.sess.Pty()
	opts = append(opts, tea.WithWindowSize(clampWindow(pty.Window.Width, pty.Window.Height)))
	// Not parked here: perhaps on another replica, which hands it over
	// (its page moves here; its history comes from the store).
	var handed *tui.Handoff
	var stranded []tui.Stranded
	if resumed == nil && s.cfg.ResumeGrace > 0 && s.cfg.ResumeElsewhere != nil {
		el := s.cfg.ResumeElsewhere(ctx, as.agent)
		if handed, stranded = el.Handoff, el.Stranded; handed != nil && pages != nil && handed.Page != nil {
			pages.adopt(handed.Page)
		}
	}
	if resumed == nil {
		if st, ok := s.takeLapsed(as.agent.KeyFingerprint); ok {
			stranded = append(stranded, st)
		}
	}
	var model tui.Model
	switch {
	case handed != nil:
		m, err := tui.ResumeHandedOver(ctx, life, deps, *handed)
		if err != nil {
			s.logger.Warn("a handed-over attempt could not resume", append(agentAttrs(as.agent), "err", err)...)
			model = tui.NewResumable(ctx, life, deps)
		} else {
			model = m
			s.logger.Info("attempt resumed from another replica", append(agentAttrs(as.agent), "from", handed.From,
				"after", time.Since(handed.Dropped).Round(time.Millisecond))...)
		}
	case resumed != nil:
		model = tui.Resume(ctx, resumed.model, deps, resumed.at)
		s.logger.Info("attempt resumed", append(agentAttrs(as.agent), "after", time.Since(resumed.at).Round(time.Millisecond))...)
	case s.cfg.ResumeGrace > 0:
		model = tui.NewResumable(ctx, life, deps)
	default:
		model = tui.New(ctx, deps)
	}
	if len(stranded) > 0 {
		model = model.WithStranded(stranded)
		s.logger.Info("the agent's attempts on other replicas did not come back", append(agentAttrs(as.agent),
			"count", len(stranded))...)
	}
	p := tea.NewProgram(model, opts...)
	as.mu.Lock()
	as.program, as.cancel = p, cancel
	why := as.why // Shutdown may have come before the program existed
	as.mu.Unlock()
	if why != endNone {
		model.EndLive(as.endWords(why)) // a resumed attempt
		return 1, as.farewell(why)
	}
	if draining, until := s.drainInfo(); draining {
		// Drain found no program here yet (it reads as.program after
		// setting draining, so one of the two sends the notice).
		as.notifyDrain(until)
	}

	if s.cfg.IdleTimeout > 0 {
		go as.watchIdle(ctx, s.cfg.IdleTimeout)
	}
	// The program runs on its own goroutine so that this handler (and the
	// session's slot) is bounded even when the program is not: once the
	// connection is gone, the program gets endGrace to stop; after that the
	// handler returns without it (a program stuck writing to a dead
	// connection must not hold a slot or a shutdown).
	type result struct {
		m   tea.Model
		err error
	}
	ran := make(chan result, 1)
	go func() {
		m, err := p.Run()
		ran <- result{m, err}
	}()
	var res result
	select {
	case res = <-ran:
	case <-as.sess.Context().Done():
		t := time.NewTimer(endGrace)
		select {
		case res = <-ran:
		case <-t.C:
			cancel()
			s.logger.Warn("program did not stop after its connection closed; leaving it", agentAttrs(as.agent)...)
			_ = input.Close()
			return 1, "connection closed (program did not stop)"
		}
		t.Stop()
	}
	err := res.err
	as.mu.Lock()
	why = as.why
	as.mu.Unlock()
	// A program that stopped under a live attempt (a dropped connection,
	// the idle timeout, a drain's or shutdown's end; an agent's quit has
	// ended it already) ends it here, recorded with why, before its pages
	// close and its claim is let go by cancel (below).
	// With ResumeGrace, a dropped connection (not a quit, idle, drain or
	// shutdown) parks a live attempt for its agent instead.
	if m, ok := res.m.(tui.Model); ok {
		dropped := s.cfg.ResumeGrace > 0 && why == endNone && err != nil && as.sess.Context().Err() != nil
		park := dropped && m.Resumable()
		if !park {
			// A check after a success on screen is not parked for the
			// agent: it goes on here like those they left (an idle
			// timeout, say, is no reason to stop it).
			m = m.CheckAside()
		}
		// Checks the agent left running after a success go on here, to
		// their answers, whatever ended the program (finish.go).
		var checks tui.Model
		m, checks = m.SplitChecks()
		s.finishChecks(checks, as.agent)
		if park {
			at := time.Now()
			// Colleagues opening the account see that its agent is away
			// (said before it is parked, so a quick resume's refresh comes
			// after it; if it cannot be parked, its end releases the claim).
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := m.ParkClaim(pctx, at); err != nil {
				s.logger.Warn("the parked attempt's claim does not say so", append(agentAttrs(as.agent), "err", err)...)
			}
			cancel()
			parked = s.park(&parkedAttempt{agent: as.agent, model: m, pages: pages, life: life, endLife: endLife, at: at})
		}
		if !parked {
			m.EndLive(as.endWords(why))
		}
		if n := m.WriteUnwritten(!parked); n > 0 {
			s.logger.Error("audit records lost: the store did not take them before the session ended",
				append(agentAttrs(as.agent), "records", n)...)
		}
	}
	cancel()
	_ = input.Close()

	switch {
	case why != endNone:
		return 1, as.farewell(why)
	case err == nil:
		return 0, "agent quit"
	case ctx.Err() != nil && as.sess.Context().Err() != nil && parked:
		return 1, "connection closed (attempt kept for the agent)"
	case ctx.Err() != nil && as.sess.Context().Err() != nil:
		return 1, "connection closed"
	default:
		s.logger.Error("program ended with an error", append(agentAttrs(as.agent), "err", err)...)
		return 1, "error"
	}
}

// farewell prints why the server ended the session, after the program has
// restored the agent's terminal, and names the reason for the log. It goes
// to stdout, not stderr: the two are separate SSH streams, and only the
// same stream guarantees the line lands after the program's last frame
// (and its exit from the alternate screen).
func (as *agentSession) farewell(why endReason) string {
	switch why {
	case endIdle:
		_, _ = fmt.Fprintf(as.sess, "\n"+idleMessageFormat+"\n", as.srv.cfg.IdleTimeout)
		return "idle timeout"
	case endShutdown:
		_, _ = fmt.Fprintln(as.sess, "\n"+ShutdownMessage)
		return "server shutdown"
	case endDrain:
		_, _ = fmt.Fprintln(as.sess, "\n"+DrainMessage)
		return "drain (no live attempt)"
	}
	return ""
}

// endWords is the headline of a live attempt's end when its program ended
// under it (tui.Model.EndLive), by why the session ended.
func (as *agentSession) endWords(why endReason) string {
	if draining, _ := as.srv.drainInfo(); draining {
		return "The server restarted while the attempt was live (its drain timeout passed); the customer's page stopped."
	}
	switch why {
	case endShutdown:
		return "The server shut down while the attempt was live; the customer's page stopped."
	case endIdle:
		return "The session ended after " + as.srv.cfg.IdleTimeout.String() + " without input; the customer's page stopped."
	}
	return "The agent's connection closed while the attempt was live; the customer's page stopped."
}

// notifyDrain tells the program the server is draining (tui.DrainNotice);
// the program answers whether it has a live attempt, and a session without
// one is let go (endDrain).
func (as *agentSession) notifyDrain(until time.Time) {
	as.mu.Lock()
	p := as.program
	as.mu.Unlock()
	if p == nil {
		return // run sends it once the program exists
	}
	// A session without a live attempt is let go at once; one whose attempt
	// has just ended keeps the screen DrainReadFor, so its agent reads the
	// outcome (q leaves sooner; the drain's bound still ends it).
	var wasLive bool
	var gen int
	var mu sync.Mutex
	notice := tui.DrainNotice{Until: until, Live: func(live bool) {
		mu.Lock()
		defer mu.Unlock()
		gen++
		if live {
			wasLive = true
			return
		}
		if !wasLive {
			as.end(endDrain)
			return
		}
		read, mine := as.srv.cfg.DrainReadFor, gen
		if read <= 0 {
			read = DefaultDrainReadFor
		}
		time.AfterFunc(read, func() {
			mu.Lock()
			still := gen == mine
			mu.Unlock()
			if still {
				as.end(endDrain)
			}
		})
	}}
	// Send blocks until the event loop takes it: never hold up Drain.
	go p.Send(notice)
}

// end asks the program to quit cleanly, remembering the first reason.
func (as *agentSession) end(why endReason) {
	as.mu.Lock()
	first := as.why == endNone
	if first {
		as.why = why
	}
	p := as.program
	as.mu.Unlock()
	if p != nil {
		// Quit blocks until the event loop takes it (or the program ends);
		// never make Shutdown wait on one slow program.
		go p.Quit()
	}
	if first {
		go as.forceEndAfter(endGrace)
	}
}

// forceEndAfter kills the program and closes the session if it has not
// ended within d of being asked to.
func (as *agentSession) forceEndAfter(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-as.done:
	case <-t.C:
		as.srv.logger.Warn("session did not end when asked; closing it", agentAttrs(as.agent)...)
		as.kill()
		_ = as.sess.Close()
	}
}

// kill stops the program at once (Shutdown's deadline passed).
func (as *agentSession) kill() {
	as.mu.Lock()
	cancel := as.cancel
	as.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (as *agentSession) touch() { as.lastInput.Store(time.Now().UnixNano()) }

// forwardResizes turns the client's window-change requests into
// WindowSizeMsgs. It drains winch until the session closes it: a send on
// winch that nobody receives would block the session's request loop (and
// leak it).
func (as *agentSession) forwardResizes(winch <-chan ssh.Window) {
	for w := range winch {
		as.touch()
		as.mu.Lock()
		p := as.program
		as.mu.Unlock()
		if p != nil {
			// Send returns at once after the program has ended: its
			// context is cancelled by then.
			width, height := clampWindow(w.Width, w.Height)
			p.Send(tea.WindowSizeMsg{Width: width, Height: height})
		}
	}
}

// watchIdle ends the session after IdleTimeout without agent input.
func (as *agentSession) watchIdle(ctx context.Context, idle time.Duration) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			quiet := time.Since(time.Unix(0, as.lastInput.Load()))
			if quiet >= idle {
				as.srv.logger.Info("idle timeout", append(agentAttrs(as.agent), "idle", quiet.Round(time.Second))...)
				as.end(endIdle)
				return
			}
			t.Reset(idle - quiet)
		}
	}
}

// The largest terminal a session is drawn for. Bubble Tea keeps two cell
// buffers of the window's size at ~120 bytes a cell, so 1000x500 cost a
// measured 118 MB per session; 500x200 costs ~24 MB and still covers a
// full-screen 4K terminal with a small font (~480x135). A bigger request is
// drawn at this size (the app sits in the top-left of the agent's window).
const (
	MaxWidth  = 500
	MaxHeight = 200
)

// clampWindow bounds a client-reported window size to MaxWidth x MaxHeight.
// A client that reports no size (some scripted ones) would get an empty
// screen; it is drawn for the classic 80x24 until it resizes.
func clampWindow(width, height int) (int, int) {
	if width <= 0 || height <= 0 {
		return 80, 24
	}
	return min(width, MaxWidth), min(height, MaxHeight)
}

// RevokedMessage is what a client whose key was removed from the authorized
// keys file after it logged in gets instead of a session.
const RevokedMessage = "reauth: your key is no longer authorized; ask an administrator"

// maxUserLen bounds a name we display and audit: a key's name and the user
// name the client claims.
const maxUserLen = 32

// maxClaimLen bounds the claimed user name in the header, so the agent's
// real name always fits beside it.
const maxClaimLen = 16

// identify is who an SSH session's agent is: the name their public key has
// in the authorized keys file (see keyName) and its fingerprint. The user
// name the client sent is only a claim (anyone can type any user name):
// Agent.ClaimedUser keeps it when it differs. The key is looked up again, so
// a key revoked since the connection was authenticated gets no session (ok
// false). With AllowAnyKey there is no file and no comment: the name is the
// fingerprint's short form.
func (s *Server) identify(key gossh.PublicKey, user string) (audit.Agent, bool) {
	fp := gossh.FingerprintSHA256(key)
	agent := audit.Agent{User: shortFingerprint(fp), KeyFingerprint: fp, Via: audit.ViaSSH}
	if s.keys != nil {
		k, ok := s.keys.lookup(key)
		if !ok {
			return agent, false
		}
		agent.User = keyName(k.comment, fp)
	}
	if claimed := cleanUser(user); claimed != agent.User {
		agent.ClaimedUser = claimed
	}
	return agent, true
}

// keyName is the name an agent is shown and audited by: the part of their
// key's authorized_keys comment before the first "@" ("ada@support" → "ada",
// "Ada Obi" → "Ada Obi"), cleaned of escape and control characters, trimmed
// and bounded to 32 characters. A key with no usable comment (none, "@host",
// only control characters) is named by its fingerprint's short form.
func keyName(comment, fingerprint string) string {
	name, _, _ := strings.Cut(comment, "@")
	if name = bounded(strings.TrimSpace(mono.CleanText(name)), maxUserLen); name != "" {
		return name
	}
	return shortFingerprint(fingerprint)
}

// shortFingerprint is a fingerprint's first eight characters after its
// algorithm: "SHA256:AbCdEfGh". The full one is in the audit log; eight
// characters are enough for a colleague to tell two keys apart at a glance.
func shortFingerprint(fp string) string {
	if algo, sum, ok := strings.Cut(fp, ":"); ok && len(sum) > 8 {
		return algo + ":" + sum[:8]
	}
	return fp
}

// cleanUser makes the client-chosen user name safe for a terminal, the log
// and the audit: no escape sequences, no control characters, bounded
// length ("" when nothing is left).
func cleanUser(u string) string {
	return bounded(strings.TrimSpace(mono.CleanText(u)), maxUserLen)
}

// bounded cuts s to at most n runes, marking the cut with "…".
func bounded(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// agentLabel is the header's short identity: "ada (SHA256:AbCdEfGh…)", and
// when the client claimed another user name, "ada (SHA256:AbCdEfGh…) · claims
// bob". A key named by its fingerprint shows it once: "SHA256:AbCdEfGh…".
func agentLabel(a audit.Agent) string {
	short := shortFingerprint(a.KeyFingerprint)
	abbrev := short
	if short != a.KeyFingerprint {
		abbrev += "…"
	}
	label := a.User + " (" + abbrev + ")"
	if a.User == short {
		label = abbrev
	}
	if a.ClaimedUser != "" {
		label += " · claims " + bounded(a.ClaimedUser, maxClaimLen)
	}
	return label
}

// agentAttrs are the log attributes naming an agent: the key's name and
// fingerprint, and the claimed user name when there is one.
func agentAttrs(a audit.Agent) []any {
	attrs := []any{"user", a.User, "key", a.KeyFingerprint}
	if a.ClaimedUser != "" {
		attrs = append(attrs, "claimed_user", a.ClaimedUser)
	}
	return attrs
}

// sessionPages remembers the pages one session opened so they can all be
// closed when it ends.
type sessionPages struct {
	inner tui.Pages

	mu     sync.Mutex
	open   []tui.Page
	closed bool
}

func (sp *sessionPages) Open(ctx context.Context, req tui.PageRequest) (tui.Page, error) {
	p, err := sp.inner.Open(ctx, req)
	if err != nil {
		return nil, err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed { // the session ended while the page was being made
		p.Close()
		return nil, errors.New("the session has ended")
	}
	// Forget pages that already ended, so a day-long session does not keep
	// every page it ever opened.
	sp.open = slices.DeleteFunc(sp.open, func(old tui.Page) bool {
		select {
		case <-old.Done():
			return true
		default:
			return false
		}
	})
	sp.open = append(sp.open, p)
	return p, nil
}

// adopt tracks a page this session did not open: one moved here with a
// handed-over attempt.
func (sp *sessionPages) adopt(p tui.Page) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		p.Close()
		return
	}
	sp.open = append(sp.open, p)
}

func (sp *sessionPages) closeAll() {
	sp.mu.Lock()
	open := sp.open
	sp.open, sp.closed = nil, true
	sp.mu.Unlock()
	for _, p := range open {
		p.Close() // idempotent: the TUI may have closed it already
	}
}
