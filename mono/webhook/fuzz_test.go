package webhook

import (
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
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			return
		}
		for _, s := range []string{ev.ID, ev.Name, ev.AccountID, string(ev.DataStatus), ev.SyncStatus} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
				t.Fatalf("Parse(%q) kept control characters: %q", body, s)
			}
		}
	})
}
