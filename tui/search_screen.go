package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/tui/search"
)

// searchScreen lists every linked account. It is usable from the first page
// and fills while the rest stream in.
type searchScreen struct {
	input     textinput.Model
	accounts  []mono.Account // load order; positions match the index
	index     *search.Index
	searcher  *search.Searcher
	result    search.Result
	queryGen  uint64 // generation of the newest query sent
	needsOnly bool
	visible   []int32 // result hits after the needs-reauth toggle
	cursor    int     // position in visible
	offset    int     // first visible row drawn

	loadGen   int
	loading   bool
	loaded    int
	total     int
	loadErr   error
	pageCount int
}

func newSearchScreen() searchScreen {
	in := textinput.New()
	in.Placeholder = "name, email, account number, bank or id"
	in.Prompt = "/ "
	in.CharLimit = 128
	in.Focus()
	return searchScreen{input: in, index: search.New(), searcher: search.NewSearcher(32), loading: true}
}

// Messages of the search screen.
type (
	accountsPageMsg struct {
		page mono.AccountPage
	}
	accountsDoneMsg struct{ err error }
	searchResultMsg struct {
		gen    uint64
		result search.Result
	}
)

// pageStream carries pages from the loader goroutine to Update, one message
// per tea.Cmd, so the first page shows while later ones are still loading.
type pageStream chan tea.Msg

// pageArrived wraps a loader message with its load generation (a retry
// starts a new one; late pages of an abandoned load are ignored) and its
// stream, so Update can ask for the next one.
type pageArrived struct {
	gen    int
	stream pageStream
	msg    tea.Msg
}

// loadAccounts starts the paged load inside the returned Cmd. The loader
// goroutine stops when the program's context ends and never touches the
// model.
func (m Model) loadAccounts(gen int) tea.Cmd {
	ctx, api := m.ctx, m.deps.Mono
	return func() tea.Msg {
		stream := make(pageStream, 2)
		go func() {
			defer close(stream)
			var err error
			for page, perr := range api.Accounts(ctx) {
				if perr != nil {
					err = perr
					break
				}
				select {
				case stream <- accountsPageMsg{page: page}:
				case <-ctx.Done():
					return
				}
			}
			select {
			case stream <- accountsDoneMsg{err: err}:
			case <-ctx.Done():
			}
		}()
		return readPage(gen, stream)
	}
}

func readPage(gen int, stream pageStream) tea.Msg {
	msg, ok := <-stream
	if !ok {
		return nil
	}
	return pageArrived{gen: gen, stream: stream, msg: msg}
}

func nextPage(gen int, stream pageStream) tea.Cmd {
	return func() tea.Msg { return readPage(gen, stream) }
}

// runSearch filters in a tea.Cmd so a million accounts never stall a
// keystroke; results carry their generation and stale ones are dropped.
func (s *searchScreen) runSearch() tea.Cmd {
	s.queryGen++
	gen, snap, q, searcher := s.queryGen, s.index.Snapshot(), s.input.Value(), s.searcher
	return func() tea.Msg {
		return searchResultMsg{gen: gen, result: searcher.Search(snap, q)}
	}
}

func (s *searchScreen) applyResult(r search.Result, needs func(mono.Account) bool) {
	var keep mono.Account
	hadSel := s.cursor < len(s.visible)
	if hadSel {
		keep = s.accounts[s.visible[s.cursor]]
	}
	s.result = r
	s.refilter(needs)
	// Keep the agent's selection when a page load re-runs the same query.
	if hadSel {
		for i, h := range s.visible {
			if s.accounts[h].ID == keep.ID {
				s.cursor = i
				return
			}
		}
	}
	s.cursor, s.offset = 0, 0
}

func (s *searchScreen) refilter(needs func(mono.Account) bool) {
	if !s.needsOnly {
		s.visible = s.result.Hits
	} else {
		s.visible = make([]int32, 0, len(s.result.Hits)/4)
		for _, h := range s.result.Hits {
			if needs(s.accounts[h]) {
				s.visible = append(s.visible, h)
			}
		}
	}
	if s.cursor >= len(s.visible) {
		s.cursor = max(0, len(s.visible)-1)
	}
}

