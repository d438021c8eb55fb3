// Command startupbaseline is BenchmarkStartup's baseline: the smallest
// Bubble Tea program that draws a first frame like reauth's (the alternate
// screen, 120 fps, a header with "reauth ›" and a line saying AVAILABLE),
// built the same way (static). Timed in the same run as reauth, it says how
// much of reauth's start-up is the Go runtime and Bubble Tea themselves on
// the machine at hand, and how much is reauth. Any key quits.
package main

import (
	"os"

	tea "charm.land/bubbletea/v2"
)

type model struct{}

func (model) Init() tea.Cmd { return nil }

func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(tea.KeyPressMsg); ok {
		return m, tea.Quit
	}
	return m, nil
}

func (model) View() tea.View {
	v := tea.NewView("reauth  ›  accounts\n\nAdaeze Okonkwo   GTBank   ••••0031   AVAILABLE\n")
	v.AltScreen = true
	return v
}

func main() {
	if _, err := tea.NewProgram(model{}, tea.WithFPS(120)).Run(); err != nil {
		os.Exit(1)
	}
}
