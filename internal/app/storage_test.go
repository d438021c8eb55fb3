package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// A first start on a database with the files an older reauth kept imports
// them once and says so; the files stay as they were; a second start
// imports nothing and says nothing.
func TestOldFilesImportedOnce(t *testing.T) {
	for _, kind := range []StoreKind{StoreSQLite, StorePostgres} {
		t.Run(string(kind), func(t *testing.T) {
			dir := cleanEnv(t)
			var files Files
			if kind == StorePostgres {
				files.Database = storetest.PostgresURL(t)
			}
			state := filepath.Join(dir, "reauth")
			old, err := audit.Open(filepath.Join(state, AuditFileName))
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 30, 7, 1, 0, 0, time.UTC)
			for i, a := range []audit.Action{audit.ActionSessionStarted, audit.ActionTokenMintRequested, audit.ActionOutcome} {
				if err := old.Append(audit.Record{Time: at.Add(time.Duration(i) * time.Second), Session: "s-old", Seq: i + 1,
					Account: "65f1c0ffee0000000000aaaa", Agent: audit.Agent{User: "bola"}, Action: a, Outcome: "SUCCEEDED"}); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()
			marksFile, err := webhook.OpenStore(filepath.Join(state, MarksFileName))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := marksFile.Apply(webhook.Event{ID: "evt-old", Kind: webhook.ReauthRequired, Name: "mono.events.reauthorisation_required",
				AccountID: "65f1c0ffee0000000000bbbb", Received: at}); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(state, AuditFileName))

			ctx := context.Background()
			st, err := OpenStorage(ctx, files, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if st.Kind != kind {
				t.Fatalf("store %s, want %s", st.Kind, kind)
			}
			said := strings.Join(st.Imported, "\n")
			if !strings.Contains(said, "imported 3 audit records") || !strings.Contains(said, "imported 1 webhook marks") {
				t.Fatalf("first start said %q", said)
			}
			recs, err := st.Audit().Query(ctx, audit.Query{Account: "65f1c0ffee0000000000aaaa"})
			if err != nil || len(recs) != 3 {
				t.Fatalf("imported records: %d %v", len(recs), err)
			}
			marks, err := st.Marks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !marks.NeedsReauth("65f1c0ffee0000000000bbbb") {
				t.Fatal("the imported mark is not in the store")
			}
			st.Close()
			after, _ := os.ReadFile(filepath.Join(state, AuditFileName))
			if string(after) != string(before) {
				t.Fatal("the old audit file was changed")
			}

			again, err := OpenStorage(ctx, files, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if len(again.Imported) != 0 {
				t.Fatalf("second start said %q", again.Imported)
			}
			if recs, _ := again.Audit().Query(ctx, audit.Query{}); len(recs) != 3 {
				t.Fatalf("after a second start: %d records, want 3", len(recs))
			}
		})
	}
}

// On PostgreSQL two app instances (two runtimes, as two hosts would run
// them) share the audit and the marks: a webhook one receives reaches the
// other's programs, and both write one valid chain.
func TestTwoInstancesShareOnePostgres(t *testing.T) {
	cleanEnv(t)
	live(t)
	t.Setenv("MONO_WEBHOOK_SECRET", "whsec-test-0123456789")
	url := storetest.PostgresURL(t)
	fast := Tune{MarksPollEvery: 5 * time.Millisecond}
	_, one := setupRuntime(t, Config{Files: Files{Database: url}, WebhookAddr: "127.0.0.1:0", Tune: fast})
	_, two := setupRuntime(t, Config{Files: Files{Database: url}, Tune: fast})
	if one.Storage().Kind != StorePostgres || strings.Contains(one.Storage().Where, "password") {
		t.Fatalf("store %s at %s", one.Storage().Kind, one.Storage().Where)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	news := two.Deps(LocalAgent()).Signals(ctx)
	const id = "65f1c0ffee0000000000cccc"
	if err := webhook.Send(ctx, one.WebhookURL(), "whsec-test-0123456789", webhook.Payload(webhook.ReauthRequired, id, "evt-pg-1")); err != nil {
		t.Fatal(err)
	}
	receive(t, news, "the mark the other instance received", func(s tui.AccountSignal) bool { return s.AccountID == id && s.NeedsReauth })
	if !two.Deps(LocalAgent()).NeedsReauth(id) {
		t.Fatal("instance two does not hold the mark instance one received")
	}
	// Both write; one chain.
	for i, rt := range []*Runtime{one, two} {
		rt.audit.As(LocalAgent()).Record(audit.Record{Session: "s" + string(rune('a'+i)), Seq: 1, Account: id, Action: audit.ActionSessionStarted})
	}
	rep, err := two.Storage().Audit().Verify(ctx)
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	if rep.Records < 3 { // the webhook's record and the two sessions
		t.Fatalf("chain of %d records, want at least 3", rep.Records)
	}
}
