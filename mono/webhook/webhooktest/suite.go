package webhooktest

import (
	"embed"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/webhook"
)

// Fixture is one fresh place for marks (a database, a file, memory) as the
// suite sees it.
type Fixture struct {
	// Open opens a Store on the fixture's marks, as another process or
	// replica would (memory: may return the same Store every time).
	Open func(t *testing.T) *webhook.Store
	// Shared: Stores from Open see each other's writes through Reload.
	Shared bool
	// Durable: a Store opened later holds what earlier ones wrote.
	Durable bool
	// Concurrent: any number of Stores from Open may write at the same time
	// and lose nothing (a database; not a file, which one process owns).
	Concurrent bool
}

//go:embed samples/*.json
var samples embed.FS

// Sample is one of Mono's webhook samples (shared/mono-samples, as
// mono/webhook/testdata has them), by file name.
func Sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := samples.ReadFile("samples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Run runs the suite; fresh makes a new, empty Fixture for each part.
func Run(t *testing.T, fresh func(t *testing.T) Fixture) {
	t.Run("Ordering", func(t *testing.T) { Ordering(t, fresh(t)) })
	t.Run("Evidence", func(t *testing.T) { testEvidence(t, fresh(t)) })
	t.Run("Samples", func(t *testing.T) { testSamples(t, fresh(t)) })
	t.Run("DedupeOnTheExactID", func(t *testing.T) { testDedupe(t, fresh(t)) })
	t.Run("FlagAndClear", func(t *testing.T) { testFlagAndClear(t, fresh(t)) })
	probe := fresh(t)
	if probe.Shared {
		t.Run("ChangeFeed", func(t *testing.T) { testChangeFeed(t, fresh(t)) })
	}
	if probe.Durable {
		t.Run("Persistence", func(t *testing.T) { testPersistence(t, fresh(t)) })
	}
	if probe.Concurrent {
		t.Run("TwoReceiversLoseNothing", func(t *testing.T) { TwoReceivers(t, fresh(t)) })
	}
}

// record parses body as received at recv and records it in s.
func record(t *testing.T, s *webhook.Store, body []byte, recv time.Time) webhook.Outcome {
	t.Helper()
	ev, err := webhook.Parse(body)
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	ev.Received = recv
	out, err := s.Record(ev)
	if err != nil {
		t.Fatalf("record %s: %v", body, err)
	}
	return out
}

// stateOf names what s says about acc: a MarkKind, or "clear".
func stateOf(s *webhook.Store, acc string) string {
	if m, ok := s.Mark(acc); ok {
		return string(m.Kind)
	}
	return "clear"
}

// Ordering runs OrderingCases, each on its own account of one Store, and
// (when the fixture is durable) checks a Store opened afterwards says the
// same about every account.
func Ordering(t *testing.T, fx Fixture) {
	s := fx.Open(t)
	cases := OrderingCases()
	for i, tc := range cases {
		acc := fmt.Sprintf("acc-%02d", i)
		t.Run(tc.Name, func(t *testing.T) {
			for j, st := range tc.Steps {
				d := st.Delivery
				d.AccountID = acc
				if !d.Timestamp.IsZero() {
					d.EventID = fmt.Sprintf("case%02d-evt%d", i, j)
				}
				if out := record(t, s, d.Body(), st.Recv); out != st.Want {
					t.Fatalf("step %d (%s): %v, want %v", j, d.Body(), out, st.Want)
				}
			}
			if got := stateOf(s, acc); got != tc.Want {
				t.Errorf("state %s, want %s", got, tc.Want)
			}
		})
	}
	if !fx.Durable {
		return
	}
	again := fx.Open(t)
	for i, tc := range cases {
		acc := fmt.Sprintf("acc-%02d", i)
		if got := stateOf(again, acc); got != tc.Want {
			t.Errorf("%s: reopened, state %s, want %s", tc.Name, got, tc.Want)
		}
		a, aok := s.Latest(acc)
		b, bok := again.Latest(acc)
		if a != b || aok != bok {
			t.Errorf("%s: reopened, Latest\n %+v %v\nwas %+v %v", tc.Name, b, bok, a, aok)
		}
	}
}

// Each kind of event leaves its entry with all its evidence, exactly (a
// database keeps it to the nanosecond, with every field).
func testEvidence(t *testing.T, fx Fixture) {
	s := fx.Open(t)
	at := Mins(2).Add(123456789 * time.Nanosecond)
	rich := webhook.Delivery{Kind: webhook.AccountUpdated, AccountID: "acc-rich", EventID: "e-rich", Timestamp: at.Truncate(time.Millisecond),
		Meta: &webhook.Meta{DataStatus: mono.StatusAvailable, SyncStatus: mono.SyncReauthRequired, DataRequestID: "DRQ1", SessionID: "sess1"},
		App:  "app1", Business: "biz1"}
	record(t, s, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "acc-rich", EventID: "e-first", Timestamp: Mins(1)}.Body(), Mins(1))
	record(t, s, rich.Body(), Mins(3))
	want := webhook.Mark{Kind: webhook.MarkReauthRequired, Event: webhook.AccountUpdated.String(), EventID: "e-rich",
		At: at.Truncate(time.Millisecond), MonoTime: true, Since: Mins(1), SyncStatus: mono.SyncReauthRequired,
		DataStatus: mono.StatusAvailable, DataRequestID: "DRQ1", SessionID: "sess1"}
	if m, ok := s.Mark("acc-rich"); !ok || m != want {
		t.Fatalf("\n got %+v\nwant %+v", m, want)
	}
	// A 2022 payload: ordered at its receipt, to the nanosecond.
	recv := Mins(4).Add(987654321 * time.Nanosecond)
	record(t, s, webhook.Delivery{Kind: webhook.JobUpdate, AccountID: "acc-job", JobStatus: webhook.JobFailed, JobName: "transactions"}.Body(), recv)
	wantJob := webhook.Mark{Kind: webhook.MarkSyncFailed, Event: webhook.JobUpdate.String(), At: recv, Since: recv,
		JobStatus: webhook.JobFailed, JobName: "transactions"}
	if m, ok := s.Mark("acc-job"); !ok || m != wantJob {
		t.Fatalf("\n got %+v\nwant %+v", m, wantJob)
	}
	record(t, s, webhook.Delivery{Kind: webhook.AccountUnlinked, AccountID: "acc-rich", EventID: "e-unlink", Timestamp: Mins(5)}.Body(), Mins(5))
	if m, ok := s.Mark("acc-rich"); !ok || !m.Unlinked() || m.NeedsReauth() || s.NeedsReauth("acc-rich") || !s.IsUnlinked("acc-rich") ||
		!m.Since.Equal(Mins(5)) {
		t.Fatalf("after account_unlinked: %+v %v", m, ok)
	}
	record(t, s, webhook.Delivery{Kind: webhook.AccountUpdated, AccountID: "acc-job", EventID: "e-ok", Timestamp: Mins(6),
		Meta: &webhook.Meta{SyncStatus: mono.SyncStatusSuccessful}}.Body(), Mins(6))
	c, ok := s.Cleared("acc-job")
	if _, marked := s.Mark("acc-job"); !ok || marked || c.Kind != webhook.Cleared || c.EventID != "e-ok" || !c.At.Equal(Mins(6)) ||
		c.SyncStatus != mono.SyncStatusSuccessful || !c.Since.IsZero() {
		t.Fatalf("clearing %+v %v", c, ok)
	}
	if l, _ := s.Latest("acc-job"); l != c {
		t.Errorf("Latest %+v, want the clearing", l)
	}
	if got := s.Marked(); len(got) != 0 {
		t.Errorf("Marked %v", got)
	}
	if got := s.Unlinked(); len(got) != 1 || got["acc-rich"].EventID != "e-unlink" {
		t.Errorf("Unlinked %v", got)
	}
	if fx.Durable {
		again := fx.Open(t)
		for _, acc := range []string{"acc-rich", "acc-job"} {
			a, _ := s.Latest(acc)
			if b, ok := again.Latest(acc); !ok || a != b {
				t.Errorf("%s reopened:\n %+v\nwas %+v", acc, b, a)
			}
		}
	}
}

