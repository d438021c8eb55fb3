package state

import (
	"strings"
	"testing"

	"github.com/reauth/reauth/state/audit"
)

// A colleague taking the account's claim over ends the attempt TAKEN OVER
// (never ABANDONED or ended by the agent) and names them, in the banner,
// the pane's line and the outcome record; from a live page, a token not yet
// used, a mint in flight, or after a page replacement that named no one.
func TestClaimTakenNamesTheColleague(t *testing.T) {
	at := midway
	want := "bola took over this account at " + at.Local().Format("15:04") + "."
	for _, p := range []Phase{Minting, TokenReady, PageOpened, WidgetLive, WidgetClosed, PageClosed, TakenOver} {
		t.Run(p.String(), func(t *testing.T) {
			a := Attempt{id: "ada-1", sess: sessionIn(t, p)}
			st, err := a.Apply(Event{Kind: ClaimTaken, By: "bola", At: at}, midway)
			if err != nil {
				t.Fatal(err)
			}
			o := a.Session().Outcome()
			if a.Session().Phase() != TakenOver || o.Kind != OutcomeTakenOver || o.Headline != want {
				t.Fatalf("%s, %s %q", a.Session().Phase(), o.Kind, o.Headline)
			}
			if a.Session().PageConnected() {
				t.Error("the page still counts as connected")
			}
			var rec *audit.Record
			for i, r := range st.Records {
				if r.Action == audit.ActionOutcome {
					rec = &st.Records[i]
				}
			}
			if rec == nil || rec.Outcome != "TAKEN OVER" || !strings.Contains(rec.Detail, "bola") || rec.Session != "ada-1" {
				t.Fatalf("records %+v", st.Records)
			}
			if len(st.Lines) == 0 || !strings.Contains(st.Lines[len(st.Lines)-1].Text, "TAKEN OVER: "+want) {
				t.Fatalf("lines %+v", st.Lines)
			}
		})
	}
	// Not before an attempt starts, nor after another outcome.
	for _, p := range []Phase{Explaining, Expired, EndedByAgent, Succeeded} {
		if sessionIn(t, p).Can(ClaimTaken) {
			t.Errorf("%s accepts ClaimTaken", p)
		}
	}
}

// The agent taking the claim over from themself (another session of theirs,
// same key) is told so: no colleague is named, and the next step is their
// other session.
func TestClaimTakenByTheAgentThemself(t *testing.T) {
	a := Attempt{id: "ada-1", sess: sessionIn(t, PageOpened)}
	st, err := a.Apply(Event{Kind: ClaimTaken, By: "ada", BySelf: true, At: midway}, midway)
	if err != nil {
		t.Fatal(err)
	}
	o := a.Session().Outcome()
	want := "You took this account over in another session at " + midway.Local().Format("15:04") + "."
	if a.Session().Phase() != TakenOver || o.Kind != OutcomeTakenOver || o.Headline != want ||
		strings.Contains(o.NextStep, "leave the account to") || !strings.Contains(o.NextStep, "other session") {
		t.Fatalf("%s %+v", a.Session().Phase(), o)
	}
	for _, r := range st.Records {
		if r.Action == audit.ActionOutcome && (r.Outcome != "TAKEN OVER" || !strings.Contains(r.Detail, "another session")) {
			t.Fatalf("outcome record %+v", r)
		}
	}
}

// The attempt that takes over records whom from, numbered with its own
// records, and goes on as it was.
func TestTookOverRecord(t *testing.T) {
	a := Attempt{id: "bola-1", sess: sessionIn(t, Minting), seq: 4}
	recs := a.TookOver("ada", "ada-1", false, midway)
	if len(recs) != 1 || recs[0].Action != audit.ActionClaimTakenOver || recs[0].Seq != 5 || recs[0].Session != "bola-1" ||
		recs[0].Account != testAccount.ID || recs[0].Event != "took over from ada" || !strings.Contains(recs[0].Detail, "ada-1") {
		t.Fatalf("%+v", recs)
	}
	if a.Session().Phase() != Minting {
		t.Fatalf("phase %s", a.Session().Phase())
	}
	if recs := a.TookOver("ada", "", true, midway); !strings.Contains(recs[0].Detail, "stale") || recs[0].Seq != 6 {
		t.Fatalf("%+v", recs)
	}
}
