package mono

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testKey   = "test_sk_unit"
	testID    = "60c8f5a9e1b2c3d4e5f60718"
	testToken = "VwxcfeLRZvq1UlD5WiuN"
)

var fixedNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// seen is one request as the fake Mono received it.
type seen struct {
	Method, Path, RawPath, Query string
	Key, Accept, ContentType     string
	Realtime                     bool
	Body                         []byte
	ContentLength                int64
}

// fakeMono is an httptest server that records every request and answers
// with handle(w, r, n) where n counts requests from 1.
type fakeMono struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *fakeMono {
	t.Helper()
	f := &fakeMono{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, realtime := r.Header[http.CanonicalHeaderKey("x-realtime")]
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Key: r.Header.Get("mono-sec-key"), Accept: r.Header.Get("Accept"), ContentType: r.Header.Get("Content-Type"),
			Realtime: realtime, Body: body, ContentLength: r.ContentLength,
		})
		n := len(f.reqs)
		f.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeMono) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// sleeps records the backoff waits of a client instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newTestClient(t *testing.T, base string, tweak ...func(*Config)) (*Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	cfg := Config{
		BaseURL:   base,
		SecretKey: testKey,
		Now:       func() time.Time { return fixedNow },
		Retry: RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second,
			Sleep: sl.sleep, Jitter: func(d time.Duration) time.Duration { return d }},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, sl
}

func writeJSONReply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// checkHeaders asserts what every request must carry.
func checkHeaders(t *testing.T, r seen) {
	t.Helper()
	if r.Key != testKey {
		t.Errorf("%s %s: mono-sec-key = %q, want the configured key", r.Method, r.Path, r.Key)
	}
	if r.Accept != "application/json" {
		t.Errorf("%s %s: Accept = %q", r.Method, r.Path, r.Accept)
	}
	if r.Realtime {
		t.Errorf("%s %s: sent x-realtime (a paid live fetch)", r.Method, r.Path)
	}
}

func mustKind(t *testing.T, err error, want ErrorKind) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want kind %v", want)
	}
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("err = %T %v, want *mono.Error", err, err)
	}
	if me.Kind != want || KindOf(err) != want {
		t.Fatalf("kind = %v (%v), want %v", me.Kind, err, want)
	}
	for _, secret := range []string{testKey, testToken} {
		if strings.Contains(err.Error(), secret) || strings.Contains(me.Hint(), secret) {
			t.Fatalf("error text leaks a secret: %q / %q", err.Error(), me.Hint())
		}
	}
	return me
}

func TestNewClientValidatesConfig(t *testing.T) {
	bad := []Config{
		{SecretKey: ""},
		{SecretKey: "   "},
		{SecretKey: "a\nb"},
		{SecretKey: testKey, BaseURL: "ftp://api.withmono.com"},
		{SecretKey: testKey, BaseURL: "api.withmono.com"},
		{SecretKey: testKey, BaseURL: "https://"},
		{SecretKey: testKey, BaseURL: "https://user:pw@api.withmono.com"},
		{SecretKey: testKey, BaseURL: "https://api.withmono.com?x=1"},
		{SecretKey: testKey, BaseURL: "https://api.withmono.com/#frag"},
		{SecretKey: testKey, BaseURL: "http://api.withmono.com"}, // the key would travel in clear
		{SecretKey: testKey, BaseURL: "%zz"},
	}
	for _, cfg := range bad {
		_, err := NewClient(cfg)
		me := mustKind(t, err, KindInvalidInput)
		if strings.Contains(me.Error(), testKey) {
			t.Errorf("config error leaks the key: %v", me)
		}
	}
	good := map[string]string{
		"":                            DefaultBaseURL,
		"https://api.withmono.com/":   "https://api.withmono.com",
		"http://127.0.0.1:8089":       "http://127.0.0.1:8089",
		"http://localhost:1/prefix/":  "http://localhost:1/prefix",
		"http://[::1]:9":              "http://[::1]:9",
		"https://proxy.example/mono/": "https://proxy.example/mono",
	}
	for in, want := range good {
		c, err := NewClient(Config{SecretKey: testKey, BaseURL: in})
		if err != nil {
			t.Errorf("NewClient(%q): %v", in, err)
			continue
		}
		if c.BaseURL() != want {
			t.Errorf("BaseURL(%q) = %q, want %q", in, c.BaseURL(), want)
		}
	}
	if _, err := NewClient(Config{SecretKey: testKey, BaseURL: "http://mock:8080", AllowPlainHTTP: true}); err != nil {
		t.Errorf("AllowPlainHTTP: %v", err)
	}
	c, _ := NewClient(Config{SecretKey: testKey})
	if c.hc.Timeout != DefaultTimeout {
		t.Errorf("default timeout = %v", c.hc.Timeout)
	}
	// A caller's client is copied, not modified.
	mine := &http.Client{Timeout: time.Second}
	if _, err := NewClient(Config{SecretKey: testKey, HTTPClient: mine}); err != nil || mine.CheckRedirect != nil {
		t.Errorf("caller's http.Client was modified (err %v)", err)
	}
}

