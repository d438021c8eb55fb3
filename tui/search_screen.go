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
	strong     int     // visible[:strong] are strong hits, the rest looser (search.Result.Strong)
	cursor     int     // position in visible
	offset     int     // first list line drawn (the looser-matches line counts as one)

	// held are keys (and pastes) typed after a key that acts on the rows
	// (enter, a move) while the rows shown were for an older query than the
	// box holds. They wait, in order, for the result of the query as typed:
	// enter never opens a row of an older query.
	held []tea.Msg
	// note is a one-off sentence on the status line (why enter opened
	// nothing, that the box is not focused); the next key clears it.
	note string
	// jumped is the pasted id the screen already opened, so a later result
	// for the same query (a page loading, a refresh) does not open it again.
	jumped string

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

// refreshList asks the catalogue to read the list again (R or ctrl+r at
// any time, not only after a failure), in a Cmd: Reload starts the load's
// goroutine, which is not Update's work. Every program sharing the
// catalogue sees the new list; the query and the selection stay.
func (m *Model) refreshList() tea.Cmd {
	s := &m.search
	if s.catalog == nil || s.loading || s.refreshing {
		return nil // the load under way is the answer
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

// current reports whether the rows shown answer the query in the box (over
// whichever list version): only then may a key act on them.
func (s *searchScreen) current() bool {
	return s.result.Query == search.Normalize(s.input.Value())
}

// applyResult shows the newest query's result, over the list it ran on.
func (s *searchScreen) applyResult(r search.Result, needs func(mono.Account) bool) {
	var keep mono.Account
	// The selection is kept when the same query re-runs (a page loaded, a
	// refresh); a new query starts at its best hit.
	hadSel := s.cursor < len(s.visible) && r.Query == s.result.Query
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
	strong := s.result.Strong()
	if !s.needsOnly {
		s.visible = s.result.Hits
		s.strong = min(strong, len(s.visible))
	} else {
		s.visible = make([]int32, 0, len(s.result.Hits)/4)
		s.strong = 0
		for k, h := range s.result.Hits {
			if needs(s.at(h)) {
				s.visible = append(s.visible, h)
				if k < strong {
					s.strong++
				}
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
	at := s.line(s.cursor)
	top := at
	if s.cursor == s.looseFrom() {
		top-- // the first looser hit comes with its heading
	}
	if top < s.offset {
		s.offset = max(0, top)
	}
	if at >= s.offset+rows {
		s.offset = at - rows + 1
	}
}

// looseFrom is the position in visible of the first looser hit, under the
// "looser matches" line, or -1 when there is none (or no query).
func (s *searchScreen) looseFrom() int {
	if s.strong < len(s.visible) && s.result.Query != "" {
		return s.strong
	}
	return -1
}

// line is where visible[i] is drawn in the list: the looser-matches line
// takes one.
func (s *searchScreen) line(i int) int {
	if from := s.looseFrom(); from >= 0 && i >= from {
		return i + 1
	}
	return i
}

// nothingToOpen says why enter opened nothing: the query as typed has no
// row to open.
func (s *searchScreen) nothingToOpen() string {
	q := ansi.Truncate(strings.TrimSpace(s.input.Value()), 24, "…")
	switch {
	case len(s.result.Hits) > 0:
		return "Nothing opened: no account needing reauth matches (tab shows all)."
	case q != "":
		return fmt.Sprintf("Nothing opened: no account matches %q.", q)
	}
	return "Nothing opened: no accounts are listed yet."
}

// noRows is what the list says when it has no row to show.
func (s *searchScreen) noRows() string {
	if s.loading && s.loaded == 0 {
		return "Loading accounts from Mono…"
	}
	if n := len(s.result.Hits); s.needsOnly && n > 0 {
		others := fmt.Sprintf("%s others match", commas(n))
		if n == 1 {
			others = "1 other matches"
		}
		if s.result.Query == "" {
			return fmt.Sprintf("No account needs reauth; %s listed — tab shows all", commasNoun(n, "other", "others"))
		}
		return "No account needing reauth matches; " + others + " — tab shows all"
	}
	return "No accounts match."
}

// commasNoun is n with its noun: "1 other", "2,300 others".
func commasNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
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
	b.WriteString(m.searchBoxView(width))
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
	matches := commasNoun(len(s.visible), "match", "matches")
	if s.needsOnly && len(s.visible) < len(s.result.Hits) {
		matches = commas(len(s.visible)) + " of " + commasNoun(len(s.result.Hits), "match", "matches")
	}
	b.WriteString(st.Faint.Render(progress) + "  " + filter + st.Faint.Render(matches))
	b.WriteByte('\n')

	rows := height - 2
	if s.note != "" && rows > 1 {
		// A note takes the list's first line while it shows.
		b.WriteString(st.Warning.Render(s.note) + "\n")
		rows--
	}
	if rows < 1 {
		return b.String()
	}
	if len(s.visible) == 0 {
		b.WriteString(st.Faint.Render(s.noRows()))
		return b.String()
	}
	badgeW := 14
	numW := 10
	bankW := min(18, max(8, width/5))
	nameW := max(8, width-2-badgeW-numW-bankW-3)
	loose := s.looseFrom()
	lines := s.line(len(s.visible) - 1)
	// The list is drawn from s.offset, moved down here (not in the model)
	// if a note's line would hide the selected row.
	offset := max(s.offset, s.line(s.cursor)-rows+1)
	end := min(lines+1, offset+rows)
	for ln := offset; ln < end; ln++ {
		if ln > offset {
			b.WriteByte('\n')
		}
		i := ln
		if loose >= 0 && ln >= loose { // the heading is drawn where the first looser hit would be
			if ln == loose {
				b.WriteString(st.Faint.Render(s.looseHeading()))
				continue
			}
			i--
		}
		a := s.at(s.visible[i])
		label := statusLabel(a, m.marked(a.ID))
		name := ansi.Truncate(a.Name, nameW, "…")
		bank := ansi.Truncate(a.Institution.Name, bankW, "…")
		line := padRight(name, nameW) + " " + padRight(bank, bankW) + " " + padRight(a.MaskedNumber(), numW) + " "
		badge := st.Badge[label].Render(label)
		prefix := "  "
		switch {
		case i == s.cursor:
			prefix = st.Cursor.Render("▌ ")
			line = st.Selected.Render(line)
		case loose >= 0 && i >= loose:
			line = st.Faint.Render(line) // looser hits are dimmed
		}
		b.WriteString(prefix + line + badge)
	}
	return b.String()
}

// looseHeading is the faint line above the looser hits.
func (s *searchScreen) looseHeading() string {
	if s.strong == 0 {
		return "  — no close match; looser matches —"
	}
	return "  — looser matches —"
}

// searchBoxView is the search box. Focused, it is the text input with its
// cursor; unfocused (after esc), it is plainly not taking keys: the query
// faint, no cursor, and "/ to search".
func (m Model) searchBoxView(width int) string {
	s, st := &m.search, m.styles
	if s.input.Focused() {
		return s.input.View()
	}
	hint := st.KeyHint.Render("/") + st.Faint.Render(" to search")
	q := s.input.Value()
	if q == "" {
		return ansi.Truncate("  "+hint+st.Faint.Render(": "+s.input.Placeholder), width, "…")
	}
	q = ansi.Truncate(q, max(1, width-18), "…")
	return "  " + st.Faint.Render(q) + "   " + hint
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
