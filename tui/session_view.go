package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/state"
)

// maskFragment hides a URL's fragment (the page secret) for display.
func maskFragment(u string) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		return u[:i] + "#••••••"
	}
	return u
}

// The smallest session screen that still shows the token, the link, the
// code, the status header, a few events and the outcome.
const (
	minSessionWidth  = 60
	minSessionHeight = 14
)

// view renders the account screen in width×height cells.
func (s *sessionScreen) view(c *screenCtx, width, height int) string {
	st := c.styles
	if width < minSessionWidth || height < minSessionHeight {
		// Lines would silently vanish (the code, the status): say so
		// instead, with what still matters most.
		lines := []string{
			st.Warning.Render(fmt.Sprintf("Terminal too small (%d×%d): make it at least %d×%d.", width, height, minSessionWidth, minSessionHeight)),
			st.Value.Render(phaseWords(s.sess.Phase())),
		}
		if c := s.sess.PairingCode(); c != "" {
			lines = append(lines, st.Label.Render("Code ")+st.Accent.Bold(true).Render(c))
		}
		if o := s.sess.Outcome(); o.Kind != state.OutcomeNone {
			lines = append(lines, st.Value.Bold(true).Render(o.Kind.String()))
		}
		for i := range lines {
			lines[i] = ansi.Truncate(lines[i], width, "…")
		}
		return joinLines(lines)
	}
	if s.showQR && s.qrShowable() && s.dialog == noDialog && !s.picking {
		return s.qrView(c, width, height)
	}
	now := c.now()
	a := s.account
	ph := s.sess.Phase()
	var top []string

	// Account: who and where.
	line1 := st.Value.Bold(true).Render(a.Name) + st.Faint.Render(" · ") + st.Value.Render(a.Institution.Name) +
		st.Faint.Render(" · ") + st.Value.Render(a.MaskedNumber()) + "  " + st.Badge(badgeFor(a, c.marked(a.ID)))
	details := []string{}
	if a.Customer.Email != "" {
		details = append(details, a.Customer.Email)
	}
	if a.AuthMethod != "" {
		details = append(details, strings.ReplaceAll(a.AuthMethod, "_", " "))
	}
	details = append(details, "id "+a.ID)
	top = append(top, line1)
	for _, l := range wrapParts(details, " · ", width) {
		top = append(top, st.Faint.Render(l))
	}
	if ids := s.supportIDs(); len(ids) > 0 {
		// What Mono support asks for about a failed sync: shown whole
		// (wrapped, never cut), and s copies them.
		const label = "Support "
		for i, l := range wrapParts(ids, " · ", width-len(label)) {
			p := strings.Repeat(" ", len(label))
			if i == 0 {
				p = st.Label.Render(label)
			}
			top = append(top, p+st.Faint.Render(l))
		}
	}
	if held := s.heldLine(c); held != "" {
		// A colleague's live attempt on this account: who, since when,
		// what they are at (wrapped, two lines at most).
		wrapped := strings.Split(lipgloss.NewStyle().Width(max(20, width)).Render(held), "\n")
		if len(wrapped) > 2 {
			wrapped = append(wrapped[:1], ansi.Truncate(wrapped[1]+" …", width, "…"))
		}
		for _, l := range wrapped {
			top = append(top, ansi.Truncate(st.Warning.Render(strings.TrimRight(l, " ")), width, "…"))
		}
	}
	if s.detailErr != "" && ph == state.Explaining {
		top = append(top, ansi.Truncate(st.Warning.Render("Details not loaded: "+s.detailErr)+st.Faint.Render("  (R to retry)"), width, "…"))
	}
	top = append(top, "")

	// Reason: full before the page opens, one line after (room for events).
	r := s.sess.Reason()
	switch {
	case ph == state.Explaining && !s.detailsIn() && !r.Overridden:
		// The list's copy alone may say "no sign" of a need that a webhook
		// shows: no conclusion (nor words for the customer) until the
		// details are in.
		top = append(top, st.Label.Render("Why  ")+st.Faint.Render("reading the account's details and Mono's webhooks…"))
	case r.Kind == state.ReasonUnknown && !r.Overridden && r.Summary != "":
		// No kind names the cause: the data's own conclusion says how
		// strong the signal is ("Mono says this account needs reauth, but
		// not why", or only "a failed sync").
		top = append(top, labelledIn(st, st.Warning, "Why  ", r.Summary, width, 2)...)
	default:
		why := st.Label.Render("Why  ") + st.Warning.Render(r.Kind.Label())
		if r.Overridden {
			why += st.Faint.Render(" (set by agent)")
		}
		top = append(top, why)
	}
	if (ph != state.Explaining || s.detailsIn() || r.Overridden) && (!s.compactReason() || s.showWhy) {
		if len(r.Evidence) > 0 {
			// The evidence is why the agent can trust the reason: wrap it
			// (up to three lines) rather than cut it.
			ev := strings.Split(lipgloss.NewStyle().Width(max(20, width-5)).Render(strings.Join(r.Evidence, "; ")), "\n")
			if len(ev) > 3 {
				ev = append(ev[:2], ansi.Truncate(ev[2], max(10, width-6), "…"))
			}
			for i, l := range ev {
				p := "     "
				if i == 0 {
					p = st.Label.Render("From ")
				}
				top = append(top, p+st.Faint.Render(l))
			}
		}
		script := r.Script
		if s.hosted != "" {
			// Mono's hosted link has no documented lifetime: its words
			// promise none.
			script = r.HostedScript()
		}
		say := strings.Join(script, " ")
		wrapped := lipgloss.NewStyle().Width(max(20, width-5)).Render(say)
		for i, l := range strings.Split(wrapped, "\n") {
			p := "     "
			if i == 0 {
				p = st.Label.Render("Say  ")
			}
			top = append(top, p+st.Value.Italic(true).Render(l))
		}
	}
	// Below the reason: the account's History (placed once the rest is
	// known, in the room left), then the token and the page.
	rest := []string{"", s.tokenLine(c, now)}
	rest = append(rest, s.pageLines(c, now, width)...)

	rest = append(rest, s.statusHeader(st, ph, now, width))

	bottom := s.bottomLines(c, width)
	// The History takes only the room the status pane can spare: one row
	// before the page opens, historyPaneRows once it is live (it collapses
	// like the reason's evidence; w shows both).
	minPane := 1
	if s.compactReason() && !s.showWhy {
		minPane = historyPaneRows
	}
	top = append(top, historyLines(st, s.history, s.id(), s.liveElsewhere(c), now, width, height-len(top)-len(rest)-len(bottom)-minPane)...)
	top = append(top, rest...)
	paneH := max(1, height-len(top)-len(bottom))
	pane := s.status.view(st, width, paneH)
	if len(s.status.lines) == 0 {
		pane[0] = st.Faint.Render(ansi.Truncate(s.emptyStatusHint(), width, "…"))
	}
	all := append(append(top, pane...), bottom...)
	return joinLines(all)
}