// listItem builds a v2 list item.
func listItem(id, name string) map[string]any {
	return map[string]any{
		"id": id, "name": name, "account_number": "0123456789", "currency": "NGN", "balance": 150000,
		"auth_method": "internet_banking", "status": "AVAILABLE", "bvn": "1234", "type": "SAVINGS_ACCOUNT",
		"institution": map[string]any{"id": "5f2d08be60b92e2888287702", "name": "GTBank", "bank_code": "058", "type": "PERSONAL_BANKING"},
		"customer":    map[string]any{"id": "65a1b2c3d4e5f60718293a4b", "name": name, "email": "x@example.com"},
	}
}

func hexID(n int) string { return fmt.Sprintf("%024x", n) }

// pagedHandler serves pages of two accounts each; nextURL builds meta.next.
func pagedHandler(pages int, nextURL func(page int) any) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, _ int) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		items := []any{listItem(hexID(page*10+1), "A"), listItem(hexID(page*10+2), "B")}
		var next any
		if page < pages {
			next = nextURL(page + 1)
		}
		writeJSONReply(w, 200, map[string]any{
			"status": "successful", "message": "ok", "data": items,
			"meta": map[string]any{"total": pages * 2, "pages": pages, "previous": nil, "next": next},
		})
	}
}

func TestAccountsFollowsNextOnTheConfiguredHostOnly(t *testing.T) {
	// meta.next names Mono's real host: the client must use only its page
	// number and keep talking to the configured server.
	f := newFake(t, pagedHandler(3, func(p int) any { return fmt.Sprintf("https://evil.example/v2/other?page=%d", p) }))
	c, _ := newTestClient(t, f.URL)

	var got []AccountPage
	for page, err := range c.Accounts(context.Background()) {
		if err != nil {
			t.Fatalf("page %d: %v", page.Page, err)
		}
		got = append(got, page)
	}
	if len(got) != 3 {
		t.Fatalf("got %d pages, want 3", len(got))
	}
	for i, p := range got {
		if p.Page != i+1 || p.Pages != 3 || p.Total != 6 || len(p.Accounts) != 2 {
			t.Errorf("page %d = {Page %d Pages %d Total %d n %d}", i+1, p.Page, p.Pages, p.Total, len(p.Accounts))
		}
		if p.Accounts[0].ID != hexID((i+1)*10+1) {
			t.Errorf("page %d first id = %s", i+1, p.Accounts[0].ID)
		}
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		checkHeaders(t, r)
		if r.Method != "GET" || r.Path != "/v2/accounts" || r.Query != "page="+strconv.Itoa(i+1) {
			t.Errorf("request %d = %s %s?%s", i+1, r.Method, r.Path, r.Query)
		}
	}
}

func TestAccountsAcceptsRelativeAndBareNext(t *testing.T) {
	for name, next := range map[string]func(int) any{
		"relative": func(p int) any { return fmt.Sprintf("/v2/accounts?page=%d", p) },
		"number":   func(p int) any { return p },
		"string":   func(p int) any { return strconv.Itoa(p) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, pagedHandler(2, next))
			c, _ := newTestClient(t, f.URL)
			n := 0
			for _, err := range c.Accounts(context.Background()) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 2 || len(f.requests()) != 2 {
				t.Fatalf("pages %d, requests %d; want 2, 2", n, len(f.requests()))
			}
		})
	}
}

func TestAccountsYieldsEachPageBeforeFetchingTheNext(t *testing.T) {
	release := make(chan struct{})
	inner := pagedHandler(2, func(p int) any { return fmt.Sprintf("http://x/v2/accounts?page=%d", p) })
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("page") == "2" {
			<-release
		}
		inner(w, r, n)
	})
	c, _ := newTestClient(t, f.URL)
	pages := 0
	for page, err := range c.Accounts(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.Page == 1 {
			// Page 1 is in our hands while page 2 is not even asked for yet.
			if n := len(f.requests()); n != 1 {
				t.Fatalf("%d requests made before page 1 was consumed", n)
			}
			close(release)
		}
	}
	if pages != 2 {
		t.Fatalf("pages = %d", pages)
	}
}

func TestAccountsStopsWhenTheConsumerBreaks(t *testing.T) {
	f := newFake(t, pagedHandler(5, func(p int) any { return fmt.Sprintf("/v2/accounts?page=%d", p) }))
	c, _ := newTestClient(t, f.URL)
	for page, err := range c.Accounts(context.Background()) {
		if err != nil || page.Page != 1 {
			t.Fatalf("first = %d, %v", page.Page, err)
		}
		break
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests after break, want 1", n)
	}
}

func TestAccountsDetectsANextLoop(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		next := "https://api.withmono.com/v2/accounts?page=2"
		if page == 2 {
			next = "https://api.withmono.com/v2/accounts?page=1"
		}
		writeJSONReply(w, 200, map[string]any{"status": "successful", "data": []any{listItem(hexID(page), "A")},
			"meta": map[string]any{"total": 99, "pages": 99, "next": next}})
	})
	c, _ := newTestClient(t, f.URL)
	var pages []int
	var last error
	for page, err := range c.Accounts(context.Background()) {
		pages = append(pages, page.Page)
		last = err
	}
	me := mustKind(t, last, KindBadReply)
	if !strings.Contains(me.Message, "page 1") {
		t.Errorf("message = %q", me.Message)
	}
	if fmt.Sprint(pages) != "[1 2 1]" || len(f.requests()) != 2 {
		t.Fatalf("pages %v, requests %d", pages, len(f.requests()))
	}
}

