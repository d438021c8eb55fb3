package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state/audit"
)

// AuditStore is one audit store under test.
type AuditStore struct {
	// Where names the store (a path or URL) for a child process.
	Where string
	// Open opens a new backend on the store, as another process would;
	// the suite closes it.
	Open func(t *testing.T) audit.Backend
	// Exec runs raw SQL on the store as someone with direct database
	// access (nil: the store is not a database; the append-only and
	// tamper checks do not apply to it).
	Exec func(t *testing.T, sql string) error
	// Unguard is the SQL that removes the append-only triggers, as an
	// attacker with database access would before editing a record.
	Unguard string
}

// AuditBackend runs the audit backends' shared conformance suite. newStore
// makes a new, empty store each time it is called.
func AuditBackend(t *testing.T, newStore func(t *testing.T) AuditStore) {
	t.Run("DurableAcrossReopen", func(t *testing.T) { auditDurable(t, newStore(t)) })
	t.Run("GroupCommit50Writers", func(t *testing.T) { auditGroupCommit(t, newStore(t)) })
	t.Run("Queries", func(t *testing.T) { auditQueries(t, newStore(t)) })
	t.Run("SecretsStopAtTheFront", func(t *testing.T) { auditSecrets(t, newStore(t)) })
	t.Run("TwoLogsOneChain", func(t *testing.T) { auditTwoLogs(t, newStore(t)) })
	t.Run("Import", func(t *testing.T) { auditImport(t, newStore(t)) })
	if newStore(t).Exec == nil {
		return // not a database: no triggers to test, and no chain to break
	}
	t.Run("AppendOnly", func(t *testing.T) { auditAppendOnly(t, newStore(t)) })
	t.Run("VerifyNamesAnEditedRecord", func(t *testing.T) { auditVerifyEdit(t, newStore(t)) })
	t.Run("VerifyNamesAnEditedColumn", func(t *testing.T) { auditVerifyColumn(t, newStore(t)) })
	t.Run("VerifyCatchesADeletedRecord", func(t *testing.T) { auditVerifyDelete(t, newStore(t)) })
}

var auditT0 = time.Date(2026, 11, 25, 7, 1, 0, 0, time.UTC)