// compactReason: once the page is starting, the reason takes one line (the
// status pane needs the room); w shows the evidence and script again.
func (s *sessionScreen) compactReason() bool {
	ph := s.sess.Phase()
	return ph >= state.PageOpening && ph != state.Explaining
}

// statusHeader is the status pane's header: the phase, the page, and the
// customer's last action. At 80 columns the long words do not fit beside a
// long phase, so the page and the action have short forms; only what even
// those cannot fit is cut.
func (s *sessionScreen) statusHeader(st *Styles, ph state.Phase, now time.Time, width int) string {
	type form struct{ page, acted string }
	forms := []form{{}}
	if s.sess.PageURL() != "" {
		page := [2]string{"  ○ waiting for the page", "  ○ awaiting page"}
		pageStyle := st.Faint
		switch {
		case ph.LinkEnded():
			// Closed with the attempt, whatever the page last said.
			page = [2]string{"  ○ page closed", "  ○ closed"}
		case s.sess.PageConnected():
			page, pageStyle = [2]string{"  ● page connected", "  ● page"}, st.Success
		case ph.HasOutcome():
			// Nobody waits for a page once the attempt has its outcome.
			page = [2]string{"  ○ page not open", "  ○ not open"}
		}
		var acted [2]string
		if t := s.sess.LastCustomerAction(); !t.IsZero() {
			// Customer actions only: a heartbeat says the page is open,
			// not that anyone is using it.
			a := ago(now.Sub(t))
			acted = [2]string{"  last customer action " + a + " ago", "  customer acted " + a + " ago"}
		}
		forms = []form{}
		for _, f := range [][2]int{{0, 0}, {0, 1}, {1, 1}} {
			f := form{page: pageStyle.Render(page[f[0]]), acted: acted[f[1]]}
			if f.acted != "" {
				f.acted = st.Faint.Render(f.acted)
			}
			forms = append(forms, f)
		}
	}
	head := st.Section.Render("Status") + st.Faint.Render("  "+phaseWords(ph))
	var header string
	for _, f := range forms {
		if header = head + f.page + f.acted; ansi.StringWidth(header) <= width {
			return header
		}
	}
	return ansi.Truncate(header, width, "…")
}