func TestAccountsBadNextIsBadReply(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSONReply(w, 200, map[string]any{"status": "successful", "data": []any{},
			"meta": map[string]any{"next": "https://api.withmono.com/v2/accounts"}})
	})
	c, _ := newTestClient(t, f.URL)
	var last error
	for _, err := range c.Accounts(context.Background()) {
		last = err
	}
	mustKind(t, last, KindBadReply)
}

func TestAccountsAt404PointsAtTheBaseURL(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSONReply(w, 404, map[string]any{"statusCode": 404, "message": "Cannot GET /wrong/v2/accounts"})
	})
	c, _ := newTestClient(t, f.URL+"/wrong")
	var last error
	for _, err := range c.Accounts(context.Background()) {
		last = err
	}
	me := mustKind(t, last, KindNotFound)
	if me.Hint() != "Mono answered 404 for the account list; check MONO_API_URL." {
		t.Errorf("hint = %q", me.Hint())
	}
}

func TestAccountsStopsOnCancel(t *testing.T) {
	f := newFake(t, pagedHandler(3, func(p int) any { return fmt.Sprintf("/v2/accounts?page=%d", p) }))
	c, _ := newTestClient(t, f.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errs []error
	for page, err := range c.Accounts(ctx) {
		if page.Page == 1 && err == nil {
			cancel()
		}
		errs = append(errs, err)
	}
	if len(errs) != 2 || errs[0] != nil {
		t.Fatalf("yields = %v, want page 1 then one error", errs)
	}
	me := mustKind(t, errs[1], KindCanceled)
	if me.Error() != "mono: list accounts: canceled" || me.Hint() != "The request was cancelled." {
		t.Errorf("cancel error %q hint %q", me.Error(), me.Hint())
	}
	if !errors.Is(errs[1], context.Canceled) {
		t.Errorf("cancel error does not wrap context.Canceled: %v", errs[1])
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests after cancel, want 1", n)
	}
}

func TestAccountsDecodesDefensivelyAndCleansText(t *testing.T) {
	body := `{"status":"successful","message":"ok","data":[
	  {"_id":"` + hexID(1) + `","name":"Ada \u001b[31mOkeke\u001b[0m\nJr","account_number":123456789,"currency":"ngn",
	   "balance":"15000.00","auth_method":"MOBILE_BANKING","status":"available","bvn":1234,"type":"SAVINGS",
	   "institution":{"_id":"i1","name":"Zenith\u202eBank","bankCode":"057","type":"PERSONAL_BANKING"},
	   "customer":"` + hexID(99) + `",
	   "sync_status":"reauthorisation_required","sync_message":"Bank requires \u001b]8;;http://x\u0007OTP","last_synced_at":"2026-03-01T10:00:00.000Z"},
	  {"id":"` + hexID(2) + `","name":null,"balance":null,"status":"FAILED",
	   "meta":{"data_status":"partial","sync_status":"REAUTHORISATION_REQUIRED","sync_message":"account access has expired","last_synced_at":1767225600000,"retrieved_data":["balance",7,null]}},
	  {"id":"not-an-object-id","name":"skipped"},
	  "not an object",
	  {"id":"` + hexID(3) + `","balance":{"weird":true},"institution":"GTBank"}
	],"meta":{"total":"5","pages":1,"previous":null,"next":null}}`
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { _, _ = io.WriteString(w, body) })
	c, _ := newTestClient(t, f.URL)
	var all []Account
	var total int
	for page, err := range c.Accounts(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Accounts...)
		total = page.Total
	}
	if len(all) != 3 || total != 5 {
		t.Fatalf("got %d accounts, total %d; want 3 (invalid ids skipped), 5", len(all), total)
	}
	a := all[0]
	want := Account{
		ID: hexID(1), Name: "Ada Okeke Jr", AccountNumber: "123456789", Currency: "NGN", Balance: 15000,
		Type: "SAVINGS", BVN: "1234", AuthMethod: "mobile_banking", DataStatus: StatusAvailable,
		Institution:  Institution{ID: "i1", Name: "ZenithBank", BankCode: "057", Type: "PERSONAL_BANKING"},
		Customer:     Customer{ID: hexID(99)},
		SyncStatus:   SyncReauthRequired,
		SyncMessage:  "Bank requires OTP",
		LastSyncedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
	}
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", want) {
		t.Errorf("account =\n %+v\nwant\n %+v", a, want)
	}
	if !a.NeedsReauth() {
		t.Error("top-level sync_status not read")
	}
	b := all[1]
	if b.DataStatus != StatusPartial || !b.NeedsReauth() || b.SyncMessage != "account access has expired" ||
		!b.LastSyncedAt.Equal(time.UnixMilli(1767225600000)) || fmt.Sprint(b.RetrievedData) != "[balance 7]" {
		t.Errorf("meta fields not read: %+v", b)
	}
	if all[2].Balance != 0 || all[2].Institution.Name != "GTBank" {
		t.Errorf("odd shapes: %+v", all[2])
	}
}

