package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/tui"
)

// waitCatalog waits on the catalogue's versions (no sleeps) for one that
// satisfies ok.
func waitCatalog(t *testing.T, c *tui.Catalog, what string, ok func(tui.CatalogView) bool) tui.CatalogView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var seen uint64
	for {
		v, live := c.Next(ctx, seen)
		if ok(v) {
			return v
		}
		if !live {
			t.Fatalf("timed out waiting for %s (version %d, %d accounts, err %v)", what, v.Version, len(v.Accounts), v.Err)
		}
		seen = v.Version
	}
}

func loadedList(v tui.CatalogView) bool { return !v.LoadedAt.IsZero() && !v.Loading && !v.Refreshing }

// statusIn is account id's data status as a program's list shows it.
func statusIn(v tui.CatalogView, id string) mono.DataStatus {
	for i, a := range v.Accounts {
		if a.ID == id {
			return v.At(i).DataStatus
		}
	}
	return ""
}

// reads counts the GETs of one account a sandbox answered.
func reads(sb *sandbox.Server, id string) int {
	n := 0
	for _, line := range sb.RequestLog() {
		if line == "GET /v2/accounts/"+id || strings.HasPrefix(line, "GET /v2/accounts/"+id+"?") {
			n++
		}
	}
	return n
}

// reauthorised makes the sandbox's Mono say id's data is being
// re-synced (PROCESSING, for the hour its ConfirmDelay is here), as after
// a customer's reauth: a read of the account now differs from the list's.
func reauthorised(t *testing.T, e *Env, id string) {
	t.Helper()
	tok, err := e.Client.Reauthorise(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Sandbox.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
}

// Two replicas on one PostgreSQL, each with its own fake Mono (the same
// accounts): a fresher read a program on replica one records (the
// catalogue's Update, as the search screen does after a reauth) makes
// replica two re-read that account from its Mono, and every list there
// shows what it read, at once (NOTIFY; the feed's timer is an hour here);
// and the other way round. A replica never re-reads its own news, and an
// overlay from news is not news again. Two processes on one SQLite file
// hear each other on the timer.
func TestFresherReadReachesOtherReplicas(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		cleanEnv(t)
		testFresherRead(t, Files{Database: storetest.PostgresURL(t)}, time.Hour)
	})
	t.Run("sqlite", func(t *testing.T) {
		dir := cleanEnv(t)
		testFresherRead(t, Files{Database: filepath.Join(dir, "shared.db")}, 20*time.Millisecond)
	})
}

func testFresherRead(t *testing.T, files Files, every time.Duration) {
	tune := Tune{AccountNewsPollEvery: every}
	e1, one := setupRuntime(t, Config{Files: files, SandboxConfirm: time.Hour, Tune: tune})
	e2, two := setupRuntime(t, Config{Files: files, SandboxConfirm: time.Hour, Tune: tune})
	if e1.Sandbox == e2.Sandbox || e1.ReplicaID == e2.ReplicaID {
		t.Fatal("fixture: the replicas share a sandbox or a replica id")
	}
	v1 := waitCatalog(t, one.Catalog(), "replica one's list", loadedList)
	v2 := waitCatalog(t, two.Catalog(), "replica two's list", loadedList)
	var picked []string
	for i, a := range v1.Accounts {
		if sandbox.ScenarioFor(a.ID) == "" && !a.DataStatus.Is(mono.StatusProcessing) && v2.Accounts[i].ID == a.ID {
			picked = append(picked, a.ID)
		}
	}
	if len(picked) < 2 {
		t.Fatalf("fixture: %d ordinary accounts listed alike on both replicas", len(picked))
	}
	x, y := picked[0], picked[1]

	// An agent on replica one reauthorised x; Mono (replica two's fake of
	// it) now says so, but replica two's list was read before.
	reauthorised(t, e2, x)
	if st := statusIn(two.Catalog().View(), x); st.Is(mono.StatusProcessing) {
		t.Fatalf("fixture: replica two's list already shows %s", st)
	}
	// Replica one's program records its fresher read (the list's copy
	// here, so replica one's Mono is not asked by the test itself).
	one.Catalog().Update(v1.Accounts[indexOfID(v1.Accounts, x)])
	waitCatalog(t, two.Catalog(), "replica two's list showing the re-read of "+x, func(v tui.CatalogView) bool {
		return statusIn(v, x).Is(mono.StatusProcessing)
	})

	// And back: y reauthorised through replica two.
	reauthorised(t, e1, y)
	two.Catalog().Update(v2.Accounts[indexOfID(v2.Accounts, y)])
	waitCatalog(t, one.Catalog(), "replica one's list showing the re-read of "+y, func(v tui.CatalogView) bool {
		return statusIn(v, y).Is(mono.StatusProcessing)
	})
	// Both replicas have handled both news (re-reads done): neither read
	// its own news's account, each read the other's once.
	head, err := one.Storage().AccountNews().Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(waitLimit); one.news.followed.Load() < head || two.news.followed.Load() < head; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("followed to %d and %d of %d", one.news.followed.Load(), two.news.followed.Load(), head)
		}
	}
	if n := reads(e1.Sandbox, x); n != 0 {
		t.Fatalf("replica one re-read %s, its own news, %d times", x, n)
	}
	if n := reads(e2.Sandbox, y); n != 0 {
		t.Fatalf("replica two re-read %s, its own news, %d times", y, n)
	}
	if n1, n2 := reads(e1.Sandbox, y), reads(e2.Sandbox, x); n1 != 1 || n2 != 1 {
		t.Fatalf("re-reads of the other's news: %s on one %d, %s on two %d", y, n1, x, n2)
	}
	// Only the two programs' reads are news: the overlays were not told
	// again.
	news, err := two.Storage().AccountNews().Changes(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(news) != 2 || news[0].Account != x || news[0].Replica != e1.ReplicaID || news[1].Account != y || news[1].Replica != e2.ReplicaID {
		t.Fatalf("account news: %+v", news)
	}
}

// The plain files are one process's: no news is sent or followed.
func TestNoAccountNewsOnTheFiles(t *testing.T) {
	dir := cleanEnv(t)
	_, rt := setupRuntime(t, Config{Files: Files{AuditLog: filepath.Join(dir, "audit.jsonl")}})
	if rt.Storage().AccountNews() != nil || rt.news != nil {
		t.Fatal("account news on the plain files")
	}
	v := waitCatalog(t, rt.Catalog(), "the list", loadedList)
	rt.Catalog().Update(v.Accounts[0]) // no feed to tell: nothing happens
}

func indexOfID(accounts []mono.Account, id string) int {
	for i, a := range accounts {
		if a.ID == id {
			return i
		}
	}
	return -1
}
