package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// t0 is the base of the ordering tests' clocks.
var t0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

func mins(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Minute))) }

// step is one delivery: a body as Mono would send it, received at recv.
type step struct {
	body []byte
	recv time.Time
	want Outcome
}

var stepIDs int

// d builds a delivery of kind for acc1 with Mono's timestamp ts (zero: the
// 2022 shape, no timestamp and no event id), received at recv.
func d(kind EventKind, ts, recv time.Time, want Outcome, opts ...func(*Delivery)) step {
	stepIDs++
	del := Delivery{Kind: kind, AccountID: acc1, Timestamp: ts}
	if !ts.IsZero() {
		del.EventID = fmt.Sprintf("evt-%d", stepIDs)
	}
	for _, o := range opts {
		o(&del)
	}
	return step{body: del.Body(), recv: recv, want: want}
}

func syncMeta(status string) func(*Delivery) {
	return func(d *Delivery) { d.Meta = &Meta{DataStatus: mono.StatusAvailable, SyncStatus: status} }
}

func job(status string) func(*Delivery) {
	return func(d *Delivery) { d.JobStatus, d.JobID = status, "job-1" }
}

// run feeds steps to s and checks each outcome.
func run(t *testing.T, s *Store, steps []step) {
	t.Helper()
	for i, st := range steps {
		ev, err := Parse(st.body)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		ev.Received = st.recv
		out, err := s.Record(ev)
		if err != nil || out != st.want {
			t.Fatalf("step %d (%s): %v %v, want %v", i, st.body, out, err, st.want)
		}
	}
}

// state names what the store says about acc1: a MarkKind, or "clear".
func stateOf(s *Store) string {
	if m, ok := s.Mark(acc1); ok {
		return string(m.Kind)
	}
	return "clear"
}

// Equal Mono timestamps give the same end state whatever order Mono
// delivers them in.
func TestEqualTimesAreOrderIndependent(t *testing.T) {
	dels := []Delivery{
		{Kind: ReauthRequired}, {Kind: Reauthorized}, {Kind: AccountUnlinked},
		{Kind: AccountUpdated, Meta: &Meta{SyncStatus: "FAILED"}},
		{Kind: AccountUpdated, Meta: &Meta{SyncStatus: mono.SyncStatusSuccessful}},
		{Kind: AccountUpdated, Meta: &Meta{SyncStatus: mono.SyncReauthRequired}},
		{Kind: JobUpdate, JobStatus: JobFailed},
	}
	end := func(order ...Delivery) string {
		s := newStore("")
		for n, del := range order {
			del.AccountID, del.EventID, del.Timestamp = acc1, fmt.Sprint("e", n), mins(1)
			ev, err := Parse(del.Body())
			if err != nil {
				t.Fatal(err)
			}
			ev.Received = mins(float64(2 + n))
			if _, err := s.Record(ev); err != nil {
				t.Fatal(err)
			}
		}
		return stateOf(s)
	}
	for i, a := range dels {
		for _, b := range dels[i+1:] {
			if ab, ba := end(a, b), end(b, a); ab != ba {
				t.Errorf("%s then %s: %s; the other order: %s", a.Body(), b.Body(), ab, ba)
			}
		}
	}
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The newest applied time survives a restart: a late retry of an older
// reauthorisation_required after the app restarted does not re-mark an
// account a newer account_reauthorized cleared.
func TestOrderingSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, []step{d(ReauthRequired, mins(1), mins(1), Applied), d(Reauthorized, mins(2), mins(2), Applied)})
	reopened, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	run(t, reopened, []step{d(ReauthRequired, mins(1.5), mins(60), Stale)})
	if reopened.NeedsReauth(acc1) {
		t.Fatal("after a restart, an older retry re-marked the account")
	}
	c, ok := reopened.Cleared(acc1)
	if !ok || !c.At.Equal(mins(2)) || !c.MonoTime || c.Event != Reauthorized.String() {
		t.Errorf("clearing = %+v %v", c, ok)
	}
}

