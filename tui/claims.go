package tui

import (
	"context"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/internal/claim"
)

// Claims is the team's claims on accounts as one program uses them: one
// live attempt per account across every program of the team (internal/claim).
// The app binds the agent (the holder of what this program takes). Every
// method may do I/O: call them from Cmds.
type Claims interface {
	// Get is the account's claim (false: never claimed).
	Get(ctx context.Context, account string) (claim.Claim, bool, error)
	// Take claims the account for attempt (what it is at: phase, step);
	// held by a colleague's live attempt it returns a *claim.HeldError
	// unless takeOver.
	Take(ctx context.Context, account, attempt, phase, step string, takeOver bool) (claim.Claim, error)
	// Update refreshes the holder's claim (claim.ErrNotHeld: it lost it).
	Update(ctx context.Context, account, attempt, phase, step string) error
	// Release frees the account if attempt holds it.
	Release(ctx context.Context, account, attempt string) error
	// Watch delivers every claim change (this process's and other
	// processes') from now on whose account wants accepts (nil: every
	// change); the channel closes when ctx ends. wants is asked as each
	// change is published, so it must be quick and safe from any
	// goroutine; a change it refuses is never sent.
	Watch(ctx context.Context, wants func(account string) bool) <-chan claim.Claim
}

// ClaimParker is Claims that can say an attempt's agent is away: their
// connection dropped and the attempt is kept for them (reauth serve's
// resume). A later Update (the resumed program's refresh) says they are back.
type ClaimParker interface {
	Park(ctx context.Context, account, attempt, phase, step string, at time.Time) error
}

// ClaimSignal is news of an account's claim, handed to every screen: a
// colleague took, refreshed or released it, or took it over from this
// program's attempt.
type ClaimSignal struct{ Claim claim.Claim }

// claimNewsMsg carries one claim change and the channel to read the next
// from.
type claimNewsMsg struct {
	sig ClaimSignal
	ch  <-chan claim.Claim
}

// waitClaim waits for the next claim change this program cares about:
// one about the account its account screen shows (focus). The others are
// dropped before any message: under `reauth serve` a busy team's claim
// writes would otherwise reach every program, and a message costs an idle
// agent's program a whole redraw of its account list (BENCHMARKS 7e). The
// runtime already drops them as it publishes (Watch's wants, focus.wants),
// so they do not even wake this Cmd; the check here is for a Claims that
// does not filter, and for news sent before the focus moved.
func waitClaim(ch <-chan claim.Claim, focus *claimFocus) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		for {
			c, ok := <-ch
			if !ok {
				return nil
			}
			if focus.wants(c.Account) {
				return claimNewsMsg{sig: ClaimSignal{Claim: c}, ch: ch}
			}
		}
	}
}

// claimFocus is the account whose claim news the program wants: the one
// its account screen shows ("" on the list). Update sets it after every
// message (Model.focusClaims); the claims Cmd reads it. It is the Cmds'
// filter, not model state (as the audit journal is their buffer).
type claimFocus struct{ account atomic.Pointer[string] }

func (f *claimFocus) set(account string) {
	if f == nil {
		return
	}
	if cur := f.account.Load(); cur != nil && *cur == account {
		return
	}
	f.account.Store(&account)
}

// wants reports whether news of account is for this program (nil focus:
// every claim is).
func (f *claimFocus) wants(account string) bool {
	if f == nil {
		return true
	}
	cur := f.account.Load()
	return cur != nil && *cur != "" && *cur == account
}
