package tui

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// onKey handles the list's keys.
func (s *searchScreen) onKey(c *screenCtx, msg tea.KeyPressMsg) tea.Cmd {
	k := c.keys
	rows := listRows(c.height)
	s.note = ""
	switch {
	case pressed(msg, k.Open):
		// hold made sure the rows answer the query as typed.
		if a, ok := s.selected(); ok {
			c.post(openAccountMsg{account: a})
			return nil
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
		s.refilter(c.needsReauth)
		s.cursor, s.offset = 0, 0
		s.scrollTo(rows)
		return nil
	case key.Matches(msg, k.Retry):
		// R after a failure, even while typing (the error line offers it).
		return s.refreshList()
	case msg.String() == "ctrl+r", !s.input.Focused() && pressed(msg, k.Refresh):
		return s.refreshList()
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

// enableKeys turns on the list's keys that do something now.
func (s *searchScreen) enableKeys(c *screenCtx, k *KeyMap) {
	typing := s.input.Focused()
	k.QuitKey.SetEnabled(!typing)
	k.Search.SetEnabled(!typing)
	// The list is the top level: esc leaves the box or clears the query,
	// it goes back nowhere.
	k.Back.SetEnabled(typing || s.input.Value() != "")
	switch {
	case typing:
		k.Back.SetHelp("esc", "browse") // leave the box: j/k move, / comes back
	default:
		k.Back.SetHelp("esc", "clear search")
	}
	hasRows := len(s.visible) > 0
	for _, b := range []*key.Binding{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Open} {
		b.SetEnabled(hasRows)
	}
	k.Top.SetEnabled(hasRows && !typing)
	k.Bottom.SetEnabled(hasRows && !typing)
	k.NeedsReauth.SetEnabled(true)
	if s.needsOnly {
		k.NeedsReauth.SetHelp("tab", "show all") // the filter is on
	} else {
		k.NeedsReauth.SetHelp("tab", "needs reauth only")
	}
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

// hold keeps msg (a key or a paste) back while the list must wait for the
// result of the query as typed: a key that acts on the rows (enter, a move)
// when the rows shown are an older query's, and everything typed after it,
// so order is kept. releaseHeld replays them. ctrl+c is never held.
func (s *searchScreen) hold(c *screenCtx, msg tea.Msg) bool {
	if len(s.held) == 0 {
		k, ok := msg.(tea.KeyPressMsg)
		if !ok || s.current() || !s.actsOnRows(c.keys, k) {
			return false
		}
	} else if k, ok := msg.(tea.KeyPressMsg); ok && key.Matches(k, c.keys.Quit) {
		return false
	}
	s.held = append(s.held, msg)
	return true
}

// actsOnRows reports whether k picks or moves among the rows (enabled or
// not: with no rows yet, enter still waits).
func (s *searchScreen) actsOnRows(keys *KeyMap, k tea.KeyPressMsg) bool {
	typing := s.input.Focused()
	switch {
	case pressed(k, keys.ClearQuery):
		return false
	case pressed(k, keys.Open), pressed(k, keys.PageUp), pressed(k, keys.PageDown),
		k.String() == "up" || k.String() == "down":
		return true
	}
	return !typing && (pressed(k, keys.Up) || pressed(k, keys.Down) || pressed(k, keys.Top) || pressed(k, keys.Bottom))
}

// pressed reports whether k is one of b's keys, whether b is enabled or
// not (the footer may not advertise a key that still has a meaning).
func pressed(k tea.KeyPressMsg, b key.Binding) bool {
	return slices.Contains(b.Keys(), k.String())
}
