package connect

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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

// Mono's published connect.js releases that have reauthorise(), pinned by
// the npm registry's own integrity hashes (`npm view
// @mono.co/connect.js@V dist.integrity`): the tests run what Mono ships,
// and nothing else. 0.0.8 and 0.1.1 have no reauthorise (and define
// window.connect, lower case).
var connectReleases = map[string]string{
	"0.0.8": "sha512-Fd2rOJvLAmPez8wATO6QAGB/2QacwUcJN5asNRrxSmp8+M8xZ5T6AJL71G4OQl8oNDBZyNCyQwA4ucXc+B4GfQ==",
	"0.1.1": "sha512-apU2zsnzWvQLrBoudB+IEp1dQCmRUR/p/fXx6qAWXnNjDA81sRU/6qdijIsReSiJWie4Anjb3oQ3gzzfMDFOTg==",
	"0.1.2": "sha512-7FG/qxiErTVBqiPJ+7Nt3nvNdwO3hrvcZi+Ft/a9wNNN1CfowE8NfXdHN+4qOBOfzwsHlzM+6Wb/Iw/BGWvjXQ==",
	"0.1.9": "sha512-/ClxtL0vPL7awVBGxD1N34dGEDC+fujTHm/LoqXuItKgJ1tvJzUGxx8JTW3ivE+d+Fpm3iXPsUMLP3FlxjT7Bw==",
	"0.2.1": "sha512-MIry5KY/BlVqzruibEOaejEoK1aGRUYTzirwVBKxJ0FH8R2LZBPFLwPBXEIhu2xRnBl799aJEfTDGO8qI+Kkrw==",
	"0.2.2": "sha512-W4x1f12ojVibh9g6NtN45qPXt7M809pve6YGpOSzGQbBBGr0aVK40VFeTTEsmvpqe46eG/zlT1Kj7YrcZnvWrA==",
	"0.2.5": "sha512-07Qx0kFvFAOn4EOK6WDlTcR0rv0t30MXn4RsyjaV13z5V112+cxo4sh5x1gC8QgC+Q+644gycwUOlPeI/qVrZw==",
	"2.0.2": "sha512-VHk0h+SEtjCxK1+GD6wamWEepXHuLBnGavBqaqipxr/Eg/TerF5y/AX9QmWeCpI50ZAUoVbxw66ie7yO0eIUOw==",
	"2.1.0": "sha512-IZiHtI9WvCM135m9+BY4SiQ/EihXPX2Sd/zyhRp26ui7nsFtzKH2tD0rSMty6JpdI1GdAcaH1W+t6duY2p9xgA==",
	"2.2.0": "sha512-U2l7Xw3kMkZplNQsZZnbAk3h2/lMXEf8x+oPXzs0tyQvneab0gPEwcmX1+TX9ikQAnVPNB2FPPVB44R2tnyohg==",
}

