package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

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

// view renders the list into width×height cells.
func (s *searchScreen) view(c *screenCtx, width, height int) string {
	st := c.styles
	var b strings.Builder
	b.WriteString(s.boxView(c, width))
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
		progress += " " + c.spinnerView()
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
	// Stranded attempts and checks left running take list lines too,
	// leaving the list at least one.
	for _, l := range s.strandedLines(c, width, rows-1) {
		b.WriteString(l + "\n")
		rows--
	}
	for _, l := range s.checkingLines(c, width, min(rows-1, 4)) {
		b.WriteString(l + "\n")
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
	loose := s.looseFrom()
	lines := s.line(len(s.visible) - 1)
	// The list is drawn from s.offset, moved down here (not in the model)
	// if a note's line would hide the selected row.
	offset := max(s.offset, s.line(s.cursor)-rows+1)
	end := min(lines+1, offset+rows)
	// rowAt is the position in visible drawn on list line ln, or -1 for the
	// looser-matches heading (drawn where the first looser hit would be).
	rowAt := func(ln int) int {
		switch {
		case loose >= 0 && ln == loose:
			return -1
		case loose >= 0 && ln > loose:
			return ln - 1
		}
		return ln
	}
	// Columns fit what is on screen: the name and bank columns are as wide
	// as the widest name and bank shown when they fit (what is left over
	// stays at the right, not between them); when they do not, the bank
	// gets up to two fifths of the room and the name the rest.
	widestBank, widestName := 0, 0
	for ln := offset; ln < end; ln++ {
		if i := rowAt(ln); i >= 0 {
			a := s.at(s.visible[i])
			widestBank = max(widestBank, ansi.StringWidth(a.Institution.Name))
			widestName = max(widestName, ansi.StringWidth(a.Name))
		}
	}
	room := max(16, width-2-badgeW-numW-3) // name + bank
	bankW, nameW := max(8, widestBank), max(8, widestName)
	if bankW+nameW > room {
		bankW = min(bankW, max(8, room*2/5))
		nameW = max(8, room-bankW)
	}
	for ln := offset; ln < end; ln++ {
		if ln > offset {
			b.WriteByte('\n')
		}
		i := rowAt(ln)
		if i < 0 {
			b.WriteString(st.Faint.Render(s.looseHeading()))
			continue
		}
		a := s.at(s.visible[i])
		badge := st.Badge(badgeFor(a, c.marked(a.ID)))
		name := ansi.Truncate(a.Name, nameW, "…")
		bank := ansi.Truncate(a.Institution.Name, bankW, "…")
		line := padRight(name, nameW) + " " + padRight(bank, bankW) + " " + padRight(a.MaskedNumber(), numW) + " "
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

// boxView is the search box. Focused, it is the text input with its
// cursor; unfocused (after esc), it is plainly not taking keys: the query
// faint, no cursor, and "/ to search".
func (s *searchScreen) boxView(c *screenCtx, width int) string {
	st := c.styles
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

// listRows is how many account rows fit on the list at this terminal height.
func listRows(height int) int { return max(1, height-2-2-1) }
