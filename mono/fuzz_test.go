package mono

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// hasControl reports anything a terminal could act on, line breaks included
// (U+0085 is a C1 control; U+2028 and U+2029 are checked by name).
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidiControl(r) || r == 0x2028 || r == 0x2029 {
			return true
		}
	}
	return !utf8.ValidString(s)
}

func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]52;c;aGVsbG8=\x07copy", "\x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\",
		"\x1b[2J\x1b[Hclear", "\x9b31mC1", "a\u202eb", "bad \xff utf8", "tab\tnew\nline", "\x1bP1$r\x1b\\dcs", "Ọ̀kọ́",
		"line\u2028sep", "para\u2029sep", "next\u0085line", "raw\x85nel", "\u2028\u2029\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := CleanText(in)
		if hasControl(out) {
			t.Fatalf("CleanText(%q) = %q keeps a control character", in, out)
		}
		if again := CleanText(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", in, out, again)
		}
	})
}

// fixedReply answers every request with the same status and body.
type fixedReply struct {
	status int
	body   []byte
}

func (f fixedReply) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: f.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(f.body)), Request: r}, nil
}

const fuzzKey = "test_sk_fuzzing"

// Any reply from any endpoint decodes to a clean value or a clean error:
// never a panic, never a control character, never the secret key.
func FuzzReplies(f *testing.F) {
	seeds := []string{
		`{"status":"successful","data":[{"id":"65f1c0ffee0000000000abcd","name":"Ada","account_number":"0123456789","institution":{"name":"GTBank"},"customer":{"name":"Ada","email":"a@b"}}],"meta":{"total":1,"pages":1,"next":null}}`,
		`{"status":"successful","data":{"account":{"id":"65f1c0ffee0000000000abcd","name":"\u001b]52;c;x\u0007Ada"},"customer":{"id":"x"},"meta":{"data_status":"failed","auth_method":"mobile_banking","retrieved_data":["balance"]}}}`,
		`{"token":"VwxcfeLRZvq1UlD5WiuN"}`, `{"message":"This account can not be re-authorised."}`,
		`{"status":"failed","message":"bad key test_sk_fuzzing","data":null}`, `{"data":{"mono_url":"https://link.mono.co/x"}}`,
		`<html>502</html>`, `{"data":[`, `{"meta":{"next":"https://evil.example/v2/accounts?page=2"},"data":[]}`, `null`, `[]`, `{"balance":"12.5e3"}`,
	}
	for i, s := range seeds {
		f.Add(s, uint16([]int{200, 200, 200, 200, 401, 200, 502, 200, 200, 200, 429, 200}[i]))
	}
	f.Fuzz(func(t *testing.T, body string, status uint16) {
		code := 200 + int(status)%400 // 200..599
		c, err := NewClient(Config{BaseURL: "http://127.0.0.1:1", SecretKey: fuzzKey,
			HTTPClient: &http.Client{Transport: fixedReply{status: code, body: []byte(body)}},
			Retry:      RetryPolicy{MaxAttempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		id := "65f1c0ffee0000000000abcd"
		check := func(what string, strs []string, err error) {
			if err != nil {
				msg := err.Error() + " " + Hint(err)
				if hasControl(msg) || strings.Contains(msg, fuzzKey) {
					t.Fatalf("%s: unsafe error %q", what, msg)
				}
			}
			for _, s := range strs {
				if hasControl(s) || strings.Contains(s, fuzzKey) {
					t.Fatalf("%s: unsafe value %q", what, s)
				}
			}
		}
		accountStrings := func(a Account) []string {
			return append([]string{a.ID, a.Name, a.AccountNumber, a.Currency, a.Type, a.BVN, a.AuthMethod, string(a.DataStatus),
				a.Institution.ID, a.Institution.Name, a.Institution.BankCode, a.Institution.Type, a.Customer.ID, a.Customer.Name,
				a.Customer.Email, a.SyncStatus, a.SyncMessage}, a.RetrievedData...)
		}
		pages := 0
		for page, err := range c.Accounts(ctx) {
			var strs []string
			for _, a := range page.Accounts {
				strs = append(strs, accountStrings(a)...)
			}
			check("accounts", strs, err)
			if pages++; pages > 3 || err != nil {
				break
			}
		}
		a, err := c.Account(ctx, id)
		check("account", accountStrings(a), err)
		tok, err := c.Reauthorise(ctx, id)
		check("reauthorise", []string{tok.AccountID}, err)
		if err == nil && (tok.Value == "" || tok.ExpiresAt.Sub(tok.MintedAt) != TokenLifetime) {
			t.Fatalf("token without value or wrong lifetime: %v", tok)
		}
		u, err := c.InitiateReauth(ctx, id, "ref-1", "https://example.com/done")
		check("initiate", []string{u}, err)
	})
}