// releaseFacts: what each release takes and where it points its iframe.
var releaseFacts = map[string]struct {
	contract Contract
	frame    string // origin of the widget iframe
	onEvent  bool   // calls onEvent (LOADED, OPENED, …): 0.2.1 and later
}{
	"0.1.2": {ContractToken, MonoLegacyFrameOrigin, false},
	"0.1.9": {ContractToken, MonoLegacyFrameOrigin, false},
	"0.2.1": {ContractToken, MonoLegacyFrameOrigin, true},
	"0.2.2": {ContractToken, MonoLegacyFrameOrigin, true},
	"0.2.5": {ContractToken, MonoLegacyFrameOrigin, true},
	"2.0.2": {ContractToken, MonoFrameOrigin, true},
	"2.1.0": {ContractAccount, MonoFrameOrigin, true},
	"2.2.0": {ContractAccount, MonoFrameOrigin, true},
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
// "main" (the webpack UMD build), checked to define window.Connect (or,
// before 0.1.2, window.connect) and to
// point at one of Mono's frame hosts.
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
		return (bytes.Contains(b, []byte("window.Connect")) || bytes.Contains(b, []byte("window.connect"))) &&
			(bytes.Contains(b, []byte(MonoFrameOrigin)) || bytes.Contains(b, []byte(MonoLegacyFrameOrigin))) &&
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

// realConnectServer serves a connect.js release in place of Mono's CDN, at
// a path that names no release (as Mono's CDN does).
func realConnectServer(t *testing.T, version string) string {
	return serveScript(t, connectBundle(t, version), "/connect.js")
}

// serveScript serves src at path on a loopback server and returns its URL.
func serveScript(t *testing.T, src []byte, path string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(src)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + path
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

// checkNoFrameFor: the page built no widget frame, and Mono's frame host
// never saw a load for ref (so neither the token nor the account id left).
func checkNoFrameFor(t *testing.T, ctx context.Context, ref string) {
	t.Helper()
	noFrame, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("mono-connect--frame-id")`))
	if err != nil || !noFrame {
		t.Errorf("a widget frame is in the page (%v)", err)
	}
	if q := fakeMono.loaded(ref); q != nil {
		t.Errorf("Mono's frame was loaded with %v", q)
	}
}

// No --widget-contract (auto): the app resolves the contract from the
// script before minting; 2.0.2 takes the minted token, 2.2.0 the account
// id, with no token at all.
func TestRealConnectJSAutoContract(t *testing.T) {
	t.Parallel()
	t.Run("2.0.2 takes the token", func(t *testing.T) {
		t.Parallel()
		u := realConnectServer(t, "2.0.2")
		if c, err := DetectContract(context.Background(), nil, u); err != nil || c != ContractToken {
			t.Fatalf("DetectContract = %q, %v; want token", c, err)
		}
		srv := startServer(t, liveConfig(u, ""))
		c, err := srv.ResolveContract(context.Background())
		if err != nil || c != ContractToken {
			t.Fatalf("ResolveContract = %q, %v; want token", c, err)
		}
		tok := testToken("acctauto202") // minted because the contract is token
		s, err := srv.NewSession(SessionParams{Account: testAccount("acctauto202"), Token: tok, Contract: c, Reference: "ref_auto202"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, _ := newTab(t)
		navigate(t, ctx, s.URL())
		expectOpening(t, s, 20*time.Second, true)
		q := fakeMono.loaded("ref_auto202")
		if q == nil || q.Get("reauth_token") != tok.Value || q.Has("data") || q.Has("scope") {
			t.Fatalf("iframe query: %v", q)
		}
		if h := fakeMono.loadedFrom("ref_auto202"); h != "connect.mono.co" {
			t.Errorf("frame host %q", h)
		}
		fakeMono.push("ref_auto202", raw("mono.connect.widget.account_linked", map[string]any{"code": "code_auto_202"}))
		expectSequence(t, s, 20*time.Second,
			step{cb: mono.CallbackSuccess, check: func(d mono.EventData) string { return field("code", d.Code, "code_auto_202") }},
			step{cb: mono.CallbackEvent, name: mono.EventSuccess},
			step{cb: mono.CallbackClose},
		)
		pollTrue(t, ctx, "the success screen", `document.getElementById("app").dataset.state === "succeeded"`)
	})
	t.Run("2.2.0 takes the account id, nothing minted", func(t *testing.T) {
		t.Parallel()
		u := realConnectServer(t, "2.2.0")
		if c, err := DetectContract(context.Background(), nil, u); err != nil || c != ContractAccount {
			t.Fatalf("DetectContract = %q, %v; want account", c, err)
		}
		srv := startServer(t, liveConfig(u, ""))
		c, err := srv.ResolveContract(context.Background())
		if err != nil || c != ContractAccount {
			t.Fatalf("ResolveContract = %q, %v; want account", c, err)
		}
		s, err := srv.NewSession(SessionParams{Account: testAccount("acctauto220"), Contract: c, Reference: "ref_auto220"})
		if err != nil {
			t.Fatal(err)
		}
		if s.params.Token.Value != "" || s.Contract() != ContractAccount {
			t.Fatalf("session: token %q, contract %q", s.params.Token.Value, s.Contract())
		}
		ctx, _ := newTab(t)
		navigate(t, ctx, s.URL())
		expectOpening(t, s, 20*time.Second, true)
		q := fakeMono.loaded("ref_auto220")
		if q == nil || q.Get("data") != `{"account":"acctauto220"}` || q.Has("reauth_token") || q.Get("scope") != "reauth" {
			t.Fatalf("iframe query: %v", q)
		}
		fakeMono.push("ref_auto220", raw("mono.connect.widget.account_linked", map[string]any{"code": "code_auto_220"}))
		expectSequence(t, s, 20*time.Second,
			step{cb: mono.CallbackSuccess, check: func(d mono.EventData) string { return field("code", d.Code, "code_auto_220") }},
			step{cb: mono.CallbackEvent, name: mono.EventSuccess},
			step{cb: mono.CallbackClose},
		)
	})
}

// The page probes the script itself before it passes anything: a session
// set up for one contract on a script that takes the other stops with
// CONTRACT_MISMATCH, and nothing reaches Mono's frame.
func TestRealConnectJSContractMismatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, version string
		contract      Contract // what the session (the server's config) says
		takes         Contract // what the script takes
	}{
		{"account contract on 2.0.2", "2.0.2", ContractAccount, ContractToken},
		{"token contract on 2.2.0", "2.2.0", ContractToken, ContractAccount},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, liveConfig(realConnectServer(t, tc.version), ""))
			id := "acctmis" + strings.ReplaceAll(tc.version, ".", "")
			ref := "ref_" + id
			tok := testToken(id)
			s, err := srv.NewSession(SessionParams{Account: testAccount(id), Token: tok, Contract: tc.contract, Reference: ref})
			if err != nil {
				t.Fatal(err)
			}
			ctx, _ := newTab(t)
			navigate(t, ctx, s.URL())
			got := expectSequence(t, s, 20*time.Second,
				step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened},
				step{cb: mono.CallbackPageError, check: func(d mono.EventData) string {
					if d.ErrorType != "CONTRACT_MISMATCH" {
						return "errorType " + d.ErrorType
					}
					for _, want := range []string{"the " + string(tc.contract) + " contract", "takes the " + string(tc.takes) + " contract"} {
						if !strings.Contains(d.ErrorMessage, want) {
							return "message lacks " + want
						}
					}
					return ""
				}})
			if strings.Contains(got[1].Data.ErrorMessage, tok.Value) {
				t.Error("the token is in the error")
			}
			pollTrue(t, ctx, "the error screen", `document.getElementById("app").dataset.state === "error"`)
			final, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("final").textContent`))
			if err != nil || !strings.Contains(final, "CONTRACT_MISMATCH") || !strings.Contains(final, "Ask your support agent for a new link") {
				t.Errorf("page shows %q (%v)", final, err)
			}
			checkNoFrameFor(t, ctx, ref)
			f := readPage(t, ctx)
			if strings.Contains(f.FrameSrc+f.Final, tok.Value) {
				t.Error("the token reached the page's frame or text")
			}
		})
	}
}

