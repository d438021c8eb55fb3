package connect

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingScript serves body (with status) at /connect.js and counts the
// fetches.
func countingScript(t *testing.T, status int, body []byte) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/javascript")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/connect.js", &hits
}

// Every published connect.js with reauthorise, served as Mono ships it,
// is told by the error it documents, not by a version string.
func TestDetectContractOfEveryRealRelease(t *testing.T) {
	t.Parallel()
	for v, facts := range releaseFacts {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			u, _ := countingScript(t, http.StatusOK, connectBundle(t, v))
			got, err := DetectContract(context.Background(), nil, u)
			if err != nil || got != facts.contract {
				t.Fatalf("DetectContract(%s) = %q, %v; want %q", v, got, err, facts.contract)
			}
		})
	}
}

func TestDetectContractRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("neither error", func(t *testing.T) {
		u, _ := countingScript(t, http.StatusOK, []byte(`window.Connect = function () {}; // reauthorise? who knows`))
		_, err := DetectContract(ctx, nil, u)
		var de *DetectError
		if !errors.As(err, &de) || !errors.Is(err, ErrUnknownContract) {
			t.Fatalf("want a DetectError wrapping ErrUnknownContract, got %v", err)
		}
		if want := "cannot tell which contract " + u + " takes; pass --widget-contract token|account"; err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
	})
	t.Run("both errors", func(t *testing.T) {
		u, _ := countingScript(t, http.StatusOK, []byte(`throw new Error("`+TokenContractError+`"); throw new Error("`+AccountContractError+`")`))
		_, err := DetectContract(ctx, nil, u)
		if !errors.Is(err, ErrUnknownContract) || !strings.Contains(err.Error(), "both") || !strings.Contains(err.Error(), "--widget-contract token|account") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("404", func(t *testing.T) {
		u, hits := countingScript(t, http.StatusNotFound, []byte(TokenContractError))
		_, err := DetectContract(ctx, nil, u)
		if err == nil || errors.Is(err, ErrUnknownContract) || !strings.Contains(err.Error(), "HTTP 404") ||
			!strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), "--widget-contract") {
			t.Fatalf("got %v", err)
		}
		// Failures are not cached: the next open tries again.
		if _, err := DetectContract(ctx, nil, u); err == nil || hits.Load() != 2 {
			t.Fatalf("second try: %v after %d fetches, want a new fetch", err, hits.Load())
		}
	})
	t.Run("oversized with a length", func(t *testing.T) {
		body := append(bytes.Repeat([]byte("x"), MaxScriptBytes), []byte(TokenContractError)...)
		u, _ := countingScript(t, http.StatusOK, body)
		if _, err := DetectContract(ctx, nil, u); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("oversized without a length", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("y"), 64<<10)
			for range MaxScriptBytes/len(chunk) + 2 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush() // chunked: no Content-Length
			}
			_, _ = w.Write([]byte(AccountContractError))
		}))
		t.Cleanup(ts.Close)
		if _, err := DetectContract(ctx, nil, ts.URL+"/connect.js"); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("plain http off loopback", func(t *testing.T) {
		if _, err := DetectContract(ctx, nil, "http://cdn.example.com/connect.js"); err == nil || !strings.Contains(err.Error(), "https") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not a URL", func(t *testing.T) {
		if _, err := DetectContract(ctx, nil, "connect.js"); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		u := ts.URL + "/connect.js"
		ts.Close()
		if _, err := DetectContract(ctx, nil, u); err == nil || !strings.Contains(err.Error(), u) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDetectContractCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("reused within the TTL", func(t *testing.T) {
		u, hits := countingScript(t, http.StatusOK, []byte(`throw new Error("`+AccountContractError+`")`))
		for range 5 {
			if c, err := DetectContract(ctx, nil, u); err != nil || c != ContractAccount {
				t.Fatalf("%v %v", c, err)
			}
		}
		if hits.Load() != 1 {
			t.Errorf("%d fetches, want 1", hits.Load())
		}
	})
	t.Run("fetched again after the TTL", func(t *testing.T) {
		u, hits := countingScript(t, http.StatusOK, []byte(`throw new Error("`+TokenContractError+`")`))
		d := newDetector(0, 8)
		for range 3 {
			if c, err := d.detect(ctx, nil, u); err != nil || c != ContractToken {
				t.Fatalf("%v %v", c, err)
			}
		}
		if hits.Load() != 3 {
			t.Errorf("%d fetches, want 3", hits.Load())
		}
	})
	t.Run("bounded", func(t *testing.T) {
		d := newDetector(time.Hour, 2)
		for i := range 5 {
			u, _ := countingScript(t, http.StatusOK, []byte(TokenContractError))
			if _, err := d.detect(ctx, nil, u+"?"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		d.mu.Lock()
		n := len(d.cache)
		d.mu.Unlock()
		if n != 2 {
			t.Errorf("%d cached, want 2", n)
		}
	})
	t.Run("concurrent callers share one fetch", func(t *testing.T) {
		release := make(chan struct{})
		var hits atomic.Int64
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			<-release
			_, _ = w.Write([]byte(TokenContractError))
		}))
		t.Cleanup(ts.Close)
		u := ts.URL + "/connect.js"
		d := newDetector(time.Hour, 8)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				c, err := d.detect(ctx, nil, u)
				if err == nil && c != ContractToken {
					err = errors.New("wrong contract " + string(c))
				}
				errs <- err
			})
		}
		// Wait (with a deadline, no sleep) until all n wait on one fetch.
		deadline := time.Now().Add(10 * time.Second)
		for {
			d.mu.Lock()
			call := d.inflight[u]
			w := 0
			if call != nil {
				w = call.waiters
			}
			d.mu.Unlock()
			if w == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d callers joined the fetch", w)
			}
			runtime.Gosched()
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if hits.Load() != 1 {
			t.Errorf("%d fetches, want 1", hits.Load())
		}
	})
	t.Run("a caller that gives up does not wait for the fetch", func(t *testing.T) {
		release, started := make(chan struct{}), make(chan struct{}, 1)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); ts.Close() })
		cctx, cancel := context.WithCancel(ctx)
		go func() { <-started; cancel() }()
		if _, err := newDetector(time.Hour, 8).detect(cctx, nil, ts.URL+"/connect.js"); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}

