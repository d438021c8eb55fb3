package accountnews_test

import (
	"testing"

	"github.com/reauth/reauth/internal/accountnews"
	"github.com/reauth/reauth/internal/store/storetest"
)

func TestMemoryBackend(t *testing.T) {
	storetest.AccountNewsBackend(t, func(t *testing.T) func(t *testing.T) accountnews.Backend {
		m := accountnews.NewMemory()
		return func(t *testing.T) accountnews.Backend { return m }
	})
}
