package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/state/audit"
)

// The page's secret lives in its URL's fragment; a snapshot carries it, its
// String must not.
const (
	snapPageSecret = "pageSECRET77f3"
	snapPageURL    = "https://reauth.example/p/r1-abc#s=" + snapPageSecret
)

// snapAction is one thing that happens to an attempt at t0+at: an event
// through Attempt.Apply, or (tookOverFrom set) the attempt taking the
// account's claim over from a colleague (Attempt.TookOver).
type snapAction struct {
	at           time.Duration
	ev           Event
	tookOverFrom string
}

func do(at time.Duration, ev Event) snapAction { return snapAction{at: at, ev: ev} }

func doWidget(at time.Duration, we mono.WidgetEvent) snapAction {
	return do(at, Event{Kind: Widget, Widget: we})
}

// snapRun is what running a scenario gave: the attempt, and every record
// with the live lines that came with it, as a front end would have them.
type snapRun struct {
	att     Attempt
	lines   []Line         // every line Apply gave, in order
	records []audit.Record // every record, stamped with the time it was made (as the recorder does)
	took    []Line         // what LinesFromRecords must give for the TookOver records
}

// runScenario applies acts to a new attempt, each event carrying the
// generation the attempt has then (as a front end's result would). base
// places the scenario in time (and in a zone).
func runScenario(t *testing.T, base time.Time, acts []snapAction) snapRun {
	t.Helper()
	r := snapRun{att: NewAttempt("attempt-1")}
	for _, a := range acts {
		now := base.Add(a.at)
		if a.tookOverFrom != "" {
			recs := r.att.TookOver(a.tookOverFrom, "attempt-theirs", true, now)
			for _, rec := range recs {
				rec.Time = now
				r.records = append(r.records, rec)
				r.took = append(r.took, Line{At: now, Tone: ToneWarning, Text: rec.Event})
			}
			continue
		}
		ev := a.ev
		ev.Generation = r.att.Session().Generation()
		st, err := r.att.Apply(ev, now)
		if err != nil {
			t.Fatalf("at +%s: Apply(%v) in %s: %v", a.at, ev, r.att.Session().Phase(), err)
		}
		r.lines = append(r.lines, st.Lines...)
		for _, rec := range st.Records {
			rec.Time = now
			r.records = append(r.records, rec)
		}
	}
	return r
}

// snapScenario is an attempt brought to one phase through real events.
type snapScenario struct {
	name string
	acts []snapAction
	want Phase
}

