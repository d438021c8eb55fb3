// Package tui is reauth's terminal UI: one root Bubble Tea model that routes
// to its screens (search, session; see screen) and owns everything global —
// size, styles, keys, help, the clock tick, quitting. A screen gets a narrow
// screenCtx, never the root. All I/O runs in tea.Cmds; Update only changes
// state.
package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/mono"
)

type screenID int

const (
	screenSearch screenID = iota
	screenSession
	screenCount // the number of screens
)

// Model is the root model.
type Model struct {
	deps Deps
	ctx  context.Context // ends when the program quits; every Cmd honours it
	// life ends when the model is done with: its page closes and its claim
	// is released then. It is ctx, unless the model may outlive its
	// program (NewResumable, resume.go).
	life context.Context
	// keys, help and search are held by pointer: the model is copied on
	// every message (value receivers, and once more into tea.Model), and
	// inline they made it 16 KB, most of the garbage a busy server made
	// (BENCHMARKS 7c). Copies of a model share them; only the latest is used.
	keys   *KeyMap
	styles *Styles // the theme's shared set (stylesFor)
	help   *help.Model

	width, height int
	screen        screenID
	showHelp      bool
	search        *searchScreen
	session       *sessionScreen // nil until an account is chosen
	spinner       spinner.Model
	spinnerOn     bool      // a spinner tick is in flight
	clockOn       bool      // a clock tick is in flight
	now           time.Time // last clock reading, for countdowns in View
	// noTimers turns off the clock and spinner ticks, so tests drive time
	// themselves with clockMsg.
	noTimers bool
	// starting is set while the Deps are still being made (NewStarting):
	// held keeps what arrives meanwhile, to be replayed in order.
	starting <-chan Ready
	held     []tea.Msg
	startErr error
	// drain is set once the server said it is draining (DrainNotice,
	// drain.go).
	drain *drainState
	// resumed re-arms a resumed model's waits (Resume, resume.go): Init
	// returns it.
	resumed tea.Cmd
	// memo keeps the header and footer last drawn (viewmemo.go); nil: none.
	memo *viewMemo
	// claimFocus tells the claims Cmd which account's news to deliver
	// (shared by the model's copies).
	claimFocus *claimFocus
	// unwritten are the audit journals of attempts whose screen was left
	// while the audit's store was failing to take their records: tried
	// again every auditRetryGap until written (keepUnwritten).
	unwritten []*auditQueue
	// checking are attempts whose screen was left while their account was
	// being checked after a success: kept until the check answers
	// (background.go).
	checking []*sessionScreen
}

// auditRetryMsg: time to try the unwritten journals again.
type auditRetryMsg struct{}

// keepUnwritten keeps the journal of a screen being left when records
// still wait in it, and starts the retries if none were running.
func (m *Model) keepUnwritten(q *auditQueue) tea.Cmd {
	if !q.unwritten() {
		return nil
	}
	m.unwritten = append(slices.Clip(m.unwritten), q)
	if len(m.unwritten) > 1 {
		return nil // the retries are running
	}
	return retryAuditLater()
}

func retryAuditLater() tea.Cmd {
	return tea.Tick(auditRetryGap, func(time.Time) tea.Msg { return auditRetryMsg{} })
}

// WriteUnwritten tries once more, as the program's model is let go, to
// write the audit records still waiting for a store that failed to take
// them: those of attempts left earlier and, with attempt, the open
// attempt's (not for a parked model, whose journal goes on with it). I/O:
// call it on a program's final model, outside the program. It returns how
// many records are still unwritten (lost with the model: say so).
func (m Model) WriteUnwritten(attempt bool) int {
	qs := m.unwritten
	if attempt && m.session != nil {
		qs = append(slices.Clip(qs), m.session.journal)
	}
	if attempt {
		for _, s := range m.checking {
			qs = append(slices.Clip(qs), s.journal)
		}
	}
	left := 0
	for _, q := range qs {
		if !q.unwritten() {
			continue
		}
		q.tryNow()
		_ = q.drain(m.deps.Audit)
		left += q.waiting()
	}
	return left
}

