package main

import "github.com/charmbracelet/x/ansi"

// warmWidthTable builds the terminal width table off the start-up path.
//
// Why: Bubble Tea's renderer measures every cell with ansi.WcWidth, whose
// first look-up of a rune at or above U+0300 (the spinner, "›", "…") builds
// go-runewidth's 2.2 MB lookup table. On this project's machines each fresh
// 4 KB page costs a page fault of ~20 µs, so building it inside the first
// frame delayed that frame by 10–13 ms. Built on another core while main
// loads the sandbox and starts the page server, the first frame finds it
// ready. The result is the same table either way (sync.Once inside).
func warmWidthTable() {
	go ansi.WcWidth.StringWidth("⠙›")
}

// localFPS is the local program's frame rate. Bubble Tea flushes output on
// its frame ticker, so the first frame waits up to one tick after start-up:
// 8 ms at 120 fps instead of 17 ms at the default 60. Locally one program
// ticking 120 times a second is nothing; `reauth serve` keeps the default,
// where hundreds of idle sessions each tick.
const localFPS = 120