// What each event does to a marked account, and the evidence a mark keeps.
func TestEachEventMarksOrClears(t *testing.T) {
	marked := func() step { return d(ReauthRequired, mins(1), mins(1), Applied) }
	cases := []struct {
		name  string
		steps []step
		want  Mark // Kind "" means no mark
	}{
		{"account_reauthorized clears", []step{marked(), d(Reauthorized, mins(2), mins(2), Applied)}, Mark{}},
		{"account_updated SUCCESSFUL clears", []step{marked(), d(AccountUpdated, mins(2), mins(2), Applied, syncMeta(mono.SyncStatusSuccessful))}, Mark{}},
		{"account_unlinked clears and unlinks", []step{marked(), d(AccountUnlinked, mins(2), mins(2), Applied)},
			Mark{Kind: MarkUnlinked, Event: AccountUnlinked.String(), At: mins(2), MonoTime: true, Since: mins(2)}},
		{"reauthorisation_required (2022) marks, at its receipt", []step{d(ReauthRequired, time.Time{}, mins(3), Applied)},
			Mark{Kind: MarkReauthRequired, Event: ReauthRequired.String(), At: mins(3), Since: mins(3)}},
		{"account_updated REAUTHORISATION_REQUIRED marks", []step{
			d(AccountUpdated, mins(2), mins(2), Applied, func(d *Delivery) {
				d.Meta = &Meta{DataStatus: mono.StatusAvailable, SyncStatus: mono.SyncReauthRequired, DataRequestID: "DRQ1", SessionID: "sess1"}
			})},
			Mark{Kind: MarkReauthRequired, Event: AccountUpdated.String(), At: mins(2), MonoTime: true, Since: mins(2),
				SyncStatus: mono.SyncReauthRequired, DataStatus: mono.StatusAvailable, DataRequestID: "DRQ1", SessionID: "sess1"}},
		{"account_updated FAILED marks as a sync failure", []step{d(AccountUpdated, mins(2), mins(2), Applied, syncMeta("failed"))},
			Mark{Kind: MarkSyncFailed, Event: AccountUpdated.String(), At: mins(2), MonoTime: true, Since: mins(2),
				SyncStatus: "FAILED", DataStatus: mono.StatusAvailable}},
		{"a failed jobs.update marks as a sync failure", []step{d(JobUpdate, mins(2), mins(2), Applied, job("FAILED"))},
			Mark{Kind: MarkSyncFailed, Event: JobUpdate.String(), At: mins(2), MonoTime: true, Since: mins(2), JobStatus: JobFailed}},
		{"a finished jobs.update does nothing", []step{d(JobUpdate, mins(2), mins(2), Applied, job("finished"))}, Mark{}},
		{"a newer mark keeps Since and takes the newer evidence", []step{marked(),
			d(AccountUpdated, mins(2), mins(2), Applied, syncMeta(mono.SyncReauthRequired))},
			Mark{Kind: MarkReauthRequired, Event: AccountUpdated.String(), At: mins(2), MonoTime: true, Since: mins(1),
				SyncStatus: mono.SyncReauthRequired, DataStatus: mono.StatusAvailable}},
		{"a mark after a clear starts a new spell", []step{marked(), d(Reauthorized, mins(2), mins(2), Applied),
			d(ReauthRequired, mins(3), mins(3), Applied)},
			Mark{Kind: MarkReauthRequired, Event: ReauthRequired.String(), At: mins(3), MonoTime: true, Since: mins(3)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore("")
			run(t, s, tc.steps)
			m, ok := s.Mark(acc1)
			if tc.want.Kind == "" {
				if ok {
					t.Fatalf("still marked: %+v", m)
				}
				return
			}
			m.EventID = "" // the steps number them
			if !ok || m != tc.want {
				t.Fatalf("\n got %+v\nwant %+v", m, tc.want)
			}
			if s.NeedsReauth(acc1) != tc.want.NeedsReauth() || s.IsUnlinked(acc1) != tc.want.Unlinked() {
				t.Errorf("NeedsReauth %v IsUnlinked %v for %s", s.NeedsReauth(acc1), s.IsUnlinked(acc1), tc.want.Kind)
			}
		})
	}
}

