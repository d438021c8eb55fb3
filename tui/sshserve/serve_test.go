package sshserve

import (
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
)

func TestAuthorisedAgentGetsTheTUI(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	tm := f.open("ada", termOpts{width: 100, height: 30})

	fp := gossh.FingerprintSHA256(f.keys["ada"].PublicKey())
	scr := tm.waitFor("the sandbox accounts", func(s string) bool {
		return strings.Contains(s, "loaded 60 / 60") && strings.Contains(s, "Adaeze Okonkwo")
	})
	if !strings.Contains(scr, "SANDBOX") {
		t.Fatalf("no SANDBOX badge:\n%s", scr)
	}
	// The header names the agent by user and a short key fingerprint.
	short := "ada (" + fp[:len("SHA256:")+8] + "…)"
	if !strings.Contains(scr, short) {
		t.Fatalf("header lacks %q:\n%s", short, scr)
	}
	if got := f.seenAgents(); len(got) != 1 || got[0] != (audit.Agent{User: "ada", KeyFingerprint: fp, Via: audit.ViaSSH}) {
		t.Fatalf("NewDeps got %+v, want ada with %s over ssh", got, fp)
	}

	tm.send("okonkwo")
	tm.waitFor("the filtered list", func(s string) bool {
		return strings.Contains(s, "Adaeze Okonkwo") && !strings.Contains(s, "Folake")
	})
	tm.send("\r")
	// The reason comes from Mono's webhook, as the sandbox sends it:
	// reauthorisation_required, which says no why.
	tm.waitText("From Mono webhook reauthorisation_required")
	tm.send("t")
	scr = tm.waitText(" left")
	var tokenLine string
	for _, l := range strings.Split(scr, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Token ") {
			tokenLine = l
		}
	}
	if !strings.Contains(tokenLine, "••••") || !strings.Contains(tokenLine, "10:00") && !strings.Contains(tokenLine, "09:5") {
		t.Fatalf("token line %q: want a masked token and its countdown; screen:\n%s", tokenLine, scr)
	}
	var minted bool
	for _, r := range f.auditOf(fp).records() {
		minted = minted || r.Action == audit.ActionTokenMinted
	}
	if !minted {
		t.Fatal("the agent's audit recorder saw no token_minted")
	}

	// The token is live: q asks first, and y confirms.
	tm.send("q")
	tm.waitText("Quit reauth")
	tm.send("y")
	if code := tm.wait(); code != 0 {
		t.Fatalf("quitting gave exit status %d, want 0", code)
	}
	if n := f.srv.Sessions(); n != 0 {
		t.Fatalf("%d sessions still registered after quit", n)
	}
}
