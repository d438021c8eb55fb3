package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

const (
	secret = "whsec-5f2b9c0e7d4a1638"
	acc1   = "65f1c0ffee0123456789abcd"
	acc2   = "65f1c0ffee0123456789beef"
)

var now = time.Date(2026, 11, 25, 16, 2, 11, 0, time.UTC)

// lockedBuffer is a log sink the handler goroutines and the test can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type receiver struct {
	t      *testing.T
	url    string
	store  *Store
	path   string
	logs   *lockedBuffer
	mu     sync.Mutex
	events []Event
}

func (r *receiver) got() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// newReceiver serves a handler backed by a store in a temp dir.
func newReceiver(t *testing.T) *receiver {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reauth", "webhooks.json")
	store, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, store, path)
}

func serve(t *testing.T, store *Store, path string) *receiver {
	t.Helper()
	r := &receiver{t: t, store: store, path: path, logs: &lockedBuffer{}}
	h := NewHandler(Config{
		Secret: secret,
		Store:  store,
		Now:    func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(r.logs, nil)),
		OnEvent: func(ev Event) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, ev)
		},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// post sends body with the given header value (nil: no header) and returns
// the status code.
func (r *receiver) post(hdr *string, body string) int {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if hdr != nil {
		req.Header.Set(SecretHeader, *hdr)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func ptr(s string) *string { return &s }

// assertNothingRecorded checks no event reached the app or the store.
func (r *receiver) assertNothingRecorded() {
	r.t.Helper()
	if evs := r.got(); len(evs) != 0 {
		r.t.Errorf("OnEvent called: %+v", evs)
	}
	if m := r.store.Marked(); len(m) != 0 {
		r.t.Errorf("store marked %v", m)
	}
	if _, err := os.Stat(r.path); !os.IsNotExist(err) {
		r.t.Errorf("store file written (stat err %v)", err)
	}
}

func TestWrongOrMissingSecretIs401AndRecordsNothing(t *testing.T) {
	r := newReceiver(t)
	body := string(Payload(ReauthRequired, acc1, "evt-1"))
	for name, hdr := range map[string]*string{
		"wrong":   ptr("whsec-guess"),
		"prefix":  ptr(secret[:len(secret)-1]),
		"longer":  ptr(secret + "x"),
		"empty":   ptr(""),
		"missing": nil,
	} {
		if got := r.post(hdr, body); got != http.StatusUnauthorized {
			t.Errorf("%s secret: status %d, want 401", name, got)
		}
	}
	r.assertNothingRecorded()
	if r.store.Seen("evt-1") {
		t.Error("refused event id was remembered: a later genuine delivery would be dropped")
	}
	if err := Send(context.Background(), r.url, "whsec-guess", Payload(ReauthRequired, acc1, "")); err == nil ||
		!strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "whsec-guess") {
		t.Errorf("Send with a wrong secret: %v", err)
	}
	if strings.Contains(r.logs.String(), secret) || strings.Contains(r.logs.String(), "whsec-guess") {
		t.Errorf("a secret reached the log:\n%s", r.logs)
	}
}

func TestUnsetSecretRefusesEverything(t *testing.T) {
	srv := httptest.NewServer(NewHandler(Config{OnEvent: func(Event) { t.Error("event accepted without a configured secret") }}))
	defer srv.Close()
	for _, hdr := range []string{"", "anything"} {
		if err := Send(context.Background(), srv.URL, hdr, Payload(ReauthRequired, acc1, "e")); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("header %q: %v, want 401", hdr, err)
		}
	}
}

func TestOnlyPOST(t *testing.T) {
	r := newReceiver(t)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, r.url, strings.NewReader(string(Payload(ReauthRequired, acc1, "e"))))
		req.Header.Set(SecretHeader, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: %d Allow=%q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	r.assertNothingRecorded()
}

func TestBadBodiesAre400(t *testing.T) {
	r := newReceiver(t)
	for _, body := range []string{
		"",
		"not json",
		"[]",
		`{"event":"mono.events.reauthorisation_required"} trailing`,
		`{"data":{"account":{"_id":"` + acc1 + `"}}}`,
		`{"event":5,"data":{"account":{"_id":"` + acc1 + `"}}}`,
		`{"event":"  "}`,
		`{"event":"mono.events.reauthorisation_required"}`,
		`{"event":"mono.events.reauthorisation_required","data":{}}`,
		`{"event":"mono.events.reauthorisation_required","data":{"account":{}}}`,
		`{"event":"mono.events.reauthorisation_required","data":{"account":{"_id":{"x":1}}}}`,
		`{"event":"mono.events.reauthorisation_required","data":"x"}`,
		`{"event":"mono.events.account_reauthorized","event_id":{"a":1},"data":{"account":{"_id":"` + acc1 + `"}}}`,
		`{"event":"mono.events.account_reauthorized","event_id":"` + strings.Repeat("e", maxIDLen+1) + `","data":{"account":{"_id":"` + acc1 + `"}}}`,
	} {
		if got := r.post(ptr(secret), body); got != http.StatusBadRequest {
			t.Errorf("body %.60q: status %d, want 400", body, got)
		}
	}
	r.assertNothingRecorded()
}

