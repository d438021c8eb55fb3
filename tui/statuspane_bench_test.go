package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/state"
)

// BenchmarkStatusPaneView draws one 200x60 frame of the status pane holding
// 100 to 100,000 events. Cost per frame must stay flat as events grow
// (O(visible lines), not O(all events)):
//
//	go test -run '^$' -bench StatusPaneView -benchmem ./tui/
//
// Frames:
//   - cold: every visible line is rendered (first frame, after a resize or a
//     theme change): the most a frame can cost;
//   - stream: one new event per frame while following, the steady state
//     while the widget talks;
//   - steady: nothing new (a spinner tick, a countdown second);
//   - scrolled: scrolled back to the middle, nothing new.
//
// Baseline: one 60 Hz frame is 16.7 ms; the target is 1 ms at 10,000 events.
func BenchmarkStatusPaneView(b *testing.B) {
	const width, height = 200, 60
	st := NewStyles(true)
	for _, n := range []int{100, 1_000, 10_000, 100_000} {
		for _, mode := range []string{"cold", "stream", "steady", "scrolled"} {
			b.Run(fmt.Sprintf("events=%d/%s", n, mode), func(b *testing.B) {
				p := paneWithEvents(n)
				if mode == "scrolled" {
					p.toTop()
					p.scroll(n/2, height)
				}
				p.view(&st, width, height)
				extra := paneWithEvents(1).lines[0]
				w := width
				b.ReportAllocs()
				for b.Loop() {
					switch mode {
					case "cold":
						w = 2*width - 1 - w // 200, 199, 200, …: every line redrawn
					case "stream":
						p.add(statusLine{at: extra.at, tone: extra.tone, text: extra.text})
					}
					if lines := p.view(&st, w, height); len(lines) != height {
						b.Fatalf("%d lines, want %d", len(lines), height)
					}
				}
			})
		}
	}
}

// paneWithEvents fills a pane with n lines in the words and tones the
// session screen writes, some longer than the pane is wide.
func paneWithEvents(n int) statusPane {
	texts := []struct {
		tone state.EventTone
		text string
	}{
		{state.ToneInfo, "Widget opened"},
		{state.ToneProgress, "Customer chose GTBank (internet banking)"},
		{state.ToneProgress, "Submitted credentials"},
		{state.ToneProgress, "Submitted OTP"},
		{state.ToneError, "Error: INVALID_OTP — The OTP entered is wrong"},
		{state.ToneWarning, "Page gone (no heartbeat)"},
		{state.ToneFaint, "Heartbeat"},
		{state.ToneSuccess, "Account linked: " + strings.Repeat("Zenith Bank savings account ending 1234 ", 8)},
	}
	p := newStatusPane()
	at := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	for i := range n {
		t := texts[i%len(texts)]
		p.add(statusLine{at: at.Add(time.Duration(i) * time.Second), tone: t.tone, text: t.text})
	}
	return p
}
