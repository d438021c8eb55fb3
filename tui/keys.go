package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the app understands. The root model enables only the
// bindings that work in the current screen and phase (see syncKeys), so the
// footer and the full help never advertise a key that does nothing.
type KeyMap struct {
	Quit        key.Binding
	QuitKey     key.Binding // plain q, off while typing
	Help        key.Binding
	Back        key.Binding
	Search      key.Binding
	Up          key.Binding
	Down        key.Binding
	PageUp      key.Binding
	PageDown    key.Binding
	Top         key.Binding
	Bottom      key.Binding
	Open        key.Binding
	NeedsReauth key.Binding
	Reason      key.Binding
	Mint        key.Binding
	Reveal      key.Binding
	CopyToken   key.Binding
	OpenPage    key.Binding
	CopyLink    key.Binding
	ShowLink    key.Binding
	ShowWhy     key.Binding
	Hosted      key.Binding
	CopyIDs     key.Binding // Mono support's ids for the account
	ShowQR      key.Binding // the page link as a QR code (its secret included)
	Retry       key.Binding
	Refresh     key.Binding // the account list, at any time (R only while not typing)
	ClearQuery  key.Binding
	Yes         key.Binding
	No          key.Binding
}

// DefaultKeyMap follows k9s / gh-dash habits.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Quit:        key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		QuitKey:     key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Back:        key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Search:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search")),
		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:      key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown:    key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:         key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top")),
		Bottom:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "bottom/follow")),
		Open:        key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		NeedsReauth: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "needs reauth only")),
		Reason:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "change reason")),
		Mint:        key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "mint token")),
		Reveal:      key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "reveal token")),
		CopyToken:   key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy token")),
		OpenPage:    key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "open page")),
		CopyLink:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy link")),
		ShowLink:    key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "show link")),
		ShowWhy:     key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "why & what to say")),
		Hosted:      key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "hosted link")),
		CopyIDs:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "copy support ids")),
		ShowQR:      key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "QR code for a phone")),
		Retry:       key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "retry")),
		Refresh:     key.NewBinding(key.WithKeys("R", "ctrl+r"), key.WithHelp("R", "refresh list")),
		ClearQuery:  key.NewBinding(key.WithKeys("ctrl+u"), key.WithHelp("ctrl+u", "clear search")),
		Yes:         key.NewBinding(key.WithKeys("y", "enter"), key.WithHelp("y", "yes")),
		No:          key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "no")),
	}
}

// all lists every binding, for switching them all off before enabling some.
func (k *KeyMap) all() []*key.Binding {
	return []*key.Binding{&k.Quit, &k.QuitKey, &k.Help, &k.Back, &k.Search, &k.Up, &k.Down,
		&k.PageUp, &k.PageDown, &k.Top, &k.Bottom, &k.Open, &k.NeedsReauth, &k.Reason, &k.Mint,
		&k.Reveal, &k.CopyToken, &k.OpenPage, &k.CopyLink, &k.ShowLink, &k.ShowWhy, &k.Hosted, &k.CopyIDs, &k.ShowQR, &k.Retry, &k.Refresh, &k.ClearQuery, &k.Yes, &k.No}
}

// ShortHelp is the footer's keys in the order they show (help.KeyMap).
func (k KeyMap) ShortHelp() []key.Binding {
	fk := k.footer()
	out := make([]key.Binding, len(fk))
	for i, f := range fk {
		out[i] = f.Binding
	}
	return out
}

// footerKey is a footer entry and how much it matters when the footer is
// too narrow for every key: the highest rank goes first; rank 0 never goes.
type footerKey struct {
	key.Binding
	rank int
}

// Footer ranks.
const (
	rankAlways = iota // esc, q, ?, and a question's answers: always shown
	rankNext          // what the agent most likely does next
	rankUseful        // a toggle or a copy
	rankRare          // the rest
)

// footer lists the footer's keys, in order, with their ranks: the keys for
// what the agent most likely does next first; esc, q and ? at the end,
// always shown.
func (k KeyMap) footer() []footerKey {
	// "/ search" goes early: the unfocused box says "/ to search" itself.
	return []footerKey{
		{k.Yes, rankAlways}, {k.No, rankAlways},
		{k.Mint, rankNext}, {k.OpenPage, rankNext}, {k.CopyLink, rankNext}, {k.ShowLink, rankUseful}, {k.ShowQR, rankRare},
		{k.Hosted, rankRare}, {k.Open, rankNext}, {k.Search, rankRare}, {k.NeedsReauth, rankUseful},
		{k.Reason, rankRare}, {k.Reveal, rankUseful}, {k.CopyToken, rankUseful}, {k.CopyIDs, rankUseful}, {k.Retry, rankNext},
		{k.Refresh, rankUseful}, {k.Back, rankAlways}, {k.QuitKey, rankAlways}, {k.Help, rankAlways},
	}
}

// FullHelp is the `?` screen, grouped in columns.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Search, k.ClearQuery, k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Open, k.NeedsReauth, k.Reason, k.Mint, k.Reveal, k.CopyToken},
		{k.OpenPage, k.CopyLink, k.ShowLink, k.ShowWhy, k.ShowQR, k.Hosted, k.CopyIDs, k.Retry, k.Refresh, k.Yes, k.No},
		{k.Back, k.Help, k.QuitKey, k.Quit},
	}
}