// retryUnwritten drains the unwritten journals (each drain retries the
// store if its gap has passed) and keeps the retries going while any
// record waits.
func (m *Model) retryUnwritten() tea.Cmd {
	var keep []*auditQueue
	var cmds []tea.Cmd
	rec := m.deps.Audit
	for _, q := range m.unwritten {
		if !q.unwritten() {
			continue
		}
		keep = append(keep, q)
		cmds = append(cmds, func() tea.Msg { _ = q.drain(rec); return nil })
	}
	m.unwritten = keep
	if len(keep) > 0 {
		cmds = append(cmds, retryAuditLater())
	}
	return tea.Batch(cmds...)
}

// focusClaims points the claims Cmd at the account on screen.
func (m *Model) focusClaims() {
	account := ""
	if m.session != nil {
		account = m.session.account.ID
	}
	m.claimFocus.set(account)
}

// New builds the root model. ctx should be cancelled when the program ends
// so background loaders and pages stop; New never starts anything itself.
func New(ctx context.Context, deps Deps) Model {
	m := newModel(ctx)
	m.attach(deps)
	m.clockOn = true // Init starts it
	return m
}

// newModel is the root model before it has its Deps: the account screen in
// its loading state.
func newModel(ctx context.Context) Model {
	keys, hm, search := DefaultKeyMap(), help.New(), newSearchScreen()
	m := Model{
		ctx:     ctx,
		life:    ctx,
		keys:    &keys,
		styles:  stylesFor(true),
		help:    &hm,
		width:   80,
		height:  24,
		search:  &search,
		spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		memo:    &viewMemo{},
		// claimFocus is shared by every copy of the model.
		claimFocus: &claimFocus{},
	}
	m.applyStyles(true)
	m.syncKeys()
	return m
}

// attach gives the model its Deps, filling in the defaults.
func (m *Model) attach(deps Deps) {
	if deps.VerifyEvery <= 0 {
		deps.VerifyEvery = 3 * time.Second
	}
	if deps.VerifyFor <= 0 {
		// Mono's account_updated follows a reauth "roughly 0.1 seconds to
		// a couple of minutes" later (mono-api.md); 90 s gave up before
		// the slow end of that. The agent need not wait: the check goes on
		// without its screen (background.go).
		deps.VerifyFor = 3 * time.Minute
	}
	if deps.Catalog == nil {
		// One program alone: its own catalogue, on the same code path.
		deps.Catalog = NewCatalog(m.ctx, deps.Mono, CatalogOptions{Now: deps.Now})
	}
	m.deps = deps
	m.search.catalog = deps.Catalog
	m.now = deps.now()
}

// clockMsg drives countdowns and "last event Ns ago".
type clockMsg time.Time

func (m Model) tick() tea.Cmd {
	if m.noTimers {
		return nil
	}
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return clockMsg(t) })
}

// Init asks the terminal for its background, starts the account load and
// the clock (once the Deps are there: see NewStarting).
func (m Model) Init() tea.Cmd {
	if m.starting != nil {
		return tea.Batch(tea.RequestBackgroundColor, m.awaitReady())
	}
	return tea.Batch(tea.RequestBackgroundColor, m.start(), m.resumed)
}

// start is Init's work once the model has its Deps.
func (m Model) start() tea.Cmd {
	var signals <-chan AccountSignal
	if m.deps.Signals != nil {
		signals = m.deps.Signals(m.ctx)
	}
	var claims <-chan claim.Claim
	if m.deps.Claims != nil {
		claims = m.deps.Claims.Watch(m.ctx, m.claimFocus.wants)
	}
	c := m.screenCtx(screenSearch)
	m.focusClaims()
	return tea.Batch(m.search.start(&c), m.tick(), waitSignal(signals), waitClaim(claims, m.claimFocus))
}

