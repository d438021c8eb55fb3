package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/storetest"
)

func TestReplicasBackend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reauth.db")
	storetest.ReplicasBackend(t, func(t *testing.T) storetest.Replicas { return NewReplicas(openDB(t, path)) })
}

func TestReplicaGoesStale(t *testing.T) {
	ctx := context.Background()
	r := NewReplicas(openDB(t, filepath.Join(t.TempDir(), "reauth.db")))
	now := time.Now()
	r.Now = func() time.Time { return now }
	if err := r.Register(ctx, "r1", "http://a", time.Minute); err != nil {
		t.Fatal(err)
	}
	now = now.Add(20 * time.Second)
	if m, err := r.Live(ctx, 15*time.Second); err != nil || len(m) != 0 {
		t.Fatalf("silent 20 s, bound 15 s: %v %v", m, err)
	}
	if m, err := r.Live(ctx, 30*time.Second); err != nil || m["r1"] != "http://a" {
		t.Fatalf("silent 20 s, bound 30 s: %v %v", m, err)
	}
	if err := r.Register(ctx, "r1", "http://b", 15*time.Second); err != nil {
		t.Fatalf("taking a stale id: %v", err)
	}
}
