package claim_test

import (
	"testing"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/internal/store/storetest"
)

func TestMemoryBackend(t *testing.T) {
	storetest.ClaimsBackend(t, func(t *testing.T) func(t *testing.T) claim.Backend {
		m := claim.NewMemory()
		return func(t *testing.T) claim.Backend { return m }
	})
}
