package tui

import (
	"maps"
	"math"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

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
	catView CatalogView // the newest catalogue version; queries run over it
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
	// stranded are the agent's own attempts on other replicas that did not
	// come back when they connected (WithStranded), said above the list
	// until each account is opened.
	stranded []Stranded
	// checks are the attempts left while their account was being checked
	// after a success, still checking; checkedNotes the answers of those
	// that finished, newest first (background.go).
	checks, checkedNotes []checkNote
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
	return searchScreen{input: in, catView: CatalogView{Index: ix, Snapshot: ix.Snapshot()}, index: ix,
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

// update handles the list's own messages and the root's broadcasts.
func (s *searchScreen) update(c *screenCtx, msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		s.input.SetWidth(max(10, c.innerWidth()-4))
		s.scrollTo(listRows(c.height))
		return nil, true
	case catalogMsg:
		return s.onCatalog(c, msg.view), true
	case searchResultMsg:
		if msg.gen != s.queryGen { // a stale result never overwrites a newer one
			return nil, true
		}
		s.applyResult(msg.result, c.needsReauth)
		s.scrollTo(listRows(c.height))
		jumped := s.jumpToPastedID(c)
		s.releaseHeld(c, jumped)
		return nil, true
	case AccountSignal:
		if s.needsOnly {
			// A mark came or went (a reauth, a sync SUCCESSFUL, an unlink,
			// a new mark): the "needs reauth only" list may change.
			s.refilter(c.needsReauth)
		}
		return nil, true
	case accountReadMsg:
		s.replace(msg.account)
		return nil, true
	case tea.PasteMsg:
		if !c.front || !s.input.Focused() {
			return nil, true
		}
		var cmd tea.Cmd
		s.input, cmd = s.input.Update(msg)
		return tea.Batch(cmd, s.runSearch()), true
	}
	return nil, false
}

// start is the list's part of Init: the catalogue's first version and the
// focused box.
func (s *searchScreen) start(c *screenCtx) tea.Cmd {
	return tea.Batch(s.watchCatalog(c.ctx, 0), s.input.Focus())
}

// enter is the list coming back on screen (from an account): the box takes
// keys again.
func (s *searchScreen) enter() tea.Cmd { return s.input.Focus() }

// leave is the list going off screen.
func (s *searchScreen) leave() { s.input.Blur() }

// restyle gives the search box the theme's styles.
func (s *searchScreen) restyle(st *Styles) {
	ts := s.input.Styles()
	ts.Focused.Prompt = st.KeyHint
	ts.Blurred.Prompt = st.Faint
	s.input.SetStyles(ts)
}

func (s *searchScreen) title() string { return "accounts" }

// busy: the spinner turns while the list loads.
func (s *searchScreen) busy() bool { return s.loading && s.loadErr == nil }

// ticking: nothing on the list moves with the clock (an agent idling on it
// draws no frame a second).
func (s *searchScreen) ticking() bool { return false }

// cursor is the search box's cursor while it takes keys.
func (s *searchScreen) textCursor() *tea.Cursor {
	if !s.input.Focused() {
		return nil
	}
	return s.input.Cursor()
}

// jumpToPastedID opens the account when the query is exactly a known id.
// It runs when the result for the query as typed arrives (never on an older
// query's rows), once per id typed or pasted.
func (s *searchScreen) jumpToPastedID(c *screenCtx) bool {
	q := strings.TrimSpace(s.input.Value())
	if !looksLikeID(q) {
		s.jumped = ""
		return false
	}
	if !c.front || s.jumped == q || !s.current() {
		return false
	}
	a, ok := s.lookup(q)
	if !ok {
		return false
	}
	s.jumped = q
	c.post(openAccountMsg{account: a})
	return true
}

// releaseHeld replays the held keys in order (through the root, after
// whatever was posted before) once the rows answer the query as typed. When
// a pasted id has just been opened, a held enter was asking for exactly
// that and is dropped.
func (s *searchScreen) releaseHeld(c *screenCtx, jumped bool) {
	if len(s.held) == 0 || !s.current() {
		return
	}
	held := s.held
	s.held = nil
	if k, ok := held[0].(tea.KeyPressMsg); ok && jumped && pressed(k, c.keys.Open) {
		held = held[1:]
	}
	if len(held) > 0 {
		c.post(replayMsg{msgs: held})
	}
}

// onCatalog takes a newer catalogue version: progress shows at once, and
// the query re-runs over it when the list itself changed. The rows on
// screen stay those of the older version until that result arrives, so a
// refresh swaps the list in one frame.
func (s *searchScreen) onCatalog(c *screenCtx, v CatalogView) tea.Cmd {
	if v.Version <= s.catView.Version {
		return s.watchCatalog(c.ctx, s.catView.Version) // cannot happen: versions only grow
	}
	old := s.catView
	s.catView = v
	changed := len(v.Accounts) != len(old.Accounts) || v.Index != old.Index || !sameFresh(v.fresh, old.fresh)
	s.loaded, s.total, s.pageCount = len(v.Accounts), v.Total, v.Pages
	s.loading, s.refreshing, s.loadErr, s.loadedAt = v.Loading, v.Refreshing, v.Err, v.LoadedAt
	cmds := []tea.Cmd{s.watchCatalog(c.ctx, v.Version)}
	if changed {
		cmds = append(cmds, s.runSearch())
	}
	return tea.Batch(cmds...)
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