func (s *searchScreen) selected() (mono.Account, bool) {
	if s.cursor < 0 || s.cursor >= len(s.visible) {
		return mono.Account{}, false
	}
	return s.accounts[s.visible[s.cursor]], true
}

func (s *searchScreen) move(delta, rows int) {
	if len(s.visible) == 0 {
		return
	}
	s.cursor = min(max(s.cursor+delta, 0), len(s.visible)-1)
	s.scrollTo(rows)
}

func (s *searchScreen) scrollTo(rows int) {
	if rows <= 0 {
		return
	}
	if s.cursor < s.offset {
		s.offset = s.cursor
	}
	if s.cursor >= s.offset+rows {
		s.offset = s.cursor - rows + 1
	}
}

// looksLikeID reports whether q is a Mono ObjectId (24 hex).
func looksLikeID(q string) bool {
	q = strings.TrimSpace(q)
	if len(q) != 24 {
		return false
	}
	for _, c := range q {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// statusLabel is the badge for an account.
func statusLabel(a mono.Account, marked bool) string {
	if marked || a.NeedsReauth() {
		return "NEEDS REAUTH"
	}
	switch s := a.DataStatus.Normal(); s {
	case mono.StatusAvailable, mono.StatusPartial, mono.StatusProcessing, mono.StatusUnavailable, mono.StatusFailed:
		return string(s)
	}
	return "UNKNOWN"
}

// view renders the screen into width×height cells.
func (m Model) searchView(width, height int) string {
	s := &m.search
	st := m.styles
	var b strings.Builder
	b.WriteString(s.input.View())
	b.WriteByte('\n')

	progress := fmt.Sprintf("loaded %s", commas(s.loaded))
	if s.total > 0 {
		progress += " / " + commas(s.total)
	}
	switch {
	case s.loadErr != nil:
		progress += "  " + st.Error.Render(plainError(s.loadErr)) + st.Faint.Render("  (R to retry)")
	case s.loading:
		progress += " " + m.spinner.View()
	}
	filter := ""
	if s.needsOnly {
		filter = st.Warning.Render("needs reauth only") + "  "
	}
	matches := commas(len(s.visible)) + " matches"
	if len(s.visible) == 1 {
		matches = "1 match"
	}
	b.WriteString(st.Faint.Render(progress) + "  " + filter + st.Faint.Render(matches))
	b.WriteByte('\n')

	rows := height - 2
	if rows < 1 {
		return b.String()
	}
	if len(s.visible) == 0 {
		msg := "No accounts match."
		if s.loading && s.loaded == 0 {
			msg = "Loading accounts from Mono…"
		}
		b.WriteString(st.Faint.Render(msg))
		return b.String()
	}
	badgeW := 14
	numW := 10
	bankW := min(18, max(8, width/5))
	nameW := max(8, width-2-badgeW-numW-bankW-3)
	end := min(len(s.visible), s.offset+rows)
	for i := s.offset; i < end; i++ {
		a := s.accounts[s.visible[i]]
		label := statusLabel(a, m.marked(a.ID))
		name := ansi.Truncate(a.Name, nameW, "…")
		bank := ansi.Truncate(a.Institution.Name, bankW, "…")
		line := padRight(name, nameW) + " " + padRight(bank, bankW) + " " + padRight(a.MaskedNumber(), numW) + " "
		badge := st.Badge[label].Render(label)
		prefix := "  "
		if i == s.cursor {
			prefix = st.Cursor.Render("▌ ")
			line = st.Selected.Render(line)
		}
		b.WriteString(prefix + line + badge)
		if i < end-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func padRight(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// commas formats n as 1,234,567.
func commas(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func freshIndex() *search.Index       { return search.New() }
func freshSearcher() *search.Searcher { return search.NewSearcher(32) }

// replace swaps in a fresher copy of an account already listed.
func (s *searchScreen) replace(a mono.Account) {
	if i, ok := s.index.Lookup(a.ID); ok && i < len(s.accounts) {
		s.accounts[i] = a
	}
}
