package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
)

// onKey handles the account screen's keys: a question's answer first, then
// the reason picker, then the phase's keys.
func (s *sessionScreen) onKey(c *screenCtx, msg tea.KeyPressMsg) tea.Cmd {
	k := c.keys
	s.notice = ""
	if s.dialog != noDialog {
		switch {
		case key.Matches(msg, k.Yes):
			d := s.dialog
			s.dialog = noDialog
			switch d {
			case confirmReplaceToken:
				return s.requestMint(c, true)
			case confirmHealthyMint:
				return s.requestMint(c, false)
			case confirmQuit:
				return s.endAndQuit(c)
			case confirmTakeOver:
				return s.takeClaim(c, s.claims.intent, s.claims.replace, true)
			}
			// Leaving a live attempt ends it, in the agent's name.
			_ = s.apply(c, state.Event{Kind: state.AgentEnded, Why: "The agent left the attempt."})
			c.post(backToSearchMsg{})
			return s.flush(c)
		case key.Matches(msg, k.No):
			if s.dialog == confirmTakeOver {
				s.claims.intent = 0 // the colleague keeps it
			}
			s.dialog = noDialog
		}
		return nil
	}
	if s.picking {
		kinds := state.AllReasonKinds()
		switch {
		case key.Matches(msg, k.Up):
			s.pickIdx = (s.pickIdx + len(kinds) - 1) % len(kinds)
		case key.Matches(msg, k.Down):
			s.pickIdx = (s.pickIdx + 1) % len(kinds)
		case key.Matches(msg, k.Open):
			s.picking = false
			if s.apply(c, state.Event{Kind: state.ReasonOverridden, Reason: kinds[s.pickIdx]}) == nil {
				return s.flush(c)
			}
		case key.Matches(msg, k.Back):
			s.picking = false
		}
		return nil
	}
	h := statusRows(c.height)
	switch {
	case key.Matches(msg, k.Retry):
		if s.detailErr != "" && s.sess.Phase() == state.Explaining {
			s.detailErr = ""
			return s.readDetail(c)
		}
	case key.Matches(msg, k.Back):
		switch {
		case s.sess.Phase().Live():
			// A live token or page is never dropped without asking.
			s.dialog = confirmLeaveLivePage
		case s.sess.Can(state.Back):
			_ = s.apply(c, state.Event{Kind: state.Back})
			if s.sess.Phase() == state.ChoosingAccount {
				c.post(backToSearchMsg{})
				return nil
			}
			if s.sess.PageURL() == "" {
				return s.dropPage()
			}
		default:
			// An attempt being checked after a success is not ended: the
			// check goes on without its screen (background.go).
			c.post(backToSearchMsg{})
			return nil
		}
	case key.Matches(msg, k.Mint):
		if s.sess.MintNeedsReplace(c.now()) {
			s.dialog = confirmReplaceToken
			return nil
		}
		if s.sess.Phase() == state.Explaining && !s.detailsIn() {
			// The reason may still change with the details: decide
			// once they are in (afterDetails).
			s.mintWhenIn = true
			s.setNotice(c, "Reading the account's details first; the mint follows…", true)
			return nil
		}
		if s.sess.Phase() == state.Explaining && !s.sess.Reason().NeedsReauth() {
			// Nothing Mono sent says this account needs reauth: a token
			// (and the customer's time) may be wasted. Ask.
			s.dialog = confirmHealthyMint
			return nil
		}
		return s.requestMint(c, false)
	case key.Matches(msg, k.OpenPage):
		if s.sess.Phase() == state.TokenReady {
			return s.openPage(c)
		} else if s.page != nil {
			return launchBrowser(c, s.page.URL())
		}
	case key.Matches(msg, k.CopyLink):
		if u := s.sess.PageURL(); u != "" && !s.sess.Phase().LinkEnded() {
			// OSC 52 is a request the terminal may ignore (tmux does by
			// default): say it was sent, how to check, and the way round.
			s.setNotice(c, "Link sent to your terminal's clipboard (OSC 52): paste it to check. Nothing? Press l to show it.", true)
			return tea.SetClipboard(u)
		}
	case key.Matches(msg, k.ShowLink):
		s.showLink = !s.showLink
	case key.Matches(msg, k.ShowQR):
		s.showQR = !s.showQR
	case key.Matches(msg, k.ShowWhy):
		s.showWhy = !s.showWhy
	case key.Matches(msg, k.Hosted):
		if s.hosted != "" {
			s.setNotice(c, "Hosted link sent to your terminal's clipboard (OSC 52): paste it to check.", true)
			return tea.SetClipboard(s.hosted)
		}
		if !s.hostedBusy {
			s.hostedBusy = true
			return initiateHosted(c, s.account.ID, s.id())
		}
	case key.Matches(msg, k.CopyIDs):
		if ids := s.supportIDs(); len(ids) > 0 {
			text := strings.Join(append([]string{"account_id " + s.account.ID}, ids...), "; ")
			s.setNotice(c, "Support ids sent to your terminal's clipboard (OSC 52): paste them to check. Nothing? They are on screen under Support.", true)
			return tea.SetClipboard(text)
		}
	case key.Matches(msg, k.Reveal):
		s.reveal = !s.reveal
	case key.Matches(msg, k.CopyToken):
		if t := s.sess.Token(); t.Value != "" {
			s.setNotice(c, "Token sent to your terminal's clipboard (OSC 52): paste it to check. Nothing? Press v to show it.", true)
			return tea.SetClipboard(t.Value)
		}
	case key.Matches(msg, k.Reason):
		s.picking = true
		cur := s.sess.Reason().Kind
		for i, kind := range state.AllReasonKinds() {
			if kind == cur {
				s.pickIdx = i
			}
		}
	case key.Matches(msg, k.Up):
		s.status.scroll(-1, h)
	case key.Matches(msg, k.Down):
		s.status.scroll(1, h)
	case key.Matches(msg, k.PageUp):
		s.status.scroll(-h, h)
	case key.Matches(msg, k.PageDown):
		s.status.scroll(h, h)
	case key.Matches(msg, k.Top):
		s.status.toTop()
	case key.Matches(msg, k.Bottom):
		s.status.toBottom()
	}
	return nil
}

