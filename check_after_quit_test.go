package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reauth/reauth/state/audit"
)

// The agent moves on (esc) while the account is checked after the
// customer's success, then quits: reauth does not cut the check short. It
// says it waits, waits for Mono's answer, prints it, and the audit records
// it (VERIFIED), where it used to record "the check stopped" as the agent
// left. The real binary in a pty, the customer's page in Chromium.
func TestQuitAfterLeavingACheckWaitsForItsAnswer(t *testing.T) {
	// The sandbox confirms the sync 5 s after the success: the re-reads
	// (3 s, then doubling) answer about 9 s in, time to leave first.
	s := startScreen(t, 200, 40, nil, "--no-browser", "--autoplay", "--sandbox-confirm-delay", "5s")
	s.openAdaeze()
	s.send("t")
	s.waitText("Token minted")
	s.send("o")
	s.waitText("the customer's page shows the same code")
	s.send("l") // the whole link, to give the browser
	link := regexp.MustCompile(`http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]+#[A-Za-z0-9_-]+`)
	u := link.FindString(s.waitFor("the whole link", link.MatchString))
	if _, err := chromedp.Run(newBrowser(t), chromedp.Navigate(u)); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the customer's success", func(v string) bool { return strings.Contains(v, "SUCCEEDED") || strings.Contains(v, "check goes on") })
	s.send("\x1b")
	s.waitText("Checking that Mono has fresh data for Adaeze Okonkwo")
	s.send("\x03") // ctrl+c on the list: quit
	// Longer than waitFor's: the re-reads back off; Mono's webhook answers.
	v := s.waitForUpTo(45*time.Second, "the check's answer after the quit", func(v string) bool {
		return strings.Contains(v, "Adaeze Okonkwo (verified):")
	})
	if !strings.Contains(strings.Join(strings.Fields(v), " "), "waiting for Mono to confirm fresh data for Adaeze Okonkwo") {
		t.Fatalf("the wait was not said:\n%s", v)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, s.text())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("reauth did not exit after the check's answer")
	}
	if last := s.lastRecord(audit.ActionVerification); last.Outcome != "verified" {
		t.Fatalf("the check's record: %+v", last)
	}
}