func TestAccountsNonJSONIsBadReply(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>gateway</html>")
	})
	c, _ := newTestClient(t, f.URL)
	var last error
	for _, err := range c.Accounts(context.Background()) {
		last = err
	}
	mustKind(t, last, KindBadReply)
	if n := len(f.requests()); n != 1 {
		t.Errorf("a 200 with garbage was retried: %d requests", n)
	}
}

const detailBody = `{"status":"successful","message":"Request was succesfully completed","timestamp":"2026-03-14T09:00:00.000Z",
 "data":{"account":{"id":"` + testID + `","name":"SAMUEL OLAMIDE NOMO","account_number":"0131883461","currency":"NGN",
   "balance":22644,"type":"SAVINGS_ACCOUNT","bvn":"9422","institution":{"name":"GTBank","bank_code":"058","type":"PERSONAL_BANKING"}},
  "customer":{"id":"6364ba7ba4b1ae2c3b9c5a5e"},
  "meta":{"data_status":"FAILED","auth_method":"internet_banking","retrieved_data":["transactions","balance"],"ref":null,
   "data_request_id":null,"session_id":"x","sync_status":"REAUTHORISATION_REQUIRED",
   "sync_message":"Customer enabled 2FA","last_synced_at":"2026-03-10T08:00:00Z"}}}`

func TestAccountMergesDetail(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { _, _ = io.WriteString(w, detailBody) })
	c, _ := newTestClient(t, f.URL)
	a, err := c.Account(context.Background(), testID)
	if err != nil {
		t.Fatal(err)
	}
	want := Account{
		ID: testID, Name: "SAMUEL OLAMIDE NOMO", AccountNumber: "0131883461", Currency: "NGN", Balance: 22644,
		Type: "SAVINGS_ACCOUNT", BVN: "9422", AuthMethod: AuthInternetBanking, DataStatus: StatusFailed,
		Institution:   Institution{Name: "GTBank", BankCode: "058", Type: "PERSONAL_BANKING"},
		Customer:      Customer{ID: "6364ba7ba4b1ae2c3b9c5a5e"},
		SyncStatus:    SyncReauthRequired,
		SyncMessage:   "Customer enabled 2FA",
		LastSyncedAt:  time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC),
		RetrievedData: []string{"transactions", "balance"},
		SessionID:     "x", // data_request_id is null: ""
	}
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", want) {
		t.Errorf("account =\n %+v\nwant\n %+v", a, want)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/v2/accounts/"+testID || reqs[0].Query != "" {
		t.Fatalf("requests = %+v", reqs)
	}
	checkHeaders(t, reqs[0])
}

func TestAccountRejectsAReplyForAnotherAccount(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { _, _ = io.WriteString(w, detailBody) })
	c, _ := newTestClient(t, f.URL)
	_, err := c.Account(context.Background(), hexID(5))
	mustKind(t, err, KindBadReply)
}

func TestAccountUnderABasePathPrefix(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { _, _ = io.WriteString(w, detailBody) })
	c, _ := newTestClient(t, f.URL+"/mono/")
	if _, err := c.Account(context.Background(), testID); err != nil {
		t.Fatal(err)
	}
	if p := f.requests()[0].Path; p != "/mono/v2/accounts/"+testID {
		t.Fatalf("path = %q", p)
	}
}

func TestInvalidIDsAreRejectedBeforeAnyRequest(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { t.Errorf("request made: %s", r.URL) })
	c, _ := newTestClient(t, f.URL)
	ctx := context.Background()
	for _, id := range []string{"", "abc", testToken, "zzzzzzzzzzzzzzzzzzzzzzzz", "../../../v2/accounts?x=1", testID + "0", "60c8f5a9e1b2c3d4e5f6071/", " " + testID[1:]} {
		_, err1 := c.Account(ctx, id)
		_, err2 := c.Reauthorise(ctx, id)
		_, err3 := c.InitiateReauth(ctx, id, "ref", "https://example.com/done")
		_, err4 := c.Sync(ctx, id)
		for _, err := range []error{err1, err2, err3, err4} {
			me := mustKind(t, err, KindInvalidInput)
			if id != "" && strings.Contains(me.Error(), id) {
				t.Errorf("error echoes the input %q: %v", id, me)
			}
		}
	}
	if !IsAccountID(strings.ToUpper(testID)) || IsAccountID(testID[:23]+"g") {
		t.Error("IsAccountID")
	}
}

