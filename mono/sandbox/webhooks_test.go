package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// hookBody is what a test needs from one of the sandbox's webhooks, decoded
// strictly from Mono's documented shapes.
type hookBody struct {
	Event      string
	EventID    string
	at         time.Time // timestamp; zero for the 2022 shape
	accountID  string
	SyncStatus string
	DataStatus string
	HasNewData bool
	JobStatus  string
}

func (h hookBody) kind() string {
	name := strings.TrimPrefix(strings.TrimPrefix(h.Event, "mono.events."), "mono.accounts.")
	switch {
	case h.Event == sandbox.EventAccountUpdated:
		return name + " " + h.SyncStatus
	case h.Event == sandbox.EventJobsUpdate:
		return name + " " + h.JobStatus
	case h.Event == sandbox.EventReauthRequired && h.EventID == "":
		return name + " 2022"
	case h.Event == sandbox.EventReauthRequired:
		return name + " 2026"
	}
	return name
}

func (h hookBody) needsReauth() bool {
	return h.Event == sandbox.EventReauthRequired || (h.Event == sandbox.EventAccountUpdated && h.SyncStatus == mono.SyncReauthRequired)
}

func decodeHook(t *testing.T, raw []byte) hookBody {
	t.Helper()
	var w struct {
		Event     string          `json:"event"`
		EventID   string          `json:"event_id"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatalf("webhook is not JSON: %v\n%s", err, raw)
	}
	h := hookBody{Event: w.Event, EventID: w.EventID}
	if w.Timestamp != "" {
		at, err := time.Parse(time.RFC3339Nano, w.Timestamp)
		if err != nil {
			t.Fatalf("timestamp %q: %v", w.Timestamp, err)
		}
		h.at = at
	}
	if w.Event == sandbox.EventJobsUpdate {
		var d struct{ Account, Status string }
		if err := json.Unmarshal(w.Data, &d); err != nil {
			t.Fatalf("jobs.update data: %v", err)
		}
		h.accountID, h.JobStatus = d.Account, d.Status
		return h
	}
	var d struct {
		Account struct {
			ID string `json:"_id"`
		} `json:"account"`
		Meta struct {
			DataStatus string `json:"data_status"`
			SyncStatus string `json:"sync_status"`
			HasNewData bool   `json:"has_new_data"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(w.Data, &d); err != nil {
		t.Fatalf("webhook data: %v\n%s", err, raw)
	}
	h.accountID, h.SyncStatus, h.DataStatus, h.HasNewData = d.Account.ID, d.Meta.SyncStatus, d.Meta.DataStatus, d.Meta.HasNewData
	if !mono.IsAccountID(h.accountID) {
		t.Fatalf("webhook without data.account._id: %s", raw)
	}
	return h
}

// keys lists every key path in a JSON document ("data.account._id"); an
// array's object elements add their keys under the array's path.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				set[p] = true
				walk(p, sub)
			}
		case []any:
			for _, el := range x {
				walk(prefix, el)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mono-samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func without(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(k string) bool { return slices.Contains(drop, k) })
}

