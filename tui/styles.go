package tui

import (
	"image/color"
	"sync"

	"charm.land/lipgloss/v2"
)

// Styles are the app's semantic styles. Each program picks the set for its
// terminal's background (tea.BackgroundColorMsg, via stylesFor), never for
// the process's own terminal: under `reauth serve` that would be the server's.
type Styles struct {
	Dark bool

	App       lipgloss.Style // whole-screen inset
	Title     lipgloss.Style
	Sandbox   lipgloss.Style // the SANDBOX badge
	Live      lipgloss.Style // the LIVE badge
	Header    lipgloss.Style
	Section   lipgloss.Style // section headings
	Label     lipgloss.Style
	Value     lipgloss.Style
	Faint     lipgloss.Style
	Accent    lipgloss.Style
	Success   lipgloss.Style
	Warning   lipgloss.Style
	Error     lipgloss.Style
	Selected  lipgloss.Style // selected list row
	Cursor    lipgloss.Style
	Link      lipgloss.Style
	Box       lipgloss.Style // bordered panel
	Dialog    lipgloss.Style
	KeyHint   lipgloss.Style
	Banner    map[string]lipgloss.Style // outcome banners by outcome name
	Badge     map[string]lipgloss.Style // account status badges by label
	Tone      map[string]lipgloss.Style // status pane lines by event tone
	ToneIcon  map[string]string
	HelpKey   lipgloss.Style
	HelpDesc  lipgloss.Style
	HelpSep   lipgloss.Style
	Scrollbar lipgloss.Style
}

// NewStyles builds the styles for a dark or light background.
func NewStyles(dark bool) Styles {
	ld := lipgloss.LightDark(dark)
	fg := ld(lipgloss.Color("#1f2328"), lipgloss.Color("#e6edf3"))
	faint := ld(lipgloss.Color("#6e7781"), lipgloss.Color("#8b949e"))
	accent := ld(lipgloss.Color("#0969da"), lipgloss.Color("#58a6ff"))
	green := ld(lipgloss.Color("#1a7f37"), lipgloss.Color("#3fb950"))
	yellow := ld(lipgloss.Color("#9a6700"), lipgloss.Color("#d29922"))
	red := ld(lipgloss.Color("#cf222e"), lipgloss.Color("#f85149"))
	purple := ld(lipgloss.Color("#8250df"), lipgloss.Color("#bc8cff"))
	selBg := ld(lipgloss.Color("#ddf4ff"), lipgloss.Color("#1f3a5f"))
	onColor := ld(lipgloss.Color("#ffffff"), lipgloss.Color("#0d1117"))

	badge := func(bg color.Color) lipgloss.Style {
		return lipgloss.NewStyle().Bold(true).Foreground(onColor).Background(bg).Padding(0, 1)
	}
	s := Styles{
		Dark:      dark,
		App:       lipgloss.NewStyle().Padding(0, 1),
		Title:     lipgloss.NewStyle().Bold(true).Foreground(accent),
		Sandbox:   badge(yellow),
		Live:      badge(red),
		Header:    lipgloss.NewStyle().Foreground(fg),
		Section:   lipgloss.NewStyle().Bold(true).Foreground(purple),
		Label:     lipgloss.NewStyle().Foreground(faint),
		Value:     lipgloss.NewStyle().Foreground(fg),
		Faint:     lipgloss.NewStyle().Foreground(faint),
		Accent:    lipgloss.NewStyle().Foreground(accent),
		Success:   lipgloss.NewStyle().Foreground(green).Bold(true),
		Warning:   lipgloss.NewStyle().Foreground(yellow).Bold(true),
		Error:     lipgloss.NewStyle().Foreground(red).Bold(true),
		Selected:  lipgloss.NewStyle().Background(selBg).Foreground(fg).Bold(true),
		Cursor:    lipgloss.NewStyle().Foreground(accent).Bold(true),
		Link:      lipgloss.NewStyle().Foreground(accent), // OSC 8: terminals underline links themselves
		Box:       lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(faint).Padding(0, 1),
		Dialog:    lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(yellow).Padding(0, 2),
		KeyHint:   lipgloss.NewStyle().Foreground(accent).Bold(true),
		HelpKey:   lipgloss.NewStyle().Foreground(accent),
		HelpDesc:  lipgloss.NewStyle().Foreground(faint),
		HelpSep:   lipgloss.NewStyle().Foreground(faint),
		Scrollbar: lipgloss.NewStyle().Foreground(faint),
	}
	s.Badge = map[string]lipgloss.Style{
		"NEEDS REAUTH": badge(red),
		"AVAILABLE":    badge(green),
		"PARTIAL":      badge(yellow),
		"PROCESSING":   badge(accent),
		"UNAVAILABLE":  badge(faint),
		"FAILED":       badge(red),
		"UNKNOWN":      badge(faint),
	}
	s.Banner = map[string]lipgloss.Style{
		"SUCCEEDED":      badge(green),
		"FAILED":         badge(red),
		"EXPIRED":        badge(yellow),
		"ENDED BY AGENT": badge(yellow),
		"TAKEN OVER":     badge(yellow),
	}
	s.Tone = map[string]lipgloss.Style{
		"info":     lipgloss.NewStyle().Foreground(fg),
		"progress": lipgloss.NewStyle().Foreground(accent),
		"success":  lipgloss.NewStyle().Foreground(green).Bold(true),
		"warning":  lipgloss.NewStyle().Foreground(yellow),
		"error":    lipgloss.NewStyle().Foreground(red).Bold(true),
		"faint":    lipgloss.NewStyle().Foreground(faint),
	}
	// Icons carry the meaning too, so NO_COLOR terminals lose nothing.
	s.ToneIcon = map[string]string{
		"info": "•", "progress": "›", "success": "✓", "warning": "!", "error": "✗", "faint": "·",
	}
	return s
}

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