// historyPaneRows is the status pane a live attempt keeps before the
// account's History gets any room.
const historyPaneRows = 10

func (s *sessionScreen) emptyStatusHint() string {
	ph := s.sess.Phase()
	switch ph {
	case state.Explaining:
		r := s.sess.Reason()
		switch {
		case !s.detailsIn() && !r.Overridden:
			return "Reading the account's details; the reason follows."
		case !s.sess.Can(state.MintRequested):
			// Mono refused it, or its link is gone: t is off.
			return "Read the reason to the customer: no reauth token can fix this account."
		case !r.NeedsReauth():
			// The reason says a reauth would not help (a partner bank's
			// limit, no sign of a need): no invitation to mint.
			return "Read the reason to the customer: nothing Mono sent says a reauth would help (t asks first)."
		}
		return "Read the reason to the customer, then press t to mint a reauth token."
	case state.Minting:
		return "Asking Mono for a reauth token…"
	case state.TokenReady:
		return "Press o to open the page with Mono's widget for the customer."
	}
	return "Waiting for events…"
}

func (s *sessionScreen) tokenLine(c *screenCtx, now time.Time) string {
	st := c.styles
	t := s.sess.Token()
	ph := s.sess.Phase()
	switch {
	case ph == state.Minting:
		return st.Label.Render("Token ") + c.spinnerView() + st.Faint.Render(" minting…")
	case s.sess.MintError() != "" && t.Value == "":
		return st.Label.Render("Token ") + st.Error.Render(s.sess.MintError())
	case t.Value == "" && !t.ExpiresAt.IsZero():
		// The account contract: no token; the link's own end.
		return st.Label.Render("Link  ") + st.Value.Render("prepared, no token (the widget takes the account id)") +
			st.Faint.Render("  works until "+t.ExpiresAt.Local().Format("15:04:05"))
	case t.Value == "":
		return st.Label.Render("Token ") + st.Faint.Render("none yet")
	}
	shown := t.Masked()
	if s.reveal {
		shown = t.Value
	}
	expires := t.ExpiresAt.Local().Format("15:04:05")
	if ph.HasOutcome() && ph != state.Expired {
		return st.Label.Render("Token ") + st.Faint.Render(shown+"  used by this attempt — a new attempt needs a new token")
	}
	if t.Expired(now) || ph == state.Expired {
		return st.Label.Render("Token ") + st.Faint.Render(shown) + "  " + st.Error.Render("EXPIRED") +
			st.Faint.Render(" at "+expires+" — press t for a new one")
	}
	left := t.Remaining(now)
	countdown := fmt.Sprintf("%02d:%02d left", int(left.Minutes()), int(left.Seconds())%60)
	cs := st.Success
	if left < 2*time.Minute {
		cs = st.Warning
	}
	return st.Label.Render("Token ") + st.Value.Render(shown) + st.Faint.Render("  expires "+expires+"  ") + cs.Render(countdown)
}

func (s *sessionScreen) pageLines(c *screenCtx, now time.Time, width int) []string {
	st := c.styles
	u := s.sess.PageURL()
	ph := s.sess.Phase()
	switch {
	case ph == state.PageOpening:
		return []string{st.Label.Render("Page  ") + c.spinnerView() + st.Faint.Render(" starting…")}
	case s.sess.PageError() != "" && u == "":
		return []string{st.Label.Render("Page  ") + st.Error.Render(s.sess.PageError())}
	case u == "":
		return append([]string{st.Label.Render("Page  ") + st.Faint.Render("not opened")}, s.hostedLines(c, width)...)
	case ph.LinkEnded():
		// The page is closed: no link or code an agent could send on.
		return append([]string{st.Label.Render("Page  ") + st.Faint.Render("closed — its link no longer works")}, s.hostedLines(c, width)...)
	}
	// OSC 8 makes the URL clickable; the visible text is the URL itself so
	// terminals without hyperlinks still show it in full.
	// Cut the visible text, not the link: the OSC 8 target stays whole and
	// its terminator is never truncated away.
	// The page secret (the fragment) never shows: the link target and `c`
	// carry it, the screen (and screenshots, recordings) do not.
	var lines []string
	if s.showLink {
		// The agent asked to read it: l shows the whole link, secret
		// included, wrapped (never cut) at any width; each line links to
		// the whole URL.
		for i, part := range strings.Split(ansi.Hardwrap(u, max(10, width-6), false), "\n") {
			p := "      "
			if i == 0 {
				p = st.Label.Render("Page  ")
			}
			lines = append(lines, p+ansi.SetHyperlink(u)+st.Link.Render(part)+ansi.ResetHyperlink())
		}
	} else {
		link := ansi.SetHyperlink(u) + st.Link.Render(ansi.Truncate(maskFragment(u), max(10, width-7), "…")) + ansi.ResetHyperlink()
		lines = append(lines, st.Label.Render("Page  ")+link)
	}
	lines = append(lines, st.Label.Render("Code  ")+st.Accent.Bold(true).Render(s.sess.PairingCode())+
		st.Faint.Render("  — the customer's page shows the same code"))
	if c.deps.PageNote != "" {
		lines = append(lines, st.Warning.Render(ansi.Truncate(c.deps.PageNote, width, "…")))
	}
	return append(lines, s.hostedLines(c, width)...)
}