// snapScenarios builds every phase a resumed attempt can be in (and the
// ones around them), with tokens and times relative to base.
func snapScenarios(base time.Time) []snapScenario {
	acct := testAccount
	acct.AuthMethod = mono.AuthInternetBanking
	acct.RetrievedData = []string{"balance", "transactions"}
	acct.LastSyncedAt = base.Add(-48 * time.Hour)
	sig := Signals{
		Webhook: &WebhookEvidence{Event: "mono.events.account_updated", At: base.Add(-time.Hour),
			SyncStatus: mono.SyncReauthRequired, DataRequestID: "dr-1"},
		WebhooksChecked: true,
		History: []PastAttempt{{At: base.Add(-26 * time.Hour), Outcome: "EXPIRED",
			Errors: []string{"INVALID_OTP", "INVALID_OTP"}, ExitPage: "MFA"}},
		HistoryChecked: true,
		Now:            base,
	}
	token := mono.Token{AccountID: acct.ID, Value: secretToken, MintedAt: base.Add(35 * time.Second),
		ExpiresAt: base.Add(35*time.Second + mono.TokenLifetime)}

	chosen := []snapAction{do(0, Event{Kind: AccountChosen, Account: acct, Signals: sig})}
	minting := append(clip(chosen), do(30*time.Second, Event{Kind: MintRequested}))
	tokenLive := append(clip(minting), do(35*time.Second, Event{Kind: MintSucceeded, Token: token}))
	opening := append(clip(tokenLive), do(40*time.Second, Event{Kind: PageRequested}))
	opened := append(clip(opening), do(41*time.Second, Event{Kind: PageServed, PageURL: snapPageURL, Pairing: "K7Q2"}))
	live := append(clip(opened),
		do(60*time.Second, Event{Kind: PageConnected}),
		doWidget(61*time.Second, mono.WidgetEvent{Callback: mono.CallbackPageOpen, Name: mono.EventPageOpened}),
		doWidget(62*time.Second, mono.WidgetEvent{Callback: mono.CallbackLoad}),
		doWidget(63*time.Second, onEvent(mono.EventOpened, mono.EventData{})),
		doWidget(64*time.Second, mono.WidgetEvent{Callback: mono.CallbackHeartbeat}),
		doWidget(70*time.Second, onEvent(mono.EventInstitutionSelected, mono.EventData{InstitutionName: "GTBank", AuthMethod: "internet_banking"})),
		doWidget(80*time.Second, onEvent(mono.EventSubmitCredentials, mono.EventData{})),
		doWidget(90*time.Second, onEvent(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The code was wrong. Try again."})),
		doWidget(100*time.Second, onEvent(mono.EventExit, mono.EventData{PageName: "MFA"})),
		doWidget(101*time.Second, mono.WidgetEvent{Callback: mono.CallbackPageOpen, Name: mono.EventPageReopened}),
	)
	succeeded := append(clip(live),
		doWidget(110*time.Second, onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "otp"})),
		doWidget(120*time.Second, mono.WidgetEvent{Callback: mono.CallbackSuccess, Data: mono.EventData{Code: successCode}}),
		doWidget(121*time.Second, mono.WidgetEvent{Callback: mono.CallbackClose}),
		doWidget(122*time.Second, onEvent(mono.EventExit, mono.EventData{PageName: "Success"})),
	)
	verifying := append(clip(succeeded),
		do(125*time.Second, Event{Kind: VerifyStarted}),
		do(130*time.Second, Event{Kind: VerifyResult, Account: withStatus(mono.StatusAvailable)}),
	)
	ended := append(clip(live), do(130*time.Second, Event{Kind: AgentEnded, Why: "Customer will call back. After lunch"}))
	failedPage := append(clip(live), doWidget(130*time.Second, mono.WidgetEvent{Callback: mono.CallbackPageError,
		Data: mono.EventData{ErrorMessage: "connect.js threw. Reload"}}))

	return []snapScenario{
		{"explaining", chosen, Explaining},
		{"reason overridden", append(clip(chosen), do(10*time.Second, Event{Kind: ReasonOverridden, Reason: PasswordChanged})), Explaining},
		{"minting", minting, Minting},
		{"mint failed, back to explaining", append(clip(minting), do(36*time.Second, Event{Kind: MintFailed, Err: errors.New("mono: 503 try later")})), Explaining},
		{"mint refused", append(clip(minting), do(36*time.Second, Event{Kind: MintFailed, Refused: true, Err: errors.New("mono: 422")})), Failed},
		{"token live", tokenLive, TokenReady},
		{"link prepared for the account contract", append(clip(chosen), do(30*time.Second, Event{Kind: LinkPrepared, At: base.Add(30*time.Second + mono.TokenLifetime)})), TokenReady},
		{"page opening", opening, PageOpening},
		{"page failed to start", append(clip(opening), do(41*time.Second, Event{Kind: PageFailed, Err: errors.New("listen: address in use")})), TokenReady},
		{"page opened", opened, PageOpened},
		{"page live after an ERROR and an EXIT", live, WidgetLive},
		{"widget closed", append(clip(live), doWidget(105*time.Second, mono.WidgetEvent{Callback: mono.CallbackClose})), WidgetClosed},
		{"page closed", append(clip(live), do(105*time.Second, Event{Kind: PageGone})), PageClosed},
		{"succeeded", succeeded, Succeeded},
		{"verifying", verifying, Verifying},
		{"verified", append(clip(succeeded), do(140*time.Second, Event{Kind: MonoSynced, AccountID: acct.ID, At: base.Add(139 * time.Second)})), Verified},
		{"still syncing", append(clip(verifying), do(190*time.Second, Event{Kind: VerifyResult, Account: withStatus(mono.StatusAvailable), GaveUp: true})), StillSyncing},
		{"expired", append(clip(live), do(mono.TokenLifetime+time.Minute, Event{Kind: Tick})), Expired},
		{"failed: page error", failedPage, Failed},
		{"ended by agent, late events after", append(clip(ended),
			doWidget(131*time.Second, onEvent(mono.EventSubmitMFA, mono.EventData{})),
			doWidget(132*time.Second, mono.WidgetEvent{Callback: mono.CallbackClose}),
			do(133*time.Second, Event{Kind: PageGone})), EndedByAgent},
		{"success wins after the agent ended it", append(clip(ended),
			do(140*time.Second, Event{Kind: MonoReauthorized, AccountID: acct.ID, At: base.Add(139 * time.Second)})), Succeeded},
		{"taken over by a newer page", append(clip(live), do(105*time.Second, Event{Kind: PageGone, Replaced: true})), TakenOver},
		{"taken over by a colleague", append(clip(live), do(105*time.Second, Event{Kind: ClaimTaken, By: "Grace Obi", At: base.Add(104 * time.Second)})), TakenOver},
		{"took the account over, then a fresh token after a failure", append(clip(failedPage),
			snapAction{at: 140 * time.Second, tookOverFrom: "Grace Obi"},
			do(150*time.Second, Event{Kind: MintRequested}),
			do(155*time.Second, Event{Kind: MintSucceeded, Token: mono.Token{AccountID: acct.ID, Value: secretToken + "2",
				MintedAt: base.Add(155 * time.Second), ExpiresAt: base.Add(155*time.Second + mono.TokenLifetime)}}),
			do(160*time.Second, Event{Kind: PageRequested}),
			do(161*time.Second, Event{Kind: PageServed, PageURL: snapPageURL + "2", Pairing: "P9X1"}),
			doWidget(170*time.Second, mono.WidgetEvent{Callback: mono.CallbackClose})), WidgetClosed},
	}
}