// quit is the quit keys on this screen: with a live attempt (a token, a
// page the customer may be using) it asks first; the same key again, or y,
// quits and records the agent's end.
func (s *sessionScreen) quit(c *screenCtx) tea.Cmd {
	if s.dialog != confirmQuit && s.sess.Phase().Live() {
		s.dialog = confirmQuit
		return nil
	}
	if s.sess.Phase() == state.Verifying {
		// The check after the success is not cut short: left as by esc,
		// it is kept with the model, whose front end carries it to Mono's
		// answer after the program (background.go).
		c.post(backToSearchMsg{})
		return tea.Quit
	}
	return s.endAndQuit(c)
}

// endAndQuit records the agent's end of a live attempt, writes the
// attempt's records, closes the customer's page, then quits: in that order.
func (s *sessionScreen) endAndQuit(c *screenCtx) tea.Cmd {
	s.endAttempt(c, "The agent quit reauth.")
	return tea.Sequence(s.flush(c), s.dropPage(), tea.Quit)
}

// endAttempt records that the agent's front end is letting the attempt go
// (why): a live attempt ends ENDED BY AGENT; a check after a success stops
// unanswered, recorded as such, so the History does not show a bare
// success nobody checked. It reports whether it recorded anything.
func (s *sessionScreen) endAttempt(c *screenCtx, why string) bool {
	switch ph := s.sess.Phase(); {
	case ph.Live():
		return s.apply(c, state.Event{Kind: state.AgentEnded, Why: why}) == nil
	case ph == state.Verifying:
		return s.apply(c, state.Event{Kind: state.VerifyStopped, Why: why}) == nil
	}
	return false
}

// openPage starts the page for the ready token (the attempt's claim first).
func (s *sessionScreen) openPage(c *screenCtx) tea.Cmd {
	if s.sess.Phase() != state.TokenReady {
		return nil
	}
	if s.needClaim(c) {
		return s.takeClaim(c, intentPage, false, false)
	}
	if s.apply(c, state.Event{Kind: state.PageRequested}) != nil {
		return nil
	}
	scen := ""
	if c.deps.ScenarioFor != nil {
		scen = c.deps.ScenarioFor(s.account.ID)
	}
	return servePage(c, s.sess.Generation(), PageRequest{Account: s.account, Token: s.sess.Token(), Scenario: scen, Contract: s.contract})
}

func (s *sessionScreen) requestMint(c *screenCtx, replace bool) tea.Cmd {
	if s.needClaim(c) {
		// The team's one live attempt per account: the claim first.
		return s.takeClaim(c, intentMint, replace, false)
	}
	if s.contract == "" {
		if r, ok := c.deps.Pages.(ContractResolver); ok {
			// Whether to mint at all depends on the widget script: find
			// out first (it may fetch the script), then come back here.
			s.pendingReplace = replace
			s.setNotice(c, "Checking which widget contract the Connect script takes…", true)
			ctx := c.ctx
			return func() tea.Msg {
				c, err := r.ResolveContract(ctx)
				return contractMsg{contract: c, err: err}
			}
		}
		s.contract = "token"
	}
	if replace && s.sess.Phase().Live() {
		// The live attempt ends here, in the agent's name, before the new
		// one starts: its page stops working.
		_ = s.apply(c, state.Event{Kind: state.AgentEnded, Why: "The agent minted a new token; this attempt's link stopped working."})
	}
	if s.contract == ContractAccount {
		// The widget takes the account id: nothing to mint; the link's
		// own lifetime stands in for a token's.
		s.status.dim()
		if err := s.apply(c, state.Event{Kind: state.LinkPrepared, At: c.now().Add(mono.TokenLifetime)}); err != nil {
			s.setNotice(c, "Can't prepare the link now: "+s.sess.Phase().String(), false)
			return nil
		}
		return tea.Batch(s.dropPage(), s.flush(c))
	}
	if err := s.apply(c, state.Event{Kind: state.MintRequested, Replace: replace}); err != nil {
		s.setNotice(c, "Can't mint now: "+s.sess.Phase().String(), false)
		return nil
	}
	// The previous attempt's lines stay, dimmed, above the new one's.
	s.status.dim()
	// A new token makes the old page useless; close it so it can't report.
	return tea.Batch(s.dropPage(), mint(c, s.sess.Generation(), s.account.ID, s.journal))
}