func getRaw(t *testing.T, url string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("mono-sec-key", sandbox.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body
}

var syncKeys = []string{"sync_status", "sync_message", "last_synced_at", "syncStatus", "syncMessage", "lastSyncedAt"}

// The sandbox's account reads (list and detail) carry none of
// sync_status, sync_message, last_synced_at, whatever state the account is
// in: Mono sends none of them on reads. The detail has exactly the keys of
// Mono's documented reply (plus meta.ref, which Mono's field list names).
func TestReadsCarryNoSyncFields(t *testing.T) {
	clk := newClock()
	s, c := start(t, sandbox.Options{Accounts: 45, PageSize: 45, Now: clk.Now, ConfirmDelay: time.Second})
	// Every state: as generated, mid-reauth, reauthorised, marked again.
	toks := map[string]mono.Token{}
	for _, id := range scenarioIDs[:3] {
		tok, err := c.Reauthorise(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		toks[id] = tok
	}
	if _, err := s.CompleteReauth(toks[scenarioIDs[0]].Value); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteReauth(toks[scenarioIDs[1]].Value); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if _, err := s.CompleteReauth(toks[scenarioIDs[2]].Value); err != nil {
		t.Fatal(err)
	}
	s.MarkNeedsReauth(scenarioIDs[1], "the bank asked again")

	check := func(what string, raw []byte) {
		t.Helper()
		for _, k := range keys(t, raw) {
			last := k[strings.LastIndex(k, ".")+1:]
			if slices.Contains(syncKeys, last) {
				t.Errorf("%s carries %s", what, k)
			}
		}
		for _, k := range syncKeys {
			if bytes.Contains(raw, []byte(`"`+k+`"`)) {
				t.Errorf("%s mentions %q", what, k)
			}
		}
	}
	list := getRaw(t, s.URL()+"/v2/accounts?page=1")
	check("the list", list)
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(list, &page); err != nil || len(page.Data) != 45 {
		t.Fatalf("list: %v, %d items", err, len(page.Data))
	}
	wantItem := []string{"auth_method", "account_number", "balance", "bvn", "currency", "customer", "customer.email", "customer.id",
		"customer.name", "id", "institution", "institution.bank_code", "institution.id", "institution.name", "institution.type",
		"name", "status", "type"}
	sort.Strings(wantItem)
	for _, item := range page.Data {
		if got := keys(t, item); !slices.Equal(got, wantItem) {
			t.Fatalf("list item keys\n got %q\nwant %q", got, wantItem)
		}
	}
	wantDetail := keys(t, sample(t, "account-details.json"))
	for _, a := range listAll(t, c) {
		raw := getRaw(t, s.URL()+"/v2/accounts/"+a.ID)
		check("the detail of "+a.ID, raw)
		got := without(keys(t, raw), "data.meta.ref")
		if !slices.Equal(got, wantDetail) {
			t.Fatalf("detail keys of %s\n got %q\nwant %q (Mono's sample)", a.ID, got, wantDetail)
		}
	}
	// And through the client, nothing: no field is invented.
	for _, a := range listAll(t, c) {
		d, err := c.Account(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []mono.Account{a, d} {
			if x.SyncStatus != "" || x.SyncMessage != "" || !x.LastSyncedAt.IsZero() || x.NeedsReauth() {
				t.Fatalf("%s read with sync fields: %+v", a.ID, x)
			}
		}
	}
	// data_request_id and session_id are served, and a reauth starts new ones.
	ids := func(id string) (string, string) {
		var d struct {
			Data struct {
				Meta struct {
					DataRequestID string `json:"data_request_id"`
					SessionID     string `json:"session_id"`
				} `json:"meta"`
			} `json:"data"`
		}
		_ = json.Unmarshal(getRaw(t, s.URL()+"/v2/accounts/"+id), &d)
		return d.Data.Meta.DataRequestID, d.Data.Meta.SessionID
	}
	drq, sess := ids(scenarioIDs[4])
	if !strings.HasPrefix(drq, "DRQ") || len(drq) != 12 || !strings.HasPrefix(sess, "sess") || len(sess) != 20 {
		t.Errorf("data_request_id %q session_id %q", drq, sess)
	}
	if d2, s2 := ids(scenarioIDs[4]); d2 != drq || s2 != sess {
		t.Error("ids change between reads")
	}
	tok, err := c.Reauthorise(context.Background(), scenarioIDs[4+1])
	if err != nil {
		t.Fatal(err)
	}
	before, _ := ids(scenarioIDs[5])
	if _, err := s.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	if after, _ := ids(scenarioIDs[5]); after == before {
		t.Error("a reauth kept the data request id")
	}
}

// Every webhook the sandbox sends has exactly the keys of Mono's documented
// sample of that event (2026 shapes add event_id and timestamp at the top
// and data.app and data.business; the legacy reauthorisation_required has
// neither), and decodes with those shapes.
func TestWebhooksHaveMonosShapes(t *testing.T) {
	clk := newClock()
	s, c := start(t, sandbox.Options{Seed: 1, Now: clk.Now, ConfirmDelay: 5 * time.Second})
	tok, err := c.Reauthorise(context.Background(), scenarioIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)

	newer := []string{"event_id", "timestamp", "data.app", "data.business"}
	updated := keys(t, sample(t, "webhook-account-updated-reauth-required.json"))
	if !slices.Equal(updated, keys(t, sample(t, "webhook-account-updated-successful.json"))) {
		t.Fatal("Mono's two account_updated samples differ in keys")
	}
	legacy := keys(t, sample(t, "webhook-reauthorisation-required-2022.json"))
	want := map[string][]string{
		"account_updated REAUTHORISATION_REQUIRED": updated,
		"account_updated FAILED":                   updated,
		"account_updated SUCCESSFUL":               updated,
		"account_reauthorized":                     keys(t, sample(t, "webhook-account-reauthorized-2026.json")),
		"reauthorisation_required 2022":            legacy,
		"reauthorisation_required 2026":            slices.Sorted(slices.Values(append(slices.Clone(legacy), newer...))),
		// Mono's jobs.update sample is the older shape; the sandbox's is 2026.
		"jobs.update failed": slices.Sorted(slices.Values(append(keys(t, sample(t, "webhook-jobs-update-failed.json")), "event_id", "timestamp"))),
	}
	seen := map[string]int{}
	ids := map[string]bool{}
	for _, raw := range s.Webhooks() {
		h := decodeHook(t, raw)
		k := h.kind()
		seen[k]++
		w, ok := want[k]
		if !ok {
			t.Fatalf("unexpected webhook %s: %s", k, raw)
		}
		if got := keys(t, raw); !slices.Equal(got, w) {
			t.Fatalf("%s keys\n got %q\nwant %q\n%s", k, got, w, raw)
		}
		if h.EventID != "" {
			if ids[h.EventID] || len(h.EventID) != 16 {
				t.Fatalf("event_id %q repeated or malformed", h.EventID)
			}
			ids[h.EventID] = true
		}
		if k != "reauthorisation_required 2022" && (h.at.IsZero() || h.at.After(clk.Now())) {
			t.Fatalf("%s timestamp %v, want before %v", k, h.at, clk.Now())
		}
	}
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("no %s webhook sent (sent %v)", k, seen)
		}
	}
	// Values follow Mono's casing: the wire types and the trap.
	var sampleUpdated, ours map[string]any
	_ = json.Unmarshal(sample(t, "webhook-account-updated-reauth-required.json"), &sampleUpdated)
	for _, raw := range s.ScenarioWebhooks() {
		if decodeHook(t, raw).accountID == scenarioIDs[0] {
			_ = json.Unmarshal(raw, &ours)
		}
	}
	typesOf := func(v any, path ...string) string {
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		switch v.(type) {
		case string:
			return "string"
		case float64:
			return "number"
		case bool:
			return "bool"
		case []any:
			return "array"
		}
		return "other"
	}
	for _, path := range [][]string{{"data", "account", "balance"}, {"data", "meta", "has_new_data"}, {"data", "meta", "retrieved_data"},
		{"data", "account", "created_at"}, {"timestamp"}, {"data", "meta", "sync_status"}} {
		if a, b := typesOf(ours, path...), typesOf(sampleUpdated, path...); a != b {
			t.Errorf("%v is a %s, Mono's sample has a %s", path, a, b)
		}
	}
	meta := ours["data"].(map[string]any)["meta"].(map[string]any)
	if meta["data_status"] != "AVAILABLE" || meta["sync_status"] != "REAUTHORISATION_REQUIRED" {
		t.Errorf("the succeeds scenario should show the trap (AVAILABLE with REAUTHORISATION_REQUIRED): %v", meta)
	}
}

// Each scenario account that needs reauth gets its reason through Mono's
// webhook, in the scenario order; the balance-only one gets none.
func TestScenarioWebhooks(t *testing.T) {
	s, _ := start(t, sandbox.Options{Accounts: 10})
	hooks := s.ScenarioWebhooks()
	if len(hooks) != 6 {
		t.Fatalf("%d scenario webhooks, want 6", len(hooks))
	}
	for i, raw := range hooks {
		h := decodeHook(t, raw)
		if h.accountID != scenarioIDs[i] || !h.needsReauth() || h.EventID == "" || h.at.IsZero() || !h.at.Before(t0) {
			t.Errorf("scenario %d webhook %+v", i, h)
		}
	}
	if k := decodeHook(t, hooks[1]).kind(); k != "reauthorisation_required 2026" {
		t.Errorf("wrong-OTP scenario's webhook is %s", k)
	}
	// The same webhooks are in the backlog Webhooks returns (the others are
	// ordinary accounts').
	all := s.Webhooks()
	for _, raw := range hooks {
		if !slices.ContainsFunc(all, func(b []byte) bool { return bytes.Equal(b, raw) }) {
			t.Errorf("scenario webhook missing from Webhooks: %s", raw)
		}
	}
	// Deterministic: another sandbox with the same seed and clock sends the
	// same bytes.
	s2, _ := start(t, sandbox.Options{Accounts: 10})
	for i, raw := range s2.ScenarioWebhooks() {
		if !bytes.Equal(raw, hooks[i]) {
			t.Errorf("scenario webhook %d differs between runs", i)
		}
	}
}

// Options.Webhooks gets the backlog first, then, in order,
// account_reauthorized at a completed reauth and account_updated SUCCESSFUL
// ConfirmDelay later; Close stops it.
func TestOptionsWebhooksPushesInOrder(t *testing.T) {
	var mu sync.Mutex
	var got []hookBody
	arrived := make(chan struct{}, 1000)
	s, c := start(t, sandbox.Options{Accounts: 30, ConfirmDelay: 150 * time.Millisecond, Webhooks: func(ctx context.Context, payload []byte) {
		h := decodeHook(t, payload)
		mu.Lock()
		got = append(got, h)
		mu.Unlock()
		arrived <- struct{}{}
	}})
	backlog := len(s.Webhooks())
	waitFor := func(n int) []hookBody {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			mu.Lock()
			if len(got) >= n {
				out := slices.Clone(got)
				mu.Unlock()
				return out
			}
			mu.Unlock()
			select {
			case <-arrived:
			case <-deadline:
				t.Fatalf("only %d of %d webhooks pushed", len(got), n)
			}
		}
	}
	first := waitFor(backlog)
	for i := 1; i < len(first); i++ {
		if first[i].at.Before(first[i-1].at) && !first[i].at.IsZero() && !first[i-1].at.IsZero() {
			t.Fatalf("backlog not oldest first at %d", i)
		}
	}
	tok, err := c.Reauthorise(context.Background(), scenarioIDs[3])
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := s.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	h := waitFor(backlog + 2)[backlog:]
	if h[0].Event != sandbox.EventReauthorized || h[1].Event != sandbox.EventAccountUpdated || h[1].SyncStatus != mono.SyncStatusSuccessful ||
		h[0].accountID != scenarioIDs[3] || h[1].accountID != scenarioIDs[3] {
		t.Fatalf("pushed %+v", h)
	}
	if took := time.Since(began); took < 150*time.Millisecond {
		t.Errorf("account_updated pushed after %v, before ConfirmDelay", took)
	}
	if n := len(s.Webhooks()); n != backlog+2 {
		t.Errorf("Webhooks has %d, want %d", n, backlog+2)
	}
}

