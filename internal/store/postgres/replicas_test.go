package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/storetest"
)

func TestReplicasBackend(t *testing.T) {
	url := storetest.PostgresURL(t)
	storetest.ReplicasBackend(t, func(t *testing.T) storetest.Replicas { return NewReplicas(openDB(t, url)) })
}

// Liveness is by the server's clock: a row whose seen_at is older than the
// bound is not live, whatever the replicas' own clocks say.
func TestReplicaGoesStaleByTheServersClock(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, storetest.PostgresURL(t))
	r := NewReplicas(db)
	if err := r.Register(ctx, "r1", "http://a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE replicas SET seen_at = now() - interval '20 seconds'`); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Live(ctx, 15*time.Second); err != nil || len(m) != 0 {
		t.Fatalf("silent 20 s, bound 15 s: %v %v", m, err)
	}
	if m, err := r.Live(ctx, 30*time.Second); err != nil || m["r1"] != "http://a" {
		t.Fatalf("silent 20 s, bound 30 s: %v %v", m, err)
	}
}