func (s *sessionScreen) hostedLines(c *screenCtx, width int) []string {
	if s.hosted == "" {
		return nil
	}
	st := c.styles
	link := ansi.SetHyperlink(s.hosted) + st.Link.Render(ansi.Truncate(s.hosted, max(10, width-8), "…")) + ansi.ResetHyperlink()
	return []string{st.Label.Render("Hosted ") + link}
}

func (s *sessionScreen) bottomLines(c *screenCtx, width int) []string {
	st := c.styles
	var out []string
	switch {
	case s.dialog == confirmReplaceToken:
		left := s.sess.Token().Remaining(c.now())
		out = append(out, strings.Split(st.Dialog.Width(width).Render(fmt.Sprintf(
			"A token is still live (%s left). Mint a new one? The old page stops working.  y / n", ago(left))), "\n")...)
	case s.dialog == confirmLeaveLivePage:
		out = append(out, strings.Split(st.Dialog.Width(width).Render(
			"This attempt is live (its link works for "+ago(s.sess.Token().Remaining(c.now()))+
				" more). Leave and end it? The customer's page stops working.  y / n"), "\n")...)
	case s.dialog == confirmHealthyMint:
		r := s.sess.Reason()
		out = append(out, strings.Split(st.Dialog.Width(width).Render(
			"No sign this account needs reauth ("+r.Kind.String()+"). Start a reauth anyway?  y / n"), "\n")...)
	case s.dialog == confirmTakeOver:
		out = append(out, strings.Split(st.Dialog.Width(width).Render(s.takeOverQuestion(c)), "\n")...)
	case s.dialog == confirmQuit:
		out = append(out, strings.Split(st.Dialog.Width(width).Render(
			"This attempt is live (its link works for "+ago(s.sess.Token().Remaining(c.now()))+
				" more). Quit reauth and end it? The customer's page stops working.  y / n (or the quit key again)"), "\n")...)
	case s.picking:
		out = append(out, st.Section.Render("Why does this account need reauth?"))
		for i, kind := range state.AllReasonKinds() {
			p := "  "
			if i == s.pickIdx {
				p = st.Cursor.Render("▌ ")
			}
			out = append(out, p+kind.Label())
		}
	default:
		o, shown := s.sess.Outcome(), s.sess.Phase().HasOutcome()
		if s.refusal != nil && !shown {
			// Mono refused a hosted link: the refused mint's outcome.
			o, shown = *s.refusal, true
		}
		if o.Kind != 0 && shown {
			headline, next := o.Headline, o.NextStep
			if v := s.sess.Verification(); v.Headline != "" && s.refusal == nil {
				headline, next = v.Headline, v.NextStep
			}
			// The headline is what the agent acts on: wrapped beside its
			// badge (two lines at most), not cut at the screen's edge.
			badge := st.Outcome(o.Kind) + " "
			indent := ansi.StringWidth(badge)
			lines := strings.Split(lipgloss.NewStyle().Width(max(20, width-indent)).Render(headline), "\n")
			if len(lines) > 2 {
				lines = append(lines[:1], ansi.Truncate(strings.TrimRight(lines[1], " ")+" …", max(10, width-indent), "…"))
			}
			for i, l := range lines {
				p := strings.Repeat(" ", indent)
				if i == 0 {
					p = badge
				}
				out = append(out, ansi.Truncate(p+st.Value.Bold(true).Render(strings.TrimRight(l, " ")), width, "…"))
			}
			if next != "" {
				// The next step is wrapped, not cut: it may end with what
				// to give Mono support (the account id).
				out = append(out, labelled(st, "Next ", next, width, 3)...)
			}
		}
	}
	if sit := s.sess.Situation(c.now()); sit.Where != "" && s.dialog == noDialog && !s.picking && s.refusal == nil {
		// What the agent reads and says now: wrapped (two lines each at
		// most), not cut at 80 columns where the error or the step's end
		// ("…then press Reopen; the link works for 9:38 more") was lost.
		out = append(out, labelled(st, "Now  ", sit.Where, width, 2)...)
		if sit.Next != "" {
			out = append(out, labelled(st, "Next ", sit.Next, width, 2)...)
		}
	}
	if s.notice != "" && c.now().Sub(s.noticeAt) < noticeFor {
		style := st.Warning
		if s.noticeOK {
			style = st.Success
		}
		out = append(out, ansi.Truncate(style.Render(s.notice), width, "…"))
	}
	return out
}

