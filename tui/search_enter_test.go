package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/tui/search"
)

// The harness runs every Cmd on its own goroutine and applies what they
// return only inside h.until: keys sent with h.send/h.typeText/h.key reach
// Update before any search result, as a fast typist's (or one terminal
// write's) keys do.

// sharedFirstName finds two listed holders sharing a first name: want,
// whose full name finds them first, and first, the top hit of the first
// name alone (the Yetunde Adeleke and Yetunde Ogundipe).
func sharedFirstName(t *testing.T, accounts []mono.Account) (want, first mono.Account) {
	t.Helper()
	for _, a := range accounts {
		name := strings.Fields(a.Name)
		if len(name) < 2 {
			continue
		}
		full := FindAccounts(accounts, a.Name, false)
		partial := FindAccounts(accounts, name[0], false)
		if len(full) == 0 || full[0].ID != a.ID || len(partial) < 2 || partial[0].ID == a.ID {
			continue
		}
		if want.ID == "" || a.Name == "Yetunde Adeleke" {
			want, first = a, partial[0]
		}
	}
	if want.ID == "" {
		t.Fatal("no two holders share a first name")
	}
	return want, first
}

func ctrl(r rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: r, Mod: tea.ModCtrl} }

func onSession(m Model) bool { return m.screen == screenSession && m.session != nil }

// Item 0: the first name's result is on screen (its top row is someone
// else); the rest of the name and enter arrive before the full name's
// result. enter waits for it and opens the account typed.
func TestEnterBeforeTheResultOpensTheAccountTyped(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520})
	h.until("loaded", loaded)
	want, first := sharedFirstName(t, h.m.search.accounts)
	given := strings.Fields(want.Name)[0]
	h.typeText(given)
	h.until("the first name's rows", func(m Model) bool { return m.search.result.Query == search.Normalize(given) })
	if a, _ := h.m.search.selected(); a.ID != first.ID {
		t.Fatalf("precondition: %q selects %q, want %q", given, a.Name, first.Name)
	}

	h.typeText(want.Name[len(given):])
	h.key("enter")
	if h.m.screen != screenSearch {
		t.Fatalf("enter opened %q from the rows of %q", h.m.session.account.Name, given)
	}
	if len(h.m.search.held) != 1 {
		t.Fatalf("enter not held for the query typed: held %d", len(h.m.search.held))
	}
	h.until("the session", onSession)
	if got := h.m.session.account; got.ID != want.ID {
		t.Fatalf("typed %q and enter: opened %q", want.Name, got.Name)
	}
	if !strings.Contains(plain(h.m), "›  "+want.Name) {
		t.Fatalf("the session screen does not show %q:\n%s", want.Name, plain(h.m))
	}
}

// The same with nothing on screen yet for any part of the name: every key
// and enter before the first result.
func TestEnterBeforeAnyResultOpensTheAccountTyped(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520})
	h.until("loaded", loaded)
	want, _ := sharedFirstName(t, h.m.search.accounts)
	h.typeText(want.Name)
	h.key("enter")
	h.until("the session", onSession)
	if got := h.m.session.account; got.ID != want.ID {
		t.Fatalf("opened %q, want %q", got.Name, want.Name)
	}
}

// Older results arriving after the newest one change nothing: the newest
// result opens the account typed, and the older ones (dropped by their
// generation) never open another.
func TestEnterIgnoresOlderResultsArrivingLate(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520})
	h.until("loaded", loaded)
	want, _ := sharedFirstName(t, h.m.search.accounts)
	h.typeText(want.Name)
	h.key("enter")
	// Collect every search result the keys started, then hand them to
	// Update newest first.
	var results []searchResultMsg
	var other []tea.Msg
	for len(results) < len([]rune(want.Name)) {
		select {
		case msg := <-h.msgs:
			if r, ok := msg.(searchResultMsg); ok {
				results = append(results, r)
			} else {
				other = append(other, msg)
			}
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
	for i := range results {
		for j := i + 1; j < len(results); j++ {
			if results[j].gen > results[i].gen {
				results[i], results[j] = results[j], results[i]
			}
		}
	}
	for _, r := range results {
		h.send(r)
		if !onSession(h.m) {
			t.Fatalf("result %d (%q) did not open the account", r.gen, r.result.Query)
		}
		if got := h.m.session.account; got.ID != want.ID {
			t.Fatalf("after result %d (%q): %q open, want %q", r.gen, r.result.Query, got.Name, want.Name)
		}
	}
	for _, msg := range other {
		h.send(msg)
	}
	if got := h.m.session.account; got.ID != want.ID {
		t.Fatalf("%q open, want %q", got.Name, want.Name)
	}
}

// Moves typed before the result move in the new rows: "↓ enter" after the
// whole name opens the second hit of the whole name, not of a partial one.
func TestMovesBeforeTheResultMoveInTheRowsTyped(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520})
	h.until("loaded", loaded)
	h.typeText("ade")
	h.until("ade", func(m Model) bool { return m.search.result.Query == "ade" })
	hits := FindAccounts(h.m.search.accounts, "adeleke", false)
	if len(hits) < 2 {
		t.Fatalf("fixture: %d hits for adeleke", len(hits))
	}
	h.typeText("leke")
	h.key("down", "enter")
	h.until("the session", onSession)
	if got := h.m.session.account; got.ID != hits[1].ID {
		t.Fatalf("↓ enter opened %q, want the second hit %q", got.Name, hits[1].Name)
	}
}

