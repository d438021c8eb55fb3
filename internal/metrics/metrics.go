// Package metrics is what an operator watches: Prometheus metrics and the
// health endpoints on the admin address (`--admin-addr`, off by default).
//
// Every method is safe on a nil *Metrics, so code that reports does not ask
// whether metrics are on. Labels take values from small fixed sets (an op
// phrase, an outcome word, a webhook kind): nothing a customer, a browser or
// Mono sends becomes a label value as sent, so a hostile payload cannot grow
// the series without bound.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the app's collectors on its own registry.
type Metrics struct {
	reg          *prometheus.Registry
	agents       prometheus.Gauge
	attempts     *prometheus.CounterVec
	monoLatency  *prometheus.HistogramVec
	pageIngest   *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
	claims       *prometheus.CounterVec
	storeLatency *prometheus.HistogramVec
	draining     atomic.Bool
}

// New makes the collectors, with Go's runtime and process collectors beside
// them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		agents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reauth_agents_connected", Help: "Agents connected now (SSH sessions, or the local TUI)."}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reauth_attempts_total", Help: "Reauth attempts that reached an outcome, by outcome."}, []string{"outcome"}),
		monoLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reauth_mono_request_duration_seconds", Help: "Mono API requests by endpoint and status (0: no reply).",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"endpoint", "status"}),
		pageIngest: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reauth_page_ingest_total", Help: "Posts from customers' pages, accepted or refused (with why)."}, []string{"result", "why"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reauth_webhooks_total", Help: "Mono webhooks received, by event kind and result."}, []string{"event", "result"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reauth_claims_total", Help: "Account claims: claimed, taken_over, released."}, []string{"kind"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reauth_store_duration_seconds", Help: "Store operations (audit append, marks apply, queries) by op and result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"op", "result"}),
	}
	m.reg.MustRegister(m.agents, m.attempts, m.monoLatency, m.pageIngest, m.webhooks, m.claims, m.storeLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry the collectors are on (for tests and for
// registering more).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// AgentConnected counts an agent in; the func it returns counts them out
// (call it once).
func (m *Metrics) AgentConnected() (disconnected func()) {
	if m == nil {
		return func() {}
	}
	m.agents.Inc()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			m.agents.Dec()
		}
	}
}

// Outcomes is the fixed set of outcome label values; anything else is
// counted as "other".
var Outcomes = []string{"succeeded", "failed", "expired", "ended_by_agent", "taken_over", "interrupted"}

// Attempt counts an attempt that reached outcome (one of Outcomes).
func (m *Metrics) Attempt(outcome string) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(oneOf(outcome, Outcomes)).Inc()
}

// MonoCall observes one Mono API request (mono.Config.Observe's shape): op is
// the client's fixed phrase ("get account", "mint reauth token", …).
func (m *Metrics) MonoCall(op string, status int, took time.Duration) {
	if m == nil {
		return
	}
	m.monoLatency.WithLabelValues(op, strconv.Itoa(status)).Observe(took.Seconds())
}

// PageIngest counts one post from a customer's page. why is the refusal's
// fixed reason ("" when accepted).
func (m *Metrics) PageIngest(accepted bool, why string) {
	if m == nil {
		return
	}
	result := "accepted"
	if !accepted {
		result = "refused"
	}
	m.pageIngest.WithLabelValues(result, why).Inc()
}

// WebhookResults is the fixed set of webhook results.
var WebhookResults = []string{"applied", "duplicate", "stale", "refused", "error"}

// Webhook counts one webhook delivery: event is the webhook's kind as the
// app names it (a small set), result one of WebhookResults.
func (m *Metrics) Webhook(event, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(event, oneOf(result, WebhookResults)).Inc()
}

// ClaimKinds is the fixed set of claim label values.
var ClaimKinds = []string{"claimed", "taken_over", "released"}

// Claim counts a claim event (one of ClaimKinds).
func (m *Metrics) Claim(kind string) {
	if m == nil {
		return
	}
	m.claims.WithLabelValues(oneOf(kind, ClaimKinds)).Inc()
}

// StoreOp observes one store operation; op is a fixed phrase ("audit
// append", "marks apply", …).
func (m *Metrics) StoreOp(op string, took time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.storeLatency.WithLabelValues(op, result).Observe(took.Seconds())
}

// SetDraining marks the process as draining: /readyz answers 503 from now
// on, so a load balancer sends no new agents here.
func (m *Metrics) SetDraining() {
	if m != nil {
		m.draining.Store(true)
	}
}

func oneOf(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return "other"
}

// Ready reports whether the process can take work: nil, or why not (the
// store unreachable, say). It is called per /readyz request with a short
// deadline.
type Ready func(ctx context.Context) error

// readyTimeout bounds one readiness check, so a hung store makes /readyz
// answer 503 rather than hang the prober.
const readyTimeout = 2 * time.Second

// Handler serves /metrics, /healthz (the process is up: always 200) and
// /readyz (200 when ready and not draining; 503 with the reason otherwise).
func (m *Metrics) Handler(ready Ready) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if m != nil && m.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// Serve listens on addr and serves h until ctx ends (then it shuts down,
// giving requests in flight a moment). The address it listens on is
// returned (addr may ask for port 0).
func Serve(ctx context.Context, addr string, h http.Handler) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), done, nil
}
