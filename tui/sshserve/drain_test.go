package sshserve

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
)

// A rolling restart's drain: ada, with a live page, keeps working and is
// told; bob, on the list, is let go at once; a new connection is refused;
// when the drain ends (here its ctx, standing in for the timeout: the same
// path) the shutdown ends ada's session, and the audit has her attempt's
// end ("server restarted") and her claim is released.
func TestDrainKeepsLiveAttemptsAndLetsTheRestGo(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}, database: "sqlite"})
	ada := f.open("ada", termOpts{width: 120, height: 40})
	bob := f.open("bob", termOpts{width: 120, height: 40})
	adaURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	bob.waitText("loaded 60 / 60")

	ctx, cut := context.WithCancel(context.Background())
	defer cut()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		f.srv.Drain(ctx, time.Hour)
	}()

	// Bob has no live attempt: let go, told to reconnect.
	if code := bob.wait(); code != 1 {
		t.Fatalf("bob's session exited %d, want 1", code)
	}
	bob.waitText(DrainMessage)

	// Ada sees the notice, and t is off.
	s := ada.waitText("This server is restarting: finish with your current customer within 60 minutes")
	if !strings.Contains(s, "new attempts are off") {
		t.Fatalf("no reason on ada's screen:\n%s", s)
	}
	ada.waitFor("t gone from the footer", func(s string) bool { return !strings.Contains(s, "t mint") })

	// No new connections.
	if c, err := f.dial("bob", f.keys["bob"]); err == nil {
		_ = c.Close()
		t.Fatal("a draining server accepted a connection")
	}

	// Ada's attempt carries on: the customer's events reach her.
	postEvent(t, adaURL, 1, "load", "", nil)
	postEvent(t, adaURL, 2, "event", "SUBMIT_CREDENTIALS", nil)
	ada.waitText("Submitted login details")
	if n := f.srv.Sessions(); n != 1 {
		t.Fatalf("%d sessions during the drain, want ada's alone", n)
	}
	select {
	case <-drained:
		t.Fatal("the drain ended while ada's attempt was live")
	default:
	}

	// The drain's end: what is left is shut down, and her attempt's end
	// is recorded.
	cut()
	<-drained
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if code := ada.wait(); code != 1 {
		t.Fatalf("ada's session exited %d, want 1", code)
	}
	ada.waitText(ShutdownMessage)
	if code := pageStatus(t, adaURL); code != http.StatusGone {
		t.Fatalf("ada's page answers %d after the drain; want 410", code)
	}
	adaFP := gossh.FingerprintSHA256(f.keys["ada"].PublicKey())
	var ended audit.Record
	waitRecord(t, "ada's attempt's end", func() bool {
		for _, r := range f.auditOf(adaFP).records() {
			if r.Action == audit.ActionOutcome {
				ended = r
				return true
			}
		}
		return false
	})
	if ended.Outcome != "ENDED BY AGENT" || !strings.Contains(ended.Detail, "server restarted") {
		t.Fatalf("ada's attempt ended %q: %q", ended.Outcome, ended.Detail)
	}
	d := f.rt.Deps(audit.Agent{User: "bob"})
	cl, ok, err := d.Claims.Get(context.Background(), ended.Account)
	if err != nil {
		t.Fatal(err)
	}
	if ok && cl.Live() {
		t.Fatalf("ada's claim is still held after the drain: %+v", cl)
	}
}

// An attempt that reaches its outcome during the drain keeps its session
// while the account is checked after the success (here a 1 s check the
// sandbox never confirms: "not confirmed") and then for the agent to read
// the outcome (DrainReadFor), then lets it go before the drain's timeout;
// the drain then returns (nobody is left).
func TestDrainEndsWhenTheLastAttemptEnds(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}, drainReadFor: 300 * time.Millisecond, verifyFor: time.Second})
	ada := f.open("ada", termOpts{width: 120, height: 40})
	adaURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		f.srv.Drain(context.Background(), time.Hour)
	}()
	ada.waitText("This server is restarting")
	postEvent(t, adaURL, 1, "load", "", nil)
	postEvent(t, adaURL, 2, "success", "", map[string]any{"code": "code_drain_test"})
	if code := ada.wait(); code != 1 {
		t.Fatalf("ada's session exited %d, want 1", code)
	}
	ada.waitText(DrainMessage)
	if !strings.Contains(ada.rawOutput(), "SUCCEEDED") {
		t.Fatal("ada was let go before her screen showed her attempt's outcome")
	}
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("the drain did not end when the last session had")
	}
	adaFP := gossh.FingerprintSHA256(f.keys["ada"].PublicKey())
	var checked audit.Record
	for _, r := range f.auditOf(adaFP).records() {
		if r.Action == audit.ActionOutcome && strings.Contains(r.Detail, "server restarted") {
			t.Fatalf("an attempt that ended by itself was recorded as ended by the restart: %+v", r)
		}
		if r.Action == audit.ActionVerification {
			checked = r
		}
	}
	// The check had its own answer, not one cut short by the drain.
	if checked.Outcome != "still syncing" || strings.Contains(checked.Detail, "the check stopped") {
		t.Fatalf("the check after the success, drained: %+v", checked)
	}
}

// The agent reads the outcome of an attempt that ends during the drain:
// the session stays (here for longer than the test) until they leave with
// q, and the drain ends with them.
func TestDrainLetsTheAgentReadTheOutcome(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}, drainReadFor: time.Hour})
	ada := f.open("ada", termOpts{width: 120, height: 40})
	adaURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		f.srv.Drain(context.Background(), time.Hour)
	}()
	ada.waitText("This server is restarting")
	postEvent(t, adaURL, 1, "load", "", nil)
	postEvent(t, adaURL, 2, "success", "", map[string]any{"code": "code_drain_read_test"})
	ada.waitText("SUCCEEDED")
	if n := f.srv.Sessions(); n != 1 {
		t.Fatalf("%d sessions once ada's attempt ended; she must still be reading it", n)
	}
	ada.send("q")
	ada.wait()
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("the drain did not end when ada left")
	}
}

// A drain of 0 is today's shutdown: nothing waits.
func TestDrainZeroDoesNothing(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	ada := f.open("ada", termOpts{})
	ada.waitText("loaded 60 / 60")
	f.srv.Drain(context.Background(), 0)
	if n := f.srv.Sessions(); n != 1 {
		t.Fatalf("%d sessions after a zero drain, want 1", n)
	}
	c, err := f.dial("ada", f.keys["ada"])
	if err != nil {
		t.Fatalf("a zero drain stopped new connections: %v", err)
	}
	_ = c.Close()
}