// Mono's samples, 2022 and 2026 shapes: delivered newest first, an older
// one never undoes the newest; the 2022 sample (no event id, no timestamp)
// marks at its receipt; the unlinked sample (data.account.id) unlinks.
func testSamples(t *testing.T, fx Fixture) {
	const acc = "6650f0c2a1b2c3d4e5f60718" // the samples' account
	s := fx.Open(t)
	recv := time.Date(2026, 3, 2, 10, 5, 0, 0, time.UTC)
	for i, c := range []struct {
		file string
		want webhook.Outcome
	}{
		{"webhook-account-updated-successful.json", webhook.Applied},
		{"webhook-account-updated-reauth-required.json", webhook.Stale},
		{"webhook-account-reauthorized-2026.json", webhook.Stale},
		{"webhook-account-updated-successful.json", webhook.Duplicate},
	} {
		if out := record(t, s, Sample(t, c.file), recv.Add(time.Duration(i)*time.Second)); out != c.want {
			t.Fatalf("%s: %v, want %v", c.file, out, c.want)
		}
	}
	c, ok := s.Cleared(acc)
	if _, marked := s.Mark(acc); marked || !ok || c.Event != webhook.AccountUpdated.String() || c.SyncStatus != mono.SyncStatusSuccessful ||
		!c.At.Equal(time.Date(2026, 3, 2, 10, 2, 51, 377e6, time.UTC)) || !c.MonoTime {
		t.Fatalf("after the samples newest first: clearing %+v %v", c, ok)
	}
	for _, id := range []string{"Rt6yU2iO9pAs4dFg", "Vn3pQ8sLk2Hd6wXa", "klB7c2Qx9TfR4mZp"} {
		if !s.Seen(id) {
			t.Errorf("%s not seen", id)
		}
	}
	// The 2022 sample has no timestamp: ordered by its receipt, after the
	// newest Mono time it marks; twice, it is two deliveries (no id).
	later := time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)
	for i := range 2 {
		if out := record(t, s, Sample(t, "webhook-reauthorisation-required-2022.json"), later.Add(time.Duration(i)*time.Minute)); out != webhook.Applied {
			t.Fatalf("2022 sample: %v", out)
		}
	}
	m, ok := s.Mark(acc)
	if !ok || m.Kind != webhook.MarkReauthRequired || m.MonoTime || !m.At.Equal(later.Add(time.Minute)) || !m.Since.Equal(later) || m.EventID != "" {
		t.Fatalf("2022 mark %+v %v", m, ok)
	}
	if out := record(t, s, Sample(t, "webhook-jobs-update-failed.json"), later.Add(2*time.Minute)); out != webhook.Applied {
		t.Fatal(out)
	}
	if m, _ := s.Mark(acc); m.Kind != webhook.MarkSyncFailed || m.JobName != "transactions" || !m.Since.Equal(later) {
		t.Fatalf("jobs.update failed: %+v", m)
	}
	if out := record(t, s, Sample(t, "webhook-account-unlinked.json"), later.Add(3*time.Minute)); out != webhook.Applied {
		t.Fatal(out)
	}
	if !s.IsUnlinked(acc) || s.NeedsReauth(acc) {
		t.Fatalf("unlinked sample: unlinked %v needs reauth %v", s.IsUnlinked(acc), s.NeedsReauth(acc))
	}
}

