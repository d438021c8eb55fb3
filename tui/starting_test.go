package tui

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// Before its Deps arrive the model draws the account screen in its loading
// state, with the header's agent and sandbox badge from the preview.
func TestStartingDrawsTheLoadingScreen(t *testing.T) {
	h := newHarness(t, harnessOpts{starting: true})
	if h.m.starting == nil {
		t.Fatal("a model made by NewStarting should be starting")
	}
	v := plain(h.m)
	for _, want := range []string{"reauth", "SANDBOX", "ada@support", "Loading accounts from Mono…"} {
		if !strings.Contains(v, want) {
			t.Errorf("starting view lacks %q:\n%s", want, v)
		}
	}
	// A resize while starting applies at once.
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	if h.m.width != 100 || h.m.height != 30 {
		t.Fatalf("size %dx%d, want 100x30", h.m.width, h.m.height)
	}
}

// What the agent types before the Deps arrive is not lost: it is replayed in
// order once they do, and the search runs over the list as usual.
func TestStartingReplaysHeldKeys(t *testing.T) {
	h := newHarness(t, harnessOpts{starting: true, accounts: 60})
	h.typeText("okon")
	h.send(tea.WindowSizeMsg{Width: 90, Height: 26})
	h.typeText("kwo")
	if got := h.m.search.input.Value(); got != "" {
		t.Fatalf("keys reached the search box before the Deps (%q); they should be held", got)
	}
	if len(h.m.held) != 7 {
		t.Fatalf("held %d messages, want the 7 keys (the resize applies at once)", len(h.m.held))
	}
	h.ready <- Ready{Deps: h.deps}
	h.until("the deps and the list", func(m Model) bool { return m.starting == nil && loaded(m) })
	if got := h.m.search.input.Value(); got != "okonkwo" {
		t.Fatalf("search box %q after the replay, want %q", got, "okonkwo")
	}
	h.until("the filtered list", func(m Model) bool { return m.search.result.Query == "okonkwo" })
	if v := plain(h.m); !strings.Contains(v, "Adaeze Okonkwo") {
		t.Fatalf("the replayed query did not find Adaeze Okonkwo:\n%s", v)
	}
	if h.m.width != 90 || h.m.height != 26 {
		t.Fatalf("size %dx%d, want 90x26", h.m.width, h.m.height)
	}
}

// ctrl+c quits even before the Deps arrive.
func TestStartingCtrlCQuits(t *testing.T) {
	h := newHarness(t, harnessOpts{starting: true})
	_, cmd := h.m.Update(keyMsg("ctrl+c"))
	if cmd == nil {
		t.Fatal("ctrl+c while starting gave no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("ctrl+c while starting should quit")
	}
}

// Deps that could not be made end the program without drawing a frame; the
// caller prints the error once the terminal is restored.
func TestStartingErrorQuitsWithoutAFrame(t *testing.T) {
	h := newHarness(t, harnessOpts{starting: true})
	h.typeText("abc")
	boom := errors.New("cannot open the audit log: permission denied")
	next, cmd := h.m.Update(readyMsg{Err: boom})
	m := next.(Model)
	if cmd == nil {
		t.Fatal("a failed start gave no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("a failed start should quit")
	}
	if !errors.Is(m.startErr, boom) {
		t.Fatalf("startErr %v, want %v", m.startErr, boom)
	}
	if c := m.View().Content; c != "" {
		t.Fatalf("a failed start drew %q; it should draw nothing", c)
	}
}