// clip lets each scenario append to a shared prefix without writing into
// another's backing array.
func clip(acts []snapAction) []snapAction { return acts[:len(acts):len(acts)] }

// roundTrip sends the attempt's snapshot through JSON, as between replicas,
// and restores it.
func roundTrip(t *testing.T, a *Attempt) Attempt {
	t.Helper()
	wire, err := json.Marshal(a.Snapshot())
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back AttemptSnapshot
	if err := json.Unmarshal(wire, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	restored, err := RestoreAttempt(back)
	if err != nil {
		t.Fatalf("RestoreAttempt: %v\n%s", err, wire)
	}
	return restored
}

// snapProbes are what may happen next to a resumed attempt. Each list is
// applied in order to the original and to the restored attempt alike,
// legal or not: both must answer each event the same way.
func snapProbes(base time.Time) [][]snapAction {
	later := 5 * time.Minute
	return [][]snapAction{
		{do(mono.TokenLifetime+10*time.Minute, Event{Kind: Tick})}, // expiry: its outcome quotes the token's expiry time
		{doWidget(later, onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "otp"})),
			doWidget(later+time.Second, onEvent(mono.EventError, mono.EventData{ErrorType: "BANK_DOWN"})),
			doWidget(later+2*time.Second, onEvent(mono.EventExit, mono.EventData{PageName: "MFA"})),
			do(mono.TokenLifetime+10*time.Minute, Event{Kind: Tick})},
		{doWidget(later, mono.WidgetEvent{Callback: mono.CallbackSuccess}),
			do(later+time.Second, Event{Kind: VerifyStarted}),
			do(later+2*time.Second, Event{Kind: VerifyResult, Account: withStatus(mono.StatusAvailable), GaveUp: true})},
		{do(later, Event{Kind: MonoSynced, AccountID: testAccount.ID, At: base.Add(later)})},
		{do(later, Event{Kind: MintRequested, Replace: true}),
			do(later+time.Second, Event{Kind: MintSucceeded, Token: mono.Token{AccountID: testAccount.ID, Value: "tokNEXT",
				MintedAt: base.Add(later), ExpiresAt: base.Add(later + mono.TokenLifetime)}})},
		{do(later, Event{Kind: AgentEnded})},
		{do(later, Event{Kind: ReasonOverridden, Reason: ReasonUnknown}), do(later, Event{Kind: Back})},
		{do(later, Event{Kind: PageGone}), do(later, Event{Kind: ClaimTaken, By: "Grace Obi"})},
	}
}

