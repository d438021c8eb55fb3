package tui

import (
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/tui/search"
)

// searchScreen lists every linked account. It is usable from the first page
// and fills while the rest stream in. The accounts and their index belong
// to the runtime's shared Catalog (one per server under `reauth serve`):
// the screen holds one read-only version of it and its own Searcher, query
// and cursor.
type searchScreen struct {
	input   textinput.Model
	catalog *Catalog
	view    CatalogView // the newest catalogue version; queries run over it
	// The list that result and visible refer to: the catalogue version the
	// newest applied result was computed over. Shared, never written.
	accounts []mono.Account // load order; positions match the index
	index    *search.Index  // Lookup only
	fresh    map[string]freshAccount
	// mine are fresher reads this program made, shown until the list
	// carries them (catalogue version mineUntil).
	mine       map[string]mono.Account
	mineUntil  uint64
	pending    shownList        // the list the query in flight runs over
	searcher   *search.Searcher // this program's; remembers results over searchedIx
	searchedIx *search.Index
	result     search.Result
	queryGen   uint64 // generation of the newest query sent
	needsOnly  bool
	visible    []int32 // result hits after the needs-reauth toggle
	cursor     int     // position in visible
	offset     int     // first visible row drawn

	loading    bool
	refreshing bool // a complete list is shown while a newer one loads
	loaded     int
	total      int
	loadErr    error
	loadedAt   time.Time // when the list shown was read completely
	pageCount  int
}

func newSearchScreen() searchScreen {
	in := textinput.New()
	in.Placeholder = "name, email, account number, bank or id"
	in.Prompt = "/ "
	in.CharLimit = 128
	in.Focus()
	ix := search.New()
	return searchScreen{input: in, view: CatalogView{Index: ix, Snapshot: ix.Snapshot()}, index: ix,
		searcher: freshSearcher(), searchedIx: ix, loading: true}
}

// shownList is one catalogue version's accounts as a search result refers
// to them.
type shownList struct {
	version  uint64
	accounts []mono.Account
	index    *search.Index
	fresh    map[string]freshAccount
}

// Messages of the search screen.
type (
	// catalogMsg is a newer version of the shared account catalogue.
	catalogMsg      struct{ view CatalogView }
	searchResultMsg struct {
		gen    uint64
		result search.Result
	}
)

// watchCatalog waits in a tea.Cmd for the catalogue's next version after
// seen (the first call starts the load). Update never waits on Mono: a slow
// or failing list only delays this message.
func (m Model) watchCatalog(seen uint64) tea.Cmd {
	ctx, c := m.ctx, m.search.catalog
	if c == nil {
		return nil
	}
	return func() tea.Msg {
		v, ok := c.Next(ctx, seen)
		if !ok {
			return nil
		}
		return catalogMsg{view: v}
	}
}

// onCatalog takes a newer catalogue version: progress shows at once, and
// the query re-runs over it when the list itself changed. The rows on
// screen stay those of the older version until that result arrives, so a
// refresh swaps the list in one frame.
func (m Model) onCatalog(v CatalogView) (Model, tea.Cmd) {
	s := &m.search
	if v.Version <= s.view.Version {
		return m, m.watchCatalog(s.view.Version) // cannot happen: versions only grow
	}
	old := s.view
	s.view = v
	changed := len(v.Accounts) != len(old.Accounts) || v.Index != old.Index || !sameFresh(v.fresh, old.fresh)
	s.loaded, s.total, s.pageCount = len(v.Accounts), v.Total, v.Pages
	s.loading, s.refreshing, s.loadErr, s.loadedAt = v.Loading, v.Refreshing, v.Err, v.LoadedAt
	cmds := []tea.Cmd{m.watchCatalog(v.Version)}
	if changed {
		cmds = append(cmds, s.runSearch())
	}
	m.syncKeys()
	return m, tea.Batch(cmds...)
}

// sameFresh reports whether two fresh maps hold the same accounts from the
// same updates.
func sameFresh(a, b map[string]freshAccount) bool {
	if len(a) != len(b) {
		return false
	}
	for id, f := range a {
		if g, ok := b[id]; !ok || g.seq != f.seq {
			return false
		}
	}
	return true
}