// signalMsg carries one webhook signal and the channel to read the next from.
type signalMsg struct {
	sig AccountSignal
	ch  <-chan AccountSignal
}

func waitSignal(ch <-chan AccountSignal) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		sig, ok := <-ch
		if !ok {
			return nil
		}
		return signalMsg{sig: sig, ch: ch}
	}
}

func (m *Model) applyStyles(dark bool) {
	m.styles = stylesFor(dark)
	m.help.Styles = help.DefaultStyles(dark)
	m.help.Styles.ShortKey = m.styles.HelpKey
	m.help.Styles.FullKey = m.styles.HelpKey
	m.search.restyle(m.styles)
	m.spinner.Style = m.styles.Accent
}

// Update routes a message. It never blocks and never does I/O. It is
// update plus the spinner's ticks: they run only while a spinner
// is on screen, so an idle session draws no frames but the clock's.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	// update returns the Model itself: boxing it into a tea.Model costs a
	// copy on the heap (~30 KB), so that happens once per message, here.
	nm, cmd := m.update(msg)
	nm.reportDrain()
	nm.focusClaims()
	if _, tick := msg.(spinner.TickMsg); tick {
		nm.spinnerOn = nm.spinning() && cmd != nil
		if !nm.spinnerOn {
			cmd = nil
		}
		return nm, cmd
	}
	if !nm.noTimers && !nm.clockOn && nm.active().ticking() {
		// The clock only matters on the session screen (countdowns, "last
		// event Ns ago"): an agent idling on the list draws no frame a second.
		nm.clockOn, nm.now = true, nm.deps.now()
		cmd = tea.Batch(cmd, nm.tick())
	}
	if !nm.noTimers && !nm.spinnerOn && nm.spinning() {
		nm.spinnerOn = true
		cmd = tea.Batch(cmd, nm.spinner.Tick)
	}
	return nm, cmd
}

// spinning reports whether a spinner is on screen.
func (m Model) spinning() bool { return m.active().busy() }

// screenOf is screen id, or nil while it is not open. A new screen adds its
// one case here; routing, keys, views and broadcasts follow.
func (m *Model) screenOf(id screenID) screen {
	switch id {
	case screenSearch:
		return m.search
	case screenSession:
		if m.session != nil {
			return m.session
		}
	}
	return nil
}

// active is the screen on screen (the list when that screen is not open).
func (m *Model) active() screen {
	if s := m.screenOf(m.screen); s != nil {
		return s
	}
	return m.search
}

// toScreens hands msg to every open screen (each takes only its own
// messages and the broadcasts), then applies what they posted.
func (m Model) toScreens(msg tea.Msg) (Model, tea.Cmd) {
	var cmds []tea.Cmd
	var posted [][]tea.Msg
	took := false
	for id := range screenCount {
		sc := m.screenOf(id)
		if sc == nil {
			continue
		}
		c := m.screenCtx(id)
		cmd, ok := sc.update(&c, msg)
		cmds, posted = append(cmds, cmd), append(posted, c.posted)
		took = took || ok
	}
	if !took {
		return m, nil
	}
	return m.settle(tea.Batch(cmds...), posted...)
}

// settle enables the keys for the state the screens left, then applies
// what they posted, in order, before any other message.
func (m Model) settle(cmd tea.Cmd, posted ...[]tea.Msg) (Model, tea.Cmd) {
	m.syncKeys()
	cmds := []tea.Cmd{cmd}
	for _, ps := range posted {
		for _, p := range ps {
			var c tea.Cmd
			m, c = m.update(p)
			cmds = append(cmds, c)
		}
	}
	return m, tea.Batch(cmds...)
}