// applyBoth applies one probe to both attempts and requires the same
// answer: the same Step (phases, lines, records with their seq) or the
// same refusal.
func applyBoth(t *testing.T, base time.Time, orig, restored *Attempt, probe []snapAction, same func(a, b any) []string) {
	t.Helper()
	for _, a := range probe {
		now := base.Add(a.at)
		ev := a.ev
		ev.Generation = orig.Session().Generation()
		st1, err1 := orig.Apply(ev, now)
		ev.Generation = restored.Session().Generation()
		st2, err2 := restored.Apply(ev, now)
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("%s: original says %v, restored says %v", ev.Kind, err1, err2)
		}
		if diff := same(st1, st2); len(diff) > 0 {
			t.Fatalf("%s: the steps differ:\n%s\noriginal: %+v\nrestored: %+v", ev.Kind, strings.Join(diff, "\n"), st1, st2)
		}
	}
}

func deepEqualDiff(a, b any) []string {
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{"not reflect.DeepEqual"}
}

// With times in UTC (as the tests build them) a restored attempt is
// reflect.DeepEqual to the original: encoding/json gives a "Z" time back in
// UTC. Its next steps are the same as the original's, whatever comes next.
func TestSnapshotRoundTripEveryPhase(t *testing.T) {
	for _, sc := range snapScenarios(t0) {
		t.Run(sc.name, func(t *testing.T) {
			run := runScenario(t, t0, sc.acts)
			orig := run.att
			if got := orig.Session().Phase(); got != sc.want {
				t.Fatalf("the scenario reached %s, want %s", got, sc.want)
			}
			restored := roundTrip(t, &orig)
			if restored.ID() != orig.ID() {
				t.Errorf("ID %q, want %q", restored.ID(), orig.ID())
			}
			if !reflect.DeepEqual(restored.Session(), orig.Session()) {
				t.Fatalf("restored session differs:\n got %s\nwant %s", sessionFields(restored.Session()), sessionFields(orig.Session()))
			}
			for i, probe := range snapProbes(t0) {
				// Fresh copies for each probe: a probe changes both.
				o, r := runScenario(t, t0, sc.acts).att, roundTrip(t, &orig)
				t.Run(fmt.Sprint("probe ", i), func(t *testing.T) {
					applyBoth(t, t0, &o, &r, probe, deepEqualDiff)
					if !reflect.DeepEqual(o.Session(), r.Session()) {
						t.Fatalf("after the probe:\n got %s\nwant %s", sessionFields(r.Session()), sessionFields(o.Session()))
					}
					if o.Snapshot().Seq != r.Snapshot().Seq {
						t.Fatalf("seq %d, want %d", r.Snapshot().Seq, o.Snapshot().Seq)
					}
				})
			}
		})
	}
}

// In another zone (the agent in Lagos, +01:00) the instant and the offset
// come back, the zone's name does not: encoding/json makes a fixed zone of
// the offset (or Local, when it matches). reflect.DeepEqual compares the
// *Location and so fails; what the machine does with a time (compare it,
// format it as HH:MM:SS in its own offset) cannot tell the difference.
// Here the sessions are compared through their snapshots, time by time with
// Equal and the offset, every other field exactly: a snapshot holds every
// field of the session (TestSnapshotCarriesEverySessionField), so that is
// the session compared. The next steps' texts, which quote times (the
// token's expiry in the outcome is formatted in the token's own offset),
// must be identical.
func TestSnapshotRoundTripKeepsTimesInTheirZone(t *testing.T) {
	base := t0.In(wat)
	for _, sc := range snapScenarios(base) {
		t.Run(sc.name, func(t *testing.T) {
			orig := runScenario(t, base, sc.acts).att
			restored := roundTrip(t, &orig)
			if diff := sameInstants(orig.Snapshot(), restored.Snapshot()); len(diff) > 0 {
				t.Fatalf("restored snapshot differs:\n%s", strings.Join(diff, "\n"))
			}
			if tok := restored.Session().Token(); !tok.ExpiresAt.IsZero() {
				if _, off := tok.ExpiresAt.Zone(); off != 3600 {
					t.Fatalf("the token's expiry came back at offset %d, want 3600", off)
				}
			}
			for i, probe := range snapProbes(base) {
				o, r := runScenario(t, base, sc.acts).att, roundTrip(t, &orig)
				t.Run(fmt.Sprint("probe ", i), func(t *testing.T) {
					applyBoth(t, base, &o, &r, probe, sameInstants)
					if diff := sameInstants(o.Snapshot(), r.Snapshot()); len(diff) > 0 {
						t.Fatalf("after the probe:\n%s", strings.Join(diff, "\n"))
					}
				})
			}
		})
	}
}

