package app

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// The hand-over endpoint hands out a live attempt's secrets (its token, its
// page's secret): only a request signed with the database's cluster key, and
// recent, gets past the door; anything else is refused before any attempt
// is looked at.
func TestHandoverRefusesUnsignedStaleOrForeignRequests(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h := &handovers{rt: &Runtime{env: &Env{ReplicaID: "r1"}}, key: key}
	body := []byte(`{"agent":"SHA256:abc","to":"r2"}`)
	signed := func(at time.Time, k []byte, b []byte) string {
		ts := strconv.FormatInt(at.Unix(), 10)
		return ts + "." + sign(k, ts, b)
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		auth   string
		body   []byte
		method string
		want   int
	}{
		{"no signature", "", body, http.MethodPost, http.StatusForbidden},
		{"garbage", "not-a-signature", body, http.MethodPost, http.StatusForbidden},
		{"another key", signed(now, bytes.Repeat([]byte{8}, 32), body), body, http.MethodPost, http.StatusForbidden},
		{"signed for another body", signed(now, key, []byte(`{"agent":"SHA256:other","to":"r2"}`)), body, http.MethodPost, http.StatusForbidden},
		{"replayed a minute later", signed(now.Add(-time.Minute), key, body), body, http.MethodPost, http.StatusForbidden},
		{"from the future", signed(now.Add(time.Minute), key, body), body, http.MethodPost, http.StatusForbidden},
		{"asks for itself", signed(now, key, []byte(`{"agent":"SHA256:abc","to":"r1"}`)), []byte(`{"agent":"SHA256:abc","to":"r1"}`), http.MethodPost, http.StatusBadRequest},
		{"not a post", signed(now, key, body), body, http.MethodGet, http.StatusNotFound},
		// Signed and fresh: past the door; this replica serves no SSH, so
		// nothing is parked here.
		{"signed", signed(now, key, body), body, http.MethodPost, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, handoverPath, bytes.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set(authHeader, tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("got %d %q, want %d", rec.Code, rec.Body.String(), tc.want)
			}
		})
	}
}
