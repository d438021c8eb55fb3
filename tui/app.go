// Package tui is reauth's terminal UI: one root Bubble Tea model that routes
// to two screens (search, session) and owns everything global — size,
// styles, keys, help, the clock tick. All I/O runs in tea.Cmds written as
// model methods; Update only changes state.
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

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
)

type screenID int

const (
	screenSearch screenID = iota
	screenSession
)

// Model is the root model.
type Model struct {
	deps   Deps
	ctx    context.Context // ends when the program quits; every Cmd honours it
	keys   KeyMap
	styles Styles
	help   help.Model

	width, height int
	screen        screenID
	showHelp      bool
	search        searchScreen
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
	m := Model{
		ctx:     ctx,
		keys:    DefaultKeyMap(),
		styles:  stylesFor(true),
		help:    help.New(),
		width:   80,
		height:  24,
		search:  newSearchScreen(),
		spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
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
		deps.VerifyFor = 90 * time.Second
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
	return tea.Batch(tea.RequestBackgroundColor, m.start())
}

// start is Init's work once the model has its Deps.
func (m Model) start() tea.Cmd {
	var signals <-chan AccountSignal
	if m.deps.Signals != nil {
		signals = m.deps.Signals(m.ctx)
	}
	return tea.Batch(m.watchCatalog(0), m.tick(), m.search.input.Focus(),
		waitSignal(signals))
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
	ts := m.search.input.Styles()
	ts.Focused.Prompt = m.styles.KeyHint
	ts.Blurred.Prompt = m.styles.Faint
	m.search.input.SetStyles(ts)
	m.spinner.Style = m.styles.Accent
}

// Update routes a message. It never blocks and never does I/O. It is
// update plus the spinner's ticks: they run only while a spinner
// is on screen, so an idle session draws no frames but the clock's.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	// update returns the Model itself: boxing it into a tea.Model costs a
	// copy on the heap (~30 KB), so that happens once per message, here.
	nm, cmd := m.update(msg)
	if _, tick := msg.(spinner.TickMsg); tick {
		nm.spinnerOn = nm.spinning() && cmd != nil
		if !nm.spinnerOn {
			cmd = nil
		}
		return nm, cmd
	}
	if !nm.noTimers && !nm.clockOn && nm.screen == screenSession {
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
func (m Model) spinning() bool {
	if m.screen == screenSearch && m.search.loading && m.search.loadErr == nil {
		return true
	}
	if m.screen == screenSession && m.session != nil {
		ph := m.session.sess.Phase()
		return ph == state.Minting || ph == state.PageOpening
	}
	return false
}

func (m Model) update(msg tea.Msg) (Model, tea.Cmd) {
	if m.starting != nil && !passesWhileStarting(msg) {
		return m.whileStarting(msg)
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(m.innerWidth())
		m.search.input.SetWidth(max(10, m.innerWidth()-4))
		m.search.scrollTo(m.listRows())
		return m, nil
	case tea.BackgroundColorMsg:
		m.applyStyles(msg.IsDark())
		return m, nil
	case clockMsg:
		m.now = m.deps.now()
		var cmd tea.Cmd
		if m.session != nil {
			cmd = m.session.onClock(&m, m.now)
		}
		m.syncKeys()
		if m.screen != screenSession {
			m.clockOn = false // Update starts it again on the session screen
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
	case catalogMsg:
		return m.onCatalog(msg.view)
	case searchResultMsg:
		if msg.gen != m.search.queryGen { // a stale result never overwrites a newer one
			return m, nil
		}
		m.search.applyResult(msg.result, m.needsReauth)
		m.search.scrollTo(m.listRows())
		jump := m.jumpToPastedID()
		m.syncKeys()
		var held tea.Cmd
		m, held = m.releaseHeld(jump != nil)
		return m, tea.Batch(jump, held)
	case signalMsg:
		var cmd tea.Cmd
		if m.search.needsOnly {
			// A mark came or went (a reauth, a sync SUCCESSFUL, an unlink,
			// a new mark): the "needs reauth only" list may change.
			m.search.refilter(m.needsReauth)
		}
		if m.session != nil && m.session.account.ID == msg.sig.AccountID {
			cmd = m.session.onSignal(&m, msg.sig)
		}
		m.syncKeys()
		return m, tea.Batch(cmd, waitSignal(msg.ch))
	case tea.PasteMsg:
		if m.holdKey(msg) {
			return m, nil
		}
		if m.screen == screenSearch && m.search.input.Focused() {
			var cmd tea.Cmd
			m.search.input, cmd = m.search.input.Update(msg)
			return m, tea.Batch(cmd, m.search.runSearch())
		}
		return m, nil
	case tea.KeyPressMsg:
		if m.holdKey(msg) {
			return m, nil
		}
		return m.onKey(msg)
	}
	if m.session != nil {
		if cmd, ok := m.session.update(&m, msg); ok {
			m.syncKeys()
			return m, cmd
		}
	}
	return m, nil
}

// jumpToPastedID opens the account when the query is exactly a known id.
// It runs when the result for the query as typed arrives (never on an older
// query's rows), once per id typed or pasted.
func (m *Model) jumpToPastedID() tea.Cmd {
	s := &m.search
	q := strings.TrimSpace(s.input.Value())
	if !looksLikeID(q) {
		s.jumped = ""
		return nil
	}
	if m.screen != screenSearch || s.jumped == q || !s.current() {
		return nil
	}
	a, ok := s.lookup(q)
	if !ok {
		return nil
	}
	s.jumped = q
	return m.openAccount(a)
}

// holdKey keeps msg (a key or a paste) back while the search screen must
// wait for the result of the query as typed: a key that acts on the rows
// (enter, a move) when the rows shown are an older query's, and everything
// typed after it, so order is kept. releaseHeld replays them. ctrl+c is
// never held.
func (m *Model) holdKey(msg tea.Msg) bool {
	s := &m.search
	if m.screen != screenSearch || m.starting != nil || m.showHelp {
		return false
	}
	if len(s.held) == 0 {
		k, ok := msg.(tea.KeyPressMsg)
		if !ok || s.current() || !m.actsOnRows(k) {
			return false
		}
	} else if k, ok := msg.(tea.KeyPressMsg); ok && key.Matches(k, m.keys.Quit) {
		return false
	}
	s.held = append(s.held, msg)
	return true
}

// actsOnRows reports whether k, on the search screen, picks or moves among
// the rows (enabled or not: with no rows yet, enter still waits).
func (m *Model) actsOnRows(k tea.KeyPressMsg) bool {
	keys, typing := m.keys, m.search.input.Focused()
	switch {
	case pressed(k, keys.ClearQuery):
		return false
	case pressed(k, keys.Open), pressed(k, keys.PageUp), pressed(k, keys.PageDown),
		k.String() == "up" || k.String() == "down":
		return true
	}
	return !typing && (pressed(k, keys.Up) || pressed(k, keys.Down) || pressed(k, keys.Top) || pressed(k, keys.Bottom))
}

// releaseHeld replays the held keys in order once the rows answer the query
// as typed. When a pasted id has just been opened, a held enter was asking
// for exactly that and is dropped.
func (m Model) releaseHeld(jumped bool) (Model, tea.Cmd) {
	s := &m.search
	if len(s.held) == 0 || !s.current() {
		return m, nil
	}
	held := s.held
	s.held = nil
	if k, ok := held[0].(tea.KeyPressMsg); ok && jumped && pressed(k, m.keys.Open) {
		held = held[1:]
	}
	cmds := make([]tea.Cmd, 0, len(held))
	for _, msg := range held {
		var cmd tea.Cmd
		m, cmd = m.update(msg)
		cmds = append(cmds, cmd)
	}
	return m, tea.Batch(cmds...)
}

// pressed reports whether k is one of b's keys, whether b is enabled or
// not (the footer may not advertise a key that still has a meaning).
func pressed(k tea.KeyPressMsg, b key.Binding) bool {
	return slices.Contains(b.Keys(), k.String())
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
	var cmd tea.Cmd
	if m.screen == screenSession && m.session != nil {
		cmd = m.session.onKey(&m, msg)
	} else {
		cmd = m.searchKey(msg)
	}
	m.syncKeys()
	return m, cmd
}

// quit closes the customer's page first, then ends the program. With a
// live attempt (a token, a page the customer may be using) it asks first;
// the same key again, or y, quits and records the agent's end.
func (m Model) quit() (Model, tea.Cmd) {
	if s := m.session; s != nil {
		if s.dialog != confirmQuit && s.sess.Phase().Live() {
			s.dialog = confirmQuit
			m.syncKeys()
			return m, nil
		}
		return m, s.endAndQuit(&m)
	}
	return m, tea.Quit
}

func (m *Model) searchKey(msg tea.KeyPressMsg) tea.Cmd {
	k, s := m.keys, &m.search
	rows := m.listRows()
	s.note = ""
	switch {
	case pressed(msg, k.Open):
		// holdKey made sure the rows answer the query as typed.
		if a, ok := s.selected(); ok {
			return m.openAccount(a)
		}
		s.note = s.nothingToOpen()
		return nil
	case pressed(msg, k.Search):
		// "/" focuses the box (k9s, gh-dash) and is never typed into it.
		if s.input.Focused() {
			return nil
		}
		return s.input.Focus()
	case pressed(msg, k.ClearQuery):
		// ctrl+u: a new search, typed from an empty box.
		if s.input.Value() == "" {
			return s.input.Focus()
		}
		s.input.SetValue("")
		return tea.Batch(s.input.Focus(), s.runSearch())
	case key.Matches(msg, k.NeedsReauth):
		s.needsOnly = !s.needsOnly
		s.refilter(m.needsReauth)
		s.cursor, s.offset = 0, 0
		s.scrollTo(rows)
		return nil
	case key.Matches(msg, k.Retry):
		// R after a failure, even while typing (the error line offers it).
		return m.refreshList()
	case msg.String() == "ctrl+r", !s.input.Focused() && pressed(msg, k.Refresh):
		return m.refreshList()
	case key.Matches(msg, k.Back):
		if s.input.Focused() {
			s.input.Blur()
		} else if s.input.Value() != "" {
			s.input.SetValue("")
			return s.runSearch()
		}
		return nil
	case msg.String() == "up" || msg.String() == "down" || (!s.input.Focused() && key.Matches(msg, k.Up, k.Down)):
		if key.Matches(msg, k.Up) {
			s.move(-1, rows)
		} else {
			s.move(1, rows)
		}
		return nil
	case key.Matches(msg, k.PageUp):
		s.move(-rows, rows)
		return nil
	case key.Matches(msg, k.PageDown):
		s.move(rows, rows)
		return nil
	case !s.input.Focused() && key.Matches(msg, k.Top):
		s.move(-len(s.visible), rows)
		return nil
	case !s.input.Focused() && key.Matches(msg, k.Bottom):
		s.move(len(s.visible), rows)
		return nil
	}
	if s.input.Focused() {
		before := s.input.Value()
		var cmd tea.Cmd
		s.input, cmd = s.input.Update(msg)
		if s.input.Value() != before {
			return tea.Batch(cmd, s.runSearch())
		}
		return cmd
	}
	if msg.Text != "" {
		// Typing while the box is not focused: say so rather than lose it.
		s.note = "The search box is not focused: / to search"
	}
	return nil
}

// openAccount switches to the session screen for a.
func (m *Model) openAccount(a mono.Account) tea.Cmd {
	var closeOld tea.Cmd
	if m.session != nil {
		closeOld = m.session.dropPage()
	}
	m.session = newSessionScreen(m, a)
	m.screen = screenSession
	m.search.input.Blur()
	return tea.Batch(closeOld, m.session.start(m))
}

// backToSearch leaves the session screen; its page (if any) is closed.
func (m *Model) backToSearch() tea.Cmd {
	var closeOld tea.Cmd
	if m.session != nil {
		closeOld = m.session.dropPage()
		m.session = nil
	}
	m.screen = screenSearch
	return tea.Batch(closeOld, m.search.input.Focus())
}

// needsReauth folds webhook marks into what the API said.
// needsReauth folds Mono's webhook marks (the signal Mono really sends) into
// what an account read says (sync fields, only if Mono ever sends them).
func (m Model) needsReauth(a mono.Account) bool { return a.NeedsReauth() || m.marked(a.ID) }

func (m Model) marked(id string) bool {
	return m.deps.NeedsReauth != nil && m.deps.NeedsReauth(id)
}

// syncKeys enables exactly the bindings that do something now.
func (m *Model) syncKeys() {
	for _, b := range m.keys.all() {
		b.SetEnabled(false)
	}
	k := &m.keys
	k.Quit.SetEnabled(true)
	// While the full help is open it lists the keys of the screen beneath
	// (any key closes it first); the footer says so instead.
	k.Help.SetEnabled(!m.showHelp)
	switch {
	case m.screen == screenSession && m.session != nil:
		m.session.enableKeys(m, k)
	default:
		s := &m.search
		typing := s.input.Focused()
		k.QuitKey.SetEnabled(!typing)
		k.Search.SetEnabled(!typing)
		k.Back.SetEnabled(typing || s.input.Value() != "")
		hasRows := len(s.visible) > 0
		for _, b := range []*key.Binding{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Open} {
			b.SetEnabled(hasRows)
		}
		k.Top.SetEnabled(hasRows && !typing)
		k.Bottom.SetEnabled(hasRows && !typing)
		k.NeedsReauth.SetEnabled(true)
		k.Retry.SetEnabled(s.loadErr != nil && !s.loading)
		// R retries after a failure; otherwise it (or ctrl+r) refreshes.
		k.Refresh.SetEnabled(s.catalog != nil && s.loadErr == nil && !s.loading && !s.refreshing)
		k.ClearQuery.SetEnabled(s.input.Value() != "")
		if typing {
			// j/k and R type letters while the search box has focus.
			k.Up.SetHelp("↑", "up")
			k.Down.SetHelp("↓", "down")
			k.Refresh.SetHelp("ctrl+r", "refresh list")
		} else {
			k.Up.SetHelp("↑/k", "up")
			k.Down.SetHelp("↓/j", "down")
			k.Refresh.SetHelp("R", "refresh list")
		}
	}
}

func (m Model) innerWidth() int { return max(20, m.width-2) }

// listRows is how many account rows fit on the search screen.
func (m Model) listRows() int { return max(1, m.height-2-2-1) }

// View renders the whole screen: header, body, footer.
func (m Model) View() tea.View {
	if m.startErr != nil {
		// The program is quitting to print why it could not start; no frame.
		return tea.NewView("")
	}
	w, h := m.innerWidth(), max(5, m.height)
	header := m.headerView(w)
	footer := m.footerView(w)
	bodyH := max(1, h-lipgloss.Height(header)-lipgloss.Height(footer))
	var body string
	switch {
	case m.showHelp:
		body = m.styles.Section.Render("Keys that work here") + "\n\n" + m.help.FullHelpView(m.keys.FullHelp())
	case m.screen == screenSession && m.session != nil:
		body = m.session.view(&m, w, bodyH)
	default:
		body = m.searchView(w, bodyH)
	}
	content := frame(w, bodyH, header, body, footer)
	v := tea.NewView(content)
	v.AltScreen = true
	v.WindowTitle = "reauth"
	if m.screen == screenSearch && m.search.input.Focused() && !m.showHelp {
		if c := m.search.input.Cursor(); c != nil {
			c.Position.X += m.styles.App.GetPaddingLeft()
			c.Position.Y += lipgloss.Height(header)
			v.Cursor = c
		}
	}
	return v
}

func (m Model) headerView(w int) string {
	st := m.styles
	left := st.Title.Render("reauth")
	if m.deps.Sandbox {
		left += " " + st.Sandbox.Render("SANDBOX")
	} else {
		// Real customers, real tokens: say so as plainly as SANDBOX.
		left += " " + st.Live.Render("LIVE")
	}
	if m.screen == screenSession && m.session != nil {
		left += st.Faint.Render("  ›  ") + st.Value.Render(m.session.account.Name)
	} else {
		left += st.Faint.Render("  ›  ") + st.Value.Render("accounts")
	}
	right := ""
	if m.deps.Agent != "" {
		right = st.Faint.Render(m.deps.Agent)
	}
	gap := w - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		right, gap = "", max(0, w-ansi.StringWidth(left))
	}
	line := ansi.Truncate(left+strings.Repeat(" ", gap)+right, w, "…")
	return line + "\n" + st.Faint.Render(strings.Repeat("─", w))
}

func (m Model) footerView(w int) string {
	if m.showHelp {
		return m.styles.Faint.Render("any key closes the help")
	}
	return ansi.Truncate(m.help.ShortHelpView(m.keys.ShortHelp()), w, "…")
}

// frame lays out the screen in one pass: the body padded or cut to exactly
// bodyH lines of at most w cells (so a long body can never push the footer
// off an 80×24 screen), every line padded to the widest and inset by one
// column each side (the App style's padding). Each line's width is measured
// once; doing this with lipgloss joins measured it four times, which was
// most of a frame's cost.
func frame(w, bodyH int, header, body, footer string) string {
	bodyLines := strings.Split(body, "\n")
	if len(bodyLines) > bodyH {
		bodyLines = bodyLines[:bodyH]
	}
	for len(bodyLines) < bodyH {
		bodyLines = append(bodyLines, "")
	}
	headerLines := strings.Split(header, "\n")
	lines := append(append(headerLines, bodyLines...), strings.Split(footer, "\n")...)
	widths := make([]int, len(lines))
	maxW := 0
	for i, l := range lines {
		l = strings.ReplaceAll(l, "\t", "    ") // as lipgloss's default tab width
		wd := ansi.StringWidth(l)
		if isBody := i >= len(headerLines) && i < len(headerLines)+bodyH; isBody && wd > w {
			l = ansi.Truncate(l, w, "…")
			wd = ansi.StringWidth(l)
		}
		lines[i], widths[i] = l, wd
		maxW = max(maxW, wd)
	}
	var b strings.Builder
	b.Grow(len(lines) * (maxW + 16))
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteByte(' ')
		b.WriteString(l)
		b.WriteString(strings.Repeat(" ", maxW-widths[i]))
		b.WriteByte(' ')
	}
	return b.String()
}

// plainError turns an error into one sentence for the agent.
func plainError(err error) string {
	if err == nil {
		return ""
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
