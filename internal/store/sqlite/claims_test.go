package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/internal/store/storetest"
)

func TestClaimsBackend(t *testing.T) {
	storetest.ClaimsBackend(t, func(t *testing.T) func(t *testing.T) claim.Backend {
		path := filepath.Join(t.TempDir(), "reauth.db")
		return func(t *testing.T) claim.Backend { return NewClaims(openDB(t, path)) }
	})
}

// HeldBy's query is answered from claims_holder_key: its WHERE clause must
// stay the index's expression and predicate, or every reconnect scans
// every claim ever written.
func TestHeldByUsesTheIndex(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "reauth.db"))
	rows, err := db.SQL.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+heldByQuery, "SHA256:ada")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "; "), "claims_holder_key") {
		t.Fatalf("HeldBy's plan does not use claims_holder_key: %q", plan)
	}
}
