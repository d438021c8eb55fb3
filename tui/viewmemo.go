package tui

import (
	"hash/maphash"
	"strconv"
	"strings"
	"sync"

	"github.com/charmbracelet/x/ansi"
)

// viewMemo keeps the header and footer last drawn, with what each was drawn
// from. Under `reauth serve` every widget event costs its program a frame,
// and a widget event changes neither line: drawing them again was a sixth of
// View's cost (BENCHMARKS.md, 2). The Model's copies share one memo (Bubble
// Tea copies the Model for every message); each entry is a pure function of
// its key, so any copy may use it. Only View reads and writes it.
type viewMemo struct {
	mu         sync.Mutex
	headerFrom headerInputs
	header     string
	footerFrom footerInputs
	footer     string
	// seen and drawn are the display widths of the lines of the frame
	// before and of the one being drawn, by their text's hash: most lines
	// of a frame are the last one's, and ansi.StringWidth walks every
	// grapheme (a tenth of a busy server's CPU; BENCHMARKS 7c). Hashes, not
	// the lines, so the memo keeps no frame alive.
	seen, drawn map[uint64]int
	seed        maphash.Seed
}

// headerInputs is everything headerView draws from.
type headerInputs struct {
	width   int
	styles  *Styles
	sandbox bool
	title   string
	agent   string
}

// footerInputs is everything footerView draws from: the width, the theme
// and the help text of the keys enabled, in footer order.
type footerInputs struct {
	width  int
	styles *Styles
	keys   string
}

// footerKeysOf is the footer's keys as one comparable value.
func footerKeysOf(keys []footerKey) string {
	var b strings.Builder
	for _, f := range keys {
		h := f.Help()
		b.WriteString(h.Key)
		b.WriteByte(0)
		b.WriteString(h.Desc)
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(f.rank))
		b.WriteByte(0)
	}
	return b.String()
}

// headerOf is the header drawn from in, if it is the last one drawn.
func (v *viewMemo) headerOf(in headerInputs) (string, bool) {
	if v == nil {
		return "", false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.header, v.header != "" && v.headerFrom == in
}

func (v *viewMemo) keepHeader(in headerInputs, header string) {
	if v == nil {
		return
	}
	v.mu.Lock()
	v.headerFrom, v.header = in, header
	v.mu.Unlock()
}

// footerOf is the footer drawn from in, if it is the last one drawn.
func (v *viewMemo) footerOf(in footerInputs) (string, bool) {
	if v == nil {
		return "", false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.footer, v.footer != "" && v.footerFrom == in
}

func (v *viewMemo) keepFooter(in footerInputs, footer string) {
	if v == nil {
		return
	}
	v.mu.Lock()
	v.footerFrom, v.footer = in, footer
	v.mu.Unlock()
}

// startFrame begins a frame's widths: the last frame's are kept for it,
// older ones dropped.
func (v *viewMemo) startFrame() {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.drawn == nil {
		v.seed = maphash.MakeSeed()
		v.seen, v.drawn = map[uint64]int{}, map[uint64]int{}
	}
	v.seen, v.drawn = v.drawn, v.seen
	clear(v.drawn)
}

// width is ansi.StringWidth(line), from the last frame when it had the
// line.
func (v *viewMemo) width(line string) int {
	if v == nil || len(line) < 16 {
		return ansi.StringWidth(line)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.drawn == nil {
		return ansi.StringWidth(line)
	}
	h := maphash.String(v.seed, line)
	if n, ok := v.drawn[h]; ok {
		return n
	}
	n, ok := v.seen[h]
	if !ok {
		n = ansi.StringWidth(line)
	}
	v.drawn[h] = n
	return n
}
