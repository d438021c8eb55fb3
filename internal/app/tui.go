package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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
		rest, checks := m.SplitChecks()
		// An agent's quit has ended their attempt already; one still live
		// here was stopped from outside (SIGTERM, which Bubble Tea turns
		// into a plain quit or main's context cancels, whichever is
		// first): it ends saying so, and its page with this process,
		// rather than leaving no outcome in the audit.
		rest.EndLive("reauth was stopped before the attempt ended; the customer's page stopped with it.")
		n := rest.WriteUnwritten(true)
		n += finishChecks(ctx, checks, notices)
		if n > 0 {
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

// finishChecks waits, saying so, for the checks the agent left running
// after a success (tui.Model.FinishChecks): their answers go to the audit.
// ctrl+c (ctx) stops the wait; what is still checking is then recorded
// unconfirmed. It returns how many of their records are not written.
func finishChecks(ctx context.Context, checks tui.Model, notices io.Writer) int {
	names := checks.Checking()
	if len(names) == 0 {
		return 0
	}
	fmt.Fprintf(notices, "reauth: waiting for Mono to confirm fresh data for %s (up to %s; ctrl+c stops the wait, and the check is recorded unconfirmed)…\n",
		strings.Join(names, ", "), checks.CheckingLeft().Round(time.Second))
	for _, r := range checks.FinishChecks(ctx, "reauth ended while the check ran after the agent had left the account.") {
		fmt.Fprintf(notices, "reauth: %s (%s): %s\n", r.Name, r.Word(), r.Headline)
	}
	return checks.WriteUnwritten(true)
}
