package webhook

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// sampleAcc is the account in Mono's samples (testdata/webhook-*.json,
// copied from the project's shared mono-samples).
const sampleAcc = "6650f0c2a1b2c3d4e5f60718"

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func iso(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at.UTC()
}

// Each of Mono's samples, 2022 and 2026 shapes, decodes to the event it
// documents and says what it should about the account.
func TestMonoSamplesDecode(t *testing.T) {
	const app, business = "6601a2b3c4d5e6f708192a3b", "65ff0e1d2c3b4a5968778695"
	cases := []struct {
		file   string
		want   Event
		marks  MarkKind // "" for none
		clears bool
	}{
		{"webhook-reauthorisation-required-2022.json",
			Event{Kind: ReauthRequired, AccountID: sampleAcc}, MarkReauthRequired, false},
		{"webhook-account-reauthorized-2026.json",
			Event{Kind: Reauthorized, ID: "klB7c2Qx9TfR4mZp", AccountID: sampleAcc, At: iso(t, "2026-01-27T21:00:38.850Z"),
				App: app, Business: business}, "", true},
		{"webhook-account-updated-reauth-required.json",
			Event{Kind: AccountUpdated, ID: "Vn3pQ8sLk2Hd6wXa", AccountID: sampleAcc, At: iso(t, "2026-03-02T06:40:12.004Z"),
				DataStatus: mono.StatusAvailable, SyncStatus: mono.SyncReauthRequired, JobID: "job_9dK2mQ7xP4",
				App: app, Business: business}, MarkReauthRequired, false},
		{"webhook-account-updated-successful.json",
			Event{Kind: AccountUpdated, ID: "Rt6yU2iO9pAs4dFg", AccountID: sampleAcc, At: iso(t, "2026-03-02T10:02:51.377Z"),
				DataStatus: mono.StatusAvailable, SyncStatus: mono.SyncStatusSuccessful, JobID: "job_4Lp8nW2cV6",
				App: app, Business: business}, "", true},
		{"webhook-jobs-update-failed.json",
			Event{Kind: JobUpdate, AccountID: sampleAcc, JobStatus: JobFailed, JobID: "job_9dK2mQ7xP4", JobName: "transactions",
				App: app, Business: business}, MarkSyncFailed, false},
		{"webhook-account-unlinked.json",
			Event{Kind: AccountUnlinked, AccountID: sampleAcc}, MarkUnlinked, false},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Parse(sample(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Name = tc.want.Kind.String()
			if got != tc.want {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
			if k, _ := got.Marks(); k != tc.marks || got.Clears() != tc.clears {
				t.Errorf("marks %q clears %v, want %q %v", k, got.Clears(), tc.marks, tc.clears)
			}
		})
	}
}

// The trap in Mono's account_updated sample: data_status AVAILABLE (cached
// data) with sync_status REAUTHORISATION_REQUIRED. The account is marked,
// with the evidence an agent reads ("Mono webhook account_updated at 06:40:
// sync_status REAUTHORISATION_REQUIRED") and the data status kept beside it.
func TestAvailableDataWithReauthRequiredSyncMarks(t *testing.T) {
	r := newReceiver(t)
	if got := r.post(ptr(secret), string(sample(t, "webhook-account-updated-reauth-required.json"))); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	m, ok := r.store.Mark(sampleAcc)
	if !ok || m.Kind != MarkReauthRequired || !m.MonoTime || !m.At.Equal(iso(t, "2026-03-02T06:40:12.004Z")) ||
		m.SyncStatus != mono.SyncReauthRequired || m.DataStatus != mono.StatusAvailable || m.EventID != "Vn3pQ8sLk2Hd6wXa" {
		t.Fatalf("mark = %+v %v", m, ok)
	}
	if got, want := m.Evidence(iso(t, "2026-03-02T12:00:00Z")), "Mono webhook account_updated at 06:40: sync_status REAUTHORISATION_REQUIRED"; got != want {
		t.Errorf("evidence %q\n    want %q", got, want)
	}
	if !r.store.NeedsReauth(sampleAcc) {
		t.Error("NeedsReauth false")
	}
}

// Mono's samples delivered in the order a retrying Mono might: the newest
// first. Ordered by their timestamps, the late account_updated
// REAUTHORISATION_REQUIRED (06:40) does not undo the SUCCESSFUL one (10:02)
// that came before it, nor does January's account_reauthorized change
// anything. In timestamp order the same samples mark, then clear.
func TestSamplesOutOfOrderNeverUndoTheNewest(t *testing.T) {
	recv := iso(t, "2026-03-02T10:05:00Z")
	outOfOrder := []struct {
		file string
		want Outcome
	}{
		{"webhook-account-updated-successful.json", Applied},
		{"webhook-account-updated-reauth-required.json", Stale},
		{"webhook-account-reauthorized-2026.json", Stale},
	}
	s := newStore("")
	for i, d := range outOfOrder {
		ev, err := Parse(sample(t, d.file))
		if err != nil {
			t.Fatal(err)
		}
		ev.Received = recv.Add(time.Duration(i) * time.Second)
		if out, err := s.Record(ev); err != nil || out != d.want {
			t.Fatalf("%s: %v %v, want %v", d.file, out, err, d.want)
		}
	}
	if m, ok := s.Mark(sampleAcc); ok {
		t.Fatalf("a late, older event re-marked the account: %+v", m)
	}
	c, ok := s.Cleared(sampleAcc)
	if !ok || c.Kind != Cleared || c.Event != AccountUpdated.String() || !c.At.Equal(iso(t, "2026-03-02T10:02:51.377Z")) || c.SyncStatus != mono.SyncStatusSuccessful {
		t.Errorf("clearing = %+v %v", c, ok)
	}
	if l, ok := s.Latest(sampleAcc); !ok || l != c || c.NeedsReauth() || c.Unlinked() {
		t.Errorf("Latest = %+v %v, want the clearing", l, ok)
	}
	if got, want := c.Evidence(iso(t, "2026-03-02T12:00:00Z")), "Mono webhook account_updated at 10:02: sync_status SUCCESSFUL"; got != want {
		t.Errorf("clearing evidence %q", got)
	}

	s = newStore("")
	for i, file := range []string{"webhook-account-reauthorized-2026.json", "webhook-account-updated-reauth-required.json"} {
		ev, _ := Parse(sample(t, file))
		ev.Received = recv.Add(time.Duration(i) * time.Second)
		if out, err := s.Record(ev); err != nil || out != Applied {
			t.Fatalf("%s: %v %v", file, out, err)
		}
	}
	if !s.NeedsReauth(sampleAcc) {
		t.Fatal("in timestamp order the reauth-required sample did not mark")
	}
	ev, _ := Parse(sample(t, "webhook-account-updated-successful.json"))
	ev.Received = recv.Add(time.Minute)
	if out, err := s.Record(ev); err != nil || out != Applied || s.NeedsReauth(sampleAcc) {
		t.Fatalf("SUCCESSFUL after it: %v %v, still marked %v", out, err, s.NeedsReauth(sampleAcc))
	}
}
