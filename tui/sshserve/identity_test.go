package sshserve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
)

// logLines returns the log's lines containing msg.
func logLines(logs, msg string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, msg) {
			out = append(out, l)
		}
	}
	return out
}

// The SSH user name is the client's choice: alice's key logging in as "bob"
// used to be shown, logged and audited as bob. The agent is now the name
// alice's key has in the authorized keys file; "bob" is only a claim, shown
// and kept beside it. Bob's own key as bob claims nothing.
func TestIdentityComesFromTheKeyNotTheUserName(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"alice", "bob"}})
	fpAlice := gossh.FingerprintSHA256(f.keys["alice"].PublicKey())
	fpBob := gossh.FingerprintSHA256(f.keys["bob"].PublicKey())
	shortAlice := fpAlice[:len("SHA256:")+8] + "…"

	c, err := f.dial("bob", f.keys["alice"])
	if err != nil {
		t.Fatal(err)
	}
	tm := openTerminal(t, c, termOpts{width: 100, height: 30})
	want := "alice (" + shortAlice + ") · claims bob"
	scr := tm.waitText(want)
	if strings.Contains(scr, "bob (") {
		t.Fatalf("the header names bob as the agent:\n%s", scr)
	}
	if got := f.seenAgents(); len(got) != 1 ||
		got[0] != (audit.Agent{User: "alice", KeyFingerprint: fpAlice, Via: audit.ViaSSH, ClaimedUser: "bob"}) {
		t.Fatalf("NewDeps got %+v, want alice (claims bob)", got)
	}

	// Something to audit: mint a token.
	tm.send("okonkwo")
	tm.waitFor("the filtered list", func(s string) bool {
		return strings.Contains(s, "Adaeze Okonkwo") && !strings.Contains(s, "Folake")
	})
	tm.send("\r")
	// The reason comes from Mono's webhook, as the sandbox sends it:
	// reauthorisation_required, which says no why.
	tm.waitText("From Mono webhook reauthorisation_required")
	tm.send("t")
	tm.waitText(" left")
	recs := f.auditOf(fpAlice).records()
	var minted bool
	for _, r := range recs {
		minted = minted || r.Action == audit.ActionTokenMinted
		if r.Agent.User != "alice" || r.Agent.ClaimedUser != "bob" || r.Agent.KeyFingerprint != fpAlice {
			t.Errorf("%s audited as %+v, want alice claiming bob", r.Action, r.Agent)
		}
	}
	if !minted {
		t.Fatalf("no token_minted among %d records", len(recs))
	}
	// Through a real audit log, as main writes it: the claim survives the
	// round trip, under its own key.
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"agent":{"user":"alice","key_fingerprint":"`+fpAlice+`","via":"ssh","claimed_user":"bob"}`) {
		t.Errorf("audit lines do not name alice claiming bob:\n%s", raw)
	}
	back, _, err := audit.ReadFile(path, audit.Filter{})
	if err != nil || len(back) != len(recs) || back[0].Agent != recs[0].Agent {
		t.Errorf("read back %d records (err %v), first agent %+v", len(back), err, back)
	}

	// The token is live: q asks first, and q again confirms.
	tm.send("q")
	tm.waitText("Quit reauth")
	tm.send("q")
	if code := tm.wait(); code != 0 {
		t.Fatalf("exit status %d", code)
	}

	// Bob's own key as bob: no claim.
	tb := f.open("bob", termOpts{width: 100, height: 30})
	scr = tb.waitText("bob (" + fpBob[:len("SHA256:")+8] + "…)")
	if strings.Contains(scr, "claims") {
		t.Fatalf("a matching user name is shown as a claim:\n%s", scr)
	}
	tb.send("\x03") // ctrl+c: the search box has the focus, so q would be typed
	if code := tb.wait(); code != 0 {
		t.Fatalf("bob's exit status %d", code)
	}
	if got := f.seenAgents(); len(got) != 2 || got[1] != (audit.Agent{User: "bob", KeyFingerprint: fpBob, Via: audit.ViaSSH}) {
		t.Fatalf("bob's own login: NewDeps got %+v", got)
	}

	// The connection log names the key's agent, with the claim beside it.
	logs := f.logs.String()
	for _, msg := range []string{"agent connected", "agent disconnected"} {
		lines := logLines(logs, msg)
		if len(lines) != 2 {
			t.Fatalf("%d %q lines:\n%s", len(lines), msg, logs)
		}
		if l := lines[0]; !strings.Contains(l, "user=alice") || !strings.Contains(l, "claimed_user=bob") || !strings.Contains(l, "key="+fpAlice) {
			t.Errorf("alice's %q line: %s", msg, l)
		}
		if l := lines[1]; !strings.Contains(l, "user=bob") || strings.Contains(l, "claimed_user") || !strings.Contains(l, "key="+fpBob) {
			t.Errorf("bob's %q line: %s", msg, l)
		}
	}
}

// The rule for an agent's name, and the header's label.
func TestAgentNameComesFromTheKeyComment(t *testing.T) {
	const fp = "SHA256:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"
	for _, c := range []struct{ comment, want string }{
		{"ada@support", "ada"},
		{"ada@support@example.com", "ada"},
		{"Ada Obi", "Ada Obi"},
		{"  ada  @laptop", "ada"},
		{"\x1b]52;c;eA==\x07ada\x1b[31m@support", "ada"},
		{"ada\u202e\u2028obi@x", "ada obi"},
		{strings.Repeat("a", 40) + "@x", strings.Repeat("a", maxUserLen-1) + "…"},
		{"", "SHA256:AbCdEfGh"},
		{"@support", "SHA256:AbCdEfGh"},
		{"\x1b[2J@x", "SHA256:AbCdEfGh"},
	} {
		if got := keyName(c.comment, fp); got != c.want {
			t.Errorf("keyName(%q) = %q, want %q", c.comment, got, c.want)
		}
	}
	for _, c := range []struct {
		agent audit.Agent
		want  string
	}{
		{audit.Agent{User: "ada", KeyFingerprint: fp}, "ada (SHA256:AbCdEfGh…)"},
		{audit.Agent{User: "ada", KeyFingerprint: fp, ClaimedUser: "bob"}, "ada (SHA256:AbCdEfGh…) · claims bob"},
		{audit.Agent{User: "SHA256:AbCdEfGh", KeyFingerprint: fp, ClaimedUser: "eve"}, "SHA256:AbCdEfGh… · claims eve"},
		{audit.Agent{User: "ada", KeyFingerprint: fp, ClaimedUser: strings.Repeat("b", 30)}, "ada (SHA256:AbCdEfGh…) · claims " + strings.Repeat("b", maxClaimLen-1) + "…"},
	} {
		if got := agentLabel(c.agent); got != c.want {
			t.Errorf("agentLabel(%+v) = %q, want %q", c.agent, got, c.want)
		}
	}
}

// A key removed from the file after its connection was authenticated gets
// no session on that connection: the identity is looked up again.
func TestKeyRevokedAfterLoginGetsNoSession(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}})
	c, err := f.dial("ada", f.keys["ada"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.WriteFile(f.keysPath, []byte(authorizedLine(f.keys["bob"], "bob@support")), 0o600); err != nil {
		t.Fatal(err)
	}
	bump(t, f.keysPath)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out, err := sess.CombinedOutput("")
	if ee, ok := err.(*gossh.ExitError); !ok || ee.ExitStatus() != 1 || !strings.Contains(string(out), RevokedMessage) {
		t.Fatalf("revoked key: output %q, err %v; want %q and exit status 1", out, err, RevokedMessage)
	}
	if n := len(f.seenAgents()); n != 0 {
		t.Fatalf("NewDeps ran %d times for a revoked key", n)
	}
}

// One key listed twice under two names is refused: who acted must not
// depend on which line was read last. The same name twice is fine.
func TestOneKeyUnderTwoNamesIsRefused(t *testing.T) {
	k := newKey(t)
	if _, err := parseAuthorizedKeys([]byte(authorizedLine(k, "ada@support") + authorizedLine(k, "bob@support"))); err == nil ||
		!strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("one key under two names: err %v", err)
	}
	keys, err := parseAuthorizedKeys([]byte(authorizedLine(k, "ada@support") + authorizedLine(k, "ada@laptop")))
	if err != nil || len(keys) != 1 {
		t.Fatalf("one key twice under one name: %v, %d keys", err, len(keys))
	}
}