func phaseWords(p state.Phase) string {
	switch p {
	case state.Explaining:
		return "reason shown"
	case state.Minting:
		return "minting token"
	case state.TokenReady:
		return "token ready"
	case state.PageOpening:
		return "starting page"
	case state.PageOpened:
		return "page opened, waiting for the customer"
	case state.WidgetLive:
		return "widget live"
	case state.WidgetClosed:
		return "widget closed, link still live"
	case state.PageClosed:
		return "page closed, link still live"
	case state.Succeeded:
		return "succeeded"
	case state.Failed:
		return "failed"
	case state.Expired:
		return "token expired"
	case state.EndedByAgent:
		return "ended by agent"
	case state.TakenOver:
		return "taken over"
	case state.Verifying:
		return "re-authorised, waiting for fresh data"
	case state.Verified:
		return "re-authorised, fresh data confirmed"
	case state.StillSyncing:
		return "re-authorised, fresh data not confirmed yet"
	}
	return p.String()
}

// ago renders a duration for people: 4s, 2m05s.
func ago(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// wrapParts joins parts with sep into lines of at most width cells, moving
// a part that does not fit to the next line whole (a part wider than a
// line alone is cut).
func wrapParts(parts []string, sep string, width int) []string {
	var lines []string
	cur := ""
	for _, p := range parts {
		switch {
		case cur == "":
			cur = p
		case ansi.StringWidth(cur+sep+p) <= width:
			cur += sep + p
		default:
			lines = append(lines, cur)
			cur = p
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, width, "…")
	}
	return lines
}

// labelled wraps text after a five-cell label into at most maxLines lines
// of width cells (the last one cut if it must be), the label on the first.
func labelled(st *Styles, label, text string, width, maxLines int) []string {
	return labelledIn(st, st.Value, label, text, width, maxLines)
}

// labelledIn is labelled with the text in style.
func labelledIn(st *Styles, style lipgloss.Style, label, text string, width, maxLines int) []string {
	wrapped := strings.Split(lipgloss.NewStyle().Width(max(20, width-5)).Render(text), "\n")
	if len(wrapped) > maxLines {
		wrapped = wrapped[:maxLines]
		wrapped[maxLines-1] = ansi.Truncate(wrapped[maxLines-1]+" …", max(10, width-6), "…")
	}
	out := make([]string, len(wrapped))
	for i, l := range wrapped {
		p := "     "
		if i == 0 {
			p = st.Label.Render(label)
		}
		out[i] = ansi.Truncate(p+style.Render(strings.TrimRight(l, " ")), width, "…")
	}
	return out
}

// qrShowable: there is a live link to show as a QR code.
func (s *sessionScreen) qrShowable() bool {
	return s.sess.PageURL() != "" && !s.sess.Phase().HasOutcome()
}

// qrView is the page link as a QR code, for a customer with a phone beside
// the agent: the whole link, its secret included, so only on request (p).
// It replaces the body while shown; the footer and keys stay.
func (s *sessionScreen) qrView(c *screenCtx, width, height int) string {
	st := c.styles
	u := s.sess.PageURL()
	caption := []string{
		st.Value.Bold(true).Render("Scan with the customer's phone") + st.Faint.Render(" — the whole link, its secret included"),
		st.Label.Render("Code ") + st.Accent.Bold(true).Render(s.sess.PairingCode()) + st.Faint.Render("  · p hides the code"),
	}
	qr, ok := qrLines(u, st.Dark, width, height)
	if !ok {
		return joinLines([]string{
			st.Warning.Render(ansi.Truncate("The link does not fit as a QR code here: make the terminal larger, or press l to show it.", width, "…")),
			caption[1],
		})
	}
	pad := strings.Repeat(" ", max(0, (width-ansi.StringWidth(qr[0]))/2))
	out := make([]string, 0, height)
	for _, l := range caption {
		if len(qr)+len(out)+1 <= height {
			out = append(out, ansi.Truncate(l, width, "…"))
		}
	}
	for _, l := range qr {
		out = append(out, pad+l)
	}
	return joinLines(out)
}