// Keys typed after enter are neither lost nor typed into the box: they
// reach the screen enter opened, in order (t mints there).
func TestKeysAfterAHeldEnterReachTheSession(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.typeText("okonkwo")
	h.key("enter", "t")
	h.until("the session minting", func(m Model) bool { return onSession(m) && m.session.sess.Token().Value != "" })
	if got := h.m.session.account.ID; got != wrongOTPID {
		t.Fatalf("opened %s", got)
	}
	if v := h.m.search.input.Value(); v != "okonkwo" {
		t.Fatalf("search box %q: a key after enter was typed into it", v)
	}
}

// A pasted id and enter before its result: the id's account opens, once,
// and the enter (which asked for exactly that) does not act again on the
// session screen.
func TestPastedIDAndEnterBeforeTheResult(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520})
	h.until("loaded", loaded)
	top, _ := h.m.search.selected()
	var target mono.Account
	for _, a := range h.m.search.accounts[300:] {
		if a.ID != top.ID {
			target = a
			break
		}
	}
	h.send(tea.PasteMsg{Content: target.ID})
	h.key("enter")
	if h.m.screen != screenSearch {
		t.Fatalf("enter opened %q before the pasted id's result", h.m.session.account.Name)
	}
	h.until("the session", onSession)
	if got := h.m.session.account; got.ID != target.ID {
		t.Fatalf("opened %q, want the pasted id's %q", got.Name, target.Name)
	}
	if len(h.m.search.held) != 0 {
		t.Fatalf("%d keys still held", len(h.m.search.held))
	}
	// Back on the list, a later result for the same id (a refresh, a page
	// loading) does not open it again.
	h.key("esc")
	h.until("the list", func(m Model) bool { return m.screen == screenSearch })
	h.send(searchResultMsg{gen: h.m.search.queryGen, result: h.m.search.result})
	if h.m.screen != screenSearch {
		t.Fatal("the same pasted id opened again")
	}
}

// enter with no match for the query as typed opens nothing and says so.
func TestEnterWithNoMatchSaysSo(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.typeText("zzqqxx")
	h.key("enter")
	h.until("the result", func(m Model) bool { return m.search.result.Query == "zzqqxx" && len(m.search.held) == 0 })
	if h.m.screen != screenSearch {
		t.Fatalf("enter opened %q with no match", h.m.session.account.Name)
	}
	if v := plain(h.m); !strings.Contains(v, `Nothing opened: no account matches "zzqqxx".`) || !strings.Contains(v, "No accounts match.") {
		t.Fatalf("not said:\n%s", v)
	}
	h.typeText("a")
	if strings.Contains(plain(h.m), "Nothing opened") {
		t.Fatal("the note outlived the next key")
	}
}

// 5a: "/" never becomes part of the query; it focuses the box.
func TestSlashFocusesAndIsNotTyped(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.typeText("/okonkwo")
	if v := h.m.search.input.Value(); v != "okonkwo" {
		t.Fatalf("query %q, want okonkwo", v)
	}
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "okonkwo" })
	if a, ok := h.m.search.selected(); !ok || a.ID != wrongOTPID {
		t.Fatalf("/okonkwo selects %q", a.Name)
	}
	h.key("esc")
	if h.m.search.input.Focused() {
		t.Fatal("esc did not leave the box")
	}
	h.key("/")
	if !h.m.search.input.Focused() || h.m.search.input.Value() != "okonkwo" {
		t.Fatalf("/ after esc: focused %v, query %q", h.m.search.input.Focused(), h.m.search.input.Value())
	}
}