// sameInstants compares two values of exported types field by field:
// times by Equal and their UTC offset, everything else exactly (slices'
// nil and empty apart).
func sameInstants(a, b any) []string {
	var diff []string
	compareValues("", reflect.ValueOf(a), reflect.ValueOf(b), &diff)
	return diff
}

var timeType = reflect.TypeFor[time.Time]()

func compareValues(path string, a, b reflect.Value, diff *[]string) {
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		_, oa := ta.Zone()
		_, ob := tb.Zone()
		if !ta.Equal(tb) || oa != ob {
			*diff = append(*diff, fmt.Sprintf("%s: %s, want %s", path, tb, ta))
		}
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			compareValues(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i), diff)
		}
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			*diff = append(*diff, fmt.Sprintf("%s: %d items (nil %t), want %d (nil %t)", path, b.Len(), b.IsNil(), a.Len(), a.IsNil()))
			return
		}
		for i := range a.Len() {
			compareValues(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i), diff)
		}
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*diff = append(*diff, path+": nil on one side only")
			}
			return
		}
		compareValues(path, a.Elem(), b.Elem(), diff)
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*diff = append(*diff, fmt.Sprintf("%s: %#v, want %#v", path, b.Interface(), a.Interface()))
		}
	}
}

// sessionFields prints every field of a session, the unexported ones
// included, for a failure message (Session's own String hides most).
func sessionFields(s Session) string {
	v := reflect.ValueOf(&s).Elem()
	var b strings.Builder
	for i := range v.NumField() {
		fmt.Fprintf(&b, "\n  %s: %+v", v.Type().Field(i).Name, exposed(v.Field(i)).Interface())
	}
	return b.String()
}

// exposed makes an addressable value settable and readable even when it
// was reached through an unexported field (tests only).
func exposed(v reflect.Value) reflect.Value {
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// filler sets every field it reaches, at any depth, to a value of its own
// (strings name their field, numbers and times count up), so a field the
// snapshot drops or swaps comes back different.
type filler struct {
	t *testing.T
	n int
}

func (f *filler) fill(v reflect.Value, path string) {
	v = exposed(v)
	f.n++
	n := f.n
	switch v.Type() {
	case timeType:
		v.Set(reflect.ValueOf(t0.Add(time.Duration(n) * time.Minute)))
		return
	case reflect.TypeFor[Phase]():
		v.SetInt(int64(Verifying)) // any phase the machine has
		return
	case reflect.TypeFor[ReasonKind]():
		v.SetInt(int64(n%(len(reasonNames)-1) + 1))
		return
	case reflect.TypeFor[OutcomeKind]():
		v.SetInt(int64(n%(len(outcomeNames)-1) + 1))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s#%d", path, n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range s.Len() {
			f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path)
		v.Set(p)
	default:
		f.t.Fatalf("%s is a %s: teach the snapshot (and this test) to carry it", path, v.Kind())
	}
}

