package storetest

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

// ClusterKeyer is a store handle's cluster key (postgres.DB, sqlite.DB).
type ClusterKeyer interface {
	ClusterKey(ctx context.Context) ([]byte, error)
}

// ClusterKey runs the cluster key suite. newDB makes a fresh, empty store
// and returns how to open another handle on it (as another replica or
// process would).
func ClusterKey(t *testing.T, newDB func(t *testing.T) func(t *testing.T) ClusterKeyer) {
	ctx := context.Background()
	t.Run("OneKeyPerStore", func(t *testing.T) {
		open := newDB(t)
		a, b := open(t), open(t)
		ka, err := a.ClusterKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ka) != 32 || bytes.Equal(ka, make([]byte, 32)) {
			// Not the bytes themselves: a test log is a log.
			t.Fatalf("cluster key is %d bytes (all zero: %v), want 32 random", len(ka), bytes.Equal(ka, make([]byte, 32)))
		}
		kb, err := b.ClusterKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ka, kb) {
			t.Fatal("two handles on one store read different cluster keys")
		}
		if again, err := a.ClusterKey(ctx); err != nil || !bytes.Equal(again, ka) {
			t.Fatalf("asking again changed the key (%v)", err)
		}
		// A handle opened afterwards (a replica started later) reads it too.
		if kc, err := open(t).ClusterKey(ctx); err != nil || !bytes.Equal(kc, ka) {
			t.Fatalf("a later handle read another key (%v)", err)
		}
		other, err := newDB(t)(t).ClusterKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(other) != 32 || bytes.Equal(other, ka) {
			t.Fatal("another store has the same cluster key")
		}
	})
	t.Run("RacingHandlesAgree", func(t *testing.T) {
		open := newDB(t)
		const handles = 6
		hs := make([]ClusterKeyer, handles)
		for i := range hs {
			hs[i] = open(t)
		}
		keys := make([][]byte, handles)
		errs := make([]error, handles)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, h := range hs {
			wg.Go(func() {
				<-start
				keys[i], errs[i] = h.ClusterKey(ctx)
			})
		}
		close(start)
		wg.Wait()
		for i := range hs {
			if errs[i] != nil {
				t.Fatalf("handle %d: %v", i, errs[i])
			}
			if len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("handle %d read another key than handle 0 (%d bytes)", i, len(keys[i]))
			}
		}
	})
}
