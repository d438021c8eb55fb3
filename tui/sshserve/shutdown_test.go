package sshserve

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
)

func TestShutdownEndsSessionsWithoutLeaks(t *testing.T) {
	// Registered first so it runs last, after every other cleanup has
	// closed the clients, the page server and the sandbox.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		// Poll: a program's last clock tick may still be asleep for up to
		// a second after it ended.
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := goleak.Find(before)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked:\n%v", err)
				return
			}
		}
	})

	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}})
	ada := f.open("ada", termOpts{})
	bob := f.open("bob", termOpts{})
	pageURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	bob.waitText("loaded 60 / 60")
	if n := f.srv.Sessions(); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for name, tm := range map[string]*terminal{"ada": ada, "bob": bob} {
		if code := tm.wait(); code != 1 {
			t.Fatalf("%s's session exited %d, want 1", name, code)
		}
		// Told why, on the normal screen: the program restored the
		// terminal (left the alternate screen) before the message.
		scr := tm.waitText(ShutdownMessage)
		if strings.Contains(scr, "loaded 60 / 60") {
			t.Fatalf("%s's terminal was left on the TUI screen:\n%s", name, scr)
		}
	}
	if n := f.srv.Sessions(); n != 0 {
		t.Fatalf("%d sessions left after shutdown", n)
	}
	if c, err := f.dial("ada", f.keys["ada"]); err == nil {
		_ = c.Close()
		t.Fatal("the server still accepts connections after shutdown")
	}
	// Ada's page ended with her program.
	if code := pageStatus(t, pageURL); code != http.StatusGone {
		t.Fatalf("ada's page answers %d after shutdown; it should be ended (410)", code)
	}
}

func TestListenAndServeStopsWhenContextEnds(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	// A second server on the fixture's keys, run the way main runs it.
	cfg := f.srv.cfg
	cfg.Addr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	var addr string
	deadline := time.Now().Add(waitLimit)
	for addr == "" {
		if time.Now().After(deadline) {
			t.Fatal("never listened")
		}
		addr = srv.Addr()
		if addr == "" {
			select {
			case err := <-done:
				t.Fatalf("ListenAndServe returned early: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	f.srv = srv // dial the second server
	tm := f.open("ada", termOpts{})
	tm.waitText("loaded 60 / 60")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenAndServe: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("ListenAndServe did not return after its context ended")
	}
	if code := tm.wait(); code != 1 {
		t.Fatalf("session exited %d", code)
	}
	tm.waitText(ShutdownMessage)
}

// eventually polls cond until it holds, failing after waitLimit.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(15 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func pageStatus(t testing.TB, pageURL string) int {
	t.Helper()
	base, _, _ := strings.Cut(pageURL, "#")
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A connection that drops without a goodbye ends the agent's program and
// its pages: nobody is watching them any more.
func TestDroppedConnectionEndsItsProgramAndPages(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	ada := f.open("ada", termOpts{})
	pageURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	if code := pageStatus(t, pageURL); code != http.StatusOK {
		t.Fatalf("the open page answers %d", code)
	}
	_ = ada.client.Close()
	eventually(t, "the session to end", func() bool { return f.srv.Sessions() == 0 })
	eventually(t, "the page to end", func() bool { return pageStatus(t, pageURL) == http.StatusGone })
	if !strings.Contains(f.logs.String(), "connection closed") {
		t.Fatalf("the drop was not logged as such:\n%s", f.logs.String())
	}
	// The attempt's end is in the audit, saying why.
	adaFP := gossh.FingerprintSHA256(f.keys["ada"].PublicKey())
	waitRecord(t, "the attempt's end in the audit", func() bool {
		for _, r := range f.auditOf(adaFP).records() {
			if r.Action == audit.ActionOutcome && r.Outcome == "ENDED BY AGENT" && strings.Contains(r.Detail, "connection closed") {
				return true
			}
		}
		return false
	})
}
