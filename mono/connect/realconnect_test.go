package connect

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reauth/reauth/mono"
)

// Mono's published connect.js releases, pinned by the npm registry's own
// integrity hashes: the test runs what Mono ships, and nothing else.
var connectReleases = map[string]string{
	"2.0.2": "sha512-VHk0h+SEtjCxK1+GD6wamWEepXHuLBnGavBqaqipxr/Eg/TerF5y/AX9QmWeCpI50ZAUoVbxw66ie7yO0eIUOw==",
	"2.2.0": "sha512-U2l7Xw3kMkZplNQsZZnbAk3h2/lMXEf8x+oPXzs0tyQvneab0gPEwcmX1+TX9ikQAnVPNB2FPPVB44R2tnyohg==",
}

var (
	bundleMu    sync.Mutex
	bundleCache = map[string][]byte{}
)

func npmIntegrity(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// connectBundle returns the browser bundle of @mono.co/connect.js@version,
// downloaded from the npm registry (cached under the user cache dir, never
// in the repository). No network means a failed test, not a skipped one.
func connectBundle(t *testing.T, version string) []byte {
	t.Helper()
	bundleMu.Lock()
	defer bundleMu.Unlock()
	if b, ok := bundleCache[version]; ok {
		return b
	}
	want := connectReleases[version]
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cacheDir = filepath.Join(cacheDir, "reauth-test", "npm")
	cached := filepath.Join(cacheDir, "mono.co-connect.js-"+version+".tgz")
	tgz, err := os.ReadFile(cached)
	if err != nil || npmIntegrity(tgz) != want {
		u := "https://registry.npmjs.org/@mono.co/connect.js/-/connect.js-" + version + ".tgz"
		tgz, err = download(u)
		if err != nil {
			t.Fatalf("this test needs Mono's real connect.js from the npm registry, and fetching %s failed: %v", u, err)
		}
		if got := npmIntegrity(tgz); got != want {
			t.Fatalf("%s: integrity %s, want %s", u, got, want)
		}
		if err := os.MkdirAll(cacheDir, 0o755); err == nil {
			tmp := cached + ".tmp"
			if os.WriteFile(tmp, tgz, 0o644) == nil {
				_ = os.Rename(tmp, cached)
			}
		}
	}
	b, err := browserBundle(tgz)
	if err != nil {
		t.Fatalf("@mono.co/connect.js %s: %v", version, err)
	}
	bundleCache[version] = b
	return b
}

func download(u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 20<<20))
}

// browserBundle finds the file a plain HTML page loads: package.json's
// "main" (the webpack UMD build), checked to define window.Connect and to
// point at Mono's frame host.
func browserBundle(tgz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || h.Size > 5<<20 {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[path.Clean(h.Name)] = b
	}
	var pkg struct {
		Main string `json:"main"`
	}
	if err := json.Unmarshal(files["package/package.json"], &pkg); err != nil {
		return nil, fmt.Errorf("package.json: %w", err)
	}
	isBundle := func(b []byte) bool {
		// The UMD build inlines utils.js (the iframe) and connect.js.
		return bytes.Contains(b, []byte("window.Connect")) && bytes.Contains(b, []byte("https://connect.mono.co")) &&
			!bytes.Contains(b, []byte("require(\"./utils\")"))
	}
	if b, ok := files[path.Join("package", pkg.Main)]; ok && isBundle(b) {
		return b, nil
	}
	for name, b := range files {
		if strings.HasSuffix(name, ".js") && isBundle(b) {
			return b, nil
		}
	}
	return nil, fmt.Errorf("no browser bundle in the tarball (main %q)", pkg.Main)
}

// realConnectServer serves a connect.js release in place of Mono's CDN.
func realConnectServer(t *testing.T, version string) string {
	bundle := connectBundle(t, version)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(bundle)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/connect.js"
}

func liveConfig(scriptURL string, contract Contract) Config {
	return Config{
		Mode:              ModeLive,
		PublicKey:         "test_pk_realscript",
		ConnectJSURL:      scriptURL,
		Contract:          contract,
		HeartbeatInterval: time.Second,
		HeartbeatTimeout:  time.Minute,
	}
}

func raw(typ string, data map[string]any) map[string]any {
	return map[string]any{"type": typ, "data": data}
}

