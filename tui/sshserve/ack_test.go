package sshserve

import (
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
)

// What the customer's page is told was taken is in the audit: the answer
// to an outcome post (here the success) comes after the agent's program
// has written its records, so a crash of the server right after the 204
// loses nothing the page will not send again. Read at once, no waiting.
// On both stores: the JSON-lines file and SQLite.
func TestAnOutcomeIsRecordedBeforeThePageIsAnswered(t *testing.T) {
	for _, db := range []string{"", "sqlite"} {
		t.Run("store="+map[string]string{"": "file", "sqlite": "sqlite"}[db], func(t *testing.T) {
			f := newFixture(t, fixtureOpts{agents: []string{"ada"}, database: db, resumeGrace: time.Minute})
			ada := f.open("ada", termOpts{width: 120, height: 40})
			pageURL := openPage(t, ada, "okonkwo", "Adaeze Okonkwo")
			adaFP := gossh.FingerprintSHA256(f.keys["ada"].PublicKey())
			postEvent(t, pageURL, 1, "load", "", nil)
			postEvent(t, pageURL, 2, "event", "ERROR", map[string]any{"errorType": "INVALID_OTP", "errorMessage": "marker-ack-error"})
			if !hasRecord(f.auditOf(adaFP).records(), func(r audit.Record) bool {
				return r.Action == audit.ActionWidgetEvent && containsAll(r.Event+" "+r.Detail, "marker-ack-error")
			}) {
				t.Fatal("the page was answered for the ERROR before it was in the audit")
			}
			postEvent(t, pageURL, 3, "success", "", map[string]any{"code": "code_ack_test"})
			if !hasRecord(f.auditOf(adaFP).records(), func(r audit.Record) bool {
				return r.Action == audit.ActionOutcome && r.Outcome == "SUCCEEDED"
			}) {
				t.Fatal("the page was answered for the success before the outcome was in the audit")
			}
		})
	}
}

func hasRecord(recs []audit.Record, want func(audit.Record) bool) bool {
	for _, r := range recs {
		if want(r) {
			return true
		}
	}
	return false
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
