package tui

import (
	"testing"

	"github.com/reauth/reauth/internal/claim"
)

// A program on the account list gets no claim news (each would cost it a
// redraw of the list); one showing an account gets that account's news
// only.
func TestClaimNewsReachesOnlyTheAccountOnScreen(t *testing.T) {
	ch := make(chan claim.Claim) // unbuffered: a send returns once the Cmd has read it
	focus := &claimFocus{}
	focus.set("") // the list
	got := make(chan any, 1)
	go func() { got <- waitClaim(ch, focus)() }()
	ch <- claim.Claim{Account: "acc-a", Attempt: "1"}
	ch <- claim.Claim{Account: "acc-b", Attempt: "2"}
	// The Cmd takes this one only once it has judged acc-b's (dropped).
	ch <- claim.Claim{Account: "acc-a", Attempt: "2a"}
	// Both read and dropped while the list showed; now the agent opens acc-b.
	focus.set("acc-b")
	ch <- claim.Claim{Account: "acc-a", Attempt: "3"}
	ch <- claim.Claim{Account: "acc-b", Attempt: "4"}
	news, ok := (<-got).(claimNewsMsg)
	if !ok || news.sig.Claim.Account != "acc-b" || news.sig.Claim.Attempt != "4" {
		t.Fatalf("delivered %+v, want acc-b's attempt 4", news)
	}
	close(ch)
	if msg := waitClaim(news.ch, focus)(); msg != nil {
		t.Fatalf("after the feed closed: %+v", msg)
	}
}
