package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"testing"
)

// Event ids are compared exactly as sent. Cleaning used to come first, so
// ids differing only in control characters, escapes or spaces around them
// collided: the second was answered "duplicate" and never fed in. Each is
// now its own event (and a retry of each is still a duplicate, across a
// restart too); people and the marks see only the cleaned id, and the store
// file holds no control character.
func TestEventIDsDifferingOnlyInControlCharactersAreDistinct(t *testing.T) {
	r := newReceiver(t)
	ids := []string{ // as JSON string literals
		`"evt-1"`,
		`"evt\u001b[0m-1"`,
		`"evt\u0007-1"`,
		`"evt-1\u2028"`,
		`" evt-1"`,
		`"evt\u009b-1"`,
		`"evt\u202e-1"`,
	}
	body := func(i int) string {
		return fmt.Sprintf(`{"event":"mono.events.reauthorisation_required","event_id":%s,"data":{"account":{"_id":"acc-%d"}}}`, ids[i], i)
	}
	for i := range ids {
		if got := r.post(ptr(secret), body(i)); got != http.StatusOK {
			t.Fatalf("id %s: status %d", ids[i], got)
		}
	}
	evs := r.got()
	if len(evs) != len(ids) {
		t.Fatalf("%d of %d distinct ids were fed in: ids that differ only in control characters collided", len(evs), len(ids))
	}
	for i, ev := range evs {
		if ev.ID != "evt-1" || ev.AccountID != fmt.Sprintf("acc-%d", i) {
			t.Errorf("event %d: ID %q account %q, want the cleaned id evt-1", i, ev.ID, ev.AccountID)
		}
	}
	marks := r.store.Marked()
	for i := range ids {
		if m := marks[fmt.Sprintf("acc-%d", i)]; m.EventID != "evt-1" {
			t.Errorf("mark %d: %+v, want event id evt-1", i, m)
		}
	}

	// Mono retrying each: duplicates, before and after a restart.
	for i := range ids {
		r.post(ptr(secret), body(i))
	}
	if n := len(r.got()); n != len(ids) {
		t.Fatalf("retries fed in again: %d events", n)
	}
	reopened, err := OpenStore(r.path)
	if err != nil {
		t.Fatal(err)
	}
	r2 := serve(t, reopened, r.path)
	for i := range ids {
		if got := r2.post(ptr(secret), body(i)); got != http.StatusOK {
			t.Fatalf("after restart, id %s: status %d", ids[i], got)
		}
	}
	if n := len(r2.got()); n != 0 {
		t.Errorf("after a restart %d retried deliveries were fed in again", n)
	}
	if !reopened.Seen("evt-1") || !reopened.Seen("evt\x1b[0m-1") || reopened.Seen("evt\x1b[1m-1") {
		t.Error("Seen does not go by the id as sent")
	}

	data, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e", "\u2028", `\u001b`, `\u0007`, `\u2028`} {
		if bytes.Contains(data, []byte(bad)) {
			t.Errorf("store file holds %q:\n%s", bad, data)
		}
	}
}