func (m Model) update(msg tea.Msg) (Model, tea.Cmd) {
	if m.starting != nil && !passesWhileStarting(msg) {
		return m.whileStarting(msg)
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(m.innerWidth())
		return m.toScreens(msg)
	case tea.BackgroundColorMsg:
		m.applyStyles(msg.IsDark())
		return m, nil
	case DrainNotice:
		return m.onDrain(msg)
	case clockMsg:
		m.now = m.deps.now()
		var cmd tea.Cmd
		m, cmd = m.toScreens(msg)
		m.syncKeys()
		if !m.active().ticking() {
			m.clockOn = false // Update starts it again on a screen that ticks
			return m, cmd
		}
		return m, tea.Batch(cmd, m.tick())
	case spinner.TickMsg:
		if m.noTimers {
			return m, nil
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	case signalMsg:
		var bg, cmd tea.Cmd
		m, bg, _ = m.toChecking(msg.sig)
		m, cmd = m.toScreens(msg.sig)
		m.syncKeys()
		return m, tea.Batch(bg, cmd, waitSignal(msg.ch))
	case verifyResultMsg:
		if nm, cmd, ok := m.toChecking(msg); ok {
			nm.syncKeys()
			return nm, cmd
		}
	case claimNewsMsg:
		var cmd tea.Cmd
		m, cmd = m.toScreens(msg.sig)
		m.syncKeys()
		return m, tea.Batch(cmd, waitClaim(msg.ch, m.claimFocus))
	case tea.PasteMsg:
		if m.holdKey(msg) {
			return m, nil
		}
		c := m.screenCtx(m.screen)
		cmd, _ := m.active().update(&c, msg)
		return m.settle(cmd, c.posted)
	case tea.KeyPressMsg:
		if m.holdKey(msg) {
			return m, nil
		}
		return m.onKey(msg)
	case openAccountMsg:
		cmd := m.openAccount(msg.account)
		m.syncKeys()
		return m, cmd
	case backToSearchMsg:
		cmd := m.backToSearch()
		m.syncKeys()
		return m, cmd
	case auditRetryMsg:
		return m, m.retryUnwritten()
	case replayMsg:
		cmds := make([]tea.Cmd, 0, len(msg.msgs))
		for _, h := range msg.msgs {
			var cmd tea.Cmd
			m, cmd = m.update(h)
			cmds = append(cmds, cmd)
		}
		return m, tea.Batch(cmds...)
	}
	return m.toScreens(msg)
}

// holdKey lets the screen on screen keep a key (or paste) back until it can
// act on it (keyHolder); never while starting or with the help open.
func (m *Model) holdKey(msg tea.Msg) bool {
	if m.starting != nil || m.showHelp {
		return false
	}
	h, ok := m.active().(keyHolder)
	if !ok {
		return false
	}
	c := m.screenCtx(m.screen)
	return h.hold(&c, msg)
}

func (m Model) onKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit), key.Matches(msg, k.QuitKey):
		return m.quit()
	case m.showHelp:
		// Any key closes the full help.
		m.showHelp = false
		m.syncKeys()
		return m, nil
	case key.Matches(msg, k.Help):
		m.showHelp = true
		m.syncKeys()
		return m, nil
	}
	c := m.screenCtx(m.screen)
	cmd := m.active().onKey(&c, msg)
	return m.settle(cmd, c.posted)
}

// quit ends the program, unless the screen must ask first (quitter): the
// session screen with a live attempt closes the customer's page and
// records the agent's end before quitting.
func (m Model) quit() (Model, tea.Cmd) {
	if q, ok := m.active().(quitter); ok {
		c := m.screenCtx(m.screen)
		cmd := q.quit(&c)
		return m.settle(cmd, c.posted)
	}
	return m, tea.Quit
}

// openAccount switches to the session screen for a.
// An attempt being checked after a success when it is left goes on being
// checked (keepChecking); opening its account again brings it back.
func (m *Model) openAccount(a mono.Account) tea.Cmd {
	closeOld := m.leaveSession()
	m.screen = screenSession
	m.search.leave()
	m.search.forgetStranded(a.ID)
	m.search.forgetChecked(a.ID)
	if s := m.takeChecking(a.ID); s != nil {
		m.session = s
		return closeOld
	}
	c := m.screenCtx(screenSession)
	m.session = newSessionScreen(&c, a)
	return tea.Batch(closeOld, m.session.start(&c))
}

