package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/tui"
)

// RunTUI runs the local app on out until it quits. Setup and New run on a
// goroutine while Bubble Tea starts (BENCHMARKS.md, 5): the program begins
// with tui.NewStarting (the account screen loading, agent and sandbox
// badge from what is known at once) and gets its Deps with tui.Ready. An
// error there quits the program without drawing; RunTUI waits for the
// goroutine, closes what it made and returns the error, for the caller to
// print once the terminal is restored. A bad secret key file is returned
// before any screen. What opening the store imported from an older reauth's
// files is said on notices once the terminal is restored (the screen must
// not be written to).
func RunTUI(ctx context.Context, cfg Config, out, notices io.Writer) error {
	key, err := SecretKey()
	if err != nil {
		return err
	}
	agent := LocalAgent()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Run returns only after the program has quit; setupDone then says the
	// goroutine is done with e and rt.
	var (
		e  *Env
		rt *Runtime
	)
	ready, setupDone := make(chan tui.Ready, 1), make(chan error, 1)
	go func() {
		var err error
		defer func() { setupDone <- err }()
		if e, err = Setup(cfg); err != nil {
			ready <- tui.Ready{Err: err}
			return
		}
		if rt, err = New(ctx, e); err != nil {
			ready <- tui.Ready{Err: err}
			return
		}
		deps := rt.Deps(agent)
		if !cfg.NoBrowser {
			deps.OpenBrowser = OpenBrowser
		}
		ready <- tui.Ready{Deps: deps}
	}()
	preview := tui.Deps{Agent: agent.User, Sandbox: cfg.Sandbox || key == ""}
	p := tea.NewProgram(tui.NewStarting(ctx, preview, ready), tea.WithContext(ctx), tea.WithOutput(out),
		tea.WithFPS(tui.FrameRate))
	final, err := p.Run()
	if m, ok := final.(tui.Model); ok {
		// An agent's quit has ended their attempt already; one still live
		// here was stopped from outside (SIGTERM, which Bubble Tea turns
		// into a plain quit or main's context cancels, whichever is
		// first): it ends saying so, and its page with this process,
		// rather than leaving no outcome in the audit.
		m.EndLive("reauth was stopped before the attempt ended; the customer's page stopped with it.")
		if n := m.WriteUnwritten(true); n > 0 {
			fmt.Fprintf(notices, "reauth: %d audit records could not be written: the store did not take them, so they are not in the audit\n", n)
		}
	}
	cancel()
	setupErr := <-setupDone
	if rt != nil {
		for _, msg := range rt.Imported() {
			fmt.Fprintln(notices, "reauth: "+msg)
		}
		rt.Close()
	}
	if e != nil {
		e.Close()
	}
	if setupErr != nil {
		return setupErr
	}
	if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
