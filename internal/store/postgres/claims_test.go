package postgres

import (
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
