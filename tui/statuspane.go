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
	drawn    []string
	drawnFor drawKey
}

// maxRowsPerLine bounds how many screen rows one event may take when its
// text is wider than the pane: the end of "Error: … — <Mono's message>" or
// of an outcome's why is what the agent reads out, so it wraps rather than
// being cut, but one long message must not push the rest of the log away.
const maxRowsPerLine = 3

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
//
// Scrolling moves by events (lines), not by screen rows; a line may take
// several rows (maxRowsPerLine). Where following would start depends on
// the rows the newest lines take, so view records it for scroll: scrolling
// uses the geometry the agent is looking at.
type statusPane struct {
	lines  []statusLine
	top    int  // first line shown when not following
	follow bool // stick to the newest line

	// From the last view: the first line shown, and the first line shown
	// when following. viewed is false until the pane has been drawn.
	shownStart, followStart int
	overflows               bool // the last view could not show every line
	viewed                  bool
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

// bounds is the first line shown now and the first line following shows.
// Before the first view it counts one row a line.
func (p *statusPane) bounds(height int) (start, last int) {
	last = max(0, len(p.lines)-height)
	if p.viewed {
		last = min(p.followStart, max(0, len(p.lines)-1))
	}
	if p.follow {
		return last, last
	}
	return min(max(p.top, 0), last), last
}

// scroll moves the view by delta lines; reaching the end resumes following.
func (p *statusPane) scroll(delta, height int) {
	start, last := p.bounds(height)
	p.top = min(max(start+delta, 0), last)
	p.follow = p.top >= last
}

// canScroll says whether the scroll keys have anything to move: the last
// view could not show every line (before any view: more lines than rows).
func (p *statusPane) canScroll(height int) bool {
	if !p.viewed {
		return len(p.lines) > height
	}
	return p.overflows || !p.follow
}

func (p *statusPane) toTop()    { p.top, p.follow = 0, false }
func (p *statusPane) toBottom() { p.follow = true }

// rows renders line i (memoised) at key's width with st, key's styles.
// st is by pointer: Styles is ~15 KB, and a frame asks for sixty lines.
func (p *statusPane) rows(st *Styles, key drawKey, i int) []string {
	l := &p.lines[i]
	if l.drawnFor != key || l.drawn == nil {
		l.drawn, l.drawnFor = l.render(st, key.width), key
	}
	return l.drawn
}

// view draws exactly height lines (padding with blanks) of at most width cells.
//
// It memoises rendered lines in p.lines, and the geometry in p, which is
// safe because Bubble Tea calls View on the goroutine that runs Update,
// never alongside it.
func (p *statusPane) view(st *Styles, width, height int) []string {
	height = max(1, height)
	key := drawKey{width: width, styles: st.typed}
	// Where following starts: walking back from the newest line until the
	// pane is full (the first line shown may show only its last rows).
	followStart, used := len(p.lines), 0
	for followStart > 0 && used < height {
		followStart--
		used += len(p.rows(st, key, followStart))
	}
	p.followStart, p.viewed = followStart, true
	p.overflows = followStart > 0 || used > height

	out := make([]string, 0, height)
	if p.follow {
		for i := followStart; i < len(p.lines); i++ {
			out = append(out, p.rows(st, key, i)...)
		}
		// The first line shown may be cut at its top: the newest rows win.
		out = out[max(0, len(out)-height):]
		p.shownStart = followStart
	} else {
		start := min(max(p.top, 0), followStart)
		p.shownStart = start
		// hidden is the first line that starts on or below the last row,
		// which the "newer" notice takes when anything is below.
		end, hidden := start, -1
		for end < len(p.lines) && len(out) < height {
			if hidden < 0 && len(out) >= height-1 {
				hidden = end
			}
			out = append(out, p.rows(st, key, end)...)
			end++
		}
		if hidden < 0 {
			hidden = end
		}
		if cut := len(out) > height; cut || end < len(p.lines) {
			out = out[:height]
			more := max(1, len(p.lines)-hidden)
			out[height-1] = st.Faint.Render(ansi.Truncate("↓ "+itoa(more)+" newer — G to follow", width, "…"))
		}
	}
	for len(out) < height {
		out = append(out, "")
	}
	return out
}

// render draws the line as one row, or as up to maxRowsPerLine when its
// text is wider than the pane: later rows are indented under the text, and
// the last one ends in "…" when even that is not enough.
func (l *statusLine) render(st *Styles, width int) []string {
	icon := ToneIcon(l.tone)
	stamp := l.at.Format("15:04:05")
	indent := len(stamp) + 1 + ansi.StringWidth(icon) + 1
	room := max(1, width-indent)
	tone := st.Tone(l.tone)
	if ansi.StringWidth(l.text) <= room || width < 40 {
		// Narrow panes keep one row a line: wrapping into a handful of
		// cells would say less, not more.
		text := ansi.Truncate(l.text, room, "…")
		return []string{st.Faint.Render(stamp) + " " + tone.Render(icon+" "+text)}
	}
	wrapped := strings.Split(ansi.Wrap(l.text, room, ""), "\n")
	for i := range wrapped {
		wrapped[i] = strings.TrimRight(wrapped[i], " ")
	}
	if len(wrapped) > maxRowsPerLine {
		rest := strings.Join(wrapped[maxRowsPerLine-1:], " ")
		wrapped = append(wrapped[:maxRowsPerLine-1], ansi.Truncate(rest, room-1, "")+"…")
	}
	out := make([]string, len(wrapped))
	out[0] = st.Faint.Render(stamp) + " " + tone.Render(icon+" "+wrapped[0])
	pad := strings.Repeat(" ", indent)
	for i, row := range wrapped[1:] {
		out[i+1] = pad + tone.Render(row)
	}
	return out
}

func itoa(n int) string { return commas(n) }

// joinLines is strings.Join for rendered rows.
func joinLines(lines []string) string { return strings.Join(lines, "\n") }
