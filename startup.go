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
