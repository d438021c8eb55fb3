package sshserve

import (
	"context"
	"sync"
	"time"

	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// Resume on one server (Config.ResumeGrace): when an agent's connection
// drops under a live attempt, the program's final model is parked here,
// keyed by the agent's key fingerprint, with its pages and its life
// context (tui.NewResumable): the customer's page keeps working and its
// events are applied and recorded as they come (tui.Model.RecordParked, one
// goroutine per parked attempt, stopped before anything else takes the
// model), so an outcome the customer reaches meanwhile is the attempt's
// own, whether or not the agent comes back. The same agent's next session within
// the grace starts from it (tui.Resume). Otherwise, when the grace passes,
// the attempt ends ENDED BY AGENT saying so, its claim released and its
// pages closed.

// DefaultResumeGrace is how long `reauth serve` keeps a dropped agent's
// live attempt for them (--resume-grace).
const DefaultResumeGrace = 3 * time.Minute

// parkedAttempt is a dropped program's final model waiting for its agent.
type parkedAttempt struct {
	agent   audit.Agent
	model   tui.Model
	pages   *sessionPages // nil without a page server
	endLife context.CancelFunc
	life    context.Context
	at      time.Time // when the connection dropped
	timer   *time.Timer

	// work is the one goroutine that may hold the model while it is
	// parked: the recorder (RecordParked), or after the grace the check's
	// finisher. workMu serialises replacing and stopping it.
	workMu   sync.Mutex
	stopWork context.CancelFunc // nil while nothing works on the model
	workDone chan struct{}      // closed when that goroutine returns

	// lost hears how many audit records the attempt's end could not write
	// (the store down): set by park, nil before.
	lost func(records int)
}

// record starts applying and recording the page's events while the
// attempt is parked.
func (p *parkedAttempt) record() {
	p.work(func(ctx context.Context) { p.model.RecordParked(ctx, p.at) })
}

// work stops whatever works on the model and starts fn on a goroutine of
// its own in its place; ctx ends when something stops it.
func (p *parkedAttempt) work(fn func(ctx context.Context)) {
	p.workMu.Lock()
	defer p.workMu.Unlock()
	p.workLocked(fn)
}

func (p *parkedAttempt) workLocked(fn func(ctx context.Context)) {
	p.stopWorkLocked()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.stopWork, p.workDone = cancel, done
	go func() {
		defer close(done)
		fn(ctx)
	}()
}

// stopRecorder stops the goroutine working on the model (the recorder, or
// the check's finisher) and waits for it: after it, the caller alone has
// the model. Not from that goroutine itself.
func (p *parkedAttempt) stopRecorder() {
	p.workMu.Lock()
	defer p.workMu.Unlock()
	p.stopWorkLocked()
}

func (p *parkedAttempt) stopWorkLocked() {
	if p.stopWork == nil {
		return
	}
	p.stopWork()
	<-p.workDone
	p.stopWork, p.workDone = nil, nil
}

// end ends the parked attempt with why as its headline: recorded, its
// claim released, its pages closed. It reports whether the attempt was
// still live (not already ended by what the customer did meanwhile).
func (p *parkedAttempt) end(why string) bool {
	p.stopRecorder()
	return p.endStopped(why)
}

// endStopped is end with nothing else working on the model: called by
// end, or by the check's finisher (the one goroutine working on it).
func (p *parkedAttempt) endStopped(why string) bool {
	ended := p.model.EndLive(why)
	if n := p.model.WriteUnwritten(true); n > 0 && p.lost != nil {
		p.lost(n)
	}
	if p.pages != nil {
		p.pages.closeAll()
	}
	p.endLife()
	return ended
}

// park keeps p for its agent for the grace; false when it cannot (the
// server is going away, or the agent has another attempt parked already):
// the caller ends it then.
func (s *Server) park(p *parkedAttempt) bool {
	grace := s.cfg.ResumeGrace
	fp := p.agent.KeyFingerprint
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.draining || s.parked[fp] != nil {
		return false
	}
	p.timer = time.AfterFunc(grace, func() { s.expire(fp, p) })
	p.lost = func(n int) {
		s.logger.Error("audit records lost: the store did not take them before the session ended",
			append(agentAttrs(p.agent), "records", n)...)
	}
	s.parked[fp] = p
	p.record()
	s.logger.Info("connection dropped under a live attempt; kept for the agent to come back",
		append(agentAttrs(p.agent), "grace", grace)...)
	return true
}

// unpark takes the agent's parked attempt, if any, for a new session.
func (s *Server) unpark(fp string) *parkedAttempt {
	s.mu.Lock()
	p := s.parked[fp]
	if p != nil {
		delete(s.parked, fp)
		// A timer that has fired already finds its entry gone (expire).
		p.timer.Stop()
	}
	s.mu.Unlock()
	if p != nil {
		p.stopRecorder() // outside s.mu (it writes records); the model is the caller's after it
	}
	return p
}

// HandOver gives the agent's parked attempt (by key fingerprint) to give,
// for another replica the agent reconnected through (internal/app's
// hand-over): on success it leaves this server without ending (its page
// has moved, its claim goes on with the other replica); when give fails
// it stays parked for the rest of its grace. found is false when the agent
// has nothing parked here.
func (s *Server) HandOver(fp string, give func(m tui.Model, dropped time.Time) error) (found bool, err error) {
	p := s.unpark(fp)
	if p == nil {
		return false, nil
	}
	if err := give(p.model, p.at); err != nil {
		if !s.repark(fp, p) {
			p.end("The agent's connection dropped and the server shut down before they came back; the customer's page stopped.")
		}
		return true, err
	}
	s.logger.Info("parked attempt handed over to another replica", agentAttrs(p.agent)...)
	return true, nil
}

// repark puts back an attempt unpark took, for what is left of its grace.
func (s *Server) repark(fp string, p *parkedAttempt) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.draining || s.parked[fp] != nil {
		return false
	}
	left := s.cfg.ResumeGrace - time.Since(p.at)
	if left <= 0 {
		left = time.Millisecond
	}
	p.timer = time.AfterFunc(left, func() { s.expire(fp, p) })
	s.parked[fp] = p
	p.record()
	return true
}

