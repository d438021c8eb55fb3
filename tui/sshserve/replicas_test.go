package sshserve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/state/audit"
)

// balancer is the customer's way in: one public URL in front of the
// replicas' page servers, sending every request to the replica it is told
// (here always the one that does not own the page).
type balancer struct {
	URL    string
	target atomic.Pointer[url.URL]
}

func newBalancer(t testing.TB) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{URL: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(b.target.Load())
		r.Out.Host = r.In.Host // the page checks the customer's Host and Origin
	}}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

func (b *balancer) to(t testing.TB, base string) {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	b.target.Store(u)
}

const widgetDoc = `document.getElementById("mono-connect--frame-id")?.contentDocument`

// inWidget runs js in the stand-in widget's document (bound to d) once the
// widget shows page, as the customer's clicks would.
func inWidget(t *testing.T, ctx context.Context, page, js string) {
	t.Helper()
	wait := fmt.Sprintf(`(() => { const d = %s; return !!(d && d.body && d.body.dataset.page === %q); })()`, widgetDoc, page)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](wait, chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(waitLimit))); err != nil {
		t.Fatalf("waiting for the widget's %s page: %v", page, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const d = %s; %s; return true; })()`, widgetDoc, js))); err != nil {
		t.Fatalf("in the widget: %s: %v", js, err)
	}
}

// The two-replica test: two replicas (two SSH servers, two page
// servers) on one PostgreSQL. Ada works on replica one; her customer's page
// (Chromium) reaches replica two, which forwards it to one. Ada's
// connection drops mid-attempt, the customer goes on, and Ada comes back
// through replica two: the same attempt, moved there with its page, every
// event in order (those before the drop read back from the store), and it
// ends SUCCEEDED. Then bola, on replica one, finds an account ada holds on
// replica two and takes it over: the audit names both.
func TestTwoReplicasResumeAcrossAndClaims(t *testing.T) {
	db := storetest.PostgresURL(t)
	lb := newBalancer(t)
	opts := fixtureOpts{agents: []string{"ada", "bola"}, database: db, claimsEvery: 100 * time.Millisecond,
		resumeGrace: time.Minute, publicURL: lb.URL}
	o1, o2 := opts, opts
	o1.replicaID, o2.replicaID = "r1", "r2"
	one := newFixture(t, o1)
	o2.sameKeysAs = one
	two := newFixture(t, o2)
	lb.to(t, "http://"+two.rt.PagesAddr()) // the balancer always picks replica two

	ada := one.open("ada", termOpts{width: 120, height: 40})
	pageURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
	if !strings.HasPrefix(pageURL, lb.URL+"/s/r1-") {
		t.Fatalf("ada's page link %q is not replica one's behind the balancer", pageURL)
	}
	browser := newBrowser(t)
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("opening the page in Chromium: %v", err)
	}
	inWidget(t, tab, "INSTITUTIONS", `d.querySelector("[data-bank-id]").click()`)
	inWidget(t, tab, "AUTH_METHOD", `d.getElementById("auth-internet_banking").click()`)
	ada.waitText("Customer chose")
	inWidget(t, tab, "LOGIN", `d.getElementById("login-username").value = "adaeze"; d.getElementById("login-password").value = "pw"; d.getElementById("login-submit").click()`)
	ada.waitText("Submitted login details")

	// Ada's connection drops: the attempt is kept on replica one.
	_ = ada.client.Close()
	eventually(t, "ada's attempt parked on replica one", func() bool { return one.srv.parkedCount() == 1 })
	// The customer goes on meanwhile: this scenario's customer types a
	// wrong OTP first, then the right one.
	inWidget(t, tab, "MFA", `d.getElementById("otp-input").value = "111111"; d.getElementById("otp-submit").click()`)
	inWidget(t, tab, "MFA", `d.getElementById("otp-input").value = "123456"; d.getElementById("otp-submit").click()`)
	inWidget(t, tab, "ACCOUNTS", `true`)

	// Ada comes back through replica two.
	back := two.open("ada", termOpts{width: 120, height: 40})
	back.waitText("moved from replica r1")
	s := back.waitFor("the OTPs submitted while ada was away", func(s string) bool { return strings.Count(s, "› Submitted OTP") >= 2 })
	order := []string{"Customer chose", "Submitted login details", "Resumed after the connection dropped", "Submitted OTP",
		"INVALID_OTP", "Submitted OTP"}
	for i, at := 1, strings.Index(s, order[0]); i < len(order); i++ {
		next := at + 1 + strings.Index(s[at+1:], order[i])
		if at < 0 || next < at {
			t.Fatalf("ada's resumed pane does not show %q then %q:\n%s", order[i-1], order[i], s)
		}
		at = next
	}
	if one.srv.parkedCount() != 0 {
		t.Fatal("replica one still keeps the attempt it handed over")
	}
	inWidget(t, tab, "ACCOUNTS", `d.getElementById("accounts-submit").click()`)
	inWidget(t, tab, "SUCCESS", `d.getElementById("success-continue").click()`)
	back.waitText("SUCCEEDED")
	// Mono's account_updated goes to the replica whose sandbox sent it
	// (the test's fake Mono is replica one's): replica two says what it
	// knows. Either way the attempt is settled: nothing to keep when ada
	// leaves.
	back.waitFor("the verification settled", func(s string) bool {
		return strings.Contains(s, "fresh data confirmed") || strings.Contains(s, "no sync has confirmed it yet")
	})

	// One attempt in the audit, numbered without a gap or a repeat across
	// the two replicas, its widget events in the customer's order.
	adaFP := gossh.FingerprintSHA256(one.keys["ada"].PublicKey())
	var recs []audit.Record
	waitRecord(t, "ada's attempt SUCCEEDED", func() bool {
		recs = two.auditOf(adaFP).records()
		for _, r := range recs {
			if r.Action == audit.ActionOutcome && r.Outcome == "SUCCEEDED" {
				return true
			}
		}
		return false
	})
	attempt, seq := "", 0
	var events []string
	for _, r := range recs {
		if r.Session == "" {
			continue
		}
		if attempt == "" {
			attempt = r.Session
		}
		if r.Session != attempt {
			t.Fatalf("a second attempt (%s, the first is %s): %+v", r.Session, attempt, r)
		}
		if r.Seq != seq+1 {
			t.Fatalf("record %d follows %d: %+v", r.Seq, seq, r)
		}
		seq = r.Seq
		if r.Action == audit.ActionOutcome && r.Outcome != "SUCCEEDED" {
			t.Fatalf("the attempt also ended %s: %+v", r.Outcome, r)
		}
		if r.Action == audit.ActionWidgetEvent {
			events = append(events, r.Event)
		}
	}
	// The page's secret crossed between the replicas (the hand-over): it is
	// in no record and no log line of either.
	_, secret, _ := strings.Cut(pageURL, "#")
	if len(secret) < 16 {
		t.Fatalf("no page secret in the link %q", pageURL)
	}
	for _, r := range recs {
		if strings.Contains(fmt.Sprintf("%+v", r), secret) {
			t.Fatalf("a record holds the page secret: %+v", r)
		}
	}
	if strings.Contains(one.logs.String(), secret) || strings.Contains(two.logs.String(), secret) {
		t.Fatal("a replica's log holds the page secret")
	}
	want := []string{"Customer chose", "Submitted login details", "Submitted OTP", "Error: INVALID_OTP", "Submitted OTP"}
	j := 0
	for _, e := range events {
		if j < len(want) && strings.HasPrefix(e, want[j]) {
			j++
		}
	}
	if j != len(want) {
		t.Fatalf("the audit's widget events are not in the customer's order %q: %q", want, events)
	}

	// A claim across the replicas: ada (now on replica two) holds an
	// account, bola on replica one takes it over.
	_ = back.client.Close()
	claimTakeOverOn(t, two, one, "anozie", "Ikechukwu Anozie")
}