func TestReauthoriseSendsExactlyOneBodylessPost(t *testing.T) {
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSONReply(w, 200, map[string]string{"token": testToken})
	})
	c, _ := newTestClient(t, f.URL, func(cfg *Config) { cfg.Logger = logger })
	tok, err := c.Reauthorise(context.Background(), testID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != testToken || tok.AccountID != testID || !tok.MintedAt.Equal(fixedNow) || !tok.ExpiresAt.Equal(fixedNow.Add(10*time.Minute)) {
		t.Fatalf("token = %#v (value ok: %v)", tok, tok.Value == testToken)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	checkHeaders(t, r)
	if r.Method != "POST" || r.Path != "/accounts/"+testID+"/reauthorise" || r.Query != "" {
		t.Errorf("request = %s %s?%s", r.Method, r.Path, r.Query)
	}
	if len(r.Body) != 0 || r.ContentLength != 0 || r.ContentType != "" {
		t.Errorf("mint carried a body: %q (length %d, type %q)", r.Body, r.ContentLength, r.ContentType)
	}
	if logBuf.Len() == 0 {
		t.Error("nothing logged at debug level")
	}
	if strings.Contains(logBuf.String(), testToken) || strings.Contains(logBuf.String(), testKey) {
		t.Errorf("log leaks a secret:\n%s", logBuf.String())
	}
}

func TestReauthoriseAcceptsAWrappedToken(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSONReply(w, 200, map[string]any{"status": "successful", "data": map[string]string{"token": testToken}})
	})
	c, _ := newTestClient(t, f.URL)
	if tok, err := c.Reauthorise(context.Background(), testID); err != nil || tok.Value != testToken {
		t.Fatalf("token %v, err %v", tok, err)
	}
}

func TestReauthoriseCannotBeReauthorised(t *testing.T) {
	for _, status := range []int{200, 201, 400} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			writeJSONReply(w, status, map[string]string{"message": "This account can not be re-authorised."})
		})
		c, _ := newTestClient(t, f.URL)
		_, err := c.Reauthorise(context.Background(), testID)
		me := mustKind(t, err, KindCannotReauth)
		if me.Status != status || me.Message != "This account can not be re-authorised." ||
			me.Hint() != "Mono says this account cannot be re-authorised." {
			t.Errorf("status %d: %+v / %q", status, me, me.Hint())
		}
	}
}

func TestReauthoriseWithoutATokenIsBadReply(t *testing.T) {
	for _, body := range []string{`{}`, `{"message":"Request completed"}`, `{"token":""}`, `{"token":"has space"}`, `{"token":"` + testToken + `\u001b[2J"}`, `nope`} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { _, _ = io.WriteString(w, body) })
		c, _ := newTestClient(t, f.URL)
		_, err := c.Reauthorise(context.Background(), testID)
		mustKind(t, err, KindBadReply)
	}
}

func TestReauthoriseIsNeverRetried(t *testing.T) {
	cases := map[string]func(w http.ResponseWriter, r *http.Request){
		"500": func(w http.ResponseWriter, r *http.Request) {
			writeJSONReply(w, 500, map[string]any{"status": "failed", "message": "boom"})
		},
		"503 with Retry-After": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			writeJSONReply(w, 503, map[string]any{"message": "down"})
		},
		"429": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			writeJSONReply(w, 429, map[string]any{"message": "slow down"})
		},
		"reset": func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		},
	}
	want := map[string]ErrorKind{"500": KindServer, "503 with Retry-After": KindServer, "429": KindRateLimited, "reset": KindNetwork}
	for name, handle := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { handle(w, r) })
			c, sl := newTestClient(t, f.URL, func(cfg *Config) { cfg.Retry.MaxAttempts = 10 })
			_, err := c.Reauthorise(context.Background(), testID)
			mustKind(t, err, want[name])
			if n := len(f.requests()); n != 1 {
				t.Fatalf("mint attempted %d times, want exactly 1", n)
			}
			if len(sl.all()) != 0 {
				t.Fatalf("mint slept for a retry: %v", sl.all())
			}
		})
	}
}

func TestInitiateReauth(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSONReply(w, 200, map[string]any{"status": "successful", "message": "ok",
			"data": map[string]any{"mono_url": "https://link.mono.co/RCabc123", "scope": "reauth"}})
	})
	c, _ := newTestClient(t, f.URL)
	link, err := c.InitiateReauth(context.Background(), testID, "case-42", "https://example.com/done")
	if err != nil || link != "https://link.mono.co/RCabc123" {
		t.Fatalf("link %q, err %v", link, err)
	}
	r := f.requests()[0]
	checkHeaders(t, r)
	if r.Method != "POST" || r.Path != "/v2/accounts/initiate" || r.ContentType != "application/json" {
		t.Errorf("request = %s %s (%s)", r.Method, r.Path, r.ContentType)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := `map[account:` + testID + ` meta:map[ref:case-42] redirect_url:https://example.com/done scope:reauth]`
	if fmt.Sprint(body) != want {
		t.Errorf("body = %v\nwant   %s", body, want)
	}

	for _, bad := range [][2]string{{"", "https://example.com"}, {"ref\x1b[2J", "https://example.com"}, {"ref", "javascript:alert(1)"}, {"ref", "/relative"}} {
		_, err := c.InitiateReauth(context.Background(), testID, bad[0], bad[1])
		mustKind(t, err, KindInvalidInput)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("invalid input reached the server: %d requests", n)
	}
	// redirect_url is optional (Mono documents it so): none is sent.
	if _, err := c.InitiateReauth(context.Background(), testID, "case-43", ""); err != nil {
		t.Fatal(err)
	}
	body = nil
	if err := json.Unmarshal(f.requests()[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if _, sent := body["redirect_url"]; sent {
		t.Errorf("an empty redirect_url was sent: %v", body)
	}
}

func TestInitiateReauthBadLinks(t *testing.T) {
	for _, body := range []string{`{"data":{}}`, `{"data":{"mono_url":"javascript:alert(1)"}}`, `{"data":{"mono_url":"https://link.mono.co/\u001b[2J"}}`, `[]`} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { _, _ = io.WriteString(w, body) })
		c, _ := newTestClient(t, f.URL)
		_, err := c.InitiateReauth(context.Background(), testID, "r", "https://example.com")
		mustKind(t, err, KindBadReply)
	}
}