// enableKeys turns on the session keys the current phase accepts.
func (s *sessionScreen) enableKeys(c *screenCtx, k *KeyMap) {
	k.Back.SetHelp("esc", "back")
	k.QuitKey.SetEnabled(true)
	if s.dialog != noDialog {
		k.Yes.SetEnabled(true)
		k.No.SetEnabled(true)
		// The quit key again confirms a quit; in other questions q is not
		// an answer.
		k.QuitKey.SetEnabled(s.dialog == confirmQuit)
		return
	}
	if s.picking {
		k.Up.SetEnabled(true)
		k.Down.SetEnabled(true)
		k.Open.SetEnabled(true)
		k.Open.SetHelp("enter", "choose")
		k.Back.SetEnabled(true)
		return
	}
	k.Open.SetHelp("enter", "open")
	ph := s.sess.Phase()
	k.Back.SetEnabled(true)
	if ph == state.Verifying {
		// Leaving does not stop the check (background.go): say so, or the
		// agent waits out the check before the next customer.
		k.Back.SetHelp("esc", "back (the check goes on)")
	}
	// Mono refused a hosted link: it will not mint for the account either.
	k.Mint.SetEnabled(s.sess.Can(state.MintRequested) && ph != state.Minting && s.refusal == nil)
	k.CopyIDs.SetEnabled(len(s.supportIDs()) > 0)
	switch {
	case s.contract == ContractAccount:
		k.Mint.SetHelp("t", "prepare link") // the widget takes the account id: no token
	case ph.HasOutcome() || ph == state.Expired:
		k.Mint.SetHelp("t", "mint new token")
	default:
		k.Mint.SetHelp("t", "mint token")
	}
	k.Reason.SetEnabled(s.sess.Can(state.ReasonOverridden))
	k.Retry.SetEnabled(s.detailErr != "" && ph == state.Explaining)
	hasToken := s.sess.Token().Value != "" && !s.sess.Token().Expired(c.now())
	k.Reveal.SetEnabled(hasToken)
	if s.reveal {
		k.Reveal.SetHelp("v", "hide token")
	} else {
		k.Reveal.SetHelp("v", "reveal token")
	}
	linkUsable := s.sess.PageURL() != "" && !s.sess.Phase().LinkEnded()
	k.ShowLink.SetEnabled(linkUsable)
	k.ShowQR.SetEnabled(s.qrShowable())
	if s.showQR {
		k.ShowQR.SetHelp("p", "hide QR code")
	} else {
		k.ShowQR.SetHelp("p", "QR code for a phone")
	}
	k.ShowWhy.SetEnabled(s.compactReason())
	if s.showWhy {
		k.ShowWhy.SetHelp("w", "hide why")
	} else {
		k.ShowWhy.SetHelp("w", "why & what to say")
	}
	if s.showLink {
		k.ShowLink.SetHelp("l", "hide link")
	} else {
		k.ShowLink.SetHelp("l", "show link")
	}
	k.CopyToken.SetEnabled(hasToken)
	k.OpenPage.SetEnabled(ph == state.TokenReady || (s.page != nil && c.deps.OpenBrowser != nil && !ph.HasOutcome()))
	k.CopyLink.SetEnabled(linkUsable)
	k.Hosted.SetEnabled(s.refusal == nil && !s.hostedBusy && (s.hosted != "" || !ph.HasOutcome()) && ph != state.WidgetLive && ph != state.WidgetClosed && ph != state.PageClosed)
	if s.hosted != "" {
		k.Hosted.SetHelp("h", "copy hosted link")
	} else {
		k.Hosted.SetHelp("h", "hosted link")
	}
	hasLines := s.status.canScroll(statusRows(c.height))
	for _, b := range []*key.Binding{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Top, &k.Bottom} {
		b.SetEnabled(hasLines)
	}
}

// statusRows is the status pane's height on this screen size (see view).
func statusRows(height int) int { return max(3, height-16) }
