package connect

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reauth/reauth/mono"
)

// One Chromium for the whole package (started on first use), and one fake
// https://connect.mono.co that Chromium reaches through --host-resolver-rules.
var (
	browserCtx  context.Context
	browserOnce sync.Once
	browserErr  error
	fakeMono    *fakeMonoFrame
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	fakeMono = newFakeMonoFrame()
	defer fakeMono.close()
	profile, err := os.MkdirTemp("", "reauth-connect-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(profile)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browserOptions(profile)...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	browserCtx = ctx
	return m.Run()
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return "/usr/bin/chromium"
}

func browserOptions(profile string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		// Parallel tabs must keep their timers running at full speed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		// Mono's frame hosts (2.x and 0.x releases) are served by fakeMono
		// on loopback, with a test certificate.
		chromedp.Flag("host-resolver-rules", "MAP connect.mono.co "+fakeMono.addr+", MAP connect.withmono.com "+fakeMono.addr),
		chromedp.Flag("ignore-certificate-errors", true),
	}
}

// newTab opens a tab in the shared browser; close ends it (firing pagehide).
func newTab(t *testing.T) (ctx context.Context, close func()) {
	t.Helper()
	browserOnce.Do(func() { browserErr = chromedp.Do(browserCtx) })
	if browserErr != nil {
		t.Fatalf("cannot start Chromium (%s): %v — install Debian's chromium", chromiumPath(), browserErr)
	}
	tab, cancelTab := chromedp.NewContext(browserCtx)
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	var once sync.Once
	close = func() { once.Do(func() { cancel(); cancelTab() }) }
	t.Cleanup(close)
	return ctx, close
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
}

const widgetDoc = `document.getElementById("mono-connect--frame-id")?.contentDocument`

