package tui

import (
	"context"
	"testing"
	"time"

	"github.com/reauth/reauth/mono/sandbox"
)

// The once-a-second clock runs only on the session screen: an agent idling
// on the account list costs no frame a second (under `reauth serve`, 200
// idle agents were 200 frames a second), and opening an account starts it
// again with a fresh reading.
func TestClockTicksOnlyOnTheSessionScreen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := newClock()
	m := New(ctx, Deps{Now: clk.Now, Catalog: NewCatalog(ctx, nil, CatalogOptions{})})
	if !m.clockOn {
		t.Fatal("Init's tick is not accounted for")
	}
	m.search.loading = false // no spinner either: nothing else to tick
	next, cmd := m.Update(clockMsg(clk.Now()))
	m = next.(Model)
	if m.clockOn || cmd != nil {
		t.Fatalf("the clock re-armed on the search screen (on %v, cmd %v)", m.clockOn, cmd != nil)
	}
	clk.Advance(time.Hour)
	acct := sandbox.Generate(1, 1)[0]
	cmd = m.openAccount(acct)
	next, _ = m.Update(nil) // any message: Update sees the session screen
	m = next.(Model)
	_ = cmd
	if !m.clockOn || !m.now.Equal(clk.Now()) {
		t.Fatalf("the clock did not restart on the session screen with a fresh time (on %v, now %v)", m.clockOn, m.now)
	}
	next, cmd = m.Update(clockMsg(clk.Now()))
	m = next.(Model)
	if !m.clockOn || cmd == nil {
		t.Fatal("the clock stopped on the session screen")
	}
}
