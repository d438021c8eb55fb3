package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// An agent whose attempts on other replicas could not come back when they
// connected reads so on the account list, whole at 80 columns: which
// account, that it was interrupted (its server went silent, and when it
// last said anything) or that its server cannot be reached just now, and
// what to do. Opening the account drops its line; the list keeps its rows.
func TestStrandedAttemptsAreSaidOnTheAccountList(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("loaded", loaded)
	gone, unknown := h.m.search.accounts[0], h.m.search.accounts[1]
	h.m = h.m.WithStranded([]Stranded{
		{Account: gone.ID, Replica: "r1", LastWord: time.Date(2026, 11, 25, 13, 58, 0, 0, time.UTC), Gone: true},
		{Account: unknown.ID, Replica: "r3"},
	})
	screen := plain(h.m)
	flat := strings.Join(strings.Fields(screen), " ")
	for _, want := range []string{
		"Your attempt on " + gone.Name + " was interrupted: server r1 went silent (last word 13:58). Open the account to start again.",
		"Your attempt on " + unknown.Name + " ran on server r3 and could not be brought back here just now: open the account to see where it stands.",
	} {
		if !strings.Contains(flat, want) {
			t.Fatalf("the list does not say %q:\n%s", want, screen)
		}
	}
	lines := strings.Split(screen, "\n")
	if len(lines) != 24 {
		t.Fatalf("%d lines, want 24:\n%s", len(lines), screen)
	}
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Fatalf("a line %d wide at 80 columns: %q", w, l)
		}
	}
	if !strings.Contains(screen, h.m.search.at(h.m.search.visible[0]).Name) {
		t.Fatalf("the list's first row is not shown:\n%s", screen)
	}

	// Opening the interrupted attempt's account drops its line; back on the
	// list, the other one is still said.
	h.m.openAccount(gone)
	h.m.backToSearch()
	flat = strings.Join(strings.Fields(plain(h.m)), " ")
	if strings.Contains(flat, "Your attempt on "+gone.Name) || !strings.Contains(flat, "Your attempt on "+unknown.Name) {
		t.Fatalf("after opening %s:\n%s", gone.Name, plain(h.m))
	}

	// One this server ended because the agent did not come back.
	h.m = h.m.WithStranded([]Stranded{{Account: gone.ID, EndedAway: time.Date(2026, 11, 25, 13, 59, 0, 0, time.UTC), Grace: 3 * time.Minute}})
	flat = strings.Join(strings.Fields(plain(h.m)), " ")
	if want := "Your attempt on " + gone.Name + " ended at 13:59: your connection dropped and you did not come back within 3m0s. Open the account to start again."; !strings.Contains(flat, want) {
		t.Fatalf("the list does not say %q:\n%s", want, plain(h.m))
	}

	// More than two: the rest are counted, not listed.
	h.m = h.m.WithStranded([]Stranded{{Account: "a1", Replica: "r1", Gone: true}, {Account: "a2", Replica: "r1", Gone: true},
		{Account: "a3", Replica: "r1", Gone: true}, {Account: "a4", Replica: "r1", Gone: true}})
	flat = strings.Join(strings.Fields(plain(h.m)), " ")
	if !strings.Contains(flat, "Your attempt on a2 was") || strings.Contains(flat, "Your attempt on a3") ||
		!strings.Contains(flat, "…and 2 more of your attempts on other servers") {
		t.Fatalf("four stranded attempts:\n%s", plain(h.m))
	}
}
