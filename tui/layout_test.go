package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/reauth/reauth/state"
)

// footerLine is the last line of the view, without styling.
func footerLine(m Model) string {
	lines := strings.Split(plain(m), "\n")
	return lines[len(lines)-1]
}

// At 80 columns the footer drops the least important keys first: esc, q
// and ? (the keys that must always show) stay in every phase.
func TestFooterKeepsEscQuitHelpAt80(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 80, height: 24})
	openWrongOTP(t, h)
	check := func(when string) {
		t.Helper()
		f := footerLine(h.m)
		for _, want := range []string{"esc back", "q quit", "? help"} {
			if !strings.Contains(f, want) {
				t.Errorf("%s: the footer lost %q: %q", when, want, f)
			}
		}
		if w := ansi.StringWidth(f); w > 80 {
			t.Errorf("%s: footer %d cells wide", when, w)
		}
		if strings.Contains(f, "…") {
			t.Errorf("%s: the footer is cut instead of dropping keys: %q", when, f)
		}
	}
	check("reason shown")
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	check("token ready")
	h.key("o")
	h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
	check("page opened")
	h.key("v")
	check("token revealed")
	if f := footerLine(h.m); !strings.Contains(f, "o open page") && !strings.Contains(f, "c copy link") {
		t.Errorf("page opened: the footer dropped the next step before the rarer keys: %q", f)
	}
}

// The account list is the top level: esc never says "back" there; tab says
// what it does now (the filter's state); the footer keeps q and ?.
func TestListFooterSaysWhatKeysDo(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 80, height: 24})
	h.until("loaded", loaded)
	f := footerLine(h.m)
	if strings.Contains(f, "esc back") || !strings.Contains(f, "tab needs reauth only") || !strings.Contains(f, "? help") {
		t.Fatalf("typing, filter off: %q", f)
	}
	h.key("tab")
	if f := footerLine(h.m); !strings.Contains(f, "tab show all") {
		t.Fatalf("filter on: the footer does not say so: %q", f)
	}
	h.key("esc") // leave the box
	f = footerLine(h.m)
	if strings.Contains(f, "esc") || !strings.Contains(f, "q quit") || !strings.Contains(f, "? help") {
		t.Fatalf("browsing, empty query: %q", f)
	}
	h.key("/")
	h.typeText("ok")
	h.until("ok", func(m Model) bool { return m.search.result.Query == "ok" })
	h.key("esc")
	if f := footerLine(h.m); !strings.Contains(f, "esc clear search") || strings.Contains(f, "esc back") {
		t.Fatalf("browsing with a query: %q", f)
	}
}

// On a wide terminal the bank column shows whole bank names: it is not cut
// at a fixed width with blank columns beside it, and the name and bank sit
// side by side (the spare width is at the right, not between them).
func TestBankColumnUsesTheWidth(t *testing.T) {
	for _, width := range []int{120, 200} {
		h := newHarness(t, harnessOpts{width: width, height: 60, accounts: 200})
		h.until("loaded", loaded)
		h.key("esc")
		v := plain(h.m)
		rows := 0
		for _, i := range h.m.search.visible {
			a := h.m.search.at(i)
			line := ""
			for _, l := range strings.Split(v, "\n") {
				if strings.Contains(l, a.Name) && strings.Contains(l, a.MaskedNumber()) {
					line = l
					break
				}
			}
			if line == "" {
				continue // not on screen
			}
			rows++
			if !strings.Contains(line, a.Institution.Name) {
				t.Errorf("%d columns: %q is cut: %q", width, a.Institution.Name, line)
			}
			if gap := strings.Index(line, a.Institution.Name) - strings.Index(line, a.Name) - len(a.Name); gap > 40 {
				t.Errorf("%d columns: %d blank columns between the name and the bank: %q", width, gap, line)
			}
		}
		if rows < 10 {
			t.Fatalf("%d columns: only %d rows checked:\n%s", width, rows, v)
		}
	}
	// At 80 columns every line still fits.
	h := newHarness(t, harnessOpts{width: 80, height: 24})
	h.until("loaded", loaded)
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	for _, l := range strings.Split(plain(h.m), "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Fatalf("line %d cells wide at 80: %q", w, l)
		}
	}
}

// What the agent acts on is never cut at 80 columns, in every golden
// state: the status header's page and last action take their short forms
// ("last customer actio…" was all an agent saw beside a long phase), and
// the Now and Next lines wrap (the widget's error and the end of the step
// the agent reads out, "…then press Reopen; the link works for 9:38 more",
// were cut).
func TestHeaderNowAndNextAreNotCutAt80(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{width: 80, height: 24})
			c.setup(t, h)
			for _, line := range strings.Split(plain(h.m), "\n") {
				l := strings.TrimSpace(line)
				for _, label := range []string{"Status ", "Now ", "Next "} {
					if strings.HasPrefix(l, label) && strings.HasSuffix(l, "…") {
						t.Fatalf("cut: %q\n%s", line, plain(h.m))
					}
				}
			}
		})
	}
}