// Every published connect.js that has reauthorise works with no contract
// flag: served at a URL naming its release (so the CSP allows only that
// release's frame host: 0.x connect.withmono.com, 2.x connect.mono.co), the
// contract is detected, the frame gets the token or the account id, a
// closed widget reopens, and a success comes through. 0.1.x has no onEvent:
// only load, success and close reach the agent, and the page says so.
func TestEveryRealReleaseInChromium(t *testing.T) {
	t.Parallel()
	for v, facts := range releaseFacts {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			u := serveScript(t, connectBundle(t, v), "/npm/@mono.co/connect.js@"+v+"/index.js")
			srv := startServer(t, liveConfig(u, ""))
			if csp := srv.pageCSP; !strings.Contains(csp, "frame-src "+facts.frame+";") {
				t.Fatalf("CSP %q does not allow exactly %s", csp, facts.frame)
			}
			c, err := srv.ResolveContract(context.Background())
			if err != nil || c != facts.contract {
				t.Fatalf("ResolveContract = %q, %v; want %q", c, err, facts.contract)
			}
			id := "acctrel" + strings.ReplaceAll(v, ".", "")
			ref := "ref_" + id
			p := SessionParams{Account: testAccount(id), Contract: c, Reference: ref}
			if c == ContractToken {
				p.Token = testToken(id)
			}
			s, err := srv.NewSession(p)
			if err != nil {
				t.Fatal(err)
			}
			ctx, _ := newTab(t)
			navigate(t, ctx, s.URL())
			opening := func(first bool) {
				t.Helper()
				if facts.onEvent {
					expectOpening(t, s, 20*time.Second, first)
					return
				}
				if first {
					expectSequence(t, s, 20*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened})
				}
				expectSequence(t, s, 20*time.Second, step{cb: mono.CallbackLoad})
			}
			checkFrame := func() {
				t.Helper()
				q := fakeMono.loaded(ref)
				if q == nil {
					t.Fatal("the frame never loaded")
				}
				if want := strings.TrimPrefix(facts.frame, "https://"); fakeMono.loadedFrom(ref) != want {
					t.Errorf("frame host %q, want %q", fakeMono.loadedFrom(ref), want)
				}
				switch c {
				case ContractToken:
					if q.Get("reauth_token") != p.Token.Value || q.Has("data") {
						t.Errorf("iframe query: %v", q)
					}
				default:
					if q.Get("data") != `{"account":"`+id+`"}` || q.Has("reauth_token") {
						t.Errorf("iframe query: %v", q)
					}
				}
			}
			opening(true)
			checkFrame()
			if !facts.onEvent {
				pollTrue(t, ctx, "the no-progress note", `document.getElementById("status").textContent.includes("reports only when it finishes")`)
			}

			fakeMono.forget(ref)
			fakeMono.push(ref, raw("mono.connect.widget.closed", nil))
			expectSequence(t, s, 20*time.Second, step{cb: mono.CallbackClose})
			pollTrue(t, ctx, "Reopen", `document.getElementById("app").dataset.state === "closed" && !document.getElementById("reopen").hidden`)
			// A script click: with many tabs open at once, headless
			// Chromium may hit-test a mouse click against a frame drawn
			// before the notice appeared. Hit testing is TestReopenAfterClosingTheWidget's.
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("reopen").click(), true`)); err != nil {
				t.Fatal(err)
			}
			opening(false)
			checkFrame()

			fakeMono.push(ref, raw("mono.connect.widget.account_linked", map[string]any{"code": "code_" + id}))
			steps := []step{{cb: mono.CallbackSuccess, check: func(d mono.EventData) string { return field("code", d.Code, "code_"+id) }}}
			if facts.onEvent {
				steps = append(steps, step{cb: mono.CallbackEvent, name: mono.EventSuccess})
			}
			steps = append(steps, step{cb: mono.CallbackClose})
			expectSequence(t, s, 20*time.Second, steps...)
			pollTrue(t, ctx, "the success screen", `document.getElementById("app").dataset.state === "succeeded"`)
			assertSecretStayedHome(t, s, readPage(t, ctx))
		})
	}
}

// The production default: Mono's CDN URL (unpinned), no contract flag. The
// CDN (here fakeMono, serving 2.2.0 at https://connect.withmono.com/connect.js)
// is asked which contract it takes; the CSP allows both frame hosts.
func TestMonoCDNDefaultWithAuto(t *testing.T) {
	t.Parallel()
	fakeMono.serveConnectJS(connectBundle(t, "2.2.0"))
	toFake := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != "connect.withmono.com:443" {
				return nil, fmt.Errorf("test: no route to %s", addr)
			}
			return (&net.Dialer{}).DialContext(ctx, network, fakeMono.addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // fakeMono's test certificate
	}}
	cfg := liveConfig("", "")
	cfg.DetectClient = toFake
	srv := startServer(t, cfg)
	if !strings.Contains(srv.pageCSP, "script-src 'self' https://connect.withmono.com;") ||
		!strings.Contains(srv.pageCSP, "frame-src https://connect.mono.co https://connect.withmono.com;") {
		t.Fatalf("CSP %q", srv.pageCSP)
	}
	c, err := srv.ResolveContract(context.Background())
	if err != nil || c != ContractAccount {
		t.Fatalf("ResolveContract = %q, %v; want account", c, err)
	}
	s, err := srv.NewSession(SessionParams{Account: testAccount("acctcdn"), Contract: c, Reference: "ref_cdn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := newTab(t)
	navigate(t, ctx, s.URL())
	expectOpening(t, s, 20*time.Second, true)
	if q := fakeMono.loaded("ref_cdn"); q == nil || q.Get("data") != `{"account":"acctcdn"}` || q.Has("reauth_token") {
		t.Fatalf("iframe query: %v", q)
	}
}

// The releases without reauthorise cannot re-authorise: DetectContract
// refuses them, and with a forced contract the page stops with an error
// instead of opening anything.
func TestReleasesWithoutReauthorise(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0.0.8", "0.1.1"} {
		u := realConnectServer(t, v)
		if c, err := DetectContract(context.Background(), nil, u); !errors.Is(err, ErrUnknownContract) {
			t.Errorf("DetectContract(%s) = %q, %v; want ErrUnknownContract", v, c, err)
		}
	}
	check := func(t *testing.T, scriptURL, errType, msg string) {
		srv := startServer(t, liveConfig(scriptURL, ContractToken))
		s := newSess(t, srv, "acctnore", "")
		ctx, _ := newTab(t)
		navigate(t, ctx, s.URL())
		expectSequence(t, s, 20*time.Second,
			step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened},
			step{cb: mono.CallbackPageError, check: func(d mono.EventData) string {
				if d.ErrorType != errType || !strings.Contains(d.ErrorMessage, msg) {
					return "error " + d.ErrorType + ": " + d.ErrorMessage
				}
				return ""
			}})
		checkNoFrameFor(t, ctx, "ref_acctnore")
	}
	t.Run("0.1.1", func(t *testing.T) {
		t.Parallel()
		check(t, realConnectServer(t, "0.1.1"), "SDK_ERROR", "did not define window.Connect")
	})
	t.Run("a Connect without reauthorise", func(t *testing.T) {
		t.Parallel()
		src := []byte(`window.Connect = function (o) { this.open = function () {}; this.setup = function () {}; };`)
		check(t, serveScript(t, src, "/connect.js"), "NO_REAUTHORISE", "has no reauthorise()")
	})
}
