package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/internal/store/storetest"
)

func TestClaimsBackend(t *testing.T) {
	storetest.ClaimsBackend(t, func(t *testing.T) func(t *testing.T) claim.Backend {
		url := storetest.PostgresURL(t)
		return func(t *testing.T) claim.Backend { return NewClaims(openDB(t, url)) }
	})
}

// HeldBy's query can be answered from claims_holder_key: its WHERE clause
// must stay the index's expression and predicate. (The test table is tiny,
// so sequential scans are switched off to ask whether the index applies at
// all.)
func TestHeldByUsesTheIndex(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, storetest.PostgresURL(t))
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN `+heldByQuery, "SHA256:ada")
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "claims_holder_key") {
		t.Fatalf("HeldBy's plan does not use claims_holder_key:\n%s", strings.Join(plan, "\n"))
	}
}