// A field added to Session (or to anything inside it: Reason, Signals,
// Verification, mono.Account, mono.Token, …) and forgotten by Snapshot or
// RestoreAttempt fails here: every field at every depth is set to a value
// of its own, and the session must come back reflect.DeepEqual.
func TestSnapshotCarriesEverySessionField(t *testing.T) {
	var s Session
	(&filler{t: t}).fill(reflect.ValueOf(&s).Elem(), "Session")
	a := Attempt{id: "attempt-filled", sess: s, seq: 41}
	restored := roundTrip(t, &a)
	if restored.Snapshot().Seq != 41 || restored.ID() != "attempt-filled" {
		t.Fatalf("seq %d id %q, want 41 attempt-filled", restored.Snapshot().Seq, restored.ID())
	}
	got, want := reflect.ValueOf(restored.Session()), reflect.ValueOf(&s).Elem()
	gotCopy := reflect.New(got.Type()).Elem()
	gotCopy.Set(got)
	for i := range want.NumField() {
		g, w := exposed(gotCopy.Field(i)).Interface(), exposed(want.Field(i)).Interface()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Session.%s did not survive the snapshot:\n got %+v\nwant %+v", want.Type().Field(i).Name, g, w)
		}
	}
}

// The other way: every field of the snapshot reaches the session, so none
// is written and then ignored.
func TestRestoreReadsEverySnapshotField(t *testing.T) {
	var snap AttemptSnapshot
	(&filler{t: t}).fill(reflect.ValueOf(&snap).Elem(), "AttemptSnapshot")
	snap.Version = SnapshotVersion
	snap.Session.Phase = Verifying.String()
	snap.Session.Reason.Kind = MFARequired.String()
	snap.Session.Reason.DerivedKind = ConnectionExpired.String()
	snap.Session.Outcome.Kind = OutcomeSucceeded.String()
	restored, err := RestoreAttempt(snap)
	if err != nil {
		t.Fatal(err)
	}
	if diff := sameInstants(snap, restored.Snapshot()); len(diff) > 0 {
		t.Fatalf("lost on the way through Session:\n%s", strings.Join(diff, "\n"))
	}
}

func TestRestoreRefusesWhatItCannotRead(t *testing.T) {
	run := runScenario(t, t0, snapScenarios(t0)[0].acts)
	good := run.att.Snapshot()
	for name, change := range map[string]func(*AttemptSnapshot){
		"a newer version":     func(s *AttemptSnapshot) { s.Version = SnapshotVersion + 1 },
		"no version":          func(s *AttemptSnapshot) { s.Version = 0 },
		"no id":               func(s *AttemptSnapshot) { s.ID = " " },
		"a negative seq":      func(s *AttemptSnapshot) { s.Seq = -1 },
		"an unknown phase":    func(s *AttemptSnapshot) { s.Session.Phase = "flying" },
		"a phase as a number": func(s *AttemptSnapshot) { s.Session.Phase = "6" },
		"an unknown reason":   func(s *AttemptSnapshot) { s.Session.Reason.Kind = "Bank on fire" },
		"an unknown derived":  func(s *AttemptSnapshot) { s.Session.Reason.DerivedKind = "" },
		"an unknown outcome":  func(s *AttemptSnapshot) { s.Session.Outcome.Kind = "WON" },
	} {
		t.Run(name, func(t *testing.T) {
			s := good
			s.Session.Reason.Evidence = nil // not shared with good's
			change(&s)
			if a, err := RestoreAttempt(s); err == nil {
				t.Fatalf("restored %v", a.Session())
			}
		})
	}
	if _, err := RestoreAttempt(good); err != nil {
		t.Fatalf("the unchanged snapshot: %v", err)
	}
	var wire AttemptSnapshot
	if err := json.Unmarshal([]byte(`{"version":2,"id":"a","session":{"phase":"explaining"}}`), &wire); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreAttempt(wire); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("a version 2 snapshot: %v, want an error naming the version", err)
	}
}

// The snapshot and its attempt share no memory: the receiving side may
// change one without the other.
func TestSnapshotSharesNothing(t *testing.T) {
	sc := snapScenarios(t0)[1] // reason overridden: evidence, script, signals' history
	a := runScenario(t, t0, sc.acts).att
	before := a.Session()
	snap := a.Snapshot()
	snap.Session.Reason.Evidence[0] = "changed"
	snap.Session.Reason.Script[0] = "changed"
	snap.Session.Signals.History[0].Errors[0] = "changed"
	snap.Session.Account.RetrievedData[0] = "changed"
	if !reflect.DeepEqual(a.Session(), before) {
		t.Fatal("changing the snapshot changed the attempt")
	}
	restored, err := RestoreAttempt(snap)
	if err != nil {
		t.Fatal(err)
	}
	snap.Session.Reason.Evidence[1] = "changed again"
	if restored.Session().Reason().Evidence[1] == "changed again" {
		t.Fatal("changing the snapshot changed the restored attempt")
	}
}

