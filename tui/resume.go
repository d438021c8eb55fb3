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

// Resumable reports whether the model (a program's final one) has a live
// attempt that a new program can carry on: a token or page live, nothing
// in flight whose answer went with the old program (a Take, a page
// starting).
func (m Model) Resumable() bool {
	s := m.session
	if s == nil || m.starting != nil {
		return false
	}
	ph := s.sess.Phase()
	return ph.Live() && ph != state.PageOpening && !s.claims.busy
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
			cmds = append(cmds, verifyLater(&c, s.sess.Generation(), s.account.ID, 0))
		}
		cmds = append(cmds, s.flush(&c))
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
	s := m.session
	if s == nil || !s.claims.holding {
		return nil
	}
	p, ok := m.deps.Claims.(ClaimParker)
	if !ok {
		return nil
	}
	phase, step := claimWords(s.sess, at)
	return p.Park(ctx, s.account.ID, s.id(), phase, step, at)
}

// catchUp applies the page's events the old program never applied (held
// in the inbox, then everything queued in the page's channel), in order,
// and returns the Cmds that follow, the page's next wait among them.
func (s *sessionScreen) catchUp(c *screenCtx) tea.Cmd {
	p, gen := s.page, s.inbox.generation()
	evs := s.inbox.take()
read:
	for {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				break read // the next wait reports the end
			}
			evs = append(evs, ev)
		default:
			break read
		}
	}
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
type eventInbox struct {
	gen uint64 // the page's generation

	mu  sync.Mutex
	evs []mono.WidgetEvent
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
