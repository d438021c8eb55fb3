package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// Any payload parses to a clean event or an error: no panic, and no string
// that could drive a terminal.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		string(Payload(ReauthRequired, "65f1c0ffee0000000000abcd", "evt-1")),
		string(Payload(AccountUpdated, "65f1c0ffee0000000000abcd", "evt-2", Meta{DataStatus: "AVAILABLE", SyncStatus: "REAUTHORISATION_REQUIRED"})),
		`{"event":"mono.events.account_reauthorized","data":{"account":"65f1c0ffee0000000000abcd","event_id":12}}`,
		`{"event":"mono.events.sync_failed","data":{"account":{"_id":"\u001b]52;c;x\u0007"}}}`,
		`{"event":null}`, `[]`, `{"event":"x","data":{"account":{"id":7}}}`, `not json`,
		`{"event":"mono.accounts.jobs.update","timestamp":"2026-03-02T06:40:12.004Z","data":{"account":"a1","status":"failed\u001b[2J","id":1}}`,
		`{"event":"mono.events.account_updated","data":{"account":{"_id":"a1"},"meta":{"data_request_id":"\u009b31m","session_id":[]}}}`,
	} {
		f.Add([]byte(s))
	}
	if samples, err := filepath.Glob(filepath.Join("testdata", "webhook-*.json")); err == nil {
		for _, name := range samples {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			return
		}
		for _, s := range []string{ev.ID, ev.Name, ev.AccountID, string(ev.DataStatus), ev.SyncStatus,
			ev.JobStatus, ev.JobID, ev.JobName, ev.DataRequestID, ev.SessionID, ev.App, ev.Business} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
				t.Fatalf("Parse(%q) kept control characters: %q", body, s)
			}
		}
	})
}
