package storetest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Replicas is a replica registry (the replicas table): where each replica's
// page server is reached on the internal network, and who is live.
type Replicas interface {
	Register(ctx context.Context, id, url string, fresh time.Duration) error
	Live(ctx context.Context, fresh time.Duration) (map[string]string, error)
	Leave(ctx context.Context, id, url string) error
}

// ReplicasBackend is the registry's conformance suite: open gives a new
// handle on one store (its own pool, as another process would have). A
// negative fresh counts every row stale, so staleness is tested without
// waiting.
func ReplicasBackend(t *testing.T, open func(t *testing.T) Replicas) {
	ctx := context.Background()
	a, b := open(t), open(t)
	const hour = time.Hour
	live := func(r Replicas, fresh time.Duration) map[string]string {
		t.Helper()
		m, err := r.Live(ctx, fresh)
		if err != nil {
			t.Fatalf("Live: %v", err)
		}
		return m
	}
	same := func(got, want map[string]string) bool {
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}
	if m := live(a, hour); len(m) != 0 {
		t.Fatalf("empty registry: %v", m)
	}
	if err := a.Register(ctx, "r1", "http://10.0.0.1:8080", hour); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(ctx, "r2", "http://10.0.0.2:8080", hour); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"r1": "http://10.0.0.1:8080", "r2": "http://10.0.0.2:8080"}
	for _, r := range []Replicas{a, b} {
		if m := live(r, hour); !same(m, want) {
			t.Fatalf("Live = %v, want %v", m, want)
		}
	}
	// A heartbeat: the same id at the same URL.
	if err := a.Register(ctx, "r1", "http://10.0.0.1:8080", hour); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	// Another process with the same id elsewhere, while r1 is live: refused,
	// naming the holder.
	err := b.Register(ctx, "r1", "http://10.0.0.9:8080", hour)
	if err == nil || !strings.Contains(err.Error(), `"r1" is in use by http://10.0.0.1:8080`) {
		t.Fatalf("a live replica's id taken: %v", err)
	}
	if m := live(a, hour); !same(m, want) {
		t.Fatalf("after a refused takeover: %v", m)
	}
	// Stale rows are not live, and a stale id may be taken.
	if m := live(a, -hour); len(m) != 0 {
		t.Fatalf("everything stale: %v", m)
	}
	if err := b.Register(ctx, "r1", "http://10.0.0.9:8080", -hour); err != nil {
		t.Fatalf("a stale replica's id taken: %v", err)
	}
	want["r1"] = "http://10.0.0.9:8080"
	if m := live(a, hour); !same(m, want) {
		t.Fatalf("after the takeover: %v, want %v", m, want)
	}
	// The old holder leaving does not remove the new one; the new one does.
	if err := a.Leave(ctx, "r1", "http://10.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	if m := live(a, hour); !same(m, want) {
		t.Fatalf("after the old holder left: %v", m)
	}
	if err := b.Leave(ctx, "r1", "http://10.0.0.9:8080"); err != nil {
		t.Fatal(err)
	}
	delete(want, "r1")
	if m := live(a, hour); !same(m, want) {
		t.Fatalf("after r1 left: %v, want %v", m, want)
	}
}