// The snapshot carries the token and the page secret (JSON), and prints
// neither: not with any verb, not through slog.
func TestSnapshotPrintsNoSecret(t *testing.T) {
	sc := snapScenarios(t0)[10] // page live
	a := runScenario(t, t0, sc.acts).att
	snap := a.Snapshot()
	wire, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(wire, []byte(secretToken)) || !bytes.Contains(wire, []byte(snapPageSecret)) {
		t.Fatalf("the snapshot must carry the token and the page secret: %s", wire)
	}
	var printed []string
	for _, v := range []any{snap, &snap, snap.Session, &snap.Session, snap.Session.Token} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			printed = append(printed, fmt.Sprintf(verb, v))
		}
	}
	var logged bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logged, nil), slog.NewTextHandler(&logged, nil)} {
		slog.New(h).Info("resume", "snapshot", snap, "session", snap.Session, "token", snap.Session.Token)
	}
	printed = append(printed, logged.String())
	for _, p := range printed {
		if strings.Contains(p, secretToken) || strings.Contains(p, snapPageSecret) {
			t.Errorf("a secret was printed: %s", p)
		}
	}
	if !strings.Contains(logged.String(), a.Session().Token().Fingerprint()) || !strings.Contains(logged.String(), "attempt-1") {
		t.Errorf("the log should still say which attempt and token: %s", logged.String())
	}
}

// The live lines that have no record behind them, and so cannot come back
// from the store:
//   - "Token expired" (the EXPIRED outcome that follows it has a record);
//   - "Could not start the page: …" (PageFailed records nothing);
//   - "Mono webhook: …" (the outcome or verification it causes does);
//   - heartbeats and the widget's onLoad, which said nothing live either.
//
// And one that comes back shorter: "Page ready, pairing code K7Q2" is
// "Page ready" (the pairing code is not recorded).
func unrecordedLine(text string) bool {
	return text == "Token expired" || strings.HasPrefix(text, "Could not start the page: ") ||
		strings.HasPrefix(text, "Mono webhook: ")
}

// A resumed view rebuilds the pane from the store: every record-backed
// line comes back at its record's time, with the live text and tone.
func TestLinesFromRecordsMatchTheLivePane(t *testing.T) {
	for _, base := range []time.Time{t0, t0.In(wat)} {
		for _, sc := range snapScenarios(base) {
			t.Run(sc.name+" "+base.Location().String(), func(t *testing.T) {
				run := runScenario(t, base, sc.acts)
				// As read back from a store: through JSON, times in UTC.
				stored := storedRecords(t, run.records)
				got := LinesFromRecords(stored)

				var want []Line
				for _, l := range run.lines {
					if !unrecordedLine(l.Text) {
						want = append(want, l)
					}
				}
				// TookOver's record: its line is the record's own words
				// (the front end words its live line itself).
				want = mergeByTime(want, run.took)
				if len(got) != len(want) {
					t.Fatalf("%d lines, want %d:\n got %s\nwant %s", len(got), len(want), linesText(got), linesText(want))
				}
				for i := range want {
					g, w := got[i], want[i]
					text := g.Text
					if g.Text == "Page ready" && strings.HasPrefix(w.Text, "Page ready, pairing code ") {
						text = w.Text
					}
					if !g.At.Equal(w.At) || g.Tone != w.Tone || text != w.Text {
						t.Errorf("line %d: %s %s %q, want %s %s %q", i, g.At.Format(time.TimeOnly), g.Tone, g.Text, w.At.Format(time.TimeOnly), w.Tone, w.Text)
					}
				}
			})
		}
	}
}

// storedRecords is records as a store gives them back: JSON, in UTC, in
// seq order.
func storedRecords(t *testing.T, recs []audit.Record) []audit.Record {
	t.Helper()
	for i := range recs {
		recs[i].Time = recs[i].Time.UTC()
		recs[i].TokenExpiresAt = recs[i].TokenExpiresAt.UTC()
	}
	wire, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	var back []audit.Record
	if err := json.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	audit.InAttemptOrder(back)
	return back
}