// Event ids are compared exactly as sent: ids that differ only in what
// cleaning removes are distinct events; a retry of each is a duplicate (in
// a Store opened later too).
func testDedupe(t *testing.T, fx Fixture) {
	s := fx.Open(t)
	ids := []string{`"evt-1"`, `"evt\u001b[0m-1"`, `"evt\u0007-1"`, `"evt-1\u2028"`, `" evt-1"`, `"evt\u009b-1"`, `"evt\u202e-1"`, `"\u0000x"`}
	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"event":"mono.events.reauthorisation_required","event_id":%s,"data":{"account":{"_id":"acc-%d"}}}`, ids[i], i)
	}
	for i := range ids {
		if out := record(t, s, body(i), Mins(float64(i))); out != webhook.Applied {
			t.Fatalf("id %s: %v", ids[i], out)
		}
	}
	check := func(s *webhook.Store, when string) {
		t.Helper()
		for i := range ids {
			if out := record(t, s, body(i), Mins(float64(100+i))); out != webhook.Duplicate {
				t.Errorf("%s: retry of id %s: %v, want duplicate", when, ids[i], out)
			}
		}
		if !s.Seen("evt-1") || !s.Seen("evt\x1b[0m-1") || s.Seen("evt\x1b[1m-1") || !s.Seen("\x00x") || s.Seen("x") {
			t.Errorf("%s: Seen does not go by the id as sent", when)
		}
		if m, ok := s.Mark("acc-1"); !ok || m.EventID != "evt-1" {
			t.Errorf("%s: mark %+v: want the cleaned id", when, m)
		}
	}
	check(s, "same store")
	if fx.Durable {
		check(fx.Open(t), "reopened")
	}
}

// The app's own Clear and Flag are ordered like webhooks.
func testFlagAndClear(t *testing.T, fx Fixture) {
	s := fx.Open(t)
	const acc = "acc-app"
	record(t, s, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: acc, EventID: "m5", Timestamp: Mins(5)}.Body(), Mins(5))
	if applied, err := s.Clear(acc, Mins(4), "verified"); err != nil || applied || !s.NeedsReauth(acc) {
		t.Fatalf("a clear older than the mark: applied %v err %v", applied, err)
	}
	if applied, err := s.Clear(acc, Mins(6), "verified: synced since the attempt"); err != nil || !applied || s.NeedsReauth(acc) {
		t.Fatalf("a newer clear: applied %v err %v", applied, err)
	}
	if out := record(t, s, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: acc, EventID: "m55", Timestamp: Mins(5.5)}.Body(), Mins(10)); out != webhook.Stale {
		t.Fatalf("late retry after the app's clear: %v", out)
	}
	if c, ok := s.Cleared(acc); !ok || c.Event != "verified: synced since the attempt" || c.MonoTime || c.FromMono() {
		t.Errorf("clearing %+v %v", c, ok)
	}
	if applied, err := s.Flag(acc, webhook.MarkSyncFailed, Mins(7), "sync \x1b[31manswered SYNC_ERROR"); err != nil || !applied {
		t.Fatal(applied, err)
	}
	if m, _ := s.Mark(acc); m.Kind != webhook.MarkSyncFailed || m.Event != "sync answered SYNC_ERROR" || m.FromMono() || !m.Since.Equal(Mins(7)) {
		t.Errorf("flag mark %+v", m)
	}
	if applied, err := s.Flag(acc, webhook.MarkSyncFailed, Mins(6.5), "older"); err != nil || applied {
		t.Errorf("an older flag: applied %v err %v", applied, err)
	}
	if _, err := s.Flag(acc, webhook.Cleared, Mins(8), "x"); err == nil {
		t.Error("Flag accepted the kind cleared")
	}
}

// Reload reports what another Store on the same marks changed, once, and
// never a Store's own writes. (Each writer reloads before it writes: a
// file has one writer at a time.)
func testChangeFeed(t *testing.T, fx Fixture) {
	a, b := fx.Open(t), fx.Open(t)
	reload := func(s *webhook.Store, wantMarked, wantCleared []string) {
		t.Helper()
		marked, cleared, err := s.Reload()
		if err != nil || !slices.Equal(marked, wantMarked) || !slices.Equal(cleared, wantCleared) {
			t.Fatalf("Reload: marked %v cleared %v err %v; want %v %v", marked, cleared, err, wantMarked, wantCleared)
		}
	}
	reload(b, nil, nil)
	record(t, a, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "acc2", EventID: "f1", Timestamp: Mins(1)}.Body(), Mins(1))
	record(t, a, webhook.Delivery{Kind: webhook.JobUpdate, AccountID: "acc1", JobStatus: webhook.JobFailed}.Body(), Mins(1))
	reload(b, []string{"acc1", "acc2"}, nil)
	if !b.NeedsReauth("acc1") || !b.Seen("f1") {
		t.Fatal("b lacks a's mark or its event id")
	}
	reload(b, nil, nil)
	reload(a, nil, nil) // its own writes are no news

	record(t, b, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "acc1", EventID: "f2", Timestamp: Mins(2)}.Body(), Mins(2))
	record(t, b, webhook.Delivery{Kind: webhook.AccountUnlinked, AccountID: "acc2", EventID: "f3", Timestamp: Mins(2)}.Body(), Mins(2))
	record(t, b, webhook.Delivery{Kind: webhook.AccountUnlinked, AccountID: "acc3", EventID: "f4", Timestamp: Mins(2)}.Body(), Mins(2))
	reload(b, nil, nil)
	reload(a, []string{"acc1"}, []string{"acc2", "acc3"})
	if m, _ := a.Mark("acc1"); m.Kind != webhook.MarkReauthRequired || m.EventID != "f2" {
		t.Errorf("a: acc1 %+v", m)
	}
	if !a.IsUnlinked("acc2") || !a.IsUnlinked("acc3") {
		t.Error("a: the unlinkings are not there")
	}
	if out := record(t, a, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "acc1", EventID: "f2", Timestamp: Mins(2)}.Body(), Mins(3)); out != webhook.Duplicate {
		t.Errorf("a: b's event again: %v, want duplicate", out)
	}
	if applied, err := a.Clear("acc1", Mins(3), "verified"); err != nil || !applied {
		t.Fatal(applied, err)
	}
	reload(b, nil, []string{"acc1"})
	if b.NeedsReauth("acc1") {
		t.Error("b: acc1 still marked")
	}
	reload(a, nil, nil)
	reload(b, nil, nil)
}

// A Store opened again holds what was written: marks, unlinkings,
// clearings and seen ids.
func testPersistence(t *testing.T, fx Fixture) {
	s := fx.Open(t)
	record(t, s, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "p1", EventID: "p-e1", Timestamp: Mins(1)}.Body(), Mins(1))
	record(t, s, webhook.Delivery{Kind: webhook.AccountUnlinked, AccountID: "p2", EventID: "p-e2", Timestamp: Mins(1)}.Body(), Mins(1))
	if _, err := s.Clear("p3", Mins(2), "verified"); err != nil {
		t.Fatal(err)
	}
	again := fx.Open(t)
	if !slices.Equal(sortedKeys(again.Marked()), []string{"p1"}) || !slices.Equal(sortedKeys(again.Unlinked()), []string{"p2"}) {
		t.Errorf("reopened: marked %v unlinked %v", again.Marked(), again.Unlinked())
	}
	if c, ok := again.Cleared("p3"); !ok || c.Event != "verified" || !c.At.Equal(Mins(2)) {
		t.Errorf("reopened: clearing %+v %v", c, ok)
	}
	if !again.Seen("p-e1") || !again.Seen("p-e2") {
		t.Error("reopened: seen ids lost")
	}
	// The ordering survives: a late retry older than the clearing is stale.
	if out := record(t, again, webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "p3", EventID: "p-late", Timestamp: Mins(1.5)}.Body(), Mins(60)); out != webhook.Stale {
		t.Errorf("reopened: late retry %v, want stale", out)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
