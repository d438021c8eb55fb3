package sshserve

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/storetest"
)

// BenchmarkServeScaleTwoReplicas is BenchmarkServeScale across two replicas
// (issue 19): two `reauth serve` children on one PostgreSQL schema
// (--database-url, --replica-id r1 and r2, each its own host key, state
// dir and log file), their page servers behind one public URL: a
// round-robin HTTP balancer in this process, so about half of every page's
// requests reach the replica that does not own the page and are forwarded
// to its owner. Idle and active agents alternate between the replicas, as
// do the probes (a new session's first frame while the pages stream).
// Memory is the sum of both children's RSS growth over all the sessions.
//
// Baseline, in the same run (first; REAUTH_BENCH_BASELINE=0 leaves it
// out): one replica on its own schema, behind the same kind of balancer,
// with one replica's share of the agents (half the idle and half the
// active).
//
//	REAUTH_BENCH_SECONDS=10 go test -run '^$' -bench ServeScaleTwoReplicas -benchtime 1x -timeout 30m ./tui/sshserve/
//
// Knobs as BenchmarkServeScale's, but REAUTH_BENCH_IDLE defaults to 450
// (both replicas together) and REAUTH_BENCH_SERVE_STDERR gets the
// replica's id as a suffix (r1, r2; the baseline's is solo). Needs
// REAUTH_TEST_DATABASE_URL (storetest; `make test` starts a throwaway
// server): skipped without it.
//
// Target (issue 19): 500 sessions (450 idle, 50 active) across two replicas
// on one machine, <= 4 MB per session, a new session's first frame p99
// <= 100 ms while loaded.
func BenchmarkServeScaleTwoReplicas(b *testing.B) {
	if os.Getenv(storetest.EnvURL) == "" {
		b.Skipf("%s is not set: replicas share a PostgreSQL", storetest.EnvURL)
	}
	idle, active := envInt(b, "REAUTH_BENCH_IDLE", 450), envInt(b, "REAUTH_BENCH_ACTIVE", 50)
	rate, seconds := envInt(b, "REAUTH_BENCH_ACTIVE_RATE", 5), envInt(b, "REAUTH_BENCH_SECONDS", 5)
	dur := time.Duration(seconds) * time.Second
	bin := buildReauth(b)
	if envInt(b, "REAUTH_BENCH_BASELINE", 1) != 0 {
		b.Run(fmt.Sprintf("replicas=1/idle=%d/active=%d", idle/2, active/2), func(b *testing.B) {
			for range b.N {
				runReplicas(b, bin, 1, idle/2, active/2, rate, dur)
			}
		})
	}
	b.Run(fmt.Sprintf("replicas=2/idle=%d/active=%d", idle, active), func(b *testing.B) {
		for range b.N {
			runReplicas(b, bin, 2, idle, active, rate, dur)
		}
	})
}

// runReplicas starts n replicas r1…rn on a fresh schema behind a balancer
// and runs the scale benchmark across them.
func runReplicas(b *testing.B, bin string, n, idle, active, rate int, dur time.Duration) {
	db := storetest.PostgresURL(b)
	lb := newPageBalancer(b)
	var srv servers
	defer func() { srv.stop() }()
	for k := range n {
		addr := freeAddr(b)
		id := fmt.Sprintf("r%d", k+1)
		if n == 1 {
			id = "solo" // the baseline's stderr file apart from r1's
		}
		srv = append(srv, startServe(b, bin, serveOpts{database: db, replicaID: id,
			publicURL: lb.url, widgetAddr: addr}))
		lb.add(b, "http://"+addr)
	}
	runScale(b, srv, idle, active, rate, dur)
}

// pageBalancer is the customers' one public URL in front of the replicas'
// page servers: each request goes to the next replica in turn, whoever
// owns the page, with its Host and Origin unchanged (the page checks both).
type pageBalancer struct {
	url     string
	mu      sync.Mutex
	targets []*url.URL
	next    atomic.Uint64
}

func newPageBalancer(b *testing.B) *pageBalancer {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	lb := &pageBalancer{url: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(lb.pick())
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 128},
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return lb
}

func (lb *pageBalancer) add(b *testing.B, target string) {
	u, err := url.Parse(target)
	if err != nil {
		b.Fatal(err)
	}
	lb.mu.Lock()
	lb.targets = append(lb.targets, u)
	lb.mu.Unlock()
}

func (lb *pageBalancer) pick() *url.URL {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.targets[int(lb.next.Add(1)%uint64(len(lb.targets)))]
}

// freeAddr is a loopback address with a port free a moment ago, for a
// child's --widget-addr: the balancer and the other replicas must know it
// before the child prints anything.
func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