// The sandbox stand-in serves one contract's reauthorise(), so DetectContract
// tells it like a real release; under auto it plays 2.0 (the token).
func TestDetectContractOfTheStandIn(t *testing.T) {
	t.Parallel()
	for _, c := range []Contract{ContractAuto, ContractToken, ContractAccount} {
		t.Run(string(c), func(t *testing.T) {
			cfg := sandboxConfig()
			cfg.Contract = c
			srv := startServer(t, cfg)
			want := c
			if c == ContractAuto {
				want = ContractToken
			}
			got, err := DetectContract(context.Background(), nil, srv.URL()+"/sandbox/connect.js")
			if err != nil || got != want {
				t.Fatalf("DetectContract(stand-in, %s) = %q, %v; want %q", c, got, err, want)
			}
			if r, err := srv.ResolveContract(context.Background()); err != nil || r != want {
				t.Fatalf("ResolveContract = %q, %v; want %q", r, err, want)
			}
			s, err := srv.NewSession(SessionParams{Account: testAccount("acct1")})
			if err != nil || s.Contract() != want {
				t.Fatalf("session contract %v (%v), want %q", s, err, want)
			}
		})
	}
}

func TestResolveContract(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("forced: no fetch", func(t *testing.T) {
		u, hits := countingScript(t, http.StatusOK, []byte(TokenContractError))
		srv := startServer(t, liveConfig(u, ContractAccount))
		if c, err := srv.ResolveContract(ctx); err != nil || c != ContractAccount {
			t.Fatalf("%v %v", c, err)
		}
		if hits.Load() != 0 {
			t.Error("a forced contract fetched the script")
		}
		// A session without its own contract takes the forced one.
		s, err := srv.NewSession(SessionParams{Account: testAccount("acct1")})
		if err != nil || s.Contract() != ContractAccount {
			t.Fatalf("%v %v", s, err)
		}
	})
	t.Run("auto: detected; a session must carry it", func(t *testing.T) {
		u, _ := countingScript(t, http.StatusOK, []byte(`throw new Error("`+AccountContractTypeError+`")`))
		srv := startServer(t, liveConfig(u, ""))
		c, err := srv.ResolveContract(ctx)
		if err != nil || c != ContractAccount {
			t.Fatalf("%v %v", c, err)
		}
		if _, err := srv.NewSession(SessionParams{Account: testAccount("acct1")}); !IsConfigError(err) {
			t.Fatalf("auto with no resolved contract: want a ConfigError, got %v", err)
		}
		s, err := srv.NewSession(SessionParams{Account: testAccount("acct1"), Contract: c})
		if err != nil || s.Contract() != ContractAccount {
			t.Fatalf("%v %v", s, err)
		}
		if _, err := srv.NewSession(SessionParams{Account: testAccount("acct2"), Contract: "v3"}); !IsConfigError(err) {
			t.Fatalf("bad contract: %v", err)
		}
	})
	t.Run("auto: undetectable", func(t *testing.T) {
		u, _ := countingScript(t, http.StatusOK, []byte(`window.Connect = 1`))
		srv := startServer(t, liveConfig(u, ContractAuto))
		if _, err := srv.ResolveContract(ctx); !errors.Is(err, ErrUnknownContract) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("auto: the configured client is used", func(t *testing.T) {
		u, _ := countingScript(t, http.StatusOK, []byte(TokenContractError))
		var used atomic.Bool
		cfg := liveConfig(u+"?via=client", ContractAuto)
		cfg.DetectClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			used.Store(true)
			return http.DefaultTransport.RoundTrip(r)
		})}
		srv := startServer(t, cfg)
		if c, err := srv.ResolveContract(ctx); err != nil || c != ContractToken || !used.Load() {
			t.Fatalf("%v %v (client used: %v)", c, err, used.Load())
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFrameOriginsFollowTheScript(t *testing.T) {
	both := MonoFrameOrigin + " " + MonoLegacyFrameOrigin
	for in, want := range map[string]string{
		DefaultConnectJSURL: both,
		"https://cdn.jsdelivr.net/npm/@mono.co/connect.js@0.2.5/index.js": MonoLegacyFrameOrigin,
		"https://unpkg.com/@mono.co/connect.js@0.1.2":                     MonoLegacyFrameOrigin,
		"https://unpkg.com/@mono.co/connect.js@2.0.2/index.js":            MonoFrameOrigin,
		"https://unpkg.com/@mono.co/connect.js@2":                         MonoFrameOrigin,
		"https://unpkg.com/@mono.co/connect.js@latest/index.js":           both,
		"https://unpkg.com/@mono.co/connect.js":                           both,
		"https://cdn.example.com/js/connect-2.2.0.js":                     both,
		"http://127.0.0.1:8080/connect.js":                                both,
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(frameOriginsFor(u), " "); got != want {
			t.Errorf("%s: frame-src %q, want %q", in, got, want)
		}
	}
}

// page.js probes with the very strings DetectContract reads.
func TestPageProbeUsesTheDocumentedErrors(t *testing.T) {
	js, err := assets.ReadFile("assets/page.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{TokenContractError, AccountContractError, AccountContractTypeError, "CONTRACT_MISMATCH"} {
		if !bytes.Contains(js, []byte(`"`+s+`"`)) {
			t.Errorf("page.js lacks %q", s)
		}
	}
}
