package tui

import "sync"

// themeStyles holds the Styles of each theme, built once per process: every
// program (under `reauth serve`, every SSH session) copies them instead of
// building some fifty lipgloss styles and four maps at start and again when
// the terminal says its background. The maps are shared and never written.
var themeStyles [2]struct {
	once   sync.Once
	styles Styles
}

// stylesFor returns the Styles for a dark or light background.
func stylesFor(dark bool) Styles {
	i := 0
	if dark {
		i = 1
	}
	t := &themeStyles[i]
	t.once.Do(func() { t.styles = NewStyles(dark) })
	return t.styles
}