// 5b: ctrl+u clears the query (and leaves the box ready for typing).
func TestCtrlUClearsTheQuery(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.typeText("okonkwo")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "okonkwo" })
	h.send(ctrl('u'))
	if v := h.m.search.input.Value(); v != "" {
		t.Fatalf("ctrl+u left %q", v)
	}
	h.until("everything", func(m Model) bool { return m.search.result.Query == "" && len(m.search.visible) == 60 })
	h.typeText("ada")
	if !strings.Contains(fullHelp(h), "ctrl+u clear search") {
		t.Fatalf("ctrl+u not in the help:\n%s", fullHelp(h))
	}
	h.key("esc")
	h.send(ctrl('u'))
	if !h.m.search.input.Focused() || h.m.search.input.Value() != "" {
		t.Fatalf("ctrl+u after esc: focused %v, query %q", h.m.search.input.Focused(), h.m.search.input.Value())
	}
}

func fullHelp(h *harness) string {
	h.key("?")
	v := plain(h.m)
	h.key("?")
	return v
}

// 5c: after esc the box plainly does not take keys: no "/ " prompt, the
// query faint with "/ to search", and a letter typed says so instead of
// vanishing.
func TestUnfocusedBoxSaysSlashToSearch(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	h.typeText("okon")
	h.until("filtered", func(m Model) bool { return m.search.result.Query == "okon" })
	h.key("esc")
	box := strings.Split(plain(h.m), "\n")[2]
	if strings.Contains(box, "/ okon") || !strings.Contains(box, "okon") || !strings.Contains(box, "/ to search") {
		t.Fatalf("unfocused box %q", box)
	}
	h.typeText("w")
	if v := h.m.search.input.Value(); v != "okon" {
		t.Fatalf("a letter reached the unfocused box: %q", v)
	}
	if !strings.Contains(plain(h.m), "The search box is not focused: / to search") {
		t.Fatalf("typing into the unfocused box not explained:\n%s", plain(h.m))
	}
	h.key("esc") // clears the query
	box = strings.Split(plain(h.m), "\n")[2]
	if !strings.Contains(box, "/ to search: name, email") {
		t.Fatalf("empty unfocused box %q", box)
	}
}

// 5d: with "needs reauth only" on, matches hidden by the filter are counted
// and the way to see them named.
func TestFilterSaysWhatItHides(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520})
	h.until("loaded", loaded)
	var healthy mono.Account
	for _, a := range h.m.search.accounts {
		all := FindAccounts(h.m.search.accounts, a.Name, false)
		if !a.NeedsReauth() && len(all) >= 2 && len(FindAccounts(h.m.search.accounts, a.Name, true)) == 0 {
			healthy = a
			break
		}
	}
	if healthy.ID == "" {
		t.Fatal("fixture: no name whose matches all are healthy")
	}
	n := len(FindAccounts(h.m.search.accounts, healthy.Name, false))
	h.key("tab")
	h.typeText(healthy.Name)
	h.until("filtered", func(m Model) bool { return m.search.result.Query == search.Normalize(healthy.Name) })
	want := fmt.Sprintf("No account needing reauth matches; %d others match — tab shows all", n)
	if v := plain(h.m); !strings.Contains(v, want) || !strings.Contains(v, fmt.Sprintf("0 of %d matches", n)) {
		t.Fatalf("want %q:\n%s", want, v)
	}
	h.key("enter")
	if v := plain(h.m); h.m.screen != screenSearch || !strings.Contains(v, "Nothing opened: no account needing reauth matches (tab shows all).") {
		t.Fatalf("enter with every match hidden:\n%s", v)
	}
	h.key("tab")
	if len(h.m.search.visible) != n {
		t.Fatalf("tab shows %d, want %d", len(h.m.search.visible), n)
	}
}

// 5e and 5f: strong hits lead and looser ones sit under a faint "looser
// matches" line, dimmed; a transposed name finds the account, as a looser
// match, and enter opens it.
func TestLooserMatchesAreShownApart(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520})
	h.until("loaded", loaded)
	h.typeText("folake")
	h.until("folake", func(m Model) bool { return m.search.result.Query == "folake" })
	v := plain(h.m)
	folake, sep, folasade := strings.Index(v, "Folake Adeyemi-Bello"), strings.Index(v, "— looser matches —"), strings.Index(v, "Folasade Ibekwe")
	if folake < 0 || sep < 0 || folasade < 0 || !(folake < sep && sep < folasade) {
		t.Fatalf("want Folake Adeyemi-Bello, then the looser line, then Folasade Ibekwe:\n%s", v)
	}

	h.send(ctrl('u'))
	h.typeText("okonkow")
	h.until("okonkow", func(m Model) bool { return m.search.result.Query == "okonkow" })
	v = plain(h.m)
	if !strings.Contains(v, "— no close match; looser matches —") || !strings.Contains(v, "Adaeze Okonkwo") {
		t.Fatalf("okonkow:\n%s", v)
	}
	h.key("enter")
	h.until("the session", onSession)
	if h.m.session.account.ID != wrongOTPID {
		t.Fatalf("okonkow opened %q", h.m.session.account.Name)
	}
}

