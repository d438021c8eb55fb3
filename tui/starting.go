package tui

import (
	"context"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
)

// Ready is the outcome of making a program's Deps on another goroutine
// (NewStarting): the Deps, or why they could not be made.
type Ready struct {
	Deps Deps
	Err  error
}

// readyMsg delivers Ready to the model.
type readyMsg Ready

// NewStarting builds the root model for a program whose Deps are still
// being made (the local app's log, sandbox, page server and audit log).
//
// Why: Bubble Tea writes its first frame only on its first frame tick, and
// that tick comes whatever the model does; making the Deps first (~5 ms)
// put them ahead of that wait. Made beside it, the first frame comes sooner
// (p50 41 against 45 ms on a two-core machine, BENCHMARKS.md 5).
//
// Until ready delivers, the model draws the account screen in its loading
// state, with preview's Agent and Sandbox in the header; ctrl+c quits; every
// other message is held and replayed, in order, once the Deps are attached,
// so nothing typed early is lost. A Ready with an Err ends the program
// without drawing (the caller prints the error once the terminal is back).
func NewStarting(ctx context.Context, preview Deps, ready <-chan Ready) Model {
	m := newModel(ctx)
	m.deps = Deps{Agent: preview.Agent, Sandbox: preview.Sandbox, Now: preview.Now}
	m.now = m.deps.now()
	m.starting = ready
	return m
}

func (m Model) awaitReady() tea.Cmd {
	ctx, ready := m.ctx, m.starting
	return func() tea.Msg {
		select {
		case r := <-ready:
			return readyMsg(r)
		case <-ctx.Done():
			return nil
		}
	}
}

// passesWhileStarting reports the messages update handles as usual before
// the Deps arrive: they only change how the loading screen is drawn (size,
// colours, the spinner) and reach no dependency.
func passesWhileStarting(msg tea.Msg) bool {
	switch msg.(type) {
	case tea.WindowSizeMsg, tea.BackgroundColorMsg, spinner.TickMsg:
		return true
	}
	return false
}

// whileStarting is update before the Deps arrive, for every other message.
func (m Model) whileStarting(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case readyMsg:
		m.starting = nil
		if msg.Err != nil {
			m.startErr = msg.Err
			return m, tea.Quit
		}
		m.attach(msg.Deps)
		m.clockOn = true // start starts it
		cmds := []tea.Cmd{m.start()}
		held := m.held
		m.held = nil
		for _, h := range held {
			var cmd tea.Cmd
			m, cmd = m.update(h)
			cmds = append(cmds, cmd)
		}
		return m, tea.Batch(cmds...)
	case tea.KeyPressMsg:
		if key.Matches(msg, m.keys.Quit) {
			return m, tea.Quit
		}
	}
	m.held = append(m.held, msg)
	return m, nil
}
