package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/accountnews"
	"github.com/reauth/reauth/internal/store/storetest"
)

func TestAccountNewsBackend(t *testing.T) {
	storetest.AccountNewsBackend(t, func(t *testing.T) func(t *testing.T) accountnews.Backend {
		url := storetest.PostgresURL(t)
		return func(t *testing.T) accountnews.Backend { return NewAccountNews(openDB(t, url)) }
	})
}

// A publish wakes the other replicas' followers of KindAccounts at commit,
// and not the readers of other kinds.
func TestAccountNewsWakes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := storetest.PostgresURL(t)
	a, b := openDB(t, url), openDB(t, url)
	accounts, marks, probe := b.Wake(ctx, KindAccounts), b.Wake(ctx, KindMarks), b.Wake(ctx, KindClaims)
	for _, ch := range []<-chan struct{}{accounts, marks, probe} {
		waitWake(t, ch, "the first connect")
	}
	if _, err := NewAccountNews(a).Publish(ctx, "acc1", "r1", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitWake(t, accounts, "account news")
	// Notifications arrive in order: once the probe arrives, a wake-up
	// of marks for the news would be pending already.
	if err := a.Notify(ctx, KindClaims); err != nil {
		t.Fatal(err)
	}
	waitWake(t, probe, "the probe")
	noWake(t, marks, "account news")
}