// Mono's real connect.js 2.0.2 with the token contract: the iframe gets the
// token and a referrer without the secret; every raw message maps to its
// callback; a reload in the middle continues the same session to success.
func TestRealConnectJS202TokenContract(t *testing.T) {
	t.Parallel()
	srv := startServer(t, liveConfig(realConnectServer(t, "2.0.2"), ContractToken))
	s := newSess(t, srv, "acct202", "")
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())

	// connect.js makes these itself: onLoad + LOADED when its iframe loads,
	// OPENED 2 s after open().
	expectOpening(t, s, 20*time.Second, true)
	r := s.Reference()
	q := fakeMono.loaded(r)
	if q == nil {
		t.Fatal("connect.js never loaded https://connect.mono.co")
	}
	pageURL := strings.TrimSuffix(s.URL(), "#"+secretOf(s))
	if q.Get("key") != "test_pk_realscript" || q.Get("reauth_token") != testToken("acct202").Value ||
		q.Get("referrer") != pageURL || q.Get("version") != "2023-12-14" {
		t.Errorf("iframe query: %v", q)
	}
	for k, vs := range q {
		for _, v := range vs {
			if strings.Contains(v, secretOf(s)) {
				t.Errorf("the page secret reached Mono in %s=%q", k, v)
			}
		}
	}
	// connect.js styles its iframe with style attributes: our CSP must let
	// it show the widget.
	pollTrue(t, ctx, "the Mono frame to be visible",
		`getComputedStyle(document.getElementById("mono-connect--frame-id")).visibility === "visible"`)

	// The page's pairing bar stays visible over connect.js's own fixed,
	// full-viewport container and frame, which start below it.
	assertOnTop(t, ctx, "the pairing code over Mono's widget", "#pairing-code")
	assertOnTop(t, ctx, "Mono's frame", "#mono-connect--frame-id")

	fakeMono.push(r,
		raw("mono.connect.institution_selected", map[string]any{"institution": map[string]any{"id": gtbankID, "name": "GTBank"}, "authMethod": "mobile_banking"}),
		raw("mono.connect.login_attempt", nil),
	)
	got := expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected, check: all(ref(r), inst(gtbankID, "GTBank"), authMethod(mono.AuthMobileBanking))},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials, check: ref(r)},
	)

	// The customer reloads: the same session continues. The reloaded page
	// takes the secret from the tab's storage (its address has none), and
	// connect.js builds a new frame whose referrer holds no secret either.
	fakeMono.forget(r)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	expectReopened(t, s)
	expectOpening(t, s, 20*time.Second, false)
	q = fakeMono.loaded(r)
	if q == nil {
		t.Fatal("connect.js did not load https://connect.mono.co again after the reload")
	}
	if q.Get("referrer") != pageURL || q.Get("reauth_token") != testToken("acct202").Value {
		t.Errorf("iframe query after the reload: %v", q)
	}
	for k, vs := range q {
		for _, v := range vs {
			if strings.Contains(v, secretOf(s)) {
				t.Errorf("the page secret reached Mono in %s=%q after the reload", k, v)
			}
		}
	}
	pollTrue(t, ctx, "the Mono frame to be visible again",
		`getComputedStyle(document.getElementById("mono-connect--frame-id")).visibility === "visible"`)

	fakeMono.push(r,
		raw("mono.connect.institution_selected", map[string]any{"institution": map[string]any{"id": gtbankID, "name": "GTBank"}, "authMethod": "mobile_banking"}),
		raw("mono.connect.login_attempt", nil),
		raw("mono.connect.mfa_submitted", map[string]any{"mfaType": "OTP"}),
		raw("mono.connect.error_occured", map[string]any{"errorType": "INVALID_OTP", "errorMessage": "The OTP entered is wrong\x1b]52;c;Zm9v\x07"}),
		raw("mono.connect.mfa_submitted", map[string]any{"mfaType": "OTP"}),
		raw("mono.connect.account_selected", map[string]any{"selectedAccountsCount": 1}),
		raw("mono.connect.account_linked", map[string]any{"institution": map[string]any{"id": gtbankID, "name": "GTBank"}}),
		raw("mono.connect.some_future_event", map[string]any{"x": 1}),
		raw("mono.connect.widget.account_linked", map[string]any{"code": "code_real_202"}),
	)
	got = append(got, expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected, check: all(ref(r), inst(gtbankID, "GTBank"), authMethod(mono.AuthMobileBanking))},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials, check: ref(r)},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitMFA, check: mfa("OTP")},
		step{cb: mono.CallbackEvent, name: mono.EventError, check: errorIs("INVALID_OTP", "The OTP entered is wrong")},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitMFA, check: mfa("OTP")},
		step{cb: mono.CallbackEvent, name: mono.EventAccountSelected, check: accounts(1)},
		step{cb: mono.CallbackEvent, name: mono.EventAccountLinked, check: inst(gtbankID, "GTBank")},
		step{cb: mono.CallbackSuccess, check: func(d mono.EventData) string { return field("code", d.Code, "code_real_202") }},
		step{cb: mono.CallbackEvent, name: mono.EventSuccess, check: func(d mono.EventData) string { return field("code", d.Code, "code_real_202") }},
		step{cb: mono.CallbackClose},
	)...)
	assertSeqsIncrease(t, got)
	if got[0].At.IsZero() || time.Since(got[0].At) > time.Minute {
		t.Errorf("timestamp not carried: %v", got[0].At)
	}
	pollTrue(t, ctx, "the success screen", `document.getElementById("app").dataset.state === "succeeded"`)
	assertSecretStayedHome(t, s, readPage(t, ctx))
}

