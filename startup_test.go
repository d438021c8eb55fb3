package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// A model that draws the characters that make the renderer build its width
// table, for a few frames, then quits.
type drawingModel struct{ frames int }

type nextFrame struct{}

func (m drawingModel) Init() tea.Cmd {
	return tea.Tick(5*time.Millisecond, func(time.Time) tea.Msg { return nextFrame{} })
}

func (m drawingModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(nextFrame); ok {
		m.frames++
		if m.frames >= 4 {
			return m, tea.Quit
		}
		return m, m.Init()
	}
	return m, nil
}

func (m drawingModel) View() tea.View {
	v := tea.NewView(strings.Repeat("⠙ reauth › accounts … "+strings.Repeat("x", m.frames)+"\n", 30))
	v.AltScreen = true
	return v
}

// The warm-up runs beside a real program drawing the same kind of frames, as
// it does at start-up; under -race this fails if they share any state
// unsafely. Both must finish.
func TestWarmUpBesideARealProgram(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := warmUp()
	p := tea.NewProgram(drawingModel{}, tea.WithContext(ctx), tea.WithInput(nil), tea.WithOutput(io.Discard),
		tea.WithWindowSize(120, 40), tea.WithoutSignalHandler(), tea.WithFPS(120))
	if _, err := p.Run(); err != nil {
		t.Fatalf("program: %v", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the warm-up did not finish")
	}
}

// The throwaway frame really goes through the renderer: it comes out as
// terminal output with its text and colours.
func TestWarmRendererDrawsAFrame(t *testing.T) {
	var out bytes.Buffer
	warmRenderer(&out, 120, 3)
	got := out.String()
	for _, want := range []string{"reauth", "SANDBOX", "accounts", "\x1b["} {
		if !strings.Contains(got, want) {
			t.Errorf("renderer output lacks %q (%d bytes)", want, len(got))
		}
	}
}