// backToSearch leaves the session screen; its page (if any) is closed.
func (m *Model) backToSearch() tea.Cmd {
	cmd := m.leaveSession()
	m.screen = screenSearch
	return tea.Batch(cmd, m.search.enter())
}

// leaveSession lets the session screen go: its page closes, its journal's
// unwritten records are kept for retries, and an attempt being checked
// after a success is kept until the check answers.
func (m *Model) leaveSession() tea.Cmd {
	s := m.session
	if s == nil {
		return nil
	}
	m.session = nil
	if kept, cmd := m.keepChecking(s); kept {
		return cmd
	}
	return tea.Batch(s.dropPage(), m.keepUnwritten(s.journal))
}

// needsReauth folds Mono's webhook marks (the signal Mono really sends) into
// what an account read says (sync fields, only if Mono ever sends them).
func (m Model) needsReauth(a mono.Account) bool { return a.NeedsReauth() || m.marked(a.ID) }

func (m Model) marked(id string) bool {
	return m.deps.NeedsReauth != nil && m.deps.NeedsReauth(id)
}

// syncKeys enables exactly the bindings that do something now: quit and
// help here, the rest by the screen on screen.
func (m *Model) syncKeys() {
	for _, b := range m.keys.all() {
		b.SetEnabled(false)
	}
	k := m.keys
	k.Quit.SetEnabled(true)
	// While the full help is open it lists the keys of the screen beneath
	// (any key closes it first); the footer says so instead.
	k.Help.SetEnabled(!m.showHelp)
	c := m.screenCtx(m.screen)
	m.active().enableKeys(&c, k)
	m.drainKeys()
}

func (m Model) innerWidth() int { return innerWidth(m.width) }

// innerWidth is the width inside the app's one-column inset each side.
func innerWidth(width int) int { return max(20, width-2) }

// View renders the whole screen: header, body, footer.
func (m Model) View() tea.View {
	if m.startErr != nil {
		// The program is quitting to print why it could not start; no frame.
		return tea.NewView("")
	}
	w, h := m.innerWidth(), max(5, m.height)
	header := m.headerView(w)
	if d := m.drainLine(w); d != "" {
		header = d + "\n" + header
	}
	footer := m.footerView(w)
	bodyH := max(1, h-lipgloss.Height(header)-lipgloss.Height(footer))
	var body string
	if m.showHelp {
		body = m.styles.Section.Render("Keys that work here") + "\n\n" + m.help.FullHelpView(m.keys.FullHelp())
	} else {
		c := m.screenCtx(m.screen)
		body = m.active().view(&c, w, bodyH)
	}
	content := frame(w, bodyH, header, body, footer, m.memo)
	v := tea.NewView(content)
	v.AltScreen = true
	v.WindowTitle = "reauth"
	if cs, ok := m.active().(cursorScreen); ok && !m.showHelp {
		if c := cs.textCursor(); c != nil {
			c.Position.X += m.styles.App.GetPaddingLeft()
			c.Position.Y += lipgloss.Height(header)
			v.Cursor = c
		}
	}
	return v
}

func (m Model) headerView(w int) string {
	in := headerInputs{width: w, styles: m.styles, sandbox: m.deps.Sandbox, title: m.active().title(), agent: m.deps.Agent}
	if h, ok := m.memo.headerOf(in); ok {
		return h
	}
	st := m.styles
	left := st.Title.Render("reauth")
	if m.deps.Sandbox {
		left += " " + st.Sandbox.Render("SANDBOX")
	} else {
		// Real customers, real tokens: say so as plainly as SANDBOX.
		left += " " + st.Live.Render("LIVE")
	}
	left += st.Faint.Render("  ›  ") + st.Value.Render(m.active().title())
	right := ""
	if m.deps.Agent != "" {
		right = st.Faint.Render(m.deps.Agent)
	}
	gap := w - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		right, gap = "", max(0, w-ansi.StringWidth(left))
	}
	line := ansi.Truncate(left+strings.Repeat(" ", gap)+right, w, "…")
	h := line + "\n" + st.Faint.Render(strings.Repeat("─", w))
	m.memo.keepHeader(in, h)
	return h
}

