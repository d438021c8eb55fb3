package connect

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reauth/reauth/mono"
)

// The customer's browser reaches the page through a load balancer that
// sends everything to replica two; the page belongs to replica one. The
// page loads, the simulated widget plays the reauth (its plan and its
// completion are replica one's), and every event reaches replica one's
// session in order.
func TestPageThroughAnotherReplicaInChromium(t *testing.T) {
	var two atomic.Pointer[Server]
	var relayed atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := two.Load()
		if srv == nil {
			http.Error(w, "no replica", http.StatusBadGateway)
			return
		}
		relayed.Add(1)
		target, _ := url.Parse(loopback(srv))
		(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // as a load balancer does
		}}).ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)

	where := map[string]string{}
	var done completions
	cfg := sandboxConfig()
	cfg.PublicURL = lb.URL
	cfg.Autoplay = true
	cfg.AutoplayStepDelay = 30 * time.Millisecond
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
	two.Store(r2)

	p := SessionParams{Account: testAccount("acct1"), Token: testToken("acct1"), Scenario: ScenarioSucceeds, Reference: "ref_replicas"}
	s, err := r1.NewSession(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	r := p.Reference
	expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened},
		step{cb: mono.CallbackLoad},
		step{cb: mono.CallbackEvent, name: mono.EventLoaded},
		step{cb: mono.CallbackEvent, name: mono.EventOpened},
		step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected, check: all(ref(r), inst(gtbankID, "GTBank"))},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials, check: ref(r)},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitMFA, check: all(ref(r), mfa("OTP"))},
		step{cb: mono.CallbackEvent, name: mono.EventAccountSelected, check: all(ref(r), accounts(1))},
		step{cb: mono.CallbackEvent, name: mono.EventAccountLinked, check: all(ref(r), inst(gtbankID, "GTBank"))},
		step{cb: mono.CallbackSuccess, check: all(ref(r), hasCode)},
		step{cb: mono.CallbackEvent, name: mono.EventSuccess, check: all(ref(r), hasCode)},
		step{cb: mono.CallbackClose},
	)
	if toks := done.get(); len(toks) != 1 || toks[0] != p.Token.Value {
		t.Errorf("SandboxComplete calls: %v", toks)
	}
	pollTrue(t, ctx, "the page says succeeded", fmt.Sprintf(`document.getElementById("app").dataset.state === %q`, "succeeded"))
	f := readPage(t, ctx)
	assertSecretStayedHome(t, s, f)
	if f.Pairing != s.PairingCode() {
		t.Errorf("page shows pairing %q, want %q", f.Pairing, s.PairingCode())
	}
	if relayed.Load() == 0 {
		t.Error("nothing went through the load balancer")
	}
}

// The replica the customer reaches cannot read its registry for a moment
// (Forward: not known): the page is not told its link ended. It gets 503s,
// retries its config, and once the owner is known again the page opens and
// its events reach the owner. While nothing is known after all its retries,
// it says the agent's app cannot be reached just now, not that the link
// is no longer active.
func TestPageRidesOutAnUnknownOwnerInChromium(t *testing.T) {
	var two atomic.Pointer[Server]
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, _ := url.Parse(loopback(two.Load()))
		(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		}}).ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)

	var mu sync.Mutex
	where := map[string]string{}
	unknownFor := 0 // Forward answers "not known" this many more times
	cfg := sandboxConfig()
	cfg.PublicURL = lb.URL
	cfg.Forward = func(owner string) (*url.URL, error) {
		mu.Lock()
		defer mu.Unlock()
		if unknownFor > 0 {
			unknownFor--
			return nil, errors.New("registry: connection refused")
		}
		raw, ok := where[owner]
		if !ok {
			return nil, ErrNoLiveReplica
		}
		return url.Parse(raw)
	}
	c1, c2 := cfg, cfg
	c1.ReplicaID, c2.ReplicaID = "one", "two"
	r1, r2 := startServer(t, c1), startServer(t, c2)
	mu.Lock()
	where["one"], where["two"] = loopback(r1), loopback(r2)
	unknownFor = 2 // the page itself and its first config fetch
	mu.Unlock()
	two.Store(r2)

	s := newSess(t, r1, "acct1", "")
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	expectSequence(t, s, 20*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened})
	select {
	case <-s.Done():
		t.Fatalf("session ended (%s) while its owner was not known", s.EndReason())
	default:
	}

	mu.Lock()
	unknownFor = 1 << 30 // from now on nothing is known
	mu.Unlock()
	s2 := newSess(t, r1, "acct2", "")
	ctx2, _ := newTab(t)
	navigate(t, ctx2, s2.URL())
	pageState(t, ctx2, "unreachable")
	title, err := chromedp.Run(ctx2, chromedp.Evaluate[string](`document.getElementById("final-title").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "Cannot reach") || strings.Contains(title, "no longer active") {
		t.Fatalf("notice %q: want that the app cannot be reached just now", title)
	}
}
