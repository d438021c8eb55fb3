package main

import (
	"io"
	"os"
	"strings"

	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"
)

// warmUp does, on another core while main sets up, the first-use work that
// the first frame would otherwise do on its way to the screen. It returns a
// channel closed when it is done (tests wait on it; the app does not).
//
// Why: on this project's machines a fresh 4 KB page costs a page fault of
// ~18 µs, so first uses are dear (BENCHMARKS.md, 5):
//   - Bubble Tea's renderer measures every cell with ansi.WcWidth, whose first
//     look-up of a rune at or above U+0300 (the spinner, "›", "…") builds
//     go-runewidth's 2.2 MB lookup table: about 10 ms inside the first frame.
//   - The first frame is also the first use of ultraviolet's terminal
//     renderer (the one Bubble Tea draws with): drawing a throwaway frame
//     into io.Discard first took ~3 ms off the real one. What it warms is
//     code (first calls, lazily built tables), not memory, so the frame is
//     3 rows: a full 120x40 one allocated two cell buffers (~1 MB) that
//     nothing reuses, and made every start ~10 ms of CPU and ~370 page
//     faults dearer on a machine whose two cores are already busy
//     (first frame p50 42 against 49 ms, A/B back to back).
//
// Both are safe beside the program: the table is built once under a
// sync.Once inside go-runewidth, and the throwaway renderer shares no state
// with Bubble Tea's (TestWarmUpBesideARealProgram runs them together under
// the race detector).
func warmUp() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ansi.WcWidth.StringWidth("⠙›")
		warmRenderer(io.Discard, 120, 3)
	}()
	return done
}

// warmRenderer draws one styled w x h frame through ultraviolet's terminal
// renderer to out.
func warmRenderer(out io.Writer, w, h int) {
	line := "\x1b[38;5;75;1mreauth\x1b[m \x1b[38;5;214mSANDBOX\x1b[m  ›  \x1b[2maccounts\x1b[m "
	frame := strings.Repeat(line+strings.Repeat(" ", max(0, w-ansi.StringWidth(line)))+"\n", h)
	buf := uv.NewScreenBuffer(w, h)
	uv.NewStyledString(frame).Draw(buf, buf.Bounds())
	r := uv.NewTerminalRenderer(out, os.Environ())
	r.Render(buf.RenderBuffer)
	_ = r.Flush()
}