// retryLoad asks the catalogue to read the list again (R after a failure),
// in a Cmd: Reload starts the load's goroutine, which is not Update's work.
// Every program sharing the catalogue sees the new attempt.
func (m *Model) retryLoad() tea.Cmd {
	s := &m.search
	if s.loadErr == nil || s.loading || s.catalog == nil {
		return nil
	}
	// Shown at once; the catalogue's next version confirms it.
	if s.loadedAt.IsZero() {
		s.loading = true
	} else {
		s.refreshing = true
	}
	s.loadErr = nil
	c := s.catalog
	return func() tea.Msg { c.Reload(); return nil }
}

// runSearch filters in a tea.Cmd so a million accounts never stall a
// keystroke; results carry their generation and stale ones are dropped.
func (s *searchScreen) runSearch() tea.Cmd {
	s.queryGen++
	v := s.view
	if v.Index != s.searchedIx {
		// A new list (a refresh): positions changed, so what the Searcher
		// remembers is meaningless.
		s.searcher, s.searchedIx = freshSearcher(), v.Index
	}
	s.pending = shownList{version: v.Version, accounts: v.Accounts, index: v.Index, fresh: v.fresh}
	gen, snap, q, searcher := s.queryGen, v.Snapshot, s.input.Value(), s.searcher
	if search.Normalize(q) == "" && len(v.all) == snap.Len() {
		// Everything, in load order: the catalogue's shared list of
		// positions, so an idle session holds no copy of its own.
		r := search.Result{Query: "", N: snap.Len(), Hits: v.all}
		r.Tiers[search.TierSubstring] = snap.Len()
		return func() tea.Msg { return searchResultMsg{gen: gen, result: r} }
	}
	return func() tea.Msg {
		return searchResultMsg{gen: gen, result: searcher.Search(snap, q)}
	}
}

// applyResult shows the newest query's result, over the list it ran on.
func (s *searchScreen) applyResult(r search.Result, needs func(mono.Account) bool) {
	var keep mono.Account
	hadSel := s.cursor < len(s.visible)
	if hadSel {
		keep = s.at(s.visible[s.cursor])
	}
	if l := s.pending; l.index != nil {
		s.accounts, s.index, s.fresh = l.accounts, l.index, l.fresh
		if l.version >= s.mineUntil {
			s.mine = nil // the catalogue's copy (or a newer list) has them now
		}
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
			if needs(s.at(h)) {
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
	return s.at(s.visible[s.cursor]), true
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
	case s.loadErr != nil && !s.loadedAt.IsZero():
		// A refresh failed: the last good list stays, and says how old it is.
		progress += " as of " + s.loadedAt.Local().Format("15:04") + "  " +
			st.Error.Render("Refresh failed: "+plainError(s.loadErr)) + st.Faint.Render("  (R to retry)")
	case s.loadErr != nil:
		progress += "  " + st.Error.Render(plainError(s.loadErr)) + st.Faint.Render("  (R to retry)")
	case s.loading:
		progress += " " + m.spinner.View()
	case s.refreshing:
		progress += "  refreshing…"
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
		a := s.at(s.visible[i])
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

func freshSearcher() *search.Searcher { return search.NewSearcher(32) }

// at is listed account i, or the fresher copy of it this program or another
// has read since the list loaded.
func (s *searchScreen) at(i int32) mono.Account {
	a := s.accounts[i]
	if f, ok := s.mine[a.ID]; ok {
		return f
	}
	if len(s.fresh) > 0 {
		if f, ok := s.fresh[a.ID]; ok {
			return f.account
		}
	}
	return a
}

// lookup finds a listed account by its exact id.
func (s *searchScreen) lookup(id string) (mono.Account, bool) {
	i, ok := s.index.Lookup(id)
	if !ok || i >= len(s.accounts) { // the shared index may be ahead of this version
		return mono.Account{}, false
	}
	return s.at(int32(i)), true
}

// replace swaps in a fresher copy of an account already listed: here at
// once, and through the catalogue in every program's list.
func (s *searchScreen) replace(a mono.Account) {
	if _, ok := s.lookup(a.ID); !ok {
		return
	}
	mine := make(map[string]mono.Account, len(s.mine)+1)
	maps.Copy(mine, s.mine)
	mine[a.ID] = a
	s.mine, s.mineUntil = mine, math.MaxUint64
	if s.catalog != nil {
		s.mineUntil = s.catalog.Update(a)
	}
}
