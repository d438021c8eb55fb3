package sshserve

import (
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/state/audit"
)

// openAccount drives an agent from the search screen to one account.
func openAccount(t *testing.T, tm *terminal, query, holder string) {
	t.Helper()
	tm.waitText("loaded 60 / 60")
	tm.send(query)
	tm.waitFor(holder+" alone", func(s string) bool {
		return strings.Contains(s, holder) && strings.Contains(s, "1 match")
	})
	tm.send("\r")
	tm.waitText("t mint token")
}

// claimTakeOver is the takeover as two agents live it: ada's attempt is
// live (the customer past the login step); bola opens the account and sees
// who holds it, since when and what she is at; t asks him first; y takes
// it; ada's pane and banner name him and her page stops; the audit has her
// attempt TAKEN OVER naming him, and his "took over from" her.
func claimTakeOver(t *testing.T, adaSide, bolaSide *fixture) {
	claimTakeOverOn(t, adaSide, bolaSide, "okonkwo", "Adaeze Okonkwo")
}

// claimTakeOverOn is claimTakeOver on the account query finds (holder its
// name).
func claimTakeOverOn(t *testing.T, adaSide, bolaSide *fixture, query, holder string) {
	adaFP := gossh.FingerprintSHA256(adaSide.keys["ada"].PublicKey())
	earlier := map[string]bool{} // ada's attempts before this one
	for _, r := range adaSide.auditOf(adaFP).records() {
		earlier[r.Session] = true
	}
	ada := adaSide.open("ada", termOpts{width: 120, height: 40})
	bola := bolaSide.open("bola", termOpts{width: 120, height: 40})

	adaURL := openPage(t, ada, query, holder)
	postEvent(t, adaURL, 1, "load", "", nil)
	postEvent(t, adaURL, 2, "event", "SUBMIT_CREDENTIALS", nil)
	ada.waitText("Submitted login details")

	openAccount(t, bola, query, holder)
	held := bola.waitText("customer's last step: submitted login details")
	if !strings.Contains(held, "ada is re-authorising this account since") || !strings.Contains(held, "page live") {
		t.Fatalf("bola's screen does not say who holds the account:\n%s", held)
	}

	bola.send("t")
	q := bola.waitText("Take over from ada (since")
	if !strings.Contains(q, "y / n") {
		t.Fatalf("no question:\n%s", q)
	}
	bola.send("n")
	bola.waitFor("the question gone", func(s string) bool { return !strings.Contains(s, "Take over from") })
	if s := ada.screen(); strings.Contains(s, "TAKEN OVER") {
		t.Fatalf("n took the account from ada:\n%s", s)
	}
	bola.send("t")
	bola.waitText("Take over from ada (since")
	bola.send("y")
	bola.waitText("You took over this account from ada")
	bola.waitText(" left") // his token

	s := ada.waitText("bola took over this account at")
	if !strings.Contains(s, "TAKEN OVER") {
		t.Fatalf("ada's banner does not say TAKEN OVER:\n%s", s)
	}

	bolaFP := gossh.FingerprintSHA256(bolaSide.keys["bola"].PublicKey())
	var adaAttempt string
	waitRecord(t, "ada's attempt TAKEN OVER naming bola", func() bool {
		for _, r := range adaSide.auditOf(adaFP).records() {
			if earlier[r.Session] {
				continue
			}
			if r.Action == audit.ActionOutcome && r.Outcome != "TAKEN OVER" {
				t.Fatalf("ada's attempt ended %s: %+v", r.Outcome, r)
			}
			if r.Action == audit.ActionOutcome && strings.Contains(r.Detail, "bola took over") {
				adaAttempt = r.Session
				return true
			}
		}
		return false
	})
	waitRecord(t, "bola's takeover naming ada and her attempt", func() bool {
		for _, r := range bolaSide.auditOf(bolaFP).records() {
			if r.Action == audit.ActionClaimTakenOver && strings.Contains(r.Detail, "took over from ada") &&
				strings.Contains(r.Detail, adaAttempt) {
				return true
			}
		}
		return false
	})
	// Her page ended: the customer's browser is told it is gone.
	ada.waitFor("ada's page gone", func(string) bool { return ada.link("/s/") == "" || strings.Contains(ada.screen(), "TAKEN OVER") })
}

// waitRecord polls the audit until ok, failing after waitLimit.
func waitRecord(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// Two agents on one `reauth serve` with the SQLite store.
func TestClaimTakeOverOnOneServer(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bola"}, database: "sqlite"})
	claimTakeOver(t, f, f)
}

// Two replicas on one PostgreSQL: ada on one, bola on the other; the claim
// and its takeover travel through the database's change feed.
func TestClaimTakeOverAcrossReplicas(t *testing.T) {
	url := storetest.PostgresURL(t)
	one := newFixture(t, fixtureOpts{agents: []string{"ada"}, database: url, claimsEvery: 100 * time.Millisecond})
	two := newFixture(t, fixtureOpts{agents: []string{"bola"}, database: url, claimsEvery: 100 * time.Millisecond})
	claimTakeOver(t, one, two)
}

// Ada's own claim from another session (a second terminal, or a dropped
// connection the server has not noticed) is told as hers, not as a
// colleague's: "You are re-authorising this account in another session";
// taking it over asks about "your other session", the new session says it
// took over from "your other session", and the old one that the agent took
// it over in another session (not "ada took over").
func TestOwnClaimFromAnotherSessionIsSaidAsYours(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}, database: "sqlite", claimsEvery: 100 * time.Millisecond})
	first := f.open("ada", termOpts{width: 120, height: 40})
	pageURL := openPage(t, first, "okonkwo", "Adaeze Okonkwo")
	postEvent(t, pageURL, 1, "load", "", nil)
	postEvent(t, pageURL, 2, "event", "SUBMIT_CREDENTIALS", nil)
	first.waitText("Submitted login details")

	second := f.open("ada", termOpts{width: 120, height: 40})
	openAccount(t, second, "okonkwo", "Adaeze Okonkwo")
	s := second.waitText("You are re-authorising this account in another session since")
	if strings.Contains(s, "ada is re-authorising") {
		t.Fatalf("ada's own claim told as a colleague's:\n%s", s)
	}
	second.send("t")
	q := second.waitText("Take it over from your other session (since")
	if !strings.Contains(q, "y / n") {
		t.Fatalf("no question:\n%s", q)
	}
	second.send("y")
	second.waitText("You took over this account from your other session")
	second.waitText(" left") // the new token
	old := first.waitText("You took this account over in another session at")
	if strings.Contains(old, "ada took over") {
		t.Fatalf("the old session names ada to herself as a colleague:\n%s", old)
	}
}