func openLog(t *testing.T, st AuditStore) (*audit.Log, audit.Backend) {
	t.Helper()
	b := st.Open(t)
	l := audit.New(b, audit.Options{})
	t.Cleanup(func() { l.Close() })
	return l, b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// chained reports whether b keeps a hash chain (the file does not).
func chained(t *testing.T, b audit.Backend) bool {
	t.Helper()
	err := b.Walk(ctxT(t), func(audit.Stored) error { return errors.New("stop") })
	return !errors.Is(err, audit.ErrNoChain)
}

// verifyOK checks the chain is whole and holds n records (when b keeps one).
func verifyOK(t *testing.T, l *audit.Log, n int64) {
	t.Helper()
	if !chained(t, l.Backend()) {
		return
	}
	rep, err := l.Verify(ctxT(t))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != n || (n > 0 && len(rep.Head) != 64) {
		t.Fatalf("Verify walked %d records (head %q), want %d", rep.Records, rep.Head, n)
	}
}

func appendAll(t *testing.T, l *audit.Log, recs []audit.Record) {
	t.Helper()
	for _, r := range recs {
		if err := l.Append(r); err != nil {
			t.Fatalf("Append %+v: %v", r, err)
		}
	}
}

func all(t *testing.T, b audit.Backend) []audit.Record {
	t.Helper()
	recs, err := b.Query(ctxT(t), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func events(recs []audit.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

func auditDurable(t *testing.T, st AuditStore) {
	l, b := openLog(t, st)
	want := []audit.Record{
		{Time: auditT0, Agent: audit.Agent{User: "bola", Via: audit.ViaLocal}, Session: "s1", Seq: 1,
			Account: "65f1c0ffee0123456789abcd", Action: audit.ActionSessionStarted, Event: "e1"},
		{Time: auditT0.Add(time.Second), Agent: audit.Agent{User: "bola", Via: audit.ViaLocal}, Session: "s1", Seq: 2,
			Account: "65f1c0ffee0123456789abcd", Action: audit.ActionTokenMinted, Event: "e2",
			TokenFingerprint: mono.Fingerprint("VwxcfeLRZvq1UlD5WiuN"), TokenExpiresAt: auditT0.Add(10 * time.Minute)},
		{Time: auditT0.Add(2 * time.Second).In(time.FixedZone("WAT", 3600)), Session: "s1", Seq: 3,
			Account: "65f1c0ffee0123456789abcd", Action: audit.ActionOutcome, Outcome: "SUCCEEDED", Event: "e3",
			Detail: "Ọ̀kọ́ <b> & \"quotes\""},
	}
	appendAll(t, l, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A new backend on the same store (another process, or after a crash).
	l2, b2 := openLog(t, st)
	_ = b
	got := all(t, b2)
	if len(got) != len(want) {
		t.Fatalf("%d records after reopening, want %d", len(got), len(want))
	}
	isChained := chained(t, b2)
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || !g.TokenExpiresAt.Equal(w.TokenExpiresAt) {
			t.Errorf("record %d times %v %v, want %v %v", i, g.Time, g.TokenExpiresAt, w.Time, w.TokenExpiresAt)
		}
		g.Time, w.Time, g.TokenExpiresAt, w.TokenExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if isChained {
			if g.ID != int64(i+1) || len(g.Hash) != 64 || (i == 0) != (g.PrevHash == "") || (i > 0 && g.PrevHash != got[i-1].Hash) {
				t.Errorf("record %d chain fields: id %d prev %q hash %q", i, g.ID, g.PrevHash, g.Hash)
			}
			g.ID, g.PrevHash, g.Hash = 0, "", ""
		}
		if g != w {
			t.Errorf("record %d\n got %+v\nwant %+v", i, g, w)
		}
	}
	verifyOK(t, l2, 3)
}

func auditGroupCommit(t *testing.T, st AuditStore) {
	l, _ := openLog(t, st)
	const writers, each = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- l.Append(audit.Record{Time: auditT0, Action: audit.ActionWidgetEvent,
					Session: fmt.Sprintf("w%02d", w), Seq: i + 1, Account: fmt.Sprintf("acc%d", w%7),
					Event: fmt.Sprintf("w%02d/%02d", w, i)})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs, commits := l.Stats()
	if recs != writers*each || commits >= recs {
		t.Errorf("%d records in %d commits: want %d records in fewer commits (group commit)", recs, commits, writers*each)
	}
	t.Logf("%d records in %d commits", recs, commits)
	got := all(t, l.Backend())
	if len(got) != writers*each {
		t.Fatalf("%d records stored, want %d", len(got), writers*each)
	}
	last := map[string]int{}
	for _, r := range got {
		if r.Seq <= last[r.Session] {
			t.Fatalf("writer %s: record %d stored after %d", r.Session, r.Seq, last[r.Session])
		}
		last[r.Session] = r.Seq
	}
	verifyOK(t, l, writers*each)
}

func auditQueries(t *testing.T, st AuditStore) {
	l, b := openLog(t, st)
	var fixture []audit.Record
	accounts := []string{"65f1c0ffee0123456789abcd", "65F1C0FFEE0123456789ABCE", "65f1c0ffee0123456789abcf"}
	agents := []string{"bola", "ada", ""}
	for i := range 60 {
		fixture = append(fixture, audit.Record{
			Time:    auditT0.Add(time.Duration(i) * time.Minute),
			Agent:   audit.Agent{User: agents[i%3]},
			Session: fmt.Sprintf("s%d", i/6),
			Seq:     i%6 + 1,
			Account: accounts[(i/2)%3],
			Action:  audit.ActionWidgetEvent,
			Event:   fmt.Sprintf("e%02d", i),
		})
	}
	appendAll(t, l, fixture)
	queries := []audit.Query{
		{},
		{Account: "65f1c0ffee0123456789abcd"},
		{Account: "65F1C0FFEE0123456789ABCD"}, // case-insensitive
		{Account: "65f1c0ffee0123456789abce"},
		{Account: "nobody"},
		{Agent: "bola"},
		{Agent: "BOLA"}, // agent names are exact
		{Session: "s3"},
		{Since: auditT0.Add(10 * time.Minute)},
		{Until: auditT0.Add(10 * time.Minute)},
		{Since: auditT0.Add(10 * time.Minute), Until: auditT0.Add(20 * time.Minute)},
		{Since: auditT0.Add(10*time.Minute + 30*time.Second), Until: auditT0.Add(11 * time.Minute)},
		{Account: "65f1c0ffee0123456789abcd", Limit: 5},
		{Account: "65f1c0ffee0123456789abcd", Limit: 5, NewestFirst: true},
		{Account: "65f1c0ffee0123456789abcd", Agent: "ada", NewestFirst: true},
		{Agent: "bola", Since: auditT0.Add(30 * time.Minute), Limit: 3, NewestFirst: true},
		{Session: "s9", Account: "65f1c0ffee0123456789abcf", Limit: 100},
		{NewestFirst: true, Limit: 1},
	}
	for _, q := range queries {
		var want []audit.Record
		for _, r := range fixture {
			if q.Match(r) {
				want = append(want, r)
			}
		}
		if q.NewestFirst {
			slices.Reverse(want)
		}
		if q.Limit > 0 && len(want) > q.Limit {
			want = want[:q.Limit]
		}
		got, err := b.Query(ctxT(t), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if g, w := events(got), events(want); !slices.Equal(g, w) {
			t.Errorf("query %+v\n got %v\nwant %v", q, g, w)
		}
	}
	// Through the front too.
	got, err := l.Query(ctxT(t), audit.Query{Session: "s0"})
	if err != nil || len(got) != 6 {
		t.Errorf("Log.Query: %d records, %v", len(got), err)
	}
}

// recording is a backend that keeps every batch it is given.
type recording struct {
	audit.Backend
	mu  sync.Mutex
	got []audit.Record
}

func (r *recording) Append(ctx context.Context, batch []audit.Record) error {
	r.mu.Lock()
	r.got = append(r.got, batch...)
	r.mu.Unlock()
	return r.Backend.Append(ctx, batch)
}

func auditSecrets(t *testing.T, st AuditStore) {
	rec := &recording{Backend: st.Open(t)}
	l := audit.New(rec, audit.Options{})
	t.Cleanup(func() { l.Close() })
	const token = "VwxcfeLRZvq1UlD5WiuN"
	const pageSecret = "Zq3t9XkLw2Pd8Rr1Mn4Bv7Cx"
	const secretKey = "test_sk_" + "9xQ2m4Lr7Tz1Wk5Hp8" // split: not a committed key
	l.Guard(token, pageSecret)
	appendAll(t, l, []audit.Record{
		{Action: audit.ActionWidgetEvent, Detail: "token is " + token},
		{Action: audit.ActionPageOpened, PageURL: "http://127.0.0.1:4000/" + pageSecret + "?k=" + pageSecret + "#" + pageSecret},
		{Action: audit.ActionSessionStarted, Agent: audit.Agent{User: token}},
		{Action: audit.ActionOutcome, Reason: "key " + secretKey},
		{Action: audit.ActionWidgetEvent, Event: token[:10] + "\x1b[0m" + token[10:]},
	})
	if err := l.Append(audit.Record{Action: audit.ActionTokenMinted, TokenFingerprint: token}); !errors.Is(err, audit.ErrSecret) {
		t.Errorf("a raw token as fingerprint: %v, want ErrSecret", err)
	}
	if err := l.Append(audit.Record{Account: "x"}); err == nil {
		t.Error("a record without an action was accepted")
	}
	rec.mu.Lock()
	seen := fmt.Sprintf("%+v", rec.got)
	n := len(rec.got)
	rec.mu.Unlock()
	if n != 5 {
		t.Errorf("the backend was given %d records, want the 5 that passed", n)
	}
	stored := fmt.Sprintf("%+v", all(t, rec.Backend))
	for _, s := range []string{token, pageSecret, secretKey, "\x1b"} {
		if strings.Contains(seen, s) || strings.Contains(stored, s) {
			t.Errorf("%q reached the backend", s)
		}
	}
	if c := strings.Count(stored, audit.Redacted); c < 5 {
		t.Errorf("%d redactions stored, want at least 5: %s", c, stored)
	}
}

func auditTwoLogs(t *testing.T, st AuditStore) {
	l1, _ := openLog(t, st)
	l2, _ := openLog(t, st) // another process on the same store
	const writers, each = 10, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*each)
	for w := range 2 * writers {
		l := l1
		if w%2 == 1 {
			l = l2
		}
		wg.Go(func() {
			for i := range each {
				errs <- l.Append(audit.Record{Time: auditT0, Action: audit.ActionWidgetEvent, Session: fmt.Sprintf("w%d", w),
					Seq: i + 1, Event: fmt.Sprintf("w%d/%d", w, i)})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := all(t, l1.Backend()); len(got) != 2*writers*each {
		t.Fatalf("%d records, want %d", len(got), 2*writers*each)
	}
	verifyOK(t, l1, 2*writers*each)
	verifyOK(t, l2, 2*writers*each)
}

func auditImport(t *testing.T, st AuditStore) {
	l, b := openLog(t, st)
	if _, ok := b.(audit.Importer); !ok {
		if _, err := l.ImportFile(ctxT(t), filepath.Join(t.TempDir(), "audit.jsonl")); err == nil {
			t.Error("ImportFile into a store that cannot import succeeded")
		}
		return
	}
	// The old app's file: written by the JSON-lines Log, then a torn line
	// and a record holding a raw token where a fingerprint belongs (an old
	// bug), which the front refuses.
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	old, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 25 {
		r := audit.Record{Time: auditT0.Add(time.Duration(i) * time.Second), Action: audit.ActionWidgetEvent,
			Account: "65f1c0ffee0123456789abcd", Session: "old", Seq: i + 1, Event: fmt.Sprintf("old%02d", i)}
		if err := old.Append(r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Event)
	}
	old.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-11-25T07:01:00Z","action":"token_minted","token_fingerprint":"VwxcfeLRZvq1UlD5WiuN"}` + "\n")
	f.WriteString(`{"time":"2026-11-25T07:0`)
	f.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	res, err := l.ImportFile(ctxT(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 25 || res.Already || res.Refused != 1 || len(res.Warnings) != 1 {
		t.Errorf("first import: %+v", res)
	}
	t.Log(res)
	again, err := l.ImportFile(ctxT(t), path)
	if err != nil || again.Imported != 0 || !again.Already {
		t.Errorf("second import: %+v, %v; want nothing imported", again, err)
	}
	// From another process too.
	l2, _ := openLog(t, st)
	if third, err := l2.ImportFile(ctxT(t), path); err != nil || third.Imported != 0 || !third.Already {
		t.Errorf("import from another Log: %+v, %v", third, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the imported file was changed")
	}
	appendAll(t, l, []audit.Record{{Action: audit.ActionSessionStarted, Event: "new"}})
	if got := events(all(t, b)); !slices.Equal(got, append(want, "new")) {
		t.Errorf("stored %v", got)
	}
	verifyOK(t, l, 26)
	if res, err := l.ImportFile(ctxT(t), filepath.Join(t.TempDir(), "missing.jsonl")); err != nil || res.Imported != 0 {
		t.Errorf("a missing file: %+v, %v", res, err)
	}
}

// tenRecords appends ten records whose 4th is a FAILED outcome.
func tenRecords(t *testing.T, l *audit.Log) {
	t.Helper()
	for i := range 10 {
		r := audit.Record{Time: auditT0.Add(time.Duration(i) * time.Minute), Agent: audit.Agent{User: "bola"},
			Session: "s1", Seq: i + 1, Account: fmt.Sprintf("acc%d", i), Action: audit.ActionWidgetEvent, Event: fmt.Sprintf("e%d", i)}
		if i == 3 {
			r.Action, r.Outcome, r.Event = audit.ActionOutcome, "FAILED", ""
		}
		appendAll(t, l, []audit.Record{r})
	}
}

func auditAppendOnly(t *testing.T, st AuditStore) {
	l, b := openLog(t, st)
	tenRecords(t, l)
	if err := st.Exec(t, `INSERT INTO audit_imports (source, records) VALUES ('file:/x', 1)`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE audit_records SET record = replace(record, 'FAILED', 'SUCCEEDED') WHERE id = 4`,
		`UPDATE audit_records SET account = 'x'`,
		`DELETE FROM audit_records WHERE id = 5`,
		`DELETE FROM audit_records`,
		`UPDATE audit_imports SET records = 0`,
		`DELETE FROM audit_imports`,
	} {
		if err := st.Exec(t, stmt); err == nil {
			t.Errorf("%s: accepted", stmt)
		} else if !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: refused with %v, want the append-only trigger's message", stmt, err)
		}
	}
	if n := len(all(t, b)); n != 10 {
		t.Errorf("%d records after the refused statements, want 10", n)
	}
	verifyOK(t, l, 10)
}

func wantBreak(t *testing.T, l *audit.Log, id int64, account string, action audit.Action, problem string) {
	t.Helper()
	_, err := l.Verify(ctxT(t))
	var ce *audit.ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("Verify = %v, want a *ChainError", err)
	}
	if ce.ID != id || ce.Account != account || ce.Action != action || !ce.Time.Equal(auditT0.Add(time.Duration(id-1)*time.Minute)) ||
		!strings.Contains(ce.Problem, problem) {
		t.Errorf("Verify named record %d (%v, %s, %s): %s\nwant record %d (%s, %s) with %q",
			ce.ID, ce.Time, ce.Account, ce.Action, ce.Problem, id, account, action, problem)
	}
	t.Log(err)
}

func auditVerifyEdit(t *testing.T, st AuditStore) {
	l, _ := openLog(t, st)
	tenRecords(t, l)
	verifyOK(t, l, 10)
	if err := st.Exec(t, st.Unguard); err != nil {
		t.Fatal(err)
	}
	if err := st.Exec(t, `UPDATE audit_records SET record = replace(record, 'FAILED', 'SUCCEEDED') WHERE id = 4`); err != nil {
		t.Fatal(err)
	}
	wantBreak(t, l, 4, "acc3", audit.ActionOutcome, "does not match its hash")
}

func auditVerifyColumn(t *testing.T, st AuditStore) {
	l, _ := openLog(t, st)
	tenRecords(t, l)
	if err := st.Exec(t, st.Unguard); err != nil {
		t.Fatal(err)
	}
	// Only the indexed column: `audit --account` would no longer find it.
	if err := st.Exec(t, `UPDATE audit_records SET account_key = 'other' WHERE id = 6`); err != nil {
		t.Fatal(err)
	}
	wantBreak(t, l, 6, "acc5", audit.ActionWidgetEvent, "query columns")
}

func auditVerifyDelete(t *testing.T, st AuditStore) {
	l, _ := openLog(t, st)
	tenRecords(t, l)
	if err := st.Exec(t, st.Unguard); err != nil {
		t.Fatal(err)
	}
	if err := st.Exec(t, `DELETE FROM audit_records WHERE id = 5`); err != nil {
		t.Fatal(err)
	}
	wantBreak(t, l, 6, "acc5", audit.ActionWidgetEvent, "record 5 before it is missing")
}

// AuditFiles writes files JSON-lines audit files of n records each, as the
// old app would, and returns their paths.
func AuditFiles(t *testing.T, files, n int) []string {
	t.Helper()
	var paths []string
	for f := range files {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := audit.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := l.Append(audit.Record{Time: auditT0.Add(time.Duration(f*n+i) * time.Second), Action: audit.ActionWidgetEvent,
				Account: fmt.Sprintf("acc%d", i%3), Session: fmt.Sprintf("f%d", f), Seq: i + 1, Event: fmt.Sprintf("f%d/%d", f, i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}
