package claim_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/claim"
	"github.com/reauth/reauth/state/audit"
)

// The new fields are in the entry only when they say something: a claim
// outside replicas, connected, taken from nobody's replica, is written as
// before (older readers and stored rows stay alike).
func TestClaimJSONOmitsUnsetReplicaAndParked(t *testing.T) {
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	c := claim.Claim{Account: "acc1", Holder: audit.Agent{User: "ada"}, Attempt: "a1", Since: at, Updated: at,
		From: &claim.Taken{Holder: audit.Agent{User: "bola"}, Attempt: "b1", At: at, LastSeen: at}}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"replica"`, `"parked"`, `"interrupted"`} {
		if strings.Contains(string(raw), key) {
			t.Errorf("%s in %s", key, raw)
		}
	}
	c.Replica, c.Parked = "r1", at.Add(time.Minute)
	c.From.Interrupted, c.From.Replica = true, "r0"
	raw, err = json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back claim.Claim
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Replica != "r1" || !back.Parked.Equal(c.Parked) || !back.From.Interrupted || back.From.Replica != "r0" {
		t.Fatalf("round trip of %s: %+v from %+v", raw, back, back.From)
	}
}