// expire ends p when its grace has passed without its agent. A customer
// who succeeded while the agent was away may still have the account being
// checked: the check is carried to its answer (at most VerifyFor more) and
// recorded before the attempt is let go, and the attempt stays parked
// meanwhile, so an agent who comes back during the check still gets it (the
// resumed program carries the check on) and a shutdown still ends it.
func (s *Server) expire(fp string, p *parkedAttempt) {
	// workMu before s.mu: an unpark that takes p first finds the finisher
	// started here, or p gone before it starts.
	p.workMu.Lock()
	defer p.workMu.Unlock()
	s.mu.Lock()
	if s.parked[fp] != p {
		s.mu.Unlock()
		return // resumed, or ended by a shutdown
	}
	s.mu.Unlock()
	s.logger.Info("the agent did not come back; their attempt ends", agentAttrs(p.agent)...)
	p.workLocked(func(ctx context.Context) {
		p.model.FinishCheck(ctx, p.at)
		if ctx.Err() != nil {
			return // taken back by its agent, or ended by a shutdown
		}
		s.mu.Lock()
		if s.parked[fp] != p {
			s.mu.Unlock()
			return
		}
		delete(s.parked, fp)
		s.mu.Unlock()
		if p.endStopped("The agent's connection dropped and they did not come back within " + s.cfg.ResumeGrace.String() +
			"; the customer's page stopped.") {
			s.rememberLapsed(fp, tui.Stranded{Account: p.model.AttemptAccount(), EndedAway: time.Now(), Grace: s.cfg.ResumeGrace})
		}
	})
}

// lapsedKeep is how long an attempt ended for an absent agent is told to
// them when they connect again; at most lapsedMax are remembered.
const (
	lapsedKeep = time.Hour
	lapsedMax  = 4096
)

// rememberLapsed keeps, for the agent's next connection, that their
// attempt ended because they did not come back in time: their account
// list says so (tui.Model.WithStranded) instead of a plain list.
func (s *Server) rememberLapsed(fp string, st tui.Stranded) {
	if fp == "" || st.Account == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lapsed == nil {
		s.lapsed = map[string]tui.Stranded{}
	}
	for k, v := range s.lapsed {
		if time.Since(v.EndedAway) > lapsedKeep || len(s.lapsed) >= lapsedMax {
			delete(s.lapsed, k)
		}
	}
	s.lapsed[fp] = st
}

// takeLapsed is what rememberLapsed kept for the agent (told once).
func (s *Server) takeLapsed(fp string) (tui.Stranded, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.lapsed[fp]
	delete(s.lapsed, fp)
	if ok && time.Since(st.EndedAway) > lapsedKeep {
		return tui.Stranded{}, false
	}
	return st, ok
}

// endParked ends every parked attempt (Shutdown).
func (s *Server) endParked() {
	s.mu.Lock()
	parked := make([]*parkedAttempt, 0, len(s.parked))
	for fp, p := range s.parked {
		p.timer.Stop()
		delete(s.parked, fp)
		parked = append(parked, p)
	}
	s.mu.Unlock()
	for _, p := range parked {
		p.end("The agent's connection dropped and the server shut down before they came back; the customer's page stopped.")
	}
}
