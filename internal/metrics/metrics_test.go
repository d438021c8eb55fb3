package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func get(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpointsAnswer(t *testing.T) {
	m := New()
	var storeErr error
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, err := Serve(ctx, "127.0.0.1:0", m.Handler(func(context.Context) error { return storeErr }))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()

	bye := m.AgentConnected()
	m.Attempt("succeeded")
	m.Attempt("made up by a page")
	m.MonoCall("get account", 200, 120*time.Millisecond)
	m.PageIngest(false, "bad_secret")
	m.Webhook("reauthorisation_required", "duplicate")
	m.Claim("taken_over")
	m.StoreOp("audit append", time.Millisecond, nil)

	if code, body := get(t, base, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base, "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	storeErr = errors.New("store unreachable")
	if code, body := get(t, base, "/readyz"); code != 503 || !strings.Contains(body, "store unreachable") {
		t.Errorf("/readyz with the store down: %d %q", code, body)
	}
	storeErr = nil
	m.SetDraining()
	if code, body := get(t, base, "/readyz"); code != 503 || body != "draining\n" {
		t.Errorf("/readyz while draining: %d %q", code, body)
	}
	code, body := get(t, base, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"reauth_agents_connected 1",
		`reauth_attempts_total{outcome="succeeded"} 1`,
		`reauth_attempts_total{outcome="other"} 1`,
		`reauth_mono_request_duration_seconds_count{endpoint="get account",status="200"} 1`,
		`reauth_page_ingest_total{result="refused",why="bad_secret"} 1`,
		`reauth_webhooks_total{event="reauthorisation_required",result="duplicate"} 1`,
		`reauth_claims_total{kind="taken_over"} 1`,
		`reauth_store_duration_seconds_count{op="audit append",result="ok"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	bye()
	bye()
	if got := testutil.ToFloat64(m.agents); got != 0 {
		t.Errorf("agents after one disconnect called twice = %v, want 0", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("admin server did not stop with its context")
	}
}

func TestNilMetricsAreSafe(t *testing.T) {
	var m *Metrics
	m.AgentConnected()()
	m.Attempt("succeeded")
	m.MonoCall("x", 0, 0)
	m.PageIngest(true, "")
	m.Webhook("x", "applied")
	m.Claim("claimed")
	m.StoreOp("x", 0, nil)
	m.SetDraining()
	if m.Registry() != nil {
		t.Error("nil Metrics has a registry")
	}
}