func TestOversizeIs413(t *testing.T) {
	r := newReceiver(t)
	big := `{"event":"mono.events.reauthorisation_required","data":{"account":{"_id":"` + acc1 + `"},"pad":"` +
		strings.Repeat("x", MaxBody) + `"}}`
	if got := r.post(ptr(secret), big); got != http.StatusRequestEntityTooLarge {
		t.Errorf("with Content-Length: status %d, want 413", got)
	}
	// Without a Content-Length (chunked) the limit is enforced while reading.
	h := NewHandler(Config{Secret: secret, Store: r.store})
	req := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set(SecretHeader, secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: status %d, want 413", rec.Code)
	}
	r.assertNothingRecorded()
}

func TestEachEventKindParsed(t *testing.T) {
	cases := []struct {
		name string
		body string
		want Event
	}{
		{"reauth required, event_id at top level",
			`{"event":"mono.events.reauthorisation_required","event_id":"e1","data":{"account":{"_id":"` + acc1 + `","name":"ADA OBI","accountNumber":"0123456789","institution":{"name":"GTBank","bankCode":"058"}}}}`,
			Event{ID: "e1", Kind: ReauthRequired, AccountID: acc1}},
		{"reauthorized (z), event_id in data",
			`{"event":"mono.events.account_reauthorized","data":{"event_id":"e2","account":{"_id":"` + acc1 + `"}}}`,
			Event{ID: "e2", Kind: Reauthorized, AccountID: acc1}},
		{"reauthorised (s) spelling, numeric event_id",
			`{"event":"mono.events.account_reauthorised","event_id":12345,"data":{"account":{"_id":"` + acc1 + `"}}}`,
			Event{ID: "12345", Kind: Reauthorized, AccountID: acc1}},
		{"account updated with snake_case meta",
			`{"event":"mono.events.account_updated","event_id":"e3","data":{"account":{"_id":"` + acc2 + `","authMethod":"mobile_banking"},"meta":{"data_status":"available","auth_method":"mobile_banking"}}}`,
			Event{ID: "e3", Kind: AccountUpdated, AccountID: acc2, DataStatus: mono.StatusAvailable}},
		{"account updated with camelCase meta needing reauth",
			`{"event":"mono.events.account_updated","event_id":"e4","data":{"account":{"_id":"` + acc2 + `"},"meta":{"dataStatus":"FAILED","syncStatus":"reauthorisation_required"}}}`,
			Event{ID: "e4", Kind: AccountUpdated, AccountID: acc2, DataStatus: mono.StatusFailed, SyncStatus: mono.SyncReauthRequired}},
		{"sync failed, account as a bare id",
			`{"event":"mono.events.sync_failed","data":{"account":"` + acc2 + `"}}`,
			Event{Kind: SyncFailed, AccountID: acc2}},
		{"unknown event",
			`{"event":"mono.events.mandate_created","event_id":"e5","data":{"whatever":[1,2]}}`,
			Event{ID: "e5", Kind: Unknown}},
	}
	for _, c := range cases {
		got, err := Parse([]byte(c.body))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		c.want.Name = got.Name
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
		if !strings.HasPrefix(got.Name, "mono.events.") {
			t.Errorf("%s: Name %q", c.name, got.Name)
		}
	}

	// Through the handler: known kinds reach OnEvent stamped with Now;
	// the unknown one is answered 200 and not passed on.
	r := newReceiver(t)
	for _, c := range cases {
		if got := r.post(ptr(secret), c.body); got != http.StatusOK {
			t.Errorf("%s: status %d", c.name, got)
		}
	}
	evs := r.got()
	if len(evs) != len(cases)-1 {
		t.Fatalf("OnEvent got %d events, want %d", len(evs), len(cases)-1)
	}
	for i, ev := range evs {
		if ev.Kind != cases[i].want.Kind || !ev.Received.Equal(now) {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
}

func TestKindStrings(t *testing.T) {
	for k, want := range map[EventKind]string{
		ReauthRequired: "mono.events.reauthorisation_required",
		Reauthorized:   "mono.events.account_reauthorized",
		AccountUpdated: "mono.events.account_updated",
		SyncFailed:     "mono.events.sync_failed",
		Unknown:        "unknown",
	} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

func TestPayloadRoundTrips(t *testing.T) {
	for _, k := range []EventKind{ReauthRequired, Reauthorized, AccountUpdated, SyncFailed} {
		ev, err := Parse(Payload(k, acc1, "id-"+k.String(), Meta{DataStatus: mono.StatusPartial, SyncStatus: "SYNCING"}))
		if err != nil || ev.Kind != k || ev.AccountID != acc1 || ev.ID != "id-"+k.String() ||
			ev.DataStatus != mono.StatusPartial || ev.SyncStatus != "SYNCING" {
			t.Errorf("%v: %+v %v", k, ev, err)
		}
	}
	if ev, err := Parse(Payload(ReauthRequired, acc1, "")); err != nil || ev.ID != "" || ev.DataStatus != "" {
		t.Errorf("no id, no meta: %+v %v", ev, err)
	}
	if !bytes.Contains(Payload(ReauthRequired, acc1, ""), []byte(`"_id":"`+acc1+`"`)) {
		t.Errorf("payload does not use _id: %s", Payload(ReauthRequired, acc1, ""))
	}
}

func TestDuplicatesAnswer200AndAreFedOnce(t *testing.T) {
	r := newReceiver(t)
	ctx := context.Background()
	for range 3 {
		if err := Send(ctx, r.url, secret, Payload(ReauthRequired, acc1, "evt-dup")); err != nil {
			t.Fatal(err)
		}
	}
	// The same id in data rather than at the top level is the same event.
	inData := `{"event":"mono.events.reauthorisation_required","data":{"event_id":"evt-dup","account":{"_id":"` + acc1 + `"}}}`
	if err := Send(ctx, r.url, secret, []byte(inData)); err != nil {
		t.Fatal(err)
	}
	if n := len(r.got()); n != 1 {
		t.Errorf("OnEvent called %d times for one event id", n)
	}
	if !r.store.Seen("evt-dup") {
		t.Error("event id not remembered")
	}
	// Payloads without an event_id cannot be deduped: each is fed in.
	for range 2 {
		if err := Send(ctx, r.url, secret, Payload(SyncFailed, acc1, "")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.got()); n != 3 {
		t.Errorf("OnEvent called %d times, want 3", n)
	}
}

func TestMarksPersistAcrossRestart(t *testing.T) {
	r := newReceiver(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(Send(ctx, r.url, secret, Payload(ReauthRequired, acc1, "e1")))
	must(Send(ctx, r.url, secret, Payload(AccountUpdated, acc2, "e2", Meta{DataStatus: mono.StatusFailed, SyncStatus: mono.SyncReauthRequired})))
	must(Send(ctx, r.url, secret, Payload(AccountUpdated, "other", "e3", Meta{DataStatus: mono.StatusAvailable})))
	if !r.store.NeedsReauth(acc1) || !r.store.NeedsReauth(acc2) || r.store.NeedsReauth("other") {
		t.Fatalf("marks = %v", r.store.Marked())
	}

	// "Restart": a new store from the same file, a new handler.
	reopened, err := OpenStore(r.path)
	if err != nil {
		t.Fatal(err)
	}
	marks := reopened.Marked()
	if len(marks) != 2 || marks[acc1].Event != ReauthRequired.String() || !marks[acc1].Since.Equal(now) ||
		marks[acc1].EventID != "e1" || marks[acc2].Event != AccountUpdated.String() || marks[acc2].Kind != MarkReauthRequired {
		t.Errorf("after reopen: %+v", marks)
	}
	r2 := serve(t, reopened, r.path)
	must(Send(ctx, r2.url, secret, Payload(ReauthRequired, acc1, "e1"))) // Mono retrying after our restart
	if n := len(r2.got()); n != 0 {
		t.Errorf("a delivery seen before the restart was fed in again")
	}

	must(Send(ctx, r2.url, secret, Payload(Reauthorized, acc1, "e4")))
	if reopened.NeedsReauth(acc1) {
		t.Error("account_reauthorized did not clear the mark")
	}
	again, err := OpenStore(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if again.NeedsReauth(acc1) || !again.NeedsReauth(acc2) {
		t.Errorf("after second reopen: %v", again.Marked())
	}

	// The app can clear and mark too (a confirmed session, a sync reply).
	mustApply := func(applied bool, err error) {
		t.Helper()
		if err != nil || !applied {
			t.Fatalf("applied %v err %v", applied, err)
		}
	}
	mustApply(again.Clear(acc2, now.Add(time.Minute), "verified: synced after the attempt"))
	mustApply(again.Flag("acc3", MarkReauthRequired, now, "sync"))
	last, err := OpenStore(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if m := last.Marked(); len(m) != 1 || m["acc3"].Event != "sync" {
		t.Errorf("after Clear/Flag: %v", m)
	}
	if c, ok := last.Cleared(acc2); !ok || c.Event != "verified: synced after the attempt" || !c.At.Equal(now.Add(time.Minute)) {
		t.Errorf("clearing of acc2: %+v %v", c, ok)
	}
}

func TestEscapeSequencesNeutralised(t *testing.T) {
	r := newReceiver(t)
	body := `{"event":"mono.events.reauthorisation_required\u001b[2J","event_id":"e\u001b]52;c;aGk=\u0007-1",` +
		`"data":{"account":{"_id":"\u001b]8;;http://evil\u0007` + acc1 + `\u001b]8;;\u0007\u009b31m"}}}`
	if got := r.post(ptr(secret), body); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	evs := r.got()
	if len(evs) != 1 {
		t.Fatalf("events: %+v", evs)
	}
	ev := evs[0]
	if ev.Kind != ReauthRequired || ev.AccountID != acc1+"31m" || ev.ID != "e-1" || ev.Name != ReauthRequired.String() {
		t.Errorf("event = %+v", ev)
	}
	for _, s := range []string{ev.Name, ev.ID, ev.AccountID} {
		if strings.ContainsAny(s, "\x1b\x07\u009b") {
			t.Errorf("control character left in %q", s)
		}
	}
}

func TestConcurrentPosts(t *testing.T) {
	r := newReceiver(t)
	const senders, each, distinct = 8, 12, 16
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				n := (s*each + i) % distinct
				kind := ReauthRequired
				if n%4 == 3 {
					kind = Reauthorized
				}
				errs <- Send(context.Background(), r.url, secret, Payload(kind, fmt.Sprintf("acc%d", n%5), fmt.Sprintf("evt-%d", n)))
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
	evs := r.got()
	ids := map[string]bool{}
	for _, ev := range evs {
		if ids[ev.ID] {
			t.Errorf("event %s fed in twice", ev.ID)
		}
		ids[ev.ID] = true
	}
	if len(ids) != distinct {
		t.Errorf("%d distinct events fed in, want %d", len(ids), distinct)
	}
	// The file on disk agrees with memory.
	reopened, err := OpenStore(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(reopened.Marked()) != fmt.Sprint(r.store.Marked()) {
		t.Errorf("disk %v != memory %v", reopened.Marked(), r.store.Marked())
	}
}

func TestSendEncodesValuesAndHonoursContext(t *testing.T) {
	var got []byte
	var gotSecret string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		gotSecret = r.Header.Get(SecretHeader)
	}))
	defer srv.Close()
	if err := Send(context.Background(), srv.URL, secret, map[string]string{"event": "x"}); err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"event":"x"}` || gotSecret != secret {
		t.Errorf("server got %s with secret %q", got, gotSecret)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Send(ctx, srv.URL, secret, Payload(SyncFailed, acc1, "")); err == nil {
		t.Error("Send with a cancelled context succeeded")
	}
}

// Observe hears how each request ended, in words from fixed sets (metrics
// label them): never the event name or id as sent.
func TestObserveHearsEveryResult(t *testing.T) {
	var got []string
	h := NewHandler(Config{Secret: secret, Store: NewMemoryStore(), Observe: func(kind, result string) {
		got = append(got, kind+"/"+result)
	}})
	send := func(sec string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set(SecretHeader, sec)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	fresh := Payload(ReauthRequired, acc1, "evt-obs-1")
	send(secret, fresh)
	send(secret, fresh)
	send("wrong", fresh)
	send(secret, []byte(`{"event":"mono.events.made_up_\u001b[31m","data":{"account":{"_id":"`+acc1+`"}}}`))
	want := []string{
		"mono.events.reauthorisation_required/applied",
		"mono.events.reauthorisation_required/duplicate",
		"/refused",
		"unknown/ignored",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("observed %v, want %v", got, want)
	}
}
