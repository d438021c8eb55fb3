package tui

import (
	"context"
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
	// processes') from now on; the channel closes when ctx ends.
	Watch(ctx context.Context) <-chan claim.Claim
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

func waitClaim(ch <-chan claim.Claim) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		c, ok := <-ch
		if !ok {
			return nil
		}
		return claimNewsMsg{sig: ClaimSignal{Claim: c}, ch: ch}
	}
}
