package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/reauth/reauth/internal/store/storetest"
)

func TestOpenMigratesOnceWhenReplicasStartTogether(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	dbs := make([]*DB, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(ctx, url)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var applied int
	if err := dbs[0].Pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE name = '0000_store'`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Fatalf("0000_store recorded %d times, want 1", applied)
	}
}

func TestOpenErrorsNeverHoldThePassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://bola:hunter2secret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Fatalf("error holds the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("error does not say which server: %v", err)
	}
}

func TestOpenRefusesANonPostgresURL(t *testing.T) {
	if _, err := Open(context.Background(), "mysql://x"); err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Fatalf("err = %v, want a hint naming postgres://", err)
	}
}
