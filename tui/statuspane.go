package tui

import (
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/state"
)

// statusLine is one event in the status pane, already in plain words.
type statusLine struct {
	at   time.Time
	tone state.EventTone
	text string // sanitised: from CleanText and state.Describe
	// drawn is the line as last rendered, for drawnFor. A line never
	// changes once added, so a frame only renders lines it has not drawn at
	// this width with these styles: a steady stream of events then costs a
	// frame one new line, not sixty (rendering allocates ~19 times a line).
	drawn    string
	drawnFor drawKey
}

// drawKey is what a rendered line depends on besides its own fields.
type drawKey struct {
	width int
	// styles identifies the Styles a line was drawn with: NewStyles (the
	// only constructor) makes new typed styles each time, so their address
	// changes whenever the theme does. Nil for zero Styles.
	styles *typedStyles
}

// statusPane is the live event log. Rendering touches only the lines on
// screen, so ten thousand events cost the same per frame as ten.
type statusPane struct {
	lines  []statusLine
	top    int  // first line shown when not following
	follow bool // stick to the newest line
}

func newStatusPane() statusPane { return statusPane{follow: true} }

func (p *statusPane) add(l statusLine) { p.lines = append(p.lines, l) }

// dim fades every line so far: a new attempt's lines follow the previous
// attempt's, which stay readable but clearly past.
func (p *statusPane) dim() {
	for i := range p.lines {
		p.lines[i].tone = state.ToneFaint
	}
}

func (p *statusPane) start(height int) int {
	last := max(0, len(p.lines)-height)
	if p.follow {
		return last
	}
	return min(max(p.top, 0), last)
}

// scroll moves the view by delta lines; reaching the end resumes following.
func (p *statusPane) scroll(delta, height int) {
	p.top = p.start(height) + delta
	last := max(0, len(p.lines)-height)
	p.top = min(max(p.top, 0), last)
	p.follow = p.top >= last
}

func (p *statusPane) toTop()    { p.top, p.follow = 0, false }
func (p *statusPane) toBottom() { p.follow = true }

// view draws exactly height lines (padding with blanks) of at most width cells.
//
// It memoises rendered lines in p.lines, which is safe because Bubble Tea
// calls View on the goroutine that runs Update, never alongside it.
func (p *statusPane) view(st Styles, width, height int) []string {
	out := make([]string, 0, height)
	start := p.start(height)
	end := min(len(p.lines), start+height)
	scrolled := !p.follow && end < len(p.lines)
	key := drawKey{width: width, styles: st.typed}
	for i := start; i < end; i++ {
		l := &p.lines[i]
		if l.drawnFor != key || l.drawn == "" {
			l.drawn, l.drawnFor = l.render(st, width), key
		}
		out = append(out, l.drawn)
	}
	if scrolled && len(out) > 0 {
		more := len(p.lines) - end
		out[len(out)-1] = st.Faint.Render(ansi.Truncate("↓ "+itoa(more)+" newer — G to follow", width, "…"))
	}
	for len(out) < height {
		out = append(out, "")
	}
	return out
}

func (l *statusLine) render(st Styles, width int) string {
	icon := ToneIcon(l.tone)
	stamp := l.at.Format("15:04:05")
	text := ansi.Truncate(l.text, max(1, width-len(stamp)-3), "…")
	return st.Faint.Render(stamp) + " " + st.Tone(l.tone).Render(icon+" "+text)
}

func itoa(n int) string { return commas(n) }

// joinLines is strings.Join for rendered rows.
func joinLines(lines []string) string { return strings.Join(lines, "\n") }