func pollTrue(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func waitWidgetPage(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	pollTrue(t, ctx, "widget page "+page,
		fmt.Sprintf(`(() => { const d = %s; return !!(d && d.body && d.body.dataset.page === %q); })()`, widgetDoc, page))
}

// inWidget runs js in the page with d bound to the widget's document.
func inWidget(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const d = %s; %s; return true; })()`, widgetDoc, js))); err != nil {
		t.Fatalf("in widget: %s: %v", js, err)
	}
}

func clickOn(t *testing.T, ctx context.Context, page, selector string) {
	t.Helper()
	waitWidgetPage(t, ctx, page)
	inWidget(t, ctx, fmt.Sprintf(`d.querySelector(%q).click()`, selector))
}

// pageFacts is what the page and the stand-in expose after a run.
type pageFacts struct {
	Href       string   `json:"href"`
	HrefAtLoad string   `json:"hrefAtLoad"`
	Referrers  []string `json:"referrers"`
	FrameSrc   string   `json:"frameSrc"`
	Pairing    string   `json:"pairing"`
	Holder     string   `json:"holder"`
	Number     string   `json:"number"`
	State      string   `json:"state"`
	Final      string   `json:"final"`
	Banner     bool     `json:"banner"`
	Reopen     bool     `json:"reopen"` // the Reopen button is showing
}

func readPage(t *testing.T, ctx context.Context) pageFacts {
	t.Helper()
	f, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](`(() => {
		const sb = (window.Connect && window.Connect.sandbox) || {hrefAtLoad: "", referrers: []};
		const frame = document.getElementById("mono-connect--frame-id");
		return {
			href: location.href, hrefAtLoad: sb.hrefAtLoad, referrers: sb.referrers,
			frameSrc: frame ? frame.src : "",
			pairing: document.getElementById("pairing-code").textContent,
			holder: document.getElementById("account-holder").textContent,
			number: document.getElementById("account-number").textContent,
			state: document.getElementById("app").dataset.state,
			final: document.getElementById("final").textContent,
			banner: !document.getElementById("sandbox-banner").hidden,
			reopen: !document.getElementById("final").hidden && !document.getElementById("reopen").hidden,
		};
	})()`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return f
}

// assertSecretStayedHome checks that the secret left the address bar before
// the widget script ran, and so never reached what is sent to Mono.
func assertSecretStayedHome(t *testing.T, s *Session, f pageFacts) {
	t.Helper()
	secret := secretOf(s)
	pageURL := strings.TrimSuffix(s.URL(), "#"+secret)
	if f.Href != pageURL {
		t.Errorf("location.href = %q, want %q (no fragment)", f.Href, pageURL)
	}
	all := append([]string{f.Href, f.HrefAtLoad, f.FrameSrc}, f.Referrers...)
	for _, v := range all {
		if strings.Contains(v, secret) {
			t.Errorf("secret leaked into %q", v)
		}
	}
	if f.FrameSrc != "" {
		u, err := url.Parse(f.FrameSrc)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get("referrer"); got != pageURL {
			t.Errorf("widget referrer = %q, want %q", got, pageURL)
		}
	}
}

// Data checks for expected steps.
func all(checks ...func(mono.EventData) string) func(mono.EventData) string {
	return func(d mono.EventData) string {
		for _, c := range checks {
			if msg := c(d); msg != "" {
				return msg
			}
		}
		return ""
	}
}

func field(name, got, want string) string {
	if got != want {
		return fmt.Sprintf("%s = %q, want %q", name, got, want)
	}
	return ""
}

func ref(want string) func(mono.EventData) string {
	return func(d mono.EventData) string { return field("reference", d.Reference, want) }
}
func inst(id, name string) func(mono.EventData) string {
	return func(d mono.EventData) string {
		return field("institution", d.InstitutionID+"|"+d.InstitutionName, id+"|"+name)
	}
}
func authMethod(m string) func(mono.EventData) string {
	return func(d mono.EventData) string { return field("authMethod", d.AuthMethod, m) }
}
func prevAuth(m string) func(mono.EventData) string {
	return func(d mono.EventData) string { return field("prevAuthMethod", d.PrevAuthMethod, m) }
}
func mfa(m string) func(mono.EventData) string {
	return func(d mono.EventData) string { return field("mfaType", d.MFAType, m) }
}
func accounts(n int) func(mono.EventData) string {
	return func(d mono.EventData) string {
		return field("selectedAccountsCount", fmt.Sprint(d.SelectedAccountsCount), fmt.Sprint(n))
	}
}
func errorIs(typ, msg string) func(mono.EventData) string {
	return func(d mono.EventData) string {
		if msg == "" {
			return field("errorType", d.ErrorType, typ)
		}
		return field("error", d.ErrorType+"|"+d.ErrorMessage, typ+"|"+msg)
	}
}
func pageName(p string) func(mono.EventData) string {
	return func(d mono.EventData) string { return field("pageName", d.PageName, p) }
}
func hasCode(d mono.EventData) string {
	if !strings.HasPrefix(d.Code, "code_") {
		return fmt.Sprintf("code %q", d.Code)
	}
	return ""
}

const gtbankID = "5f2d08be60b92e2888287702"

type completions struct {
	mu     sync.Mutex
	tokens []string
}

func (c *completions) record(_ context.Context, token string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens = append(c.tokens, token)
	return nil
}

func (c *completions) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.tokens...)
}

func TestSandboxWidgetInChromium(t *testing.T) {
	type tc struct {
		name      string
		scenario  string
		contract  Contract
		autoplay  bool
		noToken   bool
		drive     func(t *testing.T, ctx context.Context)
		want      func(ref string) []step
		completes bool
		state     string
	}
	opening := func(r string) []step {
		return []step{
			{cb: mono.CallbackPageOpen, name: mono.EventPageOpened},
			{cb: mono.CallbackLoad},
			{cb: mono.CallbackEvent, name: mono.EventLoaded},
			{cb: mono.CallbackEvent, name: mono.EventOpened},
		}
	}
	chose := func(r, method string) step {
		return step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected, check: all(ref(r), inst(gtbankID, "GTBank"), authMethod(method))}
	}
	creds := func(r string) step {
		return step{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials, check: ref(r)}
	}
	otp := func(r string) step {
		return step{cb: mono.CallbackEvent, name: mono.EventSubmitMFA, check: all(ref(r), mfa("OTP"))}
	}
	linked := func(r string) []step {
		return []step{
			{cb: mono.CallbackEvent, name: mono.EventAccountSelected, check: all(ref(r), accounts(1))},
			{cb: mono.CallbackEvent, name: mono.EventAccountLinked, check: all(ref(r), inst(gtbankID, "GTBank"))},
			{cb: mono.CallbackSuccess, check: all(ref(r), hasCode)},
			{cb: mono.CallbackEvent, name: mono.EventSuccess, check: all(ref(r), hasCode)},
			{cb: mono.CallbackClose},
		}
	}
	closed := step{cb: mono.CallbackClose}
	seq := func(parts ...any) []step {
		var out []step
		for _, p := range parts {
			switch v := p.(type) {
			case step:
				out = append(out, v)
			case []step:
				out = append(out, v...)
			}
		}
		return out
	}
	cases := []tc{
		{
			name: "succeeds, clicked through with an auth method switch", scenario: ScenarioSucceeds,
			drive: func(t *testing.T, ctx context.Context) {
				clickOn(t, ctx, "INSTITUTIONS", `[data-bank-id="`+gtbankID+`"]`)
				clickOn(t, ctx, "AUTH_METHOD", "#auth-mobile_banking")
				clickOn(t, ctx, "LOGIN", "#switch-auth")
				inWidget(t, ctx, `d.getElementById("login-username").value = "ada"; d.getElementById("login-password").value = "pw"`)
				clickOn(t, ctx, "LOGIN", "#login-submit")
				inWidget(t, ctx, `d.getElementById("otp-input").value = "123456"`)
				clickOn(t, ctx, "MFA", "#otp-submit")
				clickOn(t, ctx, "ACCOUNTS", "#accounts-submit")
				clickOn(t, ctx, "SUCCESS", "#success-continue")
			},
			want: func(r string) []step {
				return seq(opening(r), chose(r, mono.AuthMobileBanking),
					step{cb: mono.CallbackEvent, name: mono.EventAuthMethodSwitched, check: all(ref(r), prevAuth(mono.AuthMobileBanking), authMethod(mono.AuthInternetBanking))},
					creds(r), otp(r), linked(r))
			},
			completes: true, state: "succeeded",
		},
		{
			name: "wrong OTP then success, autoplay", scenario: ScenarioWrongOTPThenSuccess, autoplay: true,
			want: func(r string) []step {
				return seq(opening(r), chose(r, mono.AuthInternetBanking), creds(r), otp(r),
					step{cb: mono.CallbackEvent, name: mono.EventError, check: all(ref(r), errorIs("INVALID_OTP", "The OTP entered is wrong"))},
					otp(r), linked(r))
			},
			completes: true, state: "succeeded",
		},
		{
			name: "bank error, autoplay", scenario: ScenarioBankError, autoplay: true,
			want: func(r string) []step {
				return seq(opening(r), chose(r, mono.AuthInternetBanking), creds(r), otp(r),
					step{cb: mono.CallbackEvent, name: mono.EventError, check: all(ref(r), errorIs("BANK_UNAVAILABLE", ""))},
					closed)
			},
			state: "closed",
		},
		{
			name: "closes on MFA, clicked", scenario: ScenarioClosesOnMFA,
			drive: func(t *testing.T, ctx context.Context) {
				clickOn(t, ctx, "INSTITUTIONS", `[data-bank-id="`+gtbankID+`"]`)
				clickOn(t, ctx, "AUTH_METHOD", "#auth-internet_banking")
				clickOn(t, ctx, "LOGIN", "#login-submit")
				clickOn(t, ctx, "MFA", "#widget-close")
			},
			want: func(r string) []step {
				return seq(opening(r), chose(r, mono.AuthInternetBanking), creds(r),
					step{cb: mono.CallbackEvent, name: mono.EventExit, check: all(ref(r), pageName("MFA"))},
					closed)
			},
			state: "closed",
		},
		{
			name: "closes on MFA, autoplay", scenario: ScenarioClosesOnMFA, autoplay: true,
			want: func(r string) []step {
				return seq(opening(r), chose(r, mono.AuthInternetBanking), creds(r),
					step{cb: mono.CallbackEvent, name: mono.EventExit, check: all(ref(r), pageName("MFA"))},
					closed)
			},
			state: "closed",
		},
		{
			name: "cannot reauth, autoplay", scenario: ScenarioCannotReauth, autoplay: true,
			want: func(r string) []step {
				return seq(opening(r), chose(r, mono.AuthInternetBanking),
					step{cb: mono.CallbackEvent, name: mono.EventError, check: errorIs("REAUTH_NOT_ALLOWED", "This account can not be re-authorised.")},
					closed)
			},
			state: "closed",
		},
		{
			name: "account contract, autoplay", scenario: ScenarioSucceeds, contract: ContractAccount, autoplay: true,
			want: func(r string) []step {
				return seq(opening(r), chose(r, mono.AuthInternetBanking), creds(r), otp(r), linked(r))
			},
			completes: true, state: "succeeded",
		},
		{
			name: "missing token shows the SDK's error", scenario: ScenarioSucceeds, noToken: true,
			want: func(r string) []step {
				return []step{
					{cb: mono.CallbackPageOpen, name: mono.EventPageOpened},
					{cb: mono.CallbackPageError, check: errorIs("SDK_ERROR", "Re-auth token is required for reauthorisation")},
				}
			},
			state: "error",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var done completions
			cfg := sandboxConfig()
			cfg.Contract = c.contract
			cfg.Autoplay = c.autoplay
			cfg.AutoplayStepDelay = 30 * time.Millisecond
			cfg.SandboxOpenDelay = 100 * time.Millisecond
			cfg.SandboxComplete = done.record
			srv := startServer(t, cfg)
			p := SessionParams{Account: testAccount("acct1"), Token: testToken("acct1"), Scenario: c.scenario, Reference: "ref_" + strings.ReplaceAll(c.scenario, "_", "")}
			if c.noToken {
				p.Token = mono.Token{}
			}
			s, err := srv.NewSession(p)
			if err != nil {
				t.Fatal(err)
			}
			ctx, _ := newTab(t)
			navigate(t, ctx, s.URL())
			if c.drive != nil {
				c.drive(t, ctx)
			}
			got := expectSequence(t, s, 20*time.Second, c.want(p.Reference)...)
			for _, ev := range got {
				// The page's own events have seqs; the server's PAGE_OPENED has 0.
				if ev.At.IsZero() || time.Since(ev.At) > time.Minute || (ev.Seq <= 0) != ev.IsPageOpen() {
					t.Errorf("event %s %s: at %v seq %d", ev.Callback, ev.Name, ev.At, ev.Seq)
				}
			}
			if c.completes {
				if got[len(got)-2].Data.Code != got[len(got)-3].Data.Code {
					t.Errorf("success and SUCCESS carry different codes")
				}
				if toks := done.get(); len(toks) != 1 || toks[0] != p.Token.Value {
					t.Errorf("SandboxComplete calls: %d", len(toks))
				}
			} else if n := len(done.get()); n != 0 {
				t.Errorf("SandboxComplete called %d times in a failing scenario", n)
			}
			pollTrue(t, ctx, "final state "+c.state, fmt.Sprintf(`document.getElementById("app").dataset.state === %q`, c.state))
			f := readPage(t, ctx)
			assertSecretStayedHome(t, s, f)
			if f.Pairing != s.PairingCode() || f.Holder != "Adaeze Okafor" || f.Number != "••••6789" || !f.Banner {
				t.Errorf("page shows %+v", f)
			}
			if c.noToken && !strings.Contains(f.Final, "Re-auth token is required for reauthorisation") {
				t.Errorf("page does not show the SDK error: %q", f.Final)
			}
			// A widget closed without success is not the end while the
			// link lives: the page offers Reopen (and says the last problem).
			if wantReopen := c.state == "closed"; f.Reopen != wantReopen {
				t.Errorf("Reopen offered %v, want %v: %q", f.Reopen, wantReopen, f.Final)
			}
			if c.state == "closed" && !strings.Contains(f.Final, "You closed the window") {
				t.Errorf("closed page says %q", f.Final)
			}
			if c.contract == ContractAccount {
				u, _ := url.Parse(f.FrameSrc)
				if u.Query().Get("scope") != "reauth" || u.Query().Get("data") != `{"account":"acct1"}` || u.Query().Has("reauth_token") {
					t.Errorf("account contract iframe query: %v", u.Query())
				}
			} else if f.FrameSrc != "" {
				u, _ := url.Parse(f.FrameSrc)
				if u.Query().Get("reauth_token") != p.Token.Value || u.Query().Get("key") != DefaultSandboxPublicKey || u.Query().Get("reference") != p.Reference {
					t.Errorf("token contract iframe query: %v", u.Query())
				}
			}
		})
	}
}

func TestTokenExpiresScenarioDawdlesThenPageUnloads(t *testing.T) {
	t.Parallel()
	var done completions
	cfg := sandboxConfig()
	cfg.Autoplay, cfg.AutoplayStepDelay, cfg.SandboxOpenDelay = true, 30*time.Millisecond, 100*time.Millisecond
	cfg.SandboxComplete = done.record
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", ScenarioTokenExpires)
	ctx, closeTab := newTab(t)
	navigate(t, ctx, s.URL())
	expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened},
		step{cb: mono.CallbackLoad},
		step{cb: mono.CallbackEvent, name: mono.EventLoaded},
		step{cb: mono.CallbackEvent, name: mono.EventOpened},
		step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected},
	)
	// The scripted customer's last step: typing a username, then nothing.
	pollTrue(t, ctx, "the customer to stop on the login page",
		fmt.Sprintf(`(() => { const d = %s; return !!d && d.body.dataset.page === "LOGIN" && d.getElementById("login-username").value === "customer"; })()`, widgetDoc))
	quiet := time.NewTimer(20 * cfg.AutoplayStepDelay)
	defer quiet.Stop()
wait:
	for {
		select {
		case ev := <-s.Events():
			if ev.Callback != mono.CallbackHeartbeat {
				t.Fatalf("the dawdling customer produced %s %s", ev.Callback, ev.Name)
			}
		case <-quiet.C:
			break wait
		}
	}
	// Leaving the page is reported by its unload beacon (Origin included,
	// secret in a text/plain body).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	ev := next(t, s, 10*time.Second)
	if ev.Callback != mono.CallbackUnload || ev.Name != "" || ev.Seq <= 0 {
		t.Fatalf("want the page's unload, got %+v", ev)
	}
	closeTab()
	if n := len(done.get()); n != 0 {
		t.Errorf("SandboxComplete called %d times", n)
	}
}

func TestReplacedSessionPageSaysSo(t *testing.T) {
	t.Parallel()
	cfg := sandboxConfig()
	cfg.HeartbeatInterval = 200 * time.Millisecond
	cfg.HeartbeatTimeout = time.Minute
	cfg.SandboxOpenDelay = 100 * time.Millisecond
	srv := startServer(t, cfg)
	s := newSess(t, srv, "acct1", "")
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	expectSequence(t, s, 20*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened}, step{cb: mono.CallbackLoad})
	newSess(t, srv, "acct1", "") // the agent started over
	// The next heartbeat gets 410 and the page stops.
	pollTrue(t, ctx, "the page to notice it was replaced", `document.getElementById("app").dataset.state === "inactive"`)
	if f := readPage(t, ctx); !strings.Contains(f.Final, "replaced") {
		t.Errorf("final text %q", f.Final)
	}
}

// fakeMonoFrame stands in for https://connect.mono.co only: it records the
// query connect.js built for its iframe and posts, into the page, the raw
// messages a test hands it (keyed by the session's reference).
type fakeMonoFrame struct {
	srv  *httptest.Server
	addr string
	done chan struct{}

	mu     sync.Mutex
	loads  map[string]url.Values
	hosts  map[string]string // reference -> Host the frame was loaded from
	queues map[string]chan []map[string]any
	// latest is the newest frame load per reference: a frame being torn
	// down (its long poll still in flight) hands back what it receives, so
	// a message meant for the frame that replaced it is not lost.
	latest map[string]int
	nloads int
	script []byte // served as /connect.js (Mono's CDN stand-in), if set
}

func newFakeMonoFrame() *fakeMonoFrame {
	f := &fakeMonoFrame{done: make(chan struct{}), loads: map[string]url.Values{}, hosts: map[string]string{}, queues: map[string]chan []map[string]any{},
		latest: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", f.frame)
	mux.HandleFunc("GET /connect.js", f.connectJS)
	mux.HandleFunc("GET /next", f.next)
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // Chromium's TLS chatter with a test cert
	f.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	// HTTP/2: every open fake frame holds a long poll, and over HTTP/1.1
	// Chromium allows only 6 connections per host, so the 7th frame of the
	// parallel tests would wait for a poll to end before it could load.
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	f.addr = f.srv.Listener.Addr().String()
	return f
}

func (f *fakeMonoFrame) close() {
	close(f.done)
	f.srv.Close()
}

func (f *fakeMonoFrame) queue(ref string) chan []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.queues[ref]
	if !ok {
		q = make(chan []map[string]any, 16)
		f.queues[ref] = q
	}
	return q
}

// push hands the frame for ref a batch of raw {type, data} messages.
func (f *fakeMonoFrame) push(ref string, msgs ...map[string]any) { f.queue(ref) <- msgs }

// forget drops what the frame for ref was loaded with, so a test can tell a
// later load from the first.
func (f *fakeMonoFrame) forget(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.loads, ref)
	delete(f.hosts, ref)
}

func (f *fakeMonoFrame) loaded(ref string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads[ref]
}

// loadedFrom is the Host the frame for ref was loaded from ("" if none).
func (f *fakeMonoFrame) loadedFrom(ref string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hosts[ref]
}

// serveConnectJS makes https://connect.withmono.com/connect.js (Mono's CDN
// default) answer with src.
func (f *fakeMonoFrame) serveConnectJS(src []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = src
}

func (f *fakeMonoFrame) connectJS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	src := f.script
	f.mu.Unlock()
	if src == nil || r.Host != "connect.withmono.com" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(src)
}

const fakeFramePage = `<!doctype html><html><body><p>fake Mono Connect frame</p><script data-load="%d">
(async () => {
  const ref = new URLSearchParams(location.search).get("reference") || "";
  const load = document.currentScript.dataset.load;
  for (;;) {
    let r;
    try { r = await fetch("/next?ref=" + encodeURIComponent(ref) + "&load=" + load, {cache: "no-store"}); } catch (e) { return; }
    if (r.status === 204) continue;
    if (!r.ok) return;
    for (const m of await r.json()) {
      const data = Object.assign({timestamp: Date.now()}, m.data || {});
      if (ref) data.reference = ref;
      window.parent.postMessage({type: m.type, data: data}, "*");
    }
  }
})();
</script></body></html>`

func (f *fakeMonoFrame) frame(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.loads[q.Get("reference")] = q
	f.hosts[q.Get("reference")] = r.Host
	f.nloads++
	load := f.nloads
	f.latest[q.Get("reference")] = load
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, fakeFramePage, load)
}

func (f *fakeMonoFrame) next(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("ref")
	q := f.queue(ref)
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case msgs := <-q:
		f.mu.Lock()
		stale := r.URL.Query().Get("load") != strconv.Itoa(f.latest[ref])
		f.mu.Unlock()
		if stale {
			// A newer frame replaced this one: the messages are its.
			q <- msgs
			w.WriteHeader(http.StatusGone)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(msgs)
	case <-t.C:
		w.WriteHeader(http.StatusNoContent)
	case <-f.done:
		w.WriteHeader(http.StatusGone)
	case <-r.Context().Done():
	}
}