func TestRealConnectJS220AccountContract(t *testing.T) {
	t.Parallel()
	srv := startServer(t, liveConfig(realConnectServer(t, "2.2.0"), ContractAccount))
	s, err := srv.NewSession(SessionParams{Account: testAccount("acct220"), Reference: "ref_220"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	expectOpening(t, s, 20*time.Second, true)
	q := fakeMono.loaded("ref_220")
	if q == nil {
		t.Fatal("connect.js never loaded https://connect.mono.co")
	}
	if q.Get("scope") != "reauth" || q.Get("data") != `{"account":"acct220"}` || q.Has("reauth_token") || q.Get("key") != "test_pk_realscript" {
		t.Errorf("iframe query: %v", q)
	}
	if strings.Contains(q.Get("referrer"), secretOf(s)) || strings.Contains(q.Get("referrer"), "#") {
		t.Errorf("referrer %q", q.Get("referrer"))
	}
	fakeMono.push("ref_220",
		raw("mono.connect.institution_selected", map[string]any{"institution": map[string]any{"id": gtbankID, "name": "GTBank"}, "authMethod": "internet_banking"}),
		raw("mono.connect.auth_method_switched", map[string]any{"prevAuthMethod": "internet_banking", "authMethod": "mobile_banking"}),
		raw("mono.connect.login_attempt", nil),
		raw("mono.connect.on_exit", map[string]any{"pageName": "MFA"}),
		raw("mono.connect.widget.closed", nil),
	)
	expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected, check: all(ref("ref_220"), authMethod(mono.AuthInternetBanking))},
		step{cb: mono.CallbackEvent, name: mono.EventAuthMethodSwitched, check: all(prevAuth(mono.AuthInternetBanking), authMethod(mono.AuthMobileBanking))},
		step{cb: mono.CallbackEvent, name: mono.EventSubmitCredentials},
		step{cb: mono.CallbackEvent, name: mono.EventExit, check: pageName("MFA")},
		step{cb: mono.CallbackClose},
	)
	pollTrue(t, ctx, "the closed-window notice with Reopen",
		`document.getElementById("app").dataset.state === "closed" && !document.getElementById("reopen").hidden`)

	// Reopen works with Mono's own script: a new Connect, reauthorise(),
	// open(); connect.js replaces its frame, and events flow on.
	fakeMono.forget("ref_220")
	if err := chromedp.Do(ctx, chromedp.Click("#reopen")); err != nil {
		t.Fatal(err)
	}
	expectOpening(t, s, 20*time.Second, false)
	if q := fakeMono.loaded("ref_220"); q == nil || q.Get("data") != `{"account":"acct220"}` || q.Get("scope") != "reauth" {
		t.Fatalf("iframe query after Reopen: %v", q)
	}
	fakeMono.push("ref_220",
		raw("mono.connect.institution_selected", map[string]any{"institution": map[string]any{"id": gtbankID, "name": "GTBank"}, "authMethod": "internet_banking"}),
		raw("mono.connect.widget.account_linked", map[string]any{"code": "code_real_220"}),
	)
	expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackEvent, name: mono.EventInstitutionSelected, check: ref("ref_220")},
		step{cb: mono.CallbackSuccess, check: func(d mono.EventData) string { return field("code", d.Code, "code_real_220") }},
		step{cb: mono.CallbackEvent, name: mono.EventSuccess},
		step{cb: mono.CallbackClose},
	)
	pollTrue(t, ctx, "the success screen", `document.getElementById("app").dataset.state === "succeeded"`)
}

func TestRealConnectJS202WithoutTokenShowsItsError(t *testing.T) {
	t.Parallel()
	srv := startServer(t, liveConfig(realConnectServer(t, "2.0.2"), ContractToken))
	s, err := srv.NewSession(SessionParams{Account: testAccount("acct0")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	expectSequence(t, s, 20*time.Second,
		step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened},
		step{cb: mono.CallbackPageError, check: errorIs("SDK_ERROR", "Re-auth token is required for reauthorisation")})
	pollTrue(t, ctx, "the error screen", `document.getElementById("app").dataset.state === "error"`)
	final, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("final").textContent`))
	if err != nil || !strings.Contains(final, "Re-auth token is required for reauthorisation") {
		t.Errorf("page shows %q (%v)", final, err)
	}
}