// account_unlinked as Mono's sample has it (data.account.id) and as its
// field table says (data.account._id): the account is unlinked, no longer
// "needs reauth", and the app can say why it cannot be re-authorised.
func TestUnlinking(t *testing.T) {
	for name, body := range map[string]string{
		"sample (id)": string(sample(t, "webhook-account-unlinked.json")),
		"field table (_id)": `{"event":"mono.events.account_unlinked","event_id":"u1","timestamp":"2026-11-25T16:05:00Z",` +
			`"data":{"account":{"_id":"` + sampleAcc + `"}}}`,
		"empty _id, id set": `{"event":"mono.events.account_unlinked","data":{"account":{"_id":"","id":"` + sampleAcc + `"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := newReceiver(t)
			if got := r.post(ptr(secret), string(Payload(ReauthRequired, sampleAcc, "m1"))); got != http.StatusOK {
				t.Fatal(got)
			}
			if got := r.post(ptr(secret), body); got != http.StatusOK {
				t.Fatalf("status %d", got)
			}
			m, ok := r.store.Mark(sampleAcc)
			if !ok || !m.Unlinked() || m.NeedsReauth() || r.store.NeedsReauth(sampleAcc) || !r.store.IsUnlinked(sampleAcc) {
				t.Fatalf("mark %+v %v, NeedsReauth %v", m, ok, r.store.NeedsReauth(sampleAcc))
			}
			if want := "Mono says this account was unlinked: it cannot be re-authorised; the customer must link it again."; m.Advice() != want {
				t.Errorf("advice %q", m.Advice())
			}
			if len(r.store.Marked()) != 0 || len(r.store.Unlinked()) != 1 {
				t.Errorf("Marked %v Unlinked %v", r.store.Marked(), r.store.Unlinked())
			}
			reopened, err := OpenStore(r.path)
			if err != nil {
				t.Fatal(err)
			}
			if !reopened.IsUnlinked(sampleAcc) || reopened.NeedsReauth(sampleAcc) {
				t.Error("the unlinking did not survive a restart")
			}
		})
	}
}

// The app's own signals: Clear on a verified success and Flag on a reply it
// read are ordered like webhooks. A clear verified before Mono's newest
// mark does not remove it; one after does, and a late retry older than the
// verification does not mark again.
func TestAppClearAndFlagAreOrdered(t *testing.T) {
	s := newStore("")
	run(t, s, []step{d(ReauthRequired, mins(5), mins(5), Applied)})
	if applied, err := s.Clear(acc1, mins(4), "verified"); err != nil || applied || !s.NeedsReauth(acc1) {
		t.Fatalf("a clear older than the mark: applied %v err %v marked %v", applied, err, s.NeedsReauth(acc1))
	}
	if applied, err := s.Clear(acc1, mins(6), "verified: synced since the attempt"); err != nil || !applied || s.NeedsReauth(acc1) {
		t.Fatalf("a newer clear: applied %v err %v marked %v", applied, err, s.NeedsReauth(acc1))
	}
	run(t, s, []step{d(ReauthRequired, mins(5.5), mins(10), Stale)})
	if c, ok := s.Cleared(acc1); !ok || c.Kind != Cleared || c.Event != "verified: synced since the attempt" || c.MonoTime || c.FromMono() {
		t.Errorf("clearing %+v %v", c, ok)
	}
	if l, _ := s.Latest(acc1); l.Kind != Cleared {
		t.Errorf("Latest after the app's clear: %+v", l)
	}
	// A clear with nothing marked still orders later events.
	if applied, err := s.Clear(acc2, mins(6), "verified"); err != nil || !applied {
		t.Fatal(applied, err)
	}
	ev, _ := Parse(Delivery{Kind: ReauthRequired, AccountID: acc2, EventID: "late", Timestamp: mins(5)}.Body())
	ev.Received = mins(7)
	if out, _ := s.Record(ev); out != Stale || s.NeedsReauth(acc2) {
		t.Errorf("late retry after the app's clear: %v", out)
	}

	if applied, err := s.Flag(acc1, MarkSyncFailed, mins(7), "sync \x1b[31manswered SYNC_ERROR"); err != nil || !applied {
		t.Fatal(applied, err)
	}
	if m, _ := s.Mark(acc1); m.Kind != MarkSyncFailed || m.Event != "sync answered SYNC_ERROR" || m.FromMono() {
		t.Errorf("flag mark %+v", m)
	}
	if l, _ := s.Latest(acc1); l.Kind != MarkSyncFailed {
		t.Errorf("Latest after the app's flag: %+v", l)
	}
	if _, ok := s.Latest("never-seen"); ok {
		t.Error("Latest of an unknown account")
	}
	if _, err := s.Flag(acc1, Cleared, mins(8), "x"); err == nil {
		t.Error("Flag accepted the kind cleared")
	}
	if _, err := s.Clear(" \x1b[0m ", mins(8), "x"); err == nil {
		t.Error("Clear accepted an empty account id")
	}
}

// Evidence lines an agent reads, for each source and time.
func TestMarkEvidence(t *testing.T) {
	now := time.Date(2026, 3, 2, 16, 30, 0, 0, time.UTC)
	at := time.Date(2026, 3, 2, 14, 2, 0, 0, time.UTC)
	cases := []struct {
		m    Mark
		want string
	}{
		{Mark{Kind: MarkReauthRequired, Event: AccountUpdated.String(), At: at, MonoTime: true, SyncStatus: mono.SyncReauthRequired},
			"Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED"},
		{Mark{Kind: MarkSyncFailed, Event: AccountUpdated.String(), At: at, MonoTime: true, SyncStatus: "FAILED", DataRequestID: "DRQ5XK2M9PAB"},
			"Mono webhook account_updated at 14:02: sync_status FAILED (data_request_id DRQ5XK2M9PAB)"},
		{Mark{Kind: MarkReauthRequired, Event: ReauthRequired.String(), At: at},
			"Mono webhook reauthorisation_required received 14:02"},
		{Mark{Kind: MarkSyncFailed, Event: JobUpdate.String(), At: at, JobStatus: JobFailed},
			"Mono webhook accounts.jobs.update received 14:02: job failed"},
		{Mark{Kind: MarkSyncFailed, Event: JobUpdate.String(), At: at, JobStatus: JobFailed, JobName: "transactions"},
			"Mono webhook accounts.jobs.update received 14:02: job transactions failed"},
		{Mark{Kind: Cleared, Event: Reauthorized.String(), At: at, MonoTime: true},
			"Mono webhook account_reauthorized at 14:02"},
		{Mark{Kind: MarkUnlinked, Event: AccountUnlinked.String(), At: at.AddDate(0, 0, -1), MonoTime: true},
			"Mono webhook account_unlinked at 1 Mar 14:02"},
		{Mark{Kind: MarkReauthRequired, Event: ReauthRequired.String(), At: at.AddDate(-1, 0, 0), MonoTime: true},
			"Mono webhook reauthorisation_required at 2 Mar 2025 14:02"},
		{Mark{Kind: MarkReauthRequired, Event: "sync answered REAUTHORISATION_REQUIRED", At: at},
			"sync answered REAUTHORISATION_REQUIRED at 14:02"},
	}
	for _, tc := range cases {
		if got := tc.m.Evidence(now); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
	lagos := time.FixedZone("WAT", 3600)
	if got := cases[0].m.Evidence(now.In(lagos)); got != "Mono webhook account_updated at 15:02: sync_status REAUTHORISATION_REQUIRED" {
		t.Errorf("in now's zone: %q", got)
	}
	for _, k := range []MarkKind{MarkReauthRequired, MarkSyncFailed, MarkUnlinked, Cleared} {
		if (Mark{Kind: k}).Advice() == "" {
			t.Errorf("%s: no advice", k)
		}
	}
}

// Through the handler: a stale event is answered 200 (Mono stops
// retrying), its id is remembered, it reaches OnStale and never OnEvent,
// and the account keeps its newer state.
func TestStaleEventsAreAnswered200AndNotFedIn(t *testing.T) {
	var mu sync.Mutex
	var fed, stale []Event
	clock := mins(10)
	store := newStore("")
	h := NewHandler(Config{Secret: secret, Store: store,
		Now:     func() time.Time { mu.Lock(); defer mu.Unlock(); return clock },
		OnEvent: func(ev Event) { mu.Lock(); defer mu.Unlock(); fed = append(fed, ev) },
		OnStale: func(ev Event) { mu.Lock(); defer mu.Unlock(); stale = append(stale, ev) }})
	srv := newServer(t, h)
	send := func(del Delivery) {
		t.Helper()
		if err := Send(context.Background(), srv, secret, del.Body()); err != nil {
			t.Fatal(err)
		}
	}
	send(Delivery{Kind: Reauthorized, AccountID: acc1, EventID: "new", Timestamp: mins(9)})
	send(Delivery{Kind: ReauthRequired, AccountID: acc1, EventID: "old", Timestamp: mins(8)})
	send(Delivery{Kind: ReauthRequired, AccountID: acc1, EventID: "old", Timestamp: mins(8)}) // its retry: a duplicate
	mu.Lock()
	defer mu.Unlock()
	if len(fed) != 1 || fed[0].ID != "new" || !fed[0].When().Equal(mins(9)) || len(stale) != 1 || stale[0].ID != "old" {
		t.Fatalf("fed %+v\nstale %+v", fed, stale)
	}
	if store.NeedsReauth(acc1) || !store.Seen("old") {
		t.Error("the stale event marked the account, or its id was not remembered")
	}
}

// The stale reply says so, for whoever reads Mono's delivery log.
func TestStaleReplyBody(t *testing.T) {
	r := newReceiver(t)
	r.post(ptr(secret), string(Delivery{Kind: Reauthorized, AccountID: acc1, EventID: "a", Timestamp: now}.Body()))
	body := Delivery{Kind: ReauthRequired, AccountID: acc1, EventID: "b", Timestamp: now.Add(-time.Hour)}.Body()
	req, _ := http.NewRequest(http.MethodPost, r.url, strings.NewReader(string(body)))
	req.Header.Set(SecretHeader, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 || got.Status != "stale" {
		t.Errorf("%d %+v %v", resp.StatusCode, got, err)
	}
	if n := len(r.got()); n != 1 {
		t.Errorf("%d events fed in, want 1", n)
	}
}

// 2022 and 2026 shapes, and the odd fields Mono may send, parse.
func TestPayloadShapes(t *testing.T) {
	cases := []struct {
		name string
		body string
		want Event
	}{
		{"2026: event_id, ISO timestamp, app, business, _id",
			`{"event":"mono.events.reauthorisation_required","event_id":"e1","timestamp":"2026-03-02T14:00:00.250Z",` +
				`"data":{"account":{"_id":"` + acc1 + `"},"app":"app1","business":"biz1"}}`,
			Event{ID: "e1", Kind: ReauthRequired, AccountID: acc1, At: t0.Add(250 * time.Millisecond), App: "app1", Business: "biz1"}},
		{"2026: account as id",
			`{"event":"mono.events.account_reauthorized","event_id":"e2","timestamp":"2026-03-02T15:00:00+01:00","data":{"account":{"id":"` + acc1 + `"}}}`,
			Event{ID: "e2", Kind: Reauthorized, AccountID: acc1, At: t0}},
		{"2022: no event_id, no timestamp",
			`{"event":"mono.events.reauthorisation_required","data":{"account":{"_id":"` + acc1 + `"}}}`,
			Event{Kind: ReauthRequired, AccountID: acc1}},
		{"epoch milliseconds",
			`{"event":"mono.events.reauthorisation_required","timestamp":1772460000000,"data":{"account":{"_id":"` + acc1 + `"}}}`,
			Event{Kind: ReauthRequired, AccountID: acc1, At: t0}},
		{"epoch seconds as a string",
			`{"event":"mono.events.reauthorisation_required","timestamp":"1772460000","data":{"account":{"_id":"` + acc1 + `"}}}`,
			Event{Kind: ReauthRequired, AccountID: acc1, At: t0}},
		{"a timestamp that does not parse reads as none",
			`{"event":"mono.events.reauthorisation_required","timestamp":"yesterday","data":{"account":{"_id":"` + acc1 + `"}}}`,
			Event{Kind: ReauthRequired, AccountID: acc1}},
		{"odd types in informative fields read as empty",
			`{"event":"mono.events.account_updated","timestamp":{"x":1},"data":{"account":{"_id":"` + acc1 + `"},"app":[1],` +
				`"meta":{"sync_status":5,"data_status":null,"data_request_id":{"a":1}}}}`,
			Event{Kind: AccountUpdated, AccountID: acc1, SyncStatus: "5"}},
		{"meta that is not an object reads as empty",
			`{"event":"mono.events.account_updated","data":{"account":{"_id":"` + acc1 + `"},"meta":"x"}}`,
			Event{Kind: AccountUpdated, AccountID: acc1}},
		{"support ids from meta (snake or camel) or data",
			`{"event":"mono.events.account_updated","data":{"account":{"_id":"` + acc1 + `"},"session_id":"s2",` +
				`"meta":{"sync_status":"FAILED","dataRequestId":"DRQ\u001b[2J7"}}}`,
			Event{Kind: AccountUpdated, AccountID: acc1, SyncStatus: "FAILED", DataRequestID: "DRQ7", SessionID: "s2"}},
		{"jobs.update: bare account id, status, job id",
			`{"event":"mono.accounts.jobs.update","data":{"account":"` + acc1 + `","id":"job_1","name":"transactions","status":"Failed"}}`,
			Event{Kind: JobUpdate, AccountID: acc1, JobID: "job_1", JobName: "transactions", JobStatus: "failed"}},
		{"an over-long support id is cut",
			`{"event":"mono.events.account_updated","data":{"account":{"_id":"` + acc1 + `"},"meta":{"data_request_id":"` + strings.Repeat("é", 200) + `"}}}`,
			Event{Kind: AccountUpdated, AccountID: acc1, DataRequestID: strings.Repeat("é", maxFieldLen/2)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Name = got.Name
			if got != tc.want {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestKindNamesForNewKinds(t *testing.T) {
	for k, want := range map[EventKind]string{
		AccountUnlinked: "mono.events.account_unlinked",
		JobUpdate:       "mono.accounts.jobs.update",
	} {
		if k.String() != want || kindOf(strings.ToUpper(want)) != k {
			t.Errorf("%d: %q", k, k.String())
		}
	}
	for o, want := range map[Outcome]string{Applied: "applied", Duplicate: "duplicate", Stale: "stale", Outcome(9): "Outcome(9)"} {
		if o.String() != want {
			t.Errorf("%q", o.String())
		}
	}
}

// Delivery speaks both shapes and every kind, and Parse reads back what it
// wrote.
func TestDeliveryRoundTrips(t *testing.T) {
	for _, del := range []Delivery{
		{Kind: ReauthRequired, AccountID: acc1},
		{Kind: Reauthorized, AccountID: acc1, EventID: "e1", Timestamp: t0.Add(850 * time.Millisecond), App: "a", Business: "b"},
		{Kind: AccountUpdated, AccountID: acc1, EventID: "e2", Timestamp: t0,
			Meta: &Meta{DataStatus: mono.StatusAvailable, SyncStatus: "FAILED", DataRequestID: "DRQ", SessionID: "S"}},
		{Kind: AccountUnlinked, AccountID: acc1, EventID: "e3", Timestamp: t0},
		{Kind: JobUpdate, AccountID: acc1, JobStatus: JobFailed, JobID: "job", JobName: "balance"},
	} {
		ev, err := Parse(del.Body())
		if err != nil {
			t.Fatal(err)
		}
		want := Event{ID: del.EventID, Kind: del.Kind, Name: del.Kind.String(), AccountID: acc1, At: del.Timestamp,
			JobStatus: del.JobStatus, JobID: del.JobID, JobName: del.JobName, App: del.App, Business: del.Business}
		if m := del.Meta; m != nil {
			want.DataStatus, want.SyncStatus, want.DataRequestID, want.SessionID = m.DataStatus, m.SyncStatus, m.DataRequestID, m.SessionID
		}
		if ev != want {
			t.Errorf("%s:\n got %+v\nwant %+v", del.Body(), ev, want)
		}
	}
	if b := string(Delivery{Kind: AccountUnlinked, AccountID: acc1}.Body()); !strings.Contains(b, `"account":{"id":"`+acc1+`"}`) {
		t.Errorf("unlinked body %s", b)
	}
	if b := string(Delivery{Kind: Reauthorized, AccountID: acc1, Timestamp: t0}.Body()); !strings.Contains(b, `"timestamp":"2026-03-02T14:00:00.000Z"`) {
		t.Errorf("timestamp %s", b)
	}
}

// A version 1 store file (marks without kinds or times of their own, no
// clearings) reads as reauth-required marks ordered at their since; the next
// save writes version 2.
func TestVersion1StoreFileReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	v1 := `{"version":1,"needs_reauth":{"` + acc1 + `":{"since":"2026-03-02T14:05:00Z","source":"mono.events.reauthorisation_required","event_id":"e1"}},"seen_events":["e1"]}`
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := s.Mark(acc1)
	if !ok || m.Kind != MarkReauthRequired || !m.At.Equal(mins(5)) || !m.Since.Equal(mins(5)) || m.Event != ReauthRequired.String() {
		t.Fatalf("v1 mark = %+v %v", m, ok)
	}
	run(t, s, []step{d(Reauthorized, mins(4), mins(20), Stale), d(Reauthorized, mins(6), mins(21), Applied)})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f storeFile
	if err := json.Unmarshal(data, &f); err != nil || f.Version != storeVersion || len(f.Cleared) != 1 {
		t.Errorf("saved %s (%v)", data, err)
	}
}

// A hand-edited file with an account in two places keeps only its newest
// entry.
func TestStoreFileWithAnAccountTwiceKeepsTheNewest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	body := `{"version":2,"needs_reauth":{"a":{"kind":"reauth_required","source":"x","at":"2026-03-02T14:01:00Z","since":"2026-03-02T14:01:00Z"},` +
		`"b":{"kind":"unlinked","source":"x","at":"2026-03-02T14:01:00Z","since":"2026-03-02T14:01:00Z"}},` +
		`"unlinked":{"a":{"kind":"unlinked","source":"y","at":"2026-03-02T14:02:00Z","since":"2026-03-02T14:02:00Z"}},` +
		`"cleared":{"a":{"at":"2026-03-02T14:00:00Z","source":"z"},"b":{"at":"2026-03-02T14:03:00Z","source":"z"}},"seen_events":[]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsUnlinked("a") || s.NeedsReauth("a") {
		t.Errorf("a: unlinked %v marked %v, want the newer unlinking", s.IsUnlinked("a"), s.NeedsReauth("a"))
	}
	if _, ok := s.Mark("b"); ok {
		t.Errorf("b: still marked, want its newer clearing")
	}
}

// Reload reports an unlinking and a changed mark, once each, so a running
// app shows them.
func TestReloadReportsUnlinkingAndChangedMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	reader, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(del Delivery, recv time.Time) {
		t.Helper()
		e, err := Parse(del.Body())
		if err != nil {
			t.Fatal(err)
		}
		e.Received = recv
		if _, err := writer.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	ev(Delivery{Kind: JobUpdate, AccountID: "acc1", JobStatus: JobFailed}, mins(1))
	ev(Delivery{Kind: ReauthRequired, AccountID: "acc2"}, mins(1))
	if marked, cleared, err := reader.Reload(); err != nil || !slices.Equal(marked, []string{"acc1", "acc2"}) || cleared != nil {
		t.Fatalf("marked %v cleared %v err %v", marked, cleared, err)
	}
	ev(Delivery{Kind: ReauthRequired, AccountID: "acc1"}, mins(2)) // sync failed -> reauth required
	ev(Delivery{Kind: AccountUnlinked, AccountID: "acc2"}, mins(2))
	ev(Delivery{Kind: AccountUnlinked, AccountID: "acc3"}, mins(2)) // never marked
	marked, cleared, err := reader.Reload()
	if err != nil || !slices.Equal(marked, []string{"acc1"}) || !slices.Equal(cleared, []string{"acc2", "acc3"}) {
		t.Fatalf("marked %v cleared %v err %v", marked, cleared, err)
	}
	if m, _ := reader.Mark("acc1"); m.Kind != MarkReauthRequired {
		t.Errorf("acc1 %+v", m)
	}
	for _, id := range cleared {
		if m, ok := reader.Mark(id); !ok || !m.Unlinked() {
			t.Errorf("%s: %+v %v", id, m, ok)
		}
	}
	if marked, cleared, err := reader.Reload(); err != nil || marked != nil || cleared != nil {
		t.Errorf("unchanged: %v %v %v", marked, cleared, err)
	}
}

// Clearings are bounded: past maxCleared the oldest are forgotten, marks
// and unlinkings never.
func TestClearingsAreBounded(t *testing.T) {
	s := newStore("")
	s.maxCleared = 3
	run(t, s, []step{d(ReauthRequired, mins(0), mins(0), Applied)})
	for i := range 5 {
		if _, err := s.Clear(fmt.Sprint("c", i), mins(float64(i+1)), "verified"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, ok := s.Cleared(fmt.Sprint("c", i)); ok != (i >= 2) {
			t.Errorf("c%d kept %v", i, ok)
		}
	}
	if !s.NeedsReauth(acc1) {
		t.Error("a mark was dropped")
	}
}
