package sshserve

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
)

// leaveACheckAndQuit has ada's customer succeed (the autoplayed page in
// Chromium), ada leave the account while it is checked, and quit from the
// list; it returns her key's fingerprint, for her audit.
func leaveACheckAndQuit(t *testing.T, f *fixture) string {
	t.Helper()
	ada := f.open("ada", termOpts{width: 120, height: 40})
	u := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	if _, err := chromedp.Run(newBrowser(t), chromedp.Navigate(u)); err != nil {
		t.Fatal(err)
	}
	ada.waitText("SUCCEEDED")
	ada.send("\x1b")
	ada.waitText("Checking that Mono has fresh data for Adaeze Okonkwo")
	ada.send("\x03")
	if code := ada.wait(); code != 0 {
		t.Fatalf("ada's quit exited %d", code)
	}
	return gossh.FingerprintSHA256(f.keys["ada"].PublicKey())
}

// The agent leaves the account while it is checked after the customer's
// success, then quits: the server carries the check on to Mono's answer
// (the sandbox's account_updated SUCCESSFUL, 3 s after the reauth) and
// records it VERIFIED, where the program's end used to record it stopped.
func TestQuitAfterLeavingACheckTheServerFinishesIt(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}, autoplay: true, sandboxConfirm: 3 * time.Second})
	fp := leaveACheckAndQuit(t, f)
	last := func() audit.Record {
		var v audit.Record
		for _, r := range f.auditOf(fp).records() {
			if r.Action == audit.ActionVerification {
				v = r
			}
		}
		return v
	}
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// The record is written as the check answers; the log line follows.
	for last().Outcome != "verified" || !strings.Contains(f.logs.String(), "check after a success ended after its program") {
		if v := last(); v.Outcome != "" {
			t.Fatalf("the check's record: %+v", v)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not record (%+v) and log the check's answer after ada quit:\n%s", last(), f.logs.String())
		}
		<-tick.C
	}
	// A shutdown now has nothing left to stop.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// A shutdown stops a check the server is finishing, recorded unconfirmed
// with the server's words, and does not wait out the check.
func TestShutdownStopsAFinishingCheck(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}, autoplay: true, sandboxConfirm: time.Hour, verifyFor: time.Hour})
	fp := leaveACheckAndQuit(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var last audit.Record
	for _, r := range f.auditOf(fp).records() {
		if r.Action == audit.ActionVerification {
			last = r
		}
	}
	if last.Outcome != "still syncing" || !strings.Contains(last.Detail, "The server shut down while the check ran") {
		t.Fatalf("the check's record after the shutdown: %+v", last)
	}
}

// A drain waits for a check the server is finishing (its answer is worth
// the wait, bounded by the drain's timeout), then returns.
func TestDrainWaitsForAFinishingCheck(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}, autoplay: true, sandboxConfirm: 3 * time.Second})
	fp := leaveACheckAndQuit(t, f)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		f.srv.Drain(context.Background(), time.Hour)
	}()
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("the drain did not end after the check's answer")
	}
	var last audit.Record
	for _, r := range f.auditOf(fp).records() {
		if r.Action == audit.ActionVerification {
			last = r
		}
	}
	if last.Outcome != "verified" {
		t.Fatalf("the drain ended before the check's answer: %+v", last)
	}
}

// A session the idle timeout ends while its account is checked after a
// success does not cut the check short: the server finishes it (it is not
// parked: the agent did not drop, they stopped typing).
func TestIdleTimeoutDuringTheCheckTheServerFinishesIt(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}, autoplay: true, idle: 2 * time.Second, sandboxConfirm: 4 * time.Second})
	ada := f.open("ada", termOpts{width: 120, height: 40})
	u := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	if _, err := chromedp.Run(newBrowser(t), chromedp.Navigate(u)); err != nil {
		t.Fatal(err)
	}
	ada.waitText("SUCCEEDED")
	if code := ada.wait(); code != 1 {
		t.Fatalf("the idle close exited %d", code)
	}
	fp := gossh.FingerprintSHA256(f.keys["ada"].PublicKey())
	if rec := awaitVerification(t, f, fp); rec.Outcome != "verified" {
		t.Fatalf("the check's record after the idle close: %+v", rec)
	}
}

// awaitVerification waits for the agent's first verification record.
func awaitVerification(t *testing.T, f *fixture, fp string) audit.Record {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, r := range f.auditOf(fp).records() {
			if r.Action == audit.ActionVerification {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no verification record")
		}
		<-tick.C
	}
}
