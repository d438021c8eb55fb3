package mono

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A server that echoes the secret key back everywhere it can (message,
// body, headers, redirect target) gets it back from no error, hint or log
// line, for every endpoint and every kind of reply.
func TestErrorsAndLogsNeverCarryTheKey(t *testing.T) {
	const key = "test_sk_echoed_0123456789abcdef"
	type reply struct {
		status int
		body   string // %s is the key the request carried
	}
	replies := []reply{
		{200, `{"status":"failed","message":"key %s is fine but no data"}`},
		{200, `<html>%s</html>`},
		{200, `{"data":{"mono_url":"https://link.mono.co/%s"}}`},
		{302, `{"message":"moved %s"}`},
		{400, `{"status":"failed","message":"bad request for %s","data":null}`},
		{401, `{"message":"Invalid secret key %s"}`},
		{403, `{"message":"%s may not do that"}`},
		{404, `{"message":"no account for %s"}`},
		{409, `{"message":"conflict %s"}`},
		{422, `{"message":["%s","again %s"]}`},
		{429, `{"message":"slow down %s"}`},
		{500, `{"message":"stack trace mentions %s"}`},
		{502, `<html><body>bad gateway for %s</body></html>`},
		{503, `{"status":"failed","message":"%s","data":null}`},
	}
	for _, rp := range replies {
		t.Run(fmt.Sprint(rp.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got := r.Header.Get("mono-sec-key")
				w.Header().Set("Retry-After", got)
				w.Header().Set("X-Echo", got)
				w.Header().Set("Location", "http://127.0.0.1:1/"+got)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(rp.status)
				fmt.Fprintf(w, strings.ReplaceAll(rp.body, "%s", "%[1]s"), got)
			}))
			defer srv.Close()
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c, err := NewClient(Config{BaseURL: srv.URL, SecretKey: key, Logger: logger,
				Retry: RetryPolicy{MaxAttempts: 2, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			id := "65f1c0ffee0000000000abcd"
			var errs []error
			for _, err := range c.Accounts(ctx) {
				if err != nil {
					errs = append(errs, err)
				}
			}
			_, err = c.Account(ctx, id)
			errs = append(errs, err)
			_, err = c.Reauthorise(ctx, id)
			errs = append(errs, err)
			_, err = c.InitiateReauth(ctx, id, "ref", "https://example.com/done")
			errs = append(errs, err)
			_, err = c.Sync(ctx, id)
			errs = append(errs, err)
			failures := 0
			for _, err := range errs {
				if err == nil {
					continue
				}
				failures++
				for _, s := range []string{err.Error(), Hint(err), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)} {
					if strings.Contains(s, key) {
						t.Fatalf("error text carries the key: %q", s)
					}
				}
			}
			if failures == 0 {
				t.Fatal("no call failed: the echo never reached an error")
			}
			if strings.Contains(logs.String(), key) {
				t.Fatalf("the log carries the key:\n%s", logs.String())
			}
		})
	}
}
