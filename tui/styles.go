package tui

import (
	"image/color"
	"sync"

	"charm.land/lipgloss/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state"
)

// Styles are the app's semantic styles. Each program picks the set for its
// terminal's background (tea.BackgroundColorMsg, via stylesFor), never for
// the process's own terminal: under `reauth serve` that would be the server's.
type Styles struct {
	Dark bool

	App      lipgloss.Style // whole-screen inset
	Title    lipgloss.Style
	Sandbox  lipgloss.Style // the SANDBOX badge
	Live     lipgloss.Style // the LIVE badge
	Header   lipgloss.Style
	Section  lipgloss.Style // section headings
	Label    lipgloss.Style
	Value    lipgloss.Style
	Faint    lipgloss.Style
	Accent   lipgloss.Style
	Success  lipgloss.Style
	Warning  lipgloss.Style
	Error    lipgloss.Style
	Selected lipgloss.Style // selected list row
	Cursor   lipgloss.Style
	Link     lipgloss.Style
	Box      lipgloss.Style // bordered panel
	Dialog   lipgloss.Style
	KeyHint  lipgloss.Style
	// typed holds the styles picked by a typed value (a Badge, a
	// state.OutcomeKind, a state.EventTone): Badge, Outcome, Tone. Shared by
	// every copy of these Styles and never written once built; its address
	// also tells one theme's Styles from another's (statusPane's memo).
	typed     *typedStyles
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
	t := &typedStyles{}
	t.badge = [badgeCount]lipgloss.Style{
		BadgeUnknown:     badge(faint),
		BadgeNeedsReauth: badge(red),
		BadgeAvailable:   badge(green),
		BadgePartial:     badge(yellow),
		BadgeProcessing:  badge(accent),
		BadgeUnavailable: badge(faint),
		BadgeFailed:      badge(red),
	}
	t.outcome = [outcomeCount]lipgloss.Style{
		state.OutcomeNone:         badge(faint),
		state.OutcomeSucceeded:    badge(green),
		state.OutcomeFailed:       badge(red),
		state.OutcomeExpired:      badge(yellow),
		state.OutcomeEndedByAgent: badge(yellow),
		state.OutcomeTakenOver:    badge(yellow),
	}
	t.tone = [toneCount]lipgloss.Style{
		state.ToneInfo:     lipgloss.NewStyle().Foreground(fg),
		state.ToneProgress: lipgloss.NewStyle().Foreground(accent),
		state.ToneSuccess:  lipgloss.NewStyle().Foreground(green).Bold(true),
		state.ToneWarning:  lipgloss.NewStyle().Foreground(yellow),
		state.ToneError:    lipgloss.NewStyle().Foreground(red).Bold(true),
		state.ToneFaint:    lipgloss.NewStyle().Foreground(faint),
	}
	s.typed = t
	return s
}

// themeStyles holds the Styles of each theme, built once per process: every
// program (under `reauth serve`, every SSH session) copies them instead of
// building some seventy lipgloss styles at start and again when
// the terminal says its background. The typed styles are shared and never written.
var themeStyles [2]struct {
	once   sync.Once
	styles Styles
}

// stylesFor returns the Styles for a dark or light background: the set
// built once per theme, shared, never written. A pointer, not a copy: the
// Model holds it, and with the 15 KB Styles inside, the Model's value
// methods had frames of up to 218 KB, which grew the program's goroutine
// stack to 1 MB on the first messages (~300 page faults before the first
// frame, BENCHMARKS.md 5).
func stylesFor(dark bool) *Styles {
	i := 0
	if dark {
		i = 1
	}
	t := &themeStyles[i]
	t.once.Do(func() { t.styles = NewStyles(dark) })
	return &t.styles
}

// Badge is an account's status badge (the list's rows, the account screen).
type Badge int

const (
	BadgeUnknown Badge = iota
	BadgeNeedsReauth
	BadgeAvailable
	BadgePartial
	BadgeProcessing
	BadgeUnavailable
	BadgeFailed
	badgeCount
)

var badgeLabels = [badgeCount]string{
	BadgeUnknown:     "UNKNOWN",
	BadgeNeedsReauth: "NEEDS REAUTH",
	BadgeAvailable:   "AVAILABLE",
	BadgePartial:     "PARTIAL",
	BadgeProcessing:  "PROCESSING",
	BadgeUnavailable: "UNAVAILABLE",
	BadgeFailed:      "FAILED",
}

// String is the badge's label.
func (b Badge) String() string {
	if b < 0 || b >= badgeCount {
		return badgeLabels[BadgeUnknown]
	}
	return badgeLabels[b]
}

// badgeFor is the badge for an account: Mono's webhook mark (marked) or
// the read saying it needs reauth, else its data status.
func badgeFor(a mono.Account, marked bool) Badge {
	if marked || a.NeedsReauth() {
		return BadgeNeedsReauth
	}
	switch a.DataStatus.Normal() {
	case mono.StatusAvailable:
		return BadgeAvailable
	case mono.StatusPartial:
		return BadgePartial
	case mono.StatusProcessing:
		return BadgeProcessing
	case mono.StatusUnavailable:
		return BadgeUnavailable
	case mono.StatusFailed:
		return BadgeFailed
	}
	return BadgeUnknown
}

// Sizes of the typed style tables: one entry per value of the type.
const (
	outcomeCount = int(state.OutcomeTakenOver) + 1
	toneCount    = int(state.ToneFaint) + 1
)

// typedStyles are the styles chosen by a typed value.
type typedStyles struct {
	badge   [badgeCount]lipgloss.Style
	outcome [outcomeCount]lipgloss.Style
	tone    [toneCount]lipgloss.Style
}

// toneIcons carry a tone's meaning without colour (NO_COLOR loses nothing).
var toneIcons = [toneCount]string{
	state.ToneInfo: "•", state.ToneProgress: "›", state.ToneSuccess: "✓",
	state.ToneWarning: "!", state.ToneError: "✗", state.ToneFaint: "·",
}

// Badge renders an account status badge.
func (s *Styles) Badge(b Badge) string {
	if b < 0 || b >= badgeCount {
		b = BadgeUnknown
	}
	return s.typed.badge[b].Render(b.String())
}

// Outcome renders an attempt's outcome banner (SUCCEEDED, FAILED, …).
func (s *Styles) Outcome(k state.OutcomeKind) string {
	st := s.typed.outcome[state.OutcomeNone]
	if k >= 0 && int(k) < outcomeCount {
		st = s.typed.outcome[k]
	}
	return st.Render(k.String())
}

// Tone is the style of a status line of tone t.
func (s *Styles) Tone(t state.EventTone) lipgloss.Style {
	if s.typed == nil {
		return lipgloss.NewStyle()
	}
	if t < 0 || int(t) >= toneCount {
		t = state.ToneInfo
	}
	return s.typed.tone[t]
}

// ToneIcon is the icon of a status line of tone t.
func ToneIcon(t state.EventTone) string {
	if t < 0 || int(t) >= toneCount {
		t = state.ToneInfo
	}
	return toneIcons[t]
}
