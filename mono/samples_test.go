package mono

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleAccountID is the account in Mono's samples (testdata/, copied from
// the project's shared mono-samples).
const sampleAccountID = "6650f0c2a1b2c3d4e5f60718"

func readSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serveBody is a fake Mono answering every request with status and body.
func serveBody(t *testing.T, status int, body string) *fakeMono {
	t.Helper()
	return newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// GET /v2/accounts/{id} exactly as Mono documents it: no sync_status,
// sync_message or last_synced_at anywhere (Mono sends them on no read),
// and data.meta carries data_request_id and session_id, what Mono support
// asks for. It decodes cleanly: the sync fields are empty, nothing claims
// the account needs reauth, and the support handles are kept.
func TestAccountDetailSampleDecodes(t *testing.T) {
	f := serveBody(t, 200, readSample(t, "account-details.json"))
	c, _ := newTestClient(t, f.URL)
	a, err := c.Account(context.Background(), sampleAccountID)
	if err != nil {
		t.Fatalf("the documented reply did not decode: %v", err)
	}
	want := Account{
		ID: sampleAccountID, Name: "ADAORA NKEM OBI", AccountNumber: "0123456789", Currency: "NGN", Balance: 4852000,
		Type: "SAVINGS ACCOUNT", BVN: "1234", AuthMethod: AuthInternetBanking, DataStatus: StatusAvailable,
		Institution:   Institution{Name: "GTBank", BankCode: "058", Type: "PERSONAL_BANKING"},
		Customer:      Customer{ID: "6650f0a9a1b2c3d4e5f60701"},
		RetrievedData: []string{"identity", "balance", "transactions"},
		DataRequestID: "DRQ5XK2M9PAB",
		SessionID:     "sess7Hq2LmN4pR8tV1wY",
	}
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", want) {
		t.Errorf("account =\n %+v\nwant\n %+v", a, want)
	}
	if a.SyncStatus != "" || a.SyncMessage != "" || !a.LastSyncedAt.IsZero() || a.NeedsReauth() {
		t.Errorf("a read without sync fields produced sync evidence: %q %q %v needs=%v", a.SyncStatus, a.SyncMessage, a.LastSyncedAt, a.NeedsReauth())
	}
	checkHeaders(t, f.requests()[0])
}

// The sync and support fields are each optional, whatever else the reply
// holds: absent, null, empty or an odd type decodes, and what is present is
// used (cleaned).
func TestAccountReadOptionalFields(t *testing.T) {
	const head = `{"status":"successful","data":{"account":{"id":"` + sampleAccountID + `","name":"ADA"},"meta":`
	cases := []struct {
		name                         string
		meta                         string
		dataRequest, session, syncSt string
		synced                       time.Time
	}{
		{"no meta at all", `null`, "", "", "", time.Time{}},
		{"empty meta", `{}`, "", "", "", time.Time{}},
		{"nulls", `{"data_request_id":null,"session_id":null,"sync_status":null,"sync_message":null,"last_synced_at":null}`, "", "", "", time.Time{}},
		{"odd types", `{"data_request_id":{"x":1},"session_id":[1],"last_synced_at":"yesterday"}`, "", "", "", time.Time{}},
		{"numbers", `{"data_request_id":12345,"session_id":678}`, "12345", "678", "", time.Time{}},
		{"camelCase", `{"dataRequestId":"DRQ1","sessionId":"sess1"}`, "DRQ1", "sess1", "", time.Time{}},
		{"escapes cleaned", `{"data_request_id":"DRQ\u001b]52;c;aGk=\u0007X","session_id":" sess\u202e2 "}`, "DRQX", "sess2", "", time.Time{}},
		{"sync fields used when present", `{"data_request_id":"DRQ2","sync_status":"reauthorisation_required","last_synced_at":"2026-03-01T08:00:00Z"}`,
			"DRQ2", "", SyncReauthRequired, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := serveBody(t, 200, head+tc.meta+`}}`)
			c, _ := newTestClient(t, f.URL)
			a, err := c.Account(context.Background(), sampleAccountID)
			if err != nil {
				t.Fatal(err)
			}
			if a.DataRequestID != tc.dataRequest || a.SessionID != tc.session || a.SyncStatus != tc.syncSt || !a.LastSyncedAt.Equal(tc.synced) {
				t.Errorf("got data_request_id %q session_id %q sync_status %q last_synced_at %v", a.DataRequestID, a.SessionID, a.SyncStatus, a.LastSyncedAt)
			}
		})
	}
}

