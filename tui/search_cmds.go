package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/tui/search"
)

// watchCatalog waits in a tea.Cmd for the catalogue's next version after
// seen (the first call starts the load). Update never waits on Mono: a slow
// or failing list only delays this message.
func (s *searchScreen) watchCatalog(ctx context.Context, seen uint64) tea.Cmd {
	c := s.catalog
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

// refreshList asks the catalogue to read the list again (R or ctrl+r at
// any time, not only after a failure), in a Cmd: Reload starts the load's
// goroutine, which is not Update's work. Every program sharing the
// catalogue sees the new list; the query and the selection stay.
func (s *searchScreen) refreshList() tea.Cmd {
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
	v := s.catView
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

func freshSearcher() *search.Searcher { return search.NewSearcher(32) }
