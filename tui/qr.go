package tui

import (
	"strings"

	"github.com/skip2/go-qrcode"
)

// qrLines draws text as a QR code in half-block characters (two modules a
// cell, top and bottom), at most maxW cells wide and maxH lines high, or
// reports that it does not fit. It needs no colours: on a dark terminal the
// light modules (and the quiet zone around the code) are drawn in the
// foreground, on a light one the dark modules are, so the code reads the
// right way round with NO_COLOR too.
func qrLines(text string, dark bool, maxW, maxH int) (lines []string, ok bool) {
	defer func() {
		if recover() != nil { // the encoder panics only on its own bugs
			lines, ok = nil, false
		}
	}()
	q, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		return nil, false
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	n := len(bm)
	// The quiet zone: two modules if they fit, else one (phones read that
	// on a screen).
	margin := 2
	for margin > 0 && (n+2*margin > maxW || (n+2*margin+1)/2 > maxH) {
		margin--
	}
	if margin == 0 {
		return nil, false
	}
	size := n + 2*margin
	set := func(x, y int) bool { // a dark module
		x, y = x-margin, y-margin
		return y >= 0 && y < n && x >= 0 && x < n && bm[y][x]
	}
	ink := func(x, y int) bool { return set(x, y) != dark && y < size }
	lines = make([]string, 0, (size+1)/2)
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		b.Reset()
		for x := range size {
			switch top, bottom := ink(x, y), ink(x, y+1); {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		lines = append(lines, b.String())
	}
	return lines, true
}