// Mono refusing the account when asked for a hosted link reads as it does
// for a mint (KindCannotReauth), in a 4xx and in a 2xx without a link.
func TestInitiateReauthRefusedAccount(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
	}{
		{http.StatusBadRequest, `{"status":"failed","message":"This account can not be re-authorised.","data":null}`},
		{http.StatusOK, `{"status":"successful","message":"This account cannot be re-authorised"}`},
	} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			w.WriteHeader(c.status)
			_, _ = io.WriteString(w, c.body)
		})
		cl, _ := newTestClient(t, f.URL)
		_, err := cl.InitiateReauth(context.Background(), testID, "r", "")
		mustKind(t, err, KindCannotReauth)
	}
}

func TestStatusesMapToKindsWithMonosMessage(t *testing.T) {
	cases := []struct {
		status     int
		body       string
		kind       ErrorKind
		message    string
		hint       string
		retryAfter string
	}{
		{401, `{"status":"failed","message":"Invalid secret key provided","timestamp":"x","data":null}`, KindUnauthorised,
			"Invalid secret key provided", "Mono rejected the secret key (401). Check MONO_SECRET_KEY.", ""},
		{403, `{"status":"failed","message":"Forbidden"}`, KindForbidden, "Forbidden",
			"Mono says this secret key may not do that (403). Check the key's permissions in the Mono dashboard.", ""},
		{404, `{"message":"This account does not exist."}`, KindNotFound, "This account does not exist.",
			"Mono has no account with that id (404).", ""},
		{429, `{"message":"Too many requests"}`, KindRateLimited, "Too many requests",
			"Mono is rate limiting us (429); retry in 12s.", "12"},
		{429, `{"message":"Too many requests"}`, KindRateLimited, "Too many requests",
			"Mono is rate limiting us (429); wait a moment and retry.", ""},
		{500, `{"status":"failed","message":"Internal server error"}`, KindServer, "Internal server error",
			"Mono had a problem (500); try again shortly.", ""},
		{503, `<html>Service Unavailable</html>`, KindServer, "", "Mono had a problem (503); try again shortly.", ""},
		{400, `{"statusCode":400,"message":["page must be a number","page must not be less than 1"],"error":"Bad Request"}`, KindBadRequest,
			"page must be a number; page must not be less than 1", "Mono refused the request (400): page must be a number; page must not be less than 1.", ""},
		{422, `{"error":"unprocessable"}`, KindBadRequest, "unprocessable", "Mono refused the request (422): unprocessable.", ""},
		{409, `{"status":"failed","message":"Already in progress."}`, KindConflict, "Already in progress.",
			"Mono reported a conflict (409): Already in progress.", ""},
		{401, `{"message":"bad key ` + testKey + ` \u001b[31mred"}`, KindUnauthorised, "bad key [redacted] red",
			"Mono rejected the secret key (401). Check MONO_SECRET_KEY.", ""},
		{302, ``, KindBadReply, "unexpected redirect (302)", "Mono sent a reply we could not read.", ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.hint), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.status == 302 {
					w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			c, _ := newTestClient(t, f.URL, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
			_, err := c.Account(context.Background(), testID)
			me := mustKind(t, err, tc.kind)
			if me.Status != tc.status || me.Message != tc.message || me.Hint() != tc.hint || me.Op != "get account" {
				t.Errorf("got status %d message %q hint %q op %q", me.Status, me.Message, me.Hint(), me.Op)
			}
			if tc.retryAfter != "" && me.RetryAfter != 12*time.Second {
				t.Errorf("RetryAfter = %v", me.RetryAfter)
			}
			if !strings.HasPrefix(me.Error(), "mono: get account: "+tc.kind.String()+" ("+strconv.Itoa(tc.status)+")") {
				t.Errorf("Error() = %q", me.Error())
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	})
	c, _ := newTestClient(t, f.URL)
	_, err := c.Reauthorise(context.Background(), testID)
	mustKind(t, err, KindBadReply)
	if n := len(elsewhere.requests()); n != 0 {
		t.Fatalf("followed a redirect carrying the key (%d requests elsewhere)", n)
	}
}

func TestOversizedReplyIsBadReply(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		_, _ = io.WriteString(w, `{"status":"successful","data":{"account":{"name":"`)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for i := 0; i < (MaxReplyBytes/len(chunk))+2; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}}}`)
	})
	c, _ := newTestClient(t, f.URL)
	_, err := c.Account(context.Background(), testID)
	me := mustKind(t, err, KindBadReply)
	if !strings.Contains(me.Message, "larger than") {
		t.Errorf("message = %q", me.Message)
	}
}

func TestReadsRetryWithBackoffThenSucceed(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			writeJSONReply(w, 503, map[string]any{"status": "failed", "message": "down"})
		case 2:
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close() // a network error is retried too
		default:
			_, _ = io.WriteString(w, detailBody)
		}
	})
	// Fresh connections, so net/http's own replay of a GET on a reused
	// connection cannot hide our retry.
	c, sl := newTestClient(t, f.URL, func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	})
	if _, err := c.Account(context.Background(), testID); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	if got := fmt.Sprint(sl.all()); got != "[100ms 200ms]" {
		t.Fatalf("backoff waits = %s, want [100ms 200ms]", got)
	}
}

func TestReadsGiveUpAfterMaxAttempts(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSONReply(w, 502, map[string]any{"message": "bad gateway"})
	})
	c, sl := newTestClient(t, f.URL, func(cfg *Config) { cfg.Retry.MaxAttempts = 5; cfg.Retry.MaxDelay = 300 * time.Millisecond })
	_, err := c.Account(context.Background(), testID)
	mustKind(t, err, KindServer)
	if n := len(f.requests()); n != 5 {
		t.Fatalf("%d attempts, want 5", n)
	}
	if got := fmt.Sprint(sl.all()); got != "[100ms 200ms 300ms 300ms]" {
		t.Fatalf("waits = %s (capped at MaxDelay)", got)
	}
}

func TestReadsDoNotRetryClientErrors(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			writeJSONReply(w, status, map[string]any{"message": "no"})
		})
		c, _ := newTestClient(t, f.URL)
		_, err := c.Account(context.Background(), testID)
		if err == nil || len(f.requests()) != 1 {
			t.Errorf("status %d: %d attempts (err %v)", status, len(f.requests()), err)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	httpDate := fixedNow.Add(9 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{{"7", 7 * time.Second}, {httpDate, 9 * time.Second}, {"garbage", 100 * time.Millisecond}, {"-3", 100 * time.Millisecond}} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", tc.header)
				writeJSONReply(w, 429, map[string]any{"message": "slow down"})
				return
			}
			_, _ = io.WriteString(w, detailBody)
		})
		c, sl := newTestClient(t, f.URL)
		if _, err := c.Account(context.Background(), testID); err != nil {
			t.Fatal(err)
		}
		if got := sl.all(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("Retry-After %q: waited %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestRetryAfterBeyondTheCapFailsAtOnce(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "45")
		writeJSONReply(w, 429, map[string]any{"message": "slow down"})
	})
	c, sl := newTestClient(t, f.URL, func(cfg *Config) { cfg.Retry.MaxRetryAfter = 30 * time.Second })
	_, err := c.Account(context.Background(), testID)
	me := mustKind(t, err, KindRateLimited)
	if me.RetryAfter != 45*time.Second || me.Hint() != "Mono is rate limiting us (429); retry in 45s." {
		t.Errorf("RetryAfter %v, hint %q", me.RetryAfter, me.Hint())
	}
	if len(f.requests()) != 1 || len(sl.all()) != 0 {
		t.Errorf("waited out a long Retry-After: %d attempts, sleeps %v", len(f.requests()), sl.all())
	}
}

func TestCancelDuringBackoffReturnsPromptly(t *testing.T) {
	first := make(chan struct{})
	var once sync.Once
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSONReply(w, 500, map[string]any{"message": "boom"})
		once.Do(func() { close(first) })
	})
	// The real sleep with an hour of backoff: only cancellation can end it.
	c, _ := newTestClient(t, f.URL, func(cfg *Config) {
		cfg.Retry = RetryPolicy{MaxAttempts: 3, BaseDelay: time.Hour, MaxDelay: time.Hour}
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-first
		cancel()
	}()
	_, err := c.Account(ctx, testID)
	mustKind(t, err, KindCanceled)
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d attempts", n)
	}
}

func TestTimeoutsAreNetworkErrors(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		<-r.Context().Done() // hang until the client gives up
	})
	c, _ := newTestClient(t, f.URL, func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
		cfg.Retry.MaxAttempts = 2
	})
	_, err := c.Account(context.Background(), testID)
	me := mustKind(t, err, KindNetwork)
	if me.Message != "timed out" || me.Hint() != "Could not reach Mono: timed out. Check the network and MONO_API_URL." {
		t.Errorf("message %q hint %q", me.Message, me.Hint())
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("a timed-out read was tried %d times, want 2", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c2, _ := newTestClient(t, f.URL)
	_, err = c2.Account(ctx, testID)
	mustKind(t, err, KindNetwork)
}

func TestConnectionRefusedIsNetwork(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {})
	url := f.URL
	f.Close()
	c, sl := newTestClient(t, url)
	_, err := c.Account(context.Background(), testID)
	me := mustKind(t, err, KindNetwork)
	if me.Hint() != "Could not reach Mono: connection refused. Check the network and MONO_API_URL." {
		t.Errorf("hint = %q", me.Hint())
	}
	if len(sl.all()) != 2 {
		t.Errorf("refused read retried %d times, want 2", len(sl.all()))
	}
}

func TestSync(t *testing.T) {
	cases := []struct {
		status int
		body   string
		code   string
		kind   ErrorKind
	}{
		{200, `{"status":"successful","code":"SYNC_SUCCESSFUL","message":"ok"}`, SyncSuccessful, KindUnknown},
		{400, `{"status":"failed","code":"REAUTHORISATION_REQUIRED","message":"reauth"}`, SyncReauthRequired, KindUnknown},
		{200, `{"status":"failed","data":{"code":"sync_error"}}`, SyncError, KindUnknown},
		{429, `{"message":"once every 2 minutes","code":"SYNC_ERROR"}`, "", KindRateLimited},
		{200, `{"status":"successful"}`, "", KindBadReply},
		{500, `{"message":"boom"}`, "", KindServer},
		{400, `{"message":"bad"}`, "", KindBadRequest},
	}
	for _, tc := range cases {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body)
		})
		c, _ := newTestClient(t, f.URL)
		res, err := c.Sync(context.Background(), testID)
		if tc.kind != KindUnknown {
			mustKind(t, err, tc.kind)
		} else if err != nil || res.Code != tc.code || res.Status != tc.status {
			t.Errorf("%d %s: result %+v err %v", tc.status, tc.body, res, err)
		}
		reqs := f.requests()
		if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/accounts/"+testID+"/sync" || len(reqs[0].Body) != 0 {
			t.Errorf("requests = %+v", reqs)
		}
	}
}

func TestKindOfAndStrings(t *testing.T) {
	if KindOf(nil) != KindUnknown || KindOf(errors.New("x")) != KindUnknown {
		t.Error("KindOf of foreign errors")
	}
	if KindOf(fmt.Errorf("wrapped: %w", context.Canceled)) != KindCanceled || KindOf(context.DeadlineExceeded) != KindNetwork {
		t.Error("KindOf of context errors")
	}
	wrapped := fmt.Errorf("loading: %w", &Error{Kind: KindForbidden, Status: 403})
	if KindOf(wrapped) != KindForbidden || !strings.HasPrefix(Hint(wrapped), "Mono says this secret key may not") {
		t.Errorf("wrapped: %v %q", KindOf(wrapped), Hint(wrapped))
	}
	names := map[string]bool{}
	for k := KindUnknown; k <= KindCanceled; k++ {
		s := k.String()
		if s == "" || strings.HasPrefix(s, "ErrorKind(") || names[s] {
			t.Errorf("kind %d has name %q", k, s)
		}
		names[s] = true
		if (&Error{Kind: k}).Hint() == "" {
			t.Errorf("kind %v has no hint", k)
		}
	}
	if ErrorKind(99).String() != "ErrorKind(99)" {
		t.Error("unknown kind name")
	}
	e := &Error{Kind: KindInvalidInput, Op: "mint reauth token", Message: "account id must be 24 hexadecimal characters (got 3 characters)"}
	if e.Hint() != "Account id must be 24 hexadecimal characters (got 3 characters)" {
		t.Errorf("hint = %q", e.Hint())
	}
	cause := errors.New("cause")
	if !errors.Is(&Error{Kind: KindNetwork, Err: cause}, cause) {
		t.Error("Unwrap")
	}
}

func TestParseRetryAfter(t *testing.T) {
	cases := map[string]time.Duration{
		"":   0,
		"0":  0,
		"3":  3 * time.Second,
		" 3": 3 * time.Second,
		fixedNow.Add(90 * time.Second).Format(http.TimeFormat):  90 * time.Second,
		fixedNow.Add(-90 * time.Second).Format(http.TimeFormat): 0,
		"99999999999": 24 * time.Hour,
		"soon":        0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, fixedNow); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDefaultJitterStaysInRange(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	for n := 1; n <= 8; n++ {
		full := min(p.BaseDelay<<(n-1), p.MaxDelay)
		for i := 0; i < 50; i++ {
			if d := p.backoff(n); d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, full/2, full)
			}
		}
	}
}

// Observe hears every attempt — retries included, and a transport failure as
// status 0 — with the op's fixed phrase, never the account id.
func TestObserveHearsEveryAttempt(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSONReply(w, http.StatusOK, map[string]any{"status": "successful", "data": map[string]any{
			"account": map[string]any{"id": "5f0000000000000000000001", "name": "A"}, "meta": map[string]any{"data_status": "AVAILABLE"}}})
	})
	type seenCall struct {
		op     string
		status int
	}
	var mu sync.Mutex
	var calls []seenCall
	c, _ := newTestClient(t, f.URL, func(cfg *Config) {
		cfg.Observe = func(op string, status int, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if took < 0 {
				t.Errorf("negative duration %v", took)
			}
			calls = append(calls, seenCall{op, status})
		}
	})
	if _, err := c.Account(context.Background(), "5f0000000000000000000001"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := c.Account(context.Background(), "5f0000000000000000000001"); err == nil {
		t.Fatal("a closed server answered")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []seenCall{{"get account", 503}, {"get account", 200}}
	if len(calls) < 3 || calls[0] != want[0] || calls[1] != want[1] || calls[2].status != 0 {
		t.Fatalf("observed %v, want %v then transport failures with status 0", calls, want)
	}
	for _, c := range calls {
		if strings.Contains(c.op, "5f00") {
			t.Errorf("op %q holds the account id", c.op)
		}
	}
}
