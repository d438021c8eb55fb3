package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// The widths the memo keeps are the widths: frames drawn with it are the
// frames drawn without it, frame after frame, as lines come, go, change
// and move (the status pane scrolling), with wide runes, styles and lines
// too wide for the screen.
func TestFrameWidthMemoDrawsTheSameFrames(t *testing.T) {
	st := stylesFor(true)
	memo := &viewMemo{}
	header := st.Title.Render("reauth") + " " + st.Sandbox.Render("SANDBOX") + "\n" + st.Faint.Render(strings.Repeat("─", 40))
	footer := st.HelpKey.Render("q") + " quit"
	events := []string{
		st.Faint.Render("07:00:01") + " opened the widget",
		st.Warning.Render("07:00:02 ! INVALID_OTP: The OTP entered is wrong"),
		"07:00:03 chose 銀行 (wide runes: two cells each)",
		st.Success.Render("07:00:04 ✓ SUCCESS") + " " + strings.Repeat("long ", 20),
		"",
		"07:00:05 \tа tab and Cyrillic",
	}
	for n := range len(events) + 3 {
		var lines []string
		for i := range n {
			lines = append(lines, events[(i+n)%len(events)]) // scrolls: the same lines move
		}
		body := strings.Join(lines, "\n")
		for _, w := range []int{40, 30} {
			want := frame(w, 6, header, body, footer, nil)
			got := frame(w, 6, header, body, footer, memo)
			if got != want {
				t.Fatalf("frame %d at width %d differs with the memo:\n%q\nwant\n%q", n, w, got, want)
			}
		}
	}
	if memo.width(events[2]) != ansi.StringWidth(events[2]) {
		t.Fatalf("width of %q: %d, want %d", events[2], memo.width(events[2]), ansi.StringWidth(events[2]))
	}
}