// mergeByTime puts extra lines among lines by time, after lines of the
// same time.
func mergeByTime(lines, extra []Line) []Line {
	out := make([]Line, 0, len(lines)+len(extra))
	for _, l := range lines {
		for len(extra) > 0 && extra[0].At.Before(l.At) {
			out, extra = append(out, extra[0]), extra[1:]
		}
		out = append(out, l)
	}
	return append(out, extra...)
}

func linesText(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "\n  %s %-8s %s", l.At.UTC().Format(time.TimeOnly), l.Tone, l.Text)
	}
	return b.String()
}

// widgetSentenceTone undoes Describe: for every widget event a status pane
// shows, the sentence alone gives Kind's tone, even with page-sent text
// that looks like another sentence.
func TestWidgetSentenceToneMatchesKind(t *testing.T) {
	for _, data := range []mono.EventData{{}, fullData("GTBank"), fullData("Error: X"), fullData("Widget closed"), fullData("Success confirmed by the widget")} {
		for _, we := range everyEvent(data) {
			if we.Callback == mono.CallbackHeartbeat || we.Callback == mono.CallbackLoad {
				continue // never shown
			}
			sentence := Describe(we)
			if got, want := widgetSentenceTone(sentence, false), Kind(we); got != want {
				t.Errorf("%s %s: %q gives %s, want %s", we.Callback, we.Name, sentence, got, want)
			}
		}
		unload := mono.WidgetEvent{Callback: mono.CallbackUnload, Name: mono.EventPageGone}
		if got := widgetSentenceTone(Describe(unload), false); got != Kind(unload) {
			t.Errorf("page gone: %s, want %s", got, Kind(unload))
		}
	}
}

// An outcome record joins Headline and Detail; the live line shows the
// Headline. Headlines the agent or the page wrote may hold full stops.
func TestOutcomeHeadlineSplitsWhereTheDetailBegins(t *testing.T) {
	for _, c := range []struct {
		kind         OutcomeKind
		detail, want string
	}{
		{OutcomeEndedByAgent, "Customer will call back. After lunch.", "Customer will call back. After lunch."},
		{OutcomeEndedByAgent, "Done. For now. The customer was last on the MFA page.", "Done. For now."},
		{OutcomeEndedByAgent, "Why: Last step: none. Last step: Submitted OTP.", "Why: Last step: none."},
		{OutcomeFailed, "Page error: connect.js threw. Reload. The page could not run the widget.", "Page error: connect.js threw. Reload."},
		{OutcomeTakenOver, "Dr. Obi took over this account at 10:52. They are re-authorising it now; this attempt's page stopped.", "Dr. Obi took over this account at 10:52."},
		{OutcomeSucceeded, "Re-authorised. Waiting for Mono to confirm fresh data… The customer finished re-authorising their GTBank account (reported by the widget).", "Re-authorised. Waiting for Mono to confirm fresh data…"},
	} {
		if got := outcomeHeadline(c.kind, c.detail); got != c.want {
			t.Errorf("%s %q: %q, want %q", c.kind, c.detail, got, c.want)
		}
	}
}

// An outcome word the machine does not set (a front end's, a newer
// reauth's) still shows, as a warning, without saying the word twice.
func TestLinesFromRecordsShowsOtherOutcomes(t *testing.T) {
	got := LinesFromRecords([]audit.Record{
		{Time: t0, Session: "theirs", Action: audit.ActionOutcome, Outcome: "INTERRUPTED", Detail: "Interrupted: the server stopped."},
		{Time: t0, Session: "theirs", Action: audit.ActionOutcome, Outcome: "PAUSED", Detail: "The agent paused it."},
		{Time: t0, Session: "theirs", Action: audit.ActionOutcome, Outcome: "PAUSED"},
	})
	want := []Line{
		{At: t0, Tone: ToneWarning, Text: "Interrupted: the server stopped."},
		{At: t0, Tone: ToneWarning, Text: "PAUSED: The agent paused it."},
		{At: t0, Tone: ToneWarning, Text: "PAUSED"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %s\nwant %s", linesText(got), linesText(want))
	}
}
