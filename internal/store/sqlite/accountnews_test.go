package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/reauth/reauth/internal/accountnews"
	"github.com/reauth/reauth/internal/store/storetest"
)

func TestAccountNewsBackend(t *testing.T) {
	storetest.AccountNewsBackend(t, func(t *testing.T) func(t *testing.T) accountnews.Backend {
		path := filepath.Join(t.TempDir(), "reauth.db")
		return func(t *testing.T) accountnews.Backend { return NewAccountNews(openDB(t, path)) }
	})
}
