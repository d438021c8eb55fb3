package connect

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// The customer's page in Chromium, behind a load balancer that sends its
// requests to replica one and replica two in turn, while the reauth plays:
// the agent's attempt moves from one to two mid-flow (Export, Adopt), and
// the page carries on without a word: every event reaches the agent once,
// in order, the stand-in's completion runs once, and the page says the
// account is re-authorised.
func TestPageMovesInChromium(t *testing.T) {
	var replicas [2]atomic.Pointer[Server]
	var turn atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := replicas[turn.Add(1)%2].Load()
		if srv == nil {
			http.Error(w, "no replica", http.StatusBadGateway)
			return
		}
		target, _ := url.Parse(loopback(srv))
		(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		}}).ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)

	where := map[string]string{}
	var done completions
	cfg := sandboxConfig()
	cfg.PublicURL = lb.URL
	cfg.Autoplay = true
	cfg.AutoplayStepDelay = 150 * time.Millisecond
	cfg.SandboxOpenDelay = 100 * time.Millisecond
	cfg.SandboxComplete = done.record
	cfg.Forward = func(owner string) (*url.URL, error) {
		raw, ok := where[owner]
		if !ok {
			return nil, ErrNoLiveReplica
		}
		u, err := url.Parse(raw)
		return u, err
	}
	c1, c2 := cfg, cfg
	c1.ReplicaID, c2.ReplicaID = "one", "two"
	r1, r2 := startServer(t, c1), startServer(t, c2)
	where["one"], where["two"] = loopback(r1), loopback(r2) // before any request
	replicas[0].Store(r1)
	replicas[1].Store(r2)

	p := SessionParams{Account: testAccount("acct1"), Token: testToken("acct1"), Scenario: ScenarioSucceeds, Reference: "ref_moves"}
	old, err := r1.NewSession(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := newTab(t)
	navigate(t, ctx, old.URL())
	expectOpening(t, old, 20*time.Second, true)

	// The agent's connection drops; they come back through replica two.
	h, err := r1.Export(old.ID(), "two")
	if err != nil {
		t.Fatal(err)
	}
	s, err := r2.Adopt(h)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Reference
	expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected, check: all(ref(r), inst(gtbankID, "GTBank"))},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials, check: ref(r)},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitMFA, check: all(ref(r), mfa("OTP"))},
		step{cb: mono.CallbackEvent, name: mono.EventAccountSelected, check: all(ref(r), accounts(1))},
		step{cb: mono.CallbackEvent, name: mono.EventAccountLinked, check: all(ref(r), inst(gtbankID, "GTBank"))},
		step{cb: mono.CallbackSuccess, check: all(ref(r), hasCode)},
		step{cb: mono.CallbackEvent, name: mono.EventSuccess, check: all(ref(r), hasCode)},
		step{cb: mono.CallbackClose},
	)
	if old.EndReason() != EndMoved {
		t.Errorf("the old session ended as %q", old.EndReason())
	}
	if toks := done.get(); len(toks) != 1 || toks[0] != p.Token.Value {
		t.Errorf("SandboxComplete calls: %v", toks)
	}
	pollTrue(t, ctx, "the page says succeeded", fmt.Sprintf(`document.getElementById("app").dataset.state === %q`, "succeeded"))
	f := readPage(t, ctx)
	assertSecretStayedHome(t, s, f)
	if f.Pairing != s.PairingCode() {
		t.Errorf("page shows pairing %q, want %q", f.Pairing, s.PairingCode())
	}
	// Nothing else: a probe posted now is the next event.
	nothingPending(t, r2, s, 100)
}