// A list item never carries the support handles; when one does (in its
// own meta) it is read the same way.
func TestAccountsListItemSupportFields(t *testing.T) {
	body := `{"status":"successful","data":[{"id":"` + sampleAccountID + `","name":"ADA","status":"AVAILABLE"},` +
		`{"id":"` + hexID(2) + `","name":"BAYO","meta":{"data_request_id":"DRQ9","session_id":"s9"}}],` +
		`"meta":{"total":2,"pages":1,"next":null}}`
	f := serveBody(t, 200, body)
	c, _ := newTestClient(t, f.URL)
	var got []Account
	for page, err := range c.Accounts(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Accounts...)
	}
	if len(got) != 2 || got[0].DataRequestID != "" || got[0].SessionID != "" || got[1].DataRequestID != "DRQ9" || got[1].SessionID != "s9" {
		t.Errorf("accounts = %+v", got)
	}
}

// Mono's sample reply to POST /v2/accounts/initiate (with its extra
// customer, account, scope and created_at fields) gives its mono_url.
func TestInitiateReauthSample(t *testing.T) {
	f := serveBody(t, 200, readSample(t, "initiate-reauth.json"))
	c, _ := newTestClient(t, f.URL)
	link, err := c.InitiateReauth(context.Background(), sampleAccountID, "reauth-7f3a91", "https://support.example.com/reauth/done")
	if err != nil || link != "https://link.mono.co/ALTAYGCOV" {
		t.Fatalf("link %q err %v", link, err)
	}
}

// A 402 is Mono's "request failed" (live calls are billed from a wallet):
// its own kind and a hint that points at billing, with Mono's message, on
// every endpoint; not the generic "Mono refused the request", and never
// retried (the read gives up at once, the mint is sent once).
func TestPaymentRequiredHasItsOwnKindAndHint(t *testing.T) {
	const body = `{"status":"failed","message":"Insufficient wallet balance.","timestamp":"2026-03-02T10:14:05.113Z","data":null}`
	const hint = "Mono refused the request as unpaid (402): check your Mono wallet/billing. Mono said: Insufficient wallet balance."
	calls := []struct {
		op   string
		call func(c *Client) error
	}{
		{"get account", func(c *Client) error { _, err := c.Account(context.Background(), sampleAccountID); return err }},
		{"mint reauth token", func(c *Client) error { _, err := c.Reauthorise(context.Background(), sampleAccountID); return err }},
		{"initiate reauth", func(c *Client) error {
			_, err := c.InitiateReauth(context.Background(), sampleAccountID, "r1", "https://example.com/done")
			return err
		}},
		{"sync account", func(c *Client) error { _, err := c.Sync(context.Background(), sampleAccountID); return err }},
		{"list accounts", func(c *Client) error {
			for _, err := range c.Accounts(context.Background()) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range calls {
		t.Run(tc.op, func(t *testing.T) {
			f := serveBody(t, http.StatusPaymentRequired, body)
			c, sl := newTestClient(t, f.URL)
			err := tc.call(c)
			if KindOf(err) != KindPaymentRequired {
				t.Fatalf("KindOf = %v (%v), want payment required", KindOf(err), err)
			}
			if got := Hint(err); got != hint {
				t.Errorf("hint = %q\nwant   %q", got, hint)
			}
			if want := "mono: " + tc.op + ": payment required (402): Insufficient wallet balance."; err.Error() != want {
				t.Errorf("Error() = %q\nwant      %q", err.Error(), want)
			}
			if n := len(f.requests()); n != 1 || len(sl.all()) != 0 {
				t.Errorf("%d requests, %d backoff waits: a 402 was retried", n, len(sl.all()))
			}
		})
	}

	// Without Mono's message the hint still points at billing; an *Error
	// made with the kind itself reads the same.
	for _, e := range []*Error{{Kind: KindBadRequest, Status: 402}, {Kind: KindPaymentRequired, Status: 402}, {Kind: KindPaymentRequired}} {
		if got := e.Hint(); got != "Mono refused the request as unpaid (402): check your Mono wallet/billing." {
			t.Errorf("%+v: hint %q", e, got)
		}
		if KindOf(e) != KindPaymentRequired || !strings.Contains(e.Error(), "payment required") {
			t.Errorf("%+v: kind %v, %q", e, KindOf(e), e.Error())
		}
	}
	// Other 4xx keep the generic hint.
	if got := (&Error{Kind: KindBadRequest, Status: 422}).Hint(); got != "Mono refused the request (422)." {
		t.Errorf("422 hint = %q", got)
	}
	if KindPaymentRequired.String() != "payment required" {
		t.Errorf("name %q", KindPaymentRequired.String())
	}
}
