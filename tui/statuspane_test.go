package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/state"
)

// paneOf fills a pane with one line per text, a second apart.
func paneOf(texts ...string) statusPane {
	p := newStatusPane()
	at := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	for i, text := range texts {
		p.add(statusLine{at: at.Add(time.Duration(i) * time.Second), tone: state.ToneError, text: text})
	}
	return p
}

func stripped(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = ansi.Strip(r)
	}
	return out
}

func checkWidths(t *testing.T, rows []string, width int) {
	t.Helper()
	for i, r := range rows {
		if w := ansi.StringWidth(r); w > width {
			t.Fatalf("row %d is %d cells wide, more than %d: %q", i, w, width, ansi.Strip(r))
		}
	}
}

// A line wider than the pane wraps under its text, so the end of Mono's
// message (what the agent reads out) is on screen at 80 columns; one very
// long line stops at maxRowsPerLine rows.
func TestStatusLinesWrapAtEightyColumns(t *testing.T) {
	long := "Error: AUTHORISATION_FAILED — The bank declined the login; ask the customer to log in to their mobile banking app first"
	huge := "Error: X — " + strings.Repeat("word ", 80) + "THE-END"
	p := paneOf("Widget opened", long, huge, "Submitted OTP")
	st := NewStyles(true)
	rows := p.view(&st, 80, 12)
	checkWidths(t, rows, 80)
	got := stripped(rows)
	if len(got) != 12 {
		t.Fatalf("%d rows, want 12", len(got))
	}
	want := []string{
		"14:00:00 ✗ Widget opened",
		"14:00:01 ✗ Error: AUTHORISATION_FAILED — The bank declined the login; ask the",
		"           customer to log in to their mobile banking app first",
	}
	for i, w := range want {
		if got[i] != w {
			t.Fatalf("row %d:\n got %q\nwant %q\nall:\n%s", i, got[i], w, strings.Join(got, "\n"))
		}
	}
	if !strings.HasPrefix(got[3], "14:00:02 ✗ Error: X — word") || !strings.HasPrefix(got[4], "           word") ||
		!strings.HasSuffix(got[5], "…") || strings.Contains(strings.Join(got, ""), "THE-END") {
		t.Fatalf("a very long line should take %d rows and end in …:\n%s", maxRowsPerLine, strings.Join(got, "\n"))
	}
	if got[6] != "14:00:03 ✗ Submitted OTP" || got[7] != "" {
		t.Fatalf("the line after the long ones:\n%s", strings.Join(got, "\n"))
	}

	// Narrow panes keep one row a line.
	np := paneOf(long)
	narrow := stripped(np.view(&st, 30, 3))
	if !strings.HasSuffix(narrow[0], "…") || narrow[1] != "" {
		t.Fatalf("at 30 columns: %q", narrow)
	}
}

// Following shows the newest rows at the bottom of a full pane; scrolling
// moves by events over the rows the agent sees, shows how many are newer,
// and reaching the end follows again.
func TestStatusPaneFollowsAndScrollsWrappedLines(t *testing.T) {
	long := func(n string) string {
		return "Error: E" + n + " — " + strings.Repeat("too long for one row ", 5) + "end of " + n
	}
	p := paneOf("one", long("two"), "three", long("four"), "five")
	st := NewStyles(true)
	got := stripped(p.view(&st, 80, 4))
	if got[3] != "14:00:04 ✗ five" || !strings.HasSuffix(got[2], "end of four") || !strings.HasPrefix(got[1], "14:00:03 ✗ Error: Efour") || got[0] != "14:00:02 ✗ three" {
		t.Fatalf("following, the newest rows fill the pane:\n%s", strings.Join(got, "\n"))
	}
	if !p.canScroll(4) {
		t.Fatal("five lines in four rows: the scroll keys should be on")
	}

	p.scroll(-1, 4) // one event up: "two" (two rows) first
	got = stripped(p.view(&st, 80, 4))
	if !strings.HasPrefix(got[0], "14:00:01 ✗ Error: Etwo") || got[2] != "14:00:02 ✗ three" || got[3] != "↓ 2 newer — G to follow" {
		t.Fatalf("scrolled up one event:\n%s", strings.Join(got, "\n"))
	}
	p.toTop()
	if got = stripped(p.view(&st, 80, 4)); got[0] != "14:00:00 ✗ one" || got[3] != "↓ 3 newer — G to follow" {
		t.Fatalf("at the top:\n%s", strings.Join(got, "\n"))
	}
	p.scroll(1, 4)
	if p.follow {
		t.Fatal("one event down from the top is not the end yet")
	}
	p.scroll(1, 4) // "three" first: the pane the newest rows fill
	if !p.follow {
		t.Fatal("scrolling to the end should follow again")
	}
	if got = stripped(p.view(&st, 80, 4)); got[3] != "14:00:04 ✗ five" {
		t.Fatalf("following again:\n%s", strings.Join(got, "\n"))
	}

	short := paneOf("one", "two")
	short.view(&st, 80, 4)
	if short.canScroll(4) {
		t.Fatal("two short lines in four rows: nothing to scroll")
	}
}
