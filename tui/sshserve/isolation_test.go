package sshserve

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state/audit"
)

// openPage drives one agent from the search screen to a served page and
// returns the page URL read from the screen's OSC 8 link.
func openPage(t testing.TB, tm *terminal, query, holder string) string {
	t.Helper()
	return openPageOnceLoaded(t, tm, "loaded 60 / 60", query, holder)
}

// openPageOnceLoaded is openPage waiting first for loaded, the list's
// progress on a server with another number of accounts.
func openPageOnceLoaded(t testing.TB, tm *terminal, loaded, query, holder string) string {
	t.Helper()
	tm.waitText(loaded)
	tm.send(query)
	tm.waitFor(holder+" alone", func(s string) bool {
		return strings.Contains(s, holder) && strings.Contains(s, "1 match")
	})
	tm.send("\r")
	tm.waitText("t mint token")
	tm.send("t")
	tm.waitText(" left")
	tm.send("o")
	var u string
	tm.waitFor("the page link", func(string) bool {
		u = tm.link("/s/")
		return u != ""
	})
	return u
}

// postEvent posts one widget event to a page as its browser would: to the
// page's own origin, with the secret from the link's fragment.
func postEvent(t testing.TB, pageURL string, seq int64, callback, name string, data map[string]any) {
	t.Helper()
	u, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"seq": seq, "callback": callback, "name": name, "data": data})
	req, _ := http.NewRequest(http.MethodPost, u.Scheme+"://"+u.Host+u.Path+"/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	req.Header.Set(connect.SecretHeader, u.Fragment)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("posting %s %s: %s", callback, name, resp.Status)
	}
}

func TestTwoAgentsSeeOnlyTheirOwnEvents(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}})
	ada := f.open("ada", termOpts{})
	bob := f.open("bob", termOpts{})

	adaURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	bobURL := openPage(t, bob, "folake", "Folake Adeyemi-Bello")
	if adaURL == bobURL {
		t.Fatal("both agents got the same page")
	}
	for _, tm := range []*terminal{ada, bob} {
		// No public URL was configured: each agent is told the link only
		// works on the server's machine.
		tm.waitText(NoPublicURLNote)
	}

	postEvent(t, adaURL, 1, "load", "", nil)
	postEvent(t, adaURL, 2, "event", "ERROR", map[string]any{"errorType": "INVALID_OTP", "errorMessage": "marker-for-ada"})
	ada.waitText("marker-for-ada")

	postEvent(t, bobURL, 1, "load", "", nil)
	postEvent(t, bobURL, 2, "event", "ERROR", map[string]any{"errorType": "BANK_DOWN", "errorMessage": "marker-for-bob"})
	bob.waitText("marker-for-bob")

	// Each screen has caught up with its own latest event; neither shows the
	// other's.
	if s := bob.screen(); strings.Contains(s, "marker-for-ada") || strings.Contains(s, "INVALID_OTP") {
		t.Fatalf("bob's screen shows ada's event:\n%s", s)
	}
	if s := ada.screen(); strings.Contains(s, "marker-for-bob") || strings.Contains(s, "BANK_DOWN") {
		t.Fatalf("ada's screen shows bob's event:\n%s", s)
	}

	// Each agent's audit trail is stamped with that agent and holds only
	// that agent's page.
	for name, own := range map[string]string{"ada": adaURL, "bob": bobURL} {
		fp := gossh.FingerprintSHA256(f.keys[name].PublicKey())
		var pages []string
		for _, r := range f.auditOf(fp).records() {
			if r.Agent.KeyFingerprint != fp || r.Agent.Via != audit.ViaSSH {
				t.Fatalf("%s's record stamped %+v", name, r.Agent)
			}
			if r.Action == audit.ActionPageOpened {
				pages = append(pages, r.PageURL)
			}
		}
		base, _, _ := strings.Cut(own, "#")
		if !slices.Equal(pages, []string{base}) {
			t.Fatalf("%s's audit has pages %v, want only %s", name, pages, base)
		}
	}

	// The link reaches the agent's own clipboard (OSC 52), through SSH.
	ada.send("c")
	ada.waitFor("the OSC 52 copy", func(string) bool { return slices.Contains(ada.clipboard(), adaURL) })
	if clip := bob.clipboard(); len(clip) != 0 {
		t.Fatalf("bob's clipboard got %q", clip)
	}

	f.mu.Lock()
	calls := f.browserCalls
	f.mu.Unlock()
	if calls != 0 {
		t.Fatalf("a browser was launched on the server %d times", calls)
	}
}

// Every session lists the server's one catalogue: Mono's account list is
// paged once for the first agent, and a second agent's session reads
// nothing from Mono to show it.
func TestSessionsShareOneAccountList(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}})
	lists := func() int {
		n := 0
		for _, r := range f.sb.RequestLog() {
			if strings.HasPrefix(r, "GET /v2/accounts?") {
				n++
			}
		}
		return n
	}
	ada := f.open("ada", termOpts{})
	ada.waitText("loaded 60 / 60")
	once := lists()
	if once != 3 { // 60 accounts, 20 a page
		t.Fatalf("%d list requests for the first session, want 3", once)
	}
	bob := f.open("bob", termOpts{})
	bob.waitFor("bob's list", func(s string) bool {
		return strings.Contains(s, "loaded 60 / 60") && strings.Contains(s, "Adaeze Okonkwo")
	})
	if n := lists(); n != once {
		t.Fatalf("a second session read the account list again: %d requests, want %d", n, once)
	}
	// Their queries stay their own.
	ada.send("okonkwo")
	ada.waitText("1 match")
	if s := bob.screen(); !strings.Contains(s, "60 matches") {
		t.Fatalf("bob's list followed ada's query:\n%s", s)
	}
}