// The looser-matches line takes a row: moving through every hit on a short
// screen always keeps the selected row drawn, and the first looser hit
// comes with its heading.
func TestCursorStaysVisibleAcrossTheLooserLine(t *testing.T) {
	h := newHarness(t, harnessOpts{accounts: 520, width: 80, height: 12})
	h.until("loaded", loaded)
	h.typeText("ad")
	h.until("ad", func(m Model) bool { return m.search.result.Query == "ad" })
	s := h.m.search
	if s.strong == 0 || s.strong >= len(s.visible) {
		t.Fatalf("fixture: %d strong of %d", s.strong, len(s.visible))
	}
	for i := range len(s.visible) + 2 {
		a, _ := h.m.search.selected()
		v := plain(h.m)
		if !strings.Contains(v, "▌ "+a.Name) {
			t.Fatalf("step %d: selected %q not drawn:\n%s", i, a.Name, v)
		}
		if h.m.search.cursor == h.m.search.strong && !strings.Contains(v, "— looser matches —") {
			t.Fatalf("the first looser hit without its heading:\n%s", v)
		}
		h.key("down")
	}
	for range len(s.visible) + 2 {
		h.key("up")
		a, _ := h.m.search.selected()
		if !strings.Contains(plain(h.m), "▌ "+a.Name) {
			t.Fatalf("going up: %q not drawn:\n%s", a.Name, plain(h.m))
		}
	}
}

// 5g: R (not typing) or ctrl+r (always) re-reads the list at any time, not
// only after a failure, and the footer offers it; R while typing is a letter.
func TestRefreshKeyRereadsTheList(t *testing.T) {
	accounts := sandbox.Generate(1, 60)
	lister := &scriptedLister{accounts: accounts, pageSize: 20}
	h := newHarness(t, harnessOpts{tweak: func(d *Deps) { d.Catalog = NewCatalog(t.Context(), lister, CatalogOptions{}) }})
	h.until("loaded", loaded)
	if !strings.Contains(plain(h.m), "ctrl+r refresh list") {
		t.Fatalf("typing: the footer does not offer ctrl+r:\n%s", plain(h.m))
	}
	lister.set(accounts[:59], nil, 0)
	h.key("esc")
	if !strings.Contains(plain(h.m), "R refresh list") {
		t.Fatalf("the footer does not offer R:\n%s", plain(h.m))
	}
	h.key("R")
	h.until("refreshed", func(m Model) bool { return !m.search.refreshing && m.search.loaded == 59 && m.search.result.N == 59 })
	if n := lister.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2", n)
	}

	h.key("/")
	h.typeText("R")
	if v := h.m.search.input.Value(); v != "R" {
		t.Fatalf("R while typing: query %q", v)
	}
	lister.set(accounts[:58], nil, 0)
	h.send(ctrl('r'))
	h.until("refreshed again", func(m Model) bool { return !m.search.refreshing && m.search.loaded == 58 })
	if n := lister.loads.Load(); n != 3 {
		t.Fatalf("%d loads, want 3", n)
	}
}

// Golden views of the search screen's new states (80x24, dark).
func TestGoldenSearchViews(t *testing.T) {
	cases := []struct {
		name  string
		setup func(h *harness)
	}{
		{"unfocused", func(h *harness) {
			h.typeText("okon")
			h.until("okon", func(m Model) bool { return m.search.result.Query == "okon" })
			h.key("esc")
		}},
		{"looser", func(h *harness) {
			h.typeText("folake")
			h.until("folake", func(m Model) bool { return m.search.result.Query == "folake" })
		}},
		{"typo", func(h *harness) {
			h.typeText("okonkow")
			h.until("okonkow", func(m Model) bool { return m.search.result.Query == "okonkow" })
		}},
		{"filter_hides", func(h *harness) {
			// Both Ebere Etims are healthy; enter says why nothing opens.
			h.key("tab")
			h.typeText("ebere etim")
			h.key("enter")
			h.until("ebere etim", func(m Model) bool { return m.search.result.Query == "ebere etim" && len(m.search.held) == 0 })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{accounts: 520, dark: true})
			h.until("loaded", loaded)
			c.setup(h)
			golden.RequireEqual(t, h.m.View().Content)
		})
		// The same at 200×60, dark and light.
		for _, dark := range []bool{true, false} {
			bg := "light"
			if dark {
				bg = "dark"
			}
			t.Run(c.name+"_200x60_"+bg, func(t *testing.T) {
				h := newHarness(t, harnessOpts{accounts: 520, width: 200, height: 60, dark: dark})
				h.until("loaded", loaded)
				c.setup(h)
				golden.RequireEqual(t, h.m.View().Content)
			})
		}
	}
}