func (m Model) footerView(w int) string {
	if m.showHelp {
		return m.styles.Faint.Render("any key closes the help")
	}
	var keys []footerKey
	for _, f := range m.keys.footer() {
		if f.Enabled() {
			keys = append(keys, f)
		}
	}
	in := footerInputs{width: w, styles: m.styles, keys: footerKeysOf(keys)}
	if f, ok := m.memo.footerOf(in); ok {
		return f
	}
	// Too wide: drop the least important key (the last of the highest
	// rank) until the rest fit; esc, q and ? always stay.
	sep := ansi.StringWidth(m.help.ShortSeparator)
	itemW := func(f footerKey) int { return ansi.StringWidth(f.Help().Key) + 1 + ansi.StringWidth(f.Help().Desc) }
	total := 0
	for i, f := range keys {
		if i > 0 {
			total += sep
		}
		total += itemW(f)
	}
	for total > w {
		drop := -1
		for i, f := range keys {
			if f.rank != rankAlways && (drop < 0 || f.rank >= keys[drop].rank) {
				drop = i
			}
		}
		if drop < 0 {
			break
		}
		total -= itemW(keys[drop]) + sep
		keys = append(keys[:drop], keys[drop+1:]...)
	}
	bindings := make([]key.Binding, len(keys))
	for i, f := range keys {
		bindings[i] = f.Binding
	}
	h := *m.help
	h.SetWidth(0) // fitted above; ShortHelpView would cut from the end
	f := ansi.Truncate(h.ShortHelpView(bindings), w, "…")
	m.memo.keepFooter(in, f)
	return f
}

// frame lays out the screen in one pass: the body padded or cut to exactly
// bodyH lines of at most w cells (so a long body can never push the footer
// off an 80×24 screen), every line inset by one column (the App style's
// padding). Lines are not padded with spaces to the width: the view is an
// alt-screen frame, which Bubble Tea's renderer clears before drawing, and
// it parses every cell of every frame, so trailing blanks cost each event
// of each agent's program ~10% of its CPU for nothing seen. Each line's
// width is measured once; doing this with lipgloss joins measured it four
// times, which was most of a frame's cost.
func frame(w, bodyH int, header, body, footer string, widths *viewMemo) string {
	bodyLines := strings.Split(body, "\n")
	if len(bodyLines) > bodyH {
		bodyLines = bodyLines[:bodyH]
	}
	for len(bodyLines) < bodyH {
		bodyLines = append(bodyLines, "")
	}
	headerLines := strings.Split(header, "\n")
	lines := append(append(headerLines, bodyLines...), strings.Split(footer, "\n")...)
	widths.startFrame()
	size := 0
	for i, l := range lines {
		l = strings.ReplaceAll(l, "\t", "    ") // as lipgloss's default tab width
		if isBody := i >= len(headerLines) && i < len(headerLines)+bodyH; isBody && widths.width(l) > w {
			l = ansi.Truncate(l, w, "…")
		}
		lines[i] = l
		size += len(l)
	}
	// One allocation of the exact size: the frame is drawn for every
	// widget event of every agent's program.
	var b strings.Builder
	b.Grow(size + len(lines)*2)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteByte(' ')
		b.WriteString(l)
	}
	return b.String()
}

// plainError turns an error into one sentence for the agent.
func plainError(err error) string {
	if err == nil {
		return ""
	}
	var ad auditDownError
	if errors.As(err, &ad) {
		// Checked first: a commit that timed out is the store's, not
		// Mono's (Mono was never asked).
		return ad.Error()
	}
	var me *mono.Error
	if errors.As(err, &me) {
		return me.Hint()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Mono did not answer in time. Try again."
	}
	return mono.CleanText(err.Error())
}