// Close ends a pusher blocked in a slow receiver.
func TestCloseStopsTheWebhookPusher(t *testing.T) {
	entered := make(chan struct{}, 1)
	s := sandbox.New(sandbox.Options{Accounts: 10, Now: newClock().Now, Webhooks: func(ctx context.Context, payload []byte) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
	}})
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing pushed")
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited on the receiver")
	}
}

// The sandbox's banks are each listed once, and every account's bank is one
// of them, named the same way.
func TestInstitutionsAreListedOnce(t *testing.T) {
	insts := sandbox.Institutions()
	if len(insts) < 10 {
		t.Fatalf("%d institutions", len(insts))
	}
	ids, names, codes := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, in := range insts {
		n := strings.ToLower(in.Name)
		if ids[in.ID] || names[n] || codes[in.BankCode] || !mono.IsAccountID(in.ID) {
			t.Errorf("duplicate or malformed institution %+v", in)
		}
		ids[in.ID], names[n], codes[in.BankCode] = true, true, true
	}
	for _, a := range sandbox.Generate(1, 600) {
		if !slices.Contains(insts, a.Institution) {
			t.Fatalf("%s is at %+v, not a listed institution", a.ID, a.Institution)
		}
	}
	// Balance-only: OPay's accounts never read AVAILABLE and give only the
	// balance.
	n := 0
	for _, a := range sandbox.Generate(1, 2000)[12:] {
		if a.Institution.Name == "OPay" {
			n++
			if a.DataStatus == mono.StatusAvailable || (a.DataStatus != mono.StatusProcessing && !slices.Equal(a.RetrievedData, []string{"balance"})) {
				t.Fatalf("OPay account %+v", a)
			}
		}
	}
	if n == 0 {
		t.Error("no OPay accounts")
	}
}
