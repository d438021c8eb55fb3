package state

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// The clock for every test: a token minted at 09:50 expires at 10:00.
var (
	t0       = time.Date(2026, 3, 2, 9, 50, 0, 0, time.UTC)
	midway   = t0.Add(5 * time.Minute)
	expiryAt = t0.Add(mono.TokenLifetime)
)

const (
	secretToken = "tokSECRETvalue4d9Q"
	successCode = "code_SECRET_8842"
)

var testAccount = mono.Account{
	ID:            "65f1c0a9e1b2c3d4e5f60718",
	Name:          "Adaeze Okafor",
	AccountNumber: "0123456789",
	DataStatus:    mono.StatusFailed,
	Institution:   mono.Institution{Name: "GTBank"},
	SyncStatus:    mono.SyncReauthRequired,
	SyncMessage:   "Bank requires OTP",
}

func testToken() mono.Token {
	return mono.Token{AccountID: testAccount.ID, Value: secretToken, MintedAt: t0, ExpiresAt: expiryAt}
}

func apply(t *testing.T, s Session, ev Event, now time.Time) Session {
	t.Helper()
	next, err := s.Apply(ev, now)
	if err != nil {
		t.Fatalf("Apply(%v) in %s: %v", ev, s.Phase(), err)
	}
	return next
}

func onEvent(name string, data mono.EventData) mono.WidgetEvent {
	return mono.WidgetEvent{Callback: mono.CallbackEvent, Name: name, Data: data}
}

func callback(c mono.Callback) mono.WidgetEvent { return mono.WidgetEvent{Callback: c} }

// widget wraps a widget event for the session's current generation.
func widget(s Session, we mono.WidgetEvent) Event {
	return Event{Kind: Widget, Generation: s.Generation(), Widget: we}
}

// feed applies widget events in order at midway.
func feed(t *testing.T, s Session, events ...mono.WidgetEvent) Session {
	t.Helper()
	for _, we := range events {
		s = apply(t, s, widget(s, we), midway)
	}
	return s
}

// sessionIn reaches a phase the way the UI would, through legal events only.
func sessionIn(t *testing.T, p Phase) Session {
	t.Helper()
	s := New()
	step := func(ev Event, now time.Time) { s = apply(t, s, ev, now) }
	gen := func() uint64 { return s.Generation() }
	if p == ChoosingAccount {
		return s
	}
	step(Event{Kind: AccountChosen, Account: testAccount}, t0)
	if p == Explaining {
		return s
	}
	step(Event{Kind: MintRequested}, t0)
	if p == Minting {
		return s
	}
	step(Event{Kind: MintSucceeded, Generation: gen(), Token: testToken()}, t0)
	if p == TokenReady {
		return s
	}
	if p == Expired {
		step(Event{Kind: Tick}, expiryAt)
		return checkPhase(t, s, p)
	}
	step(Event{Kind: PageRequested}, t0)
	if p == PageOpening {
		return s
	}
	step(Event{Kind: PageServed, Generation: gen(), PageURL: "http://127.0.0.1:41234/s/abc", Pairing: "KQ-47"}, t0)
	if p == PageOpened {
		return s
	}
	step(Event{Kind: PageConnected, Generation: gen()}, t0)
	switch p {
	case WidgetLive:
		return s
	case Failed:
		s = feed(t, s, mono.WidgetEvent{Callback: mono.CallbackPageError, Data: mono.EventData{ErrorMessage: "connect.js threw"}})
		return checkPhase(t, s, p)
	case WidgetClosed:
		s = feed(t, s, callback(mono.CallbackClose))
		return checkPhase(t, s, p)
	case PageClosed:
		s = feed(t, s, callback(mono.CallbackUnload))
		return checkPhase(t, s, p)
	case EndedByAgent:
		step(Event{Kind: AgentEnded}, midway)
		return checkPhase(t, s, p)
	case TakenOver:
		step(Event{Kind: PageGone, Generation: gen(), Replaced: true}, midway)
		return checkPhase(t, s, p)
	}
	s = feed(t, s, onEvent(mono.EventSuccess, mono.EventData{Code: successCode}))
	if p == Succeeded {
		return checkPhase(t, s, p)
	}
	step(Event{Kind: VerifyStarted}, midway)
	switch p {
	case Verifying:
		return checkPhase(t, s, p)
	case Verified:
		step(Event{Kind: MonoSynced, AccountID: testAccount.ID, At: midway}, midway)
	case StillSyncing:
		step(Event{Kind: VerifyResult, Generation: gen(), Account: withStatus(mono.StatusProcessing), GaveUp: true}, midway)
	}
	return checkPhase(t, s, p)
}

func checkPhase(t *testing.T, s Session, want Phase) Session {
	t.Helper()
	if s.Phase() != want {
		t.Fatalf("helper reached %s, want %s", s.Phase(), want)
	}
	return s
}

func withStatus(st mono.DataStatus) mono.Account {
	a := testAccount
	a.DataStatus = st
	return a
}

var allPhases = func() []Phase {
	var ps []Phase
	for p := ChoosingAccount; p <= StillSyncing; p++ {
		ps = append(ps, p)
	}
	return ps
}()

var allEventKinds = func() []EventKind {
	var ks []EventKind
	for k := AccountChosen; k <= Reset; k++ {
		ks = append(ks, k)
	}
	return ks
}()

// wellFormed is an event of kind that is valid in every respect except,
// perhaps, the phase it arrives in.
func wellFormed(s Session, kind EventKind) Event {
	ev := Event{Kind: kind, Generation: s.Generation()}
	switch kind {
	case AccountChosen:
		ev.Account = testAccount
	case ReasonOverridden:
		ev.Reason = CustomerTwoFA
	case MintRequested:
		ev.Replace = true
	case MintSucceeded:
		ev.Token = testToken()
	case MintFailed, PageFailed:
		ev.Err = errors.New("boom")
	case PageServed:
		ev.PageURL, ev.Pairing = "http://127.0.0.1:41234/s/abc", "KQ-47"
	case Widget:
		ev.Widget = onEvent(mono.EventSubmitCredentials, mono.EventData{})
	case VerifyResult:
		ev.Account = withStatus(mono.StatusAvailable)
	case AgentEnded:
		ev.Why = "The agent ended it."
	case ClaimTaken:
		ev.By, ev.At = "bola", midway
	case LinkPrepared:
		ev.At = expiryAt
	case MonoReauthorized, MonoSynced:
		ev.AccountID, ev.At = testAccount.ID, midway
	}
	return ev
}

// expectedNext is the transition table written out by hand: a missing entry
// means the event is illegal in that phase. Tick and Reset are added below.
var expectedNext = func() map[Phase]map[EventKind]Phase {
	// Every phase with a live page takes the same kinds.
	livePage := func(p Phase) map[EventKind]Phase {
		return map[EventKind]Phase{ReasonOverridden: p, MintRequested: Minting, PageServed: p, PageConnected: WidgetLive,
			Widget: WidgetLive, PageGone: PageClosed, AgentEnded: EndedByAgent, MonoReauthorized: Succeeded, MonoSynced: Verified,
			ClaimTaken: TakenOver}
	}
	m := map[Phase]map[EventKind]Phase{
		ChoosingAccount: {AccountChosen: Explaining},
		Explaining:      {ReasonOverridden: Explaining, MintRequested: Minting, LinkPrepared: TokenReady, Back: ChoosingAccount},
		Minting:         {ReasonOverridden: Minting, MintSucceeded: TokenReady, MintFailed: Explaining, Back: Explaining, ClaimTaken: TakenOver},
		TokenReady: {ReasonOverridden: TokenReady, MintRequested: Minting, PageRequested: PageOpening, Back: Explaining,
			AgentEnded: EndedByAgent, MonoReauthorized: Succeeded, MonoSynced: Verified, ClaimTaken: TakenOver},
		PageOpening:  livePage(PageOpening),
		PageOpened:   livePage(PageOpened),
		WidgetLive:   livePage(WidgetLive),
		WidgetClosed: livePage(WidgetClosed),
		PageClosed:   livePage(PageClosed),
		Succeeded:    {VerifyStarted: Verifying},
		Failed:       {MintRequested: Minting, LinkPrepared: TokenReady},
		Expired:      {MintRequested: Minting, LinkPrepared: TokenReady},
		EndedByAgent: {MintRequested: Minting, LinkPrepared: TokenReady},
		TakenOver:    {MintRequested: Minting, LinkPrepared: TokenReady, ClaimTaken: TakenOver},
		Verifying:    {VerifyResult: Verifying}, // AVAILABLE alone verifies nothing
		Verified:     {},
		StillSyncing: {},
	}
	m[PageOpening][PageFailed] = TokenReady
	m[PageOpening][PageServed] = PageOpened
	m[PageOpening][Back] = TokenReady
	m[PageOpened][Back] = TokenReady
	for p, row := range m {
		row[Tick] = p
		row[Reset] = ChoosingAccount
		if p.HasOutcome() {
			for _, k := range lateKinds {
				row[k] = p
			}
			// Success always wins; a sync SUCCESSFUL verifies.
			if p.successCanWin() {
				row[MonoReauthorized] = Succeeded
			}
			row[MonoSynced] = Verified
		}
	}
	return m
}()

func TestEveryPhaseTimesEveryEvent(t *testing.T) {
	for _, p := range allPhases {
		for _, kind := range allEventKinds {
			t.Run(p.String()+"/"+kind.String(), func(t *testing.T) {
				before := sessionIn(t, p)
				pristine := sessionIn(t, p)
				ev := wellFormed(before, kind)
				got, err := before.Apply(ev, midway)

				if !reflect.DeepEqual(before, pristine) {
					t.Fatal("Apply changed its receiver")
				}
				if can := before.Can(kind); can != (err == nil) {
					t.Errorf("Can(%s) = %v but Apply error = %v", kind, can, err)
				}
				want, legal := expectedNext[p][kind]
				if !legal {
					if !errors.Is(err, ErrIllegal) {
						t.Fatalf("want ErrIllegal, got %v (phase %s)", err, got.Phase())
					}
					var te *TransitionError
					if !errors.As(err, &te) || te.Phase != p || te.Event != kind || te.Stale {
						t.Fatalf("error = %#v, want TransitionError{%s, %s}", err, p, kind)
					}
					if !reflect.DeepEqual(got, before) {
						t.Fatalf("refused event changed the session:\n got %v\nwant %v", got, before)
					}
					return
				}
				if err != nil {
					t.Fatalf("want %s, got error %v", want, err)
				}
				if got.Phase() != want {
					t.Fatalf("phase = %s, want %s", got.Phase(), want)
				}
				isLate := p.HasOutcome() && kind.fromPage() && kind != MonoReauthorized && kind != MonoSynced
				if wantIgnored := before.Ignored() + btoi(isLate); got.Ignored() != wantIgnored {
					t.Errorf("Ignored = %d, want %d", got.Ignored(), wantIgnored)
				}
				if isLate && !reflect.DeepEqual(got.Outcome(), before.Outcome()) {
					t.Errorf("late event changed the outcome to %v", got.Outcome())
				}
			})
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestStaleGenerationRefusedInEveryPhase(t *testing.T) {
	for _, p := range allPhases {
		for _, kind := range allEventKinds {
			if !kind.answersRequest() {
				continue
			}
			before := sessionIn(t, p)
			if !before.Can(kind) {
				continue
			}
			for _, gen := range []uint64{before.Generation() - 1, before.Generation() + 1} {
				ev := wellFormed(before, kind)
				ev.Generation = gen
				got, err := before.Apply(ev, midway)
				if !errors.Is(err, ErrStale) || !errors.Is(err, ErrIllegal) {
					t.Errorf("%s/%s gen %d: err = %v, want ErrStale", p, kind, gen, err)
				}
				if !reflect.DeepEqual(got, before) {
					t.Errorf("%s/%s: stale event changed the session", p, kind)
				}
			}
		}
	}
}

func TestSucceedsFirstTime(t *testing.T) {
	s := sessionIn(t, WidgetLive)
	s = feed(t, s,
		callback(mono.CallbackLoad),
		onEvent(mono.EventLoaded, mono.EventData{}),
		onEvent(mono.EventOpened, mono.EventData{}),
		onEvent(mono.EventInstitutionSelected, mono.EventData{InstitutionName: "GTBank", AuthMethod: mono.AuthInternetBanking}),
		onEvent(mono.EventSubmitCredentials, mono.EventData{}),
		onEvent(mono.EventAccountLinked, mono.EventData{InstitutionName: "GTBank"}),
		onEvent(mono.EventSuccess, mono.EventData{Code: successCode}),
	)
	if s.Phase() != Succeeded {
		t.Fatalf("phase = %s", s.Phase())
	}
	o := s.Outcome()
	if o.Kind != OutcomeSucceeded || o.Headline != "Re-authorised. Waiting for Mono to confirm fresh data…" {
		t.Errorf("outcome = %+v", o)
	}
	if !strings.Contains(o.Detail, "GTBank") {
		t.Errorf("detail %q does not name the bank", o.Detail)
	}
	// onSuccess and onClose always follow SUCCESS: accepted, ignored.
	s = feed(t, s, mono.WidgetEvent{Callback: mono.CallbackSuccess, Data: mono.EventData{Code: successCode}}, callback(mono.CallbackClose))
	if s.Phase() != Succeeded || s.Ignored() != 2 || s.Outcome() != o {
		t.Fatalf("after onSuccess+onClose: phase %s ignored %d outcome %+v", s.Phase(), s.Ignored(), s.Outcome())
	}

	s = apply(t, s, Event{Kind: VerifyStarted}, midway)
	s = apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Account: withStatus("processing")}, midway)
	if s.Phase() != Verifying || s.Verification().Status != mono.StatusProcessing || s.Verification().Checks != 1 {
		t.Fatalf("after PROCESSING: %s %+v", s.Phase(), s.Verification())
	}
	// AVAILABLE is Mono's cached data: said as such, not verified.
	s = apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Account: withStatus("available")}, midway)
	v := s.Verification()
	if s.Phase() != Verifying || v.Checks != 2 || v.Headline != "Mono reports data AVAILABLE; waiting for Mono's sync to confirm." {
		t.Fatalf("after AVAILABLE: %s %+v", s.Phase(), v)
	}
	// Mono's account_updated with sync SUCCESSFUL is the fresh signal.
	s = apply(t, s, Event{Kind: MonoSynced, AccountID: testAccount.ID, At: midway}, midway)
	if v := s.Verification(); s.Phase() != Verified || !strings.Contains(v.Headline, "Mono confirmed a successful sync") {
		t.Fatalf("after sync SUCCESSFUL: %s %+v", s.Phase(), v)
	}
	if s.Outcome() != o {
		t.Errorf("verification changed the outcome")
	}
}

func TestWrongOTPThenSuccess(t *testing.T) {
	s := sessionIn(t, WidgetLive)
	s = feed(t, s,
		onEvent(mono.EventSubmitCredentials, mono.EventData{}),
		onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}),
		onEvent(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}),
	)
	if s.Phase() != WidgetLive {
		t.Fatalf("an ERROR must keep the widget live, got %s", s.Phase())
	}
	if want := (WidgetError{Type: "INVALID_OTP", Message: "The OTP entered is wrong"}); s.LastError() != want {
		t.Errorf("LastError = %+v", s.LastError())
	}
	s = feed(t, s, onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), onEvent(mono.EventSuccess, mono.EventData{}))
	if s.Phase() != Succeeded || s.Outcome().Kind != OutcomeSucceeded {
		t.Fatalf("phase %s outcome %v", s.Phase(), s.Outcome())
	}
}

// Closing the widget after an error is not the end while the link is live:
// the situation says what happened and that the customer can press Reopen;
// if the token then expires, the outcome names the error.
func TestBankErrorThenCloseKeepsTheAttemptOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []mono.WidgetEvent
	}{
		{"close", []mono.WidgetEvent{callback(mono.CallbackClose)}},
		{"exit then close", []mono.WidgetEvent{onEvent(mono.EventExit, mono.EventData{PageName: "ERROR"}), callback(mono.CallbackClose)}},
		// The heartbeat and OPENED are not progress.
		{"noise then close", []mono.WidgetEvent{callback(mono.CallbackHeartbeat), onEvent(mono.EventOpened, mono.EventData{}), callback(mono.CallbackClose)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessionIn(t, WidgetLive)
			s = feed(t, s, onEvent(mono.EventError, mono.EventData{ErrorType: "BANK_ERROR", ErrorMessage: "The bank is unavailable"}))
			s = feed(t, s, tc.events...)
			if s.Phase() != WidgetClosed || s.Outcome().Kind != OutcomeNone {
				t.Fatalf("phase = %s outcome %v", s.Phase(), s.Outcome())
			}
			sit := s.Situation(midway)
			if !strings.Contains(sit.Where, "Error: BANK_ERROR — The bank is unavailable.") || !strings.Contains(sit.Next, "press Reopen") ||
				!strings.Contains(sit.Next, "5:00 more") {
				t.Errorf("situation %+v", sit)
			}
			s = apply(t, s, Event{Kind: Tick}, expiryAt)
			if s.Phase() != Expired || !strings.Contains(s.Outcome().Detail, "BANK_ERROR") {
				t.Errorf("expired: %s %+v", s.Phase(), s.Outcome())
			}
		})
	}
}

func TestWrongOTPThenCloseThenReopenAndSucceed(t *testing.T) {
	s := sessionIn(t, WidgetLive)
	s = feed(t, s, onEvent(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}))
	if sit := s.Situation(midway); !strings.Contains(sit.Next, "check what they entered") {
		t.Errorf("after wrong OTP: %+v", sit)
	}
	closed := feed(t, s, callback(mono.CallbackClose))
	if closed.Phase() != WidgetClosed {
		t.Fatalf("close after wrong OTP: %s", closed.Phase())
	}
	// The customer presses Reopen: the widget's events go on.
	again := feed(t, closed, onEvent(mono.EventOpened, mono.EventData{}), onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}))
	if again.Phase() != WidgetLive || again.LastError().Type != "INVALID_OTP" {
		t.Fatalf("reopened: %s %+v", again.Phase(), again.LastError())
	}
	done := feed(t, again, onEvent(mono.EventSuccess, mono.EventData{}))
	if done.Phase() != Succeeded {
		t.Fatalf("success after reopen: %s", done.Phase())
	}
}

func TestExitOnMFAThenCloseSaysWhereAndWhatToSay(t *testing.T) {
	s := sessionIn(t, WidgetLive)
	s = feed(t, s,
		onEvent(mono.EventSubmitCredentials, mono.EventData{}),
		onEvent(mono.EventExit, mono.EventData{PageName: "MFA"}),
	)
	if s.Phase() != WidgetLive || s.ExitPage() != "MFA" {
		t.Fatalf("after EXIT: %s exit %q", s.Phase(), s.ExitPage())
	}
	s = feed(t, s, callback(mono.CallbackClose))
	sit := s.Situation(midway)
	if s.Phase() != WidgetClosed || sit.Where != "The customer closed the widget on the MFA page." ||
		!strings.Contains(sit.Next, "received the code") || !strings.Contains(sit.Next, "press Reopen") {
		t.Fatalf("%s %+v", s.Phase(), sit)
	}
}

func TestCloseWithoutExitOrOnOtherPage(t *testing.T) {
	s := feed(t, sessionIn(t, WidgetLive), callback(mono.CallbackClose))
	if sit := s.Situation(midway); sit.Where != "The customer closed the widget." {
		t.Errorf("no EXIT: %+v", sit)
	}
	s = feed(t, sessionIn(t, WidgetLive), onEvent(mono.EventExit, mono.EventData{PageName: "Login page"}), callback(mono.CallbackClose))
	if sit := s.Situation(midway); sit.Where != "The customer closed the widget on the Login page." || strings.Contains(sit.Next, "code") {
		t.Errorf("EXIT on login: %+v", sit)
	}
}

func TestTokenExpiresAtExactlyItsExpiry(t *testing.T) {
	for _, p := range []Phase{TokenReady, PageOpening, PageOpened, WidgetLive, WidgetClosed, PageClosed} {
		t.Run(p.String(), func(t *testing.T) {
			s := sessionIn(t, p)
			s = apply(t, s, Event{Kind: Tick}, expiryAt.Add(-time.Minute)) // 09:59
			s = apply(t, s, Event{Kind: Tick}, expiryAt.Add(-time.Nanosecond))
			if s.Phase() != p {
				t.Fatalf("expired early: %s", s.Phase())
			}
			if !s.MintNeedsReplace(expiryAt.Add(-time.Nanosecond)) || s.MintNeedsReplace(expiryAt) {
				t.Error("MintNeedsReplace must turn false exactly at the expiry")
			}
			s = apply(t, s, Event{Kind: Tick}, expiryAt) // 10:00
			if s.Phase() != Expired {
				t.Fatalf("not expired at 10:00: %s", s.Phase())
			}
			want := "The token expired before the customer finished. Next: press t to mint a new token if the customer wants to try again."
			if s.Outcome().Kind != OutcomeExpired || s.Outcome().String() != want {
				t.Errorf("outcome %q", s.Outcome())
			}
			if !strings.HasPrefix(s.Outcome().Detail, "It expired at 10:00:00.") {
				t.Errorf("detail %q", s.Outcome().Detail)
			}
		})
	}
}

func TestExpiryAppliesOnAnyEventNotJustTick(t *testing.T) {
	s := sessionIn(t, WidgetLive)
	// Success always wins: a SUCCESS that arrives after the expiry (the
	// widget finished as the clock ran out) turns the expired attempt into
	// a success; the expiry is still applied first.
	s = apply(t, s, widget(s, onEvent(mono.EventSuccess, mono.EventData{})), expiryAt.Add(time.Second))
	if s.Phase() != Succeeded || s.Outcome().Kind != OutcomeSucceeded {
		t.Fatalf("phase %s outcome %v", s.Phase(), s.Outcome())
	}

	// At the expiry a mint needs no Replace: there is no live token left.
	ready := sessionIn(t, TokenReady)
	minted := apply(t, ready, Event{Kind: MintRequested}, expiryAt)
	if minted.Phase() != Minting || minted.Outcome().Kind != OutcomeNone {
		t.Errorf("mint at expiry: %s %v", minted.Phase(), minted.Outcome())
	}

	// An event illegal after the expiry leaves the session as it was.
	got, err := ready.Apply(Event{Kind: PageRequested}, expiryAt)
	if !errors.Is(err, ErrIllegal) || !reflect.DeepEqual(got, ready) {
		t.Errorf("page request at expiry: err %v, changed %v", err, !reflect.DeepEqual(got, ready))
	}

	// A token that is already expired when the mint result lands.
	mint := sessionIn(t, Minting)
	s = apply(t, mint, Event{Kind: MintSucceeded, Generation: mint.Generation(), Token: testToken()}, expiryAt.Add(time.Hour))
	if s.Phase() != Expired {
		t.Errorf("expired token on arrival: %s", s.Phase())
	}
}

func TestExpiredMovesOnOnlyByMinting(t *testing.T) {
	s := sessionIn(t, Expired)
	for _, kind := range allEventKinds {
		if s.Can(kind) != (kind == MintRequested || kind == LinkPrepared || kind == Tick || kind == Reset || kind.fromPage() || kind == MonoReauthorized || kind == MonoSynced) {
			t.Errorf("Can(%s) = %v in expired", kind, s.Can(kind))
		}
	}
	gen := s.Generation()
	s = apply(t, s, Event{Kind: MintRequested}, expiryAt)
	if s.Phase() != Minting || s.Generation() <= gen || s.Token() != (mono.Token{}) || s.Outcome() != (Outcome{}) {
		t.Fatalf("fresh mint from expired: %v", s)
	}
}

func TestStaleMintResultRejected(t *testing.T) {
	s := sessionIn(t, Minting)
	first := s.Generation()
	s = apply(t, s, Event{Kind: Back}, t0)                           // agent gives up waiting
	s = apply(t, s, Event{Kind: MintRequested}, t0.Add(time.Second)) // and asks again
	second := s.Generation()
	if second <= first {
		t.Fatalf("generation did not grow: %d then %d", first, second)
	}

	old := testToken()
	old.Value = "oldTOKENvalue000"
	for _, ev := range []Event{
		{Kind: MintSucceeded, Generation: first, Token: old},
		{Kind: MintFailed, Generation: first, Err: errors.New("timeout")},
	} {
		got, err := s.Apply(ev, t0.Add(2*time.Second))
		if !errors.Is(err, ErrStale) || !reflect.DeepEqual(got, s) {
			t.Fatalf("%v: err %v", ev, err)
		}
	}
	s = apply(t, s, Event{Kind: MintSucceeded, Generation: second, Token: testToken()}, t0.Add(2*time.Second))
	if s.Phase() != TokenReady || s.Token().Value != secretToken {
		t.Fatalf("current result: %s", s.Phase())
	}
}

func TestReplacingALiveTokenNeedsReplace(t *testing.T) {
	for _, p := range []Phase{TokenReady, PageOpening, PageOpened, WidgetLive, WidgetClosed, PageClosed} {
		t.Run(p.String(), func(t *testing.T) {
			s := sessionIn(t, p)
			if !s.MintNeedsReplace(midway) {
				t.Fatal("MintNeedsReplace = false with a live token")
			}
			got, err := s.Apply(Event{Kind: MintRequested}, midway)
			var te *TransitionError
			if !errors.As(err, &te) || te.Why == "" || !reflect.DeepEqual(got, s) {
				t.Fatalf("without Replace: err %v", err)
			}
			oldGen := s.Generation()
			s = apply(t, s, Event{Kind: MintRequested, Replace: true}, midway)
			if s.Phase() != Minting || s.Token() != (mono.Token{}) || s.PageURL() != "" || s.PageConnected() {
				t.Fatalf("replace did not start clean: %v url %q", s, s.PageURL())
			}
			// The old page's events can no longer land: refused while
			// minting, and stale once the new token's page is live.
			oldSuccess := Event{Kind: Widget, Generation: oldGen, Widget: onEvent(mono.EventSuccess, mono.EventData{})}
			if _, err = s.Apply(oldSuccess, midway); !errors.Is(err, ErrIllegal) {
				t.Errorf("old page's SUCCESS while minting: %v", err)
			}
			s = apply(t, s, Event{Kind: MintSucceeded, Generation: s.Generation(), Token: testToken()}, midway)
			s = apply(t, s, Event{Kind: PageRequested}, midway)
			s = apply(t, s, Event{Kind: PageConnected, Generation: s.Generation()}, midway)
			if _, err = s.Apply(oldSuccess, midway); !errors.Is(err, ErrStale) {
				t.Errorf("old page's SUCCESS on the new page: %v", err)
			}
		})
	}
	for _, p := range []Phase{Failed, EndedByAgent, TakenOver} {
		s := sessionIn(t, p)
		if s.MintNeedsReplace(midway) {
			t.Errorf("%s: a spent token needs no Replace", p)
		}
		if s = apply(t, s, Event{Kind: MintRequested}, midway); s.Phase() != Minting || s.Outcome().Kind != OutcomeNone {
			t.Errorf("%s: retry mint gave %v", p, s)
		}
	}
}

// A closed or silent page is not an outcome while the link is live: the
// situation says to open the link again and for how long it works; a
// reopened page carries on.
func TestPageGoneLeavesTheAttemptOpen(t *testing.T) {
	for _, p := range []Phase{PageOpening, PageOpened, WidgetLive, WidgetClosed} {
		s := sessionIn(t, p)
		s = apply(t, s, Event{Kind: PageGone, Generation: s.Generation()}, midway)
		sit := s.Situation(midway)
		if s.Phase() != PageClosed || s.Outcome().Kind != OutcomeNone || s.PageConnected() ||
			!strings.Contains(sit.Next, "open the link again") || !strings.Contains(sit.Next, "works for 5:00 more") {
			t.Errorf("%s: %s %+v %+v", p, s.Phase(), s.Outcome(), sit)
		}
	}
	// The page's own unload callback is the same signal; a reopen carries on.
	s := feed(t, sessionIn(t, WidgetLive), onEvent(mono.EventExit, mono.EventData{PageName: "MFA"}), callback(mono.CallbackUnload))
	if s.Phase() != PageClosed {
		t.Fatalf("unload: %s", s.Phase())
	}
	s = feed(t, s, mono.WidgetEvent{Callback: mono.CallbackPageOpen, Name: mono.EventPageReopened})
	if s.Phase() != WidgetLive || !s.PageConnected() {
		t.Fatalf("reopened: %s connected %v", s.Phase(), s.PageConnected())
	}
	s = feed(t, s, onEvent(mono.EventSuccess, mono.EventData{}))
	if s.Phase() != Succeeded {
		t.Fatalf("success after reopen: %s", s.Phase())
	}
}

// A page a newer attempt's page for the same account took over is its own
// outcome, TAKEN OVER, with what to check.
func TestReplacedPageSaysSo(t *testing.T) {
	for _, p := range []Phase{PageOpening, PageOpened, WidgetLive, PageClosed} {
		s := sessionIn(t, p)
		s = apply(t, s, Event{Kind: PageGone, Generation: s.Generation(), Replaced: true}, midway)
		o := s.Outcome()
		if s.Phase() != TakenOver || o.Kind != OutcomeTakenOver || o.Headline != "A newer page for this account took over." ||
			!strings.Contains(o.NextStep, "reauth audit --account") || s.PageConnected() {
			t.Errorf("%s: %s %+v", p, s.Phase(), o)
		}
	}
}

// Success always wins: the widget's or Mono's, after a close, a page gone,
// an expiry, the agent's end or a takeover.
func TestSuccessFromAnySignalWins(t *testing.T) {
	webhook := func(s Session) Event {
		return Event{Kind: MonoReauthorized, AccountID: testAccount.ID, At: midway}
	}
	for _, p := range []Phase{TokenReady, PageOpened, WidgetLive, WidgetClosed, PageClosed, Failed, EndedByAgent, TakenOver} {
		s := apply(t, sessionIn(t, p), webhook(sessionIn(t, p)), midway)
		if s.Phase() != Succeeded || !strings.Contains(s.Outcome().Detail, "account_reauthorized") {
			t.Errorf("webhook in %s: %s %+v", p, s.Phase(), s.Outcome())
		}
	}
	exp := sessionIn(t, Expired)
	if s := apply(t, exp, Event{Kind: MonoReauthorized, AccountID: testAccount.ID, At: expiryAt}, expiryAt); s.Phase() != Succeeded {
		t.Errorf("webhook after expiry: %s", s.Phase())
	}
	for _, p := range []Phase{Failed, EndedByAgent, TakenOver} {
		s := sessionIn(t, p)
		s = apply(t, s, widget(s, onEvent(mono.EventSuccess, mono.EventData{})), midway)
		if s.Phase() != Succeeded {
			t.Errorf("widget success in %s: %s", p, s.Phase())
		}
	}
	// A webhook for another account, or older than this attempt, changes nothing.
	live := sessionIn(t, WidgetLive)
	for _, ev := range []Event{
		{Kind: MonoReauthorized, AccountID: "000000000000000000000000", At: midway},
		{Kind: MonoReauthorized, AccountID: testAccount.ID, At: t0.Add(-time.Minute)},
	} {
		if got, err := live.Apply(ev, midway); err == nil || !reflect.DeepEqual(got, live) {
			t.Errorf("%+v: err %v phase %s", ev, err, got.Phase())
		}
	}
}

func TestAgentEndIsItsOwnOutcome(t *testing.T) {
	s := feed(t, sessionIn(t, WidgetLive), onEvent(mono.EventExit, mono.EventData{PageName: "MFA"}))
	s = apply(t, s, Event{Kind: AgentEnded}, midway)
	o := s.Outcome()
	if s.Phase() != EndedByAgent || o.Kind.String() != "ENDED BY AGENT" || o.Headline != "The agent ended the attempt." ||
		o.Detail != "The customer was last on the MFA page." {
		t.Errorf("%s %+v", s.Phase(), o)
	}
}

func TestPageErrorFails(t *testing.T) {
	s := feed(t, sessionIn(t, PageOpened), mono.WidgetEvent{Callback: mono.CallbackPageError,
		Data: mono.EventData{ErrorMessage: "Re-auth token is required for reauthorisation"}})
	if s.Phase() != Failed || s.Outcome().Headline != "Page error: Re-auth token is required for reauthorisation." {
		t.Errorf("%s %+v", s.Phase(), s.Outcome())
	}
}

func TestHeartbeatAndLoadConnectThePage(t *testing.T) {
	for _, we := range []mono.WidgetEvent{
		callback(mono.CallbackHeartbeat), callback(mono.CallbackLoad),
		onEvent(mono.EventLoaded, mono.EventData{}), onEvent(mono.EventOpened, mono.EventData{}),
	} {
		s := sessionIn(t, PageOpened)
		if s.PageConnected() || !s.LastEventAt().IsZero() {
			t.Fatal("connected before any contact")
		}
		s = apply(t, s, widget(s, we), midway)
		if s.Phase() != WidgetLive || !s.PageConnected() || !s.LastEventAt().Equal(midway) {
			t.Errorf("%s: phase %s connected %v", Describe(we), s.Phase(), s.PageConnected())
		}
		later := midway.Add(4 * time.Second)
		s = apply(t, s, widget(s, callback(mono.CallbackHeartbeat)), later)
		if s.Phase() != WidgetLive || !s.LastEventAt().Equal(later) {
			t.Errorf("heartbeat in widget live: %s last %v", s.Phase(), s.LastEventAt())
		}
	}
}

func TestPageServedAfterThePageAlreadyConnected(t *testing.T) {
	// The browser can be quicker than the message that says the server is up.
	s := sessionIn(t, PageOpening)
	s = apply(t, s, Event{Kind: PageConnected, Generation: s.Generation()}, midway)
	s = apply(t, s, Event{Kind: PageServed, Generation: s.Generation(), PageURL: "http://127.0.0.1:1/s/x", Pairing: "AB-12"}, midway)
	if s.Phase() != WidgetLive || s.PageURL() != "http://127.0.0.1:1/s/x" || s.PairingCode() != "AB-12" {
		t.Errorf("%s %q %q", s.Phase(), s.PageURL(), s.PairingCode())
	}
}

func TestMintAndPageFailuresAreRecorded(t *testing.T) {
	s := sessionIn(t, Minting)
	s = apply(t, s, Event{Kind: MintFailed, Generation: s.Generation(), Err: errors.New("Mono rejected the secret key (401)\x1b[31m")}, t0)
	if s.Phase() != Explaining || s.MintError() != "Mono rejected the secret key (401)" {
		t.Errorf("%s %q", s.Phase(), s.MintError())
	}
	s = apply(t, s, Event{Kind: MintRequested}, t0)
	if s.MintError() != "" {
		t.Error("a new mint keeps the old error")
	}
	s = apply(t, s, Event{Kind: MintFailed, Generation: s.Generation()}, t0)
	if s.MintError() != "the token could not be minted" {
		t.Errorf("nil error: %q", s.MintError())
	}

	p := sessionIn(t, PageOpening)
	p = apply(t, p, Event{Kind: PageFailed, Generation: p.Generation(), Err: errors.New("listen tcp 127.0.0.1:80: permission denied")}, t0)
	if p.Phase() != TokenReady || !strings.Contains(p.PageError(), "permission denied") {
		t.Errorf("%s %q", p.Phase(), p.PageError())
	}
}

func TestBadDataIsRefused(t *testing.T) {
	mint := sessionIn(t, Minting)
	other := testToken()
	other.AccountID = "000000000000000000000000"
	emptyValue := testToken()
	emptyValue.Value = ""
	verifying := sessionIn(t, Verifying)
	for _, tc := range []struct {
		name string
		s    Session
		ev   Event
	}{
		{"zero event", New(), Event{}},
		{"unknown kind", New(), Event{Kind: 999}},
		{"account without id", New(), Event{Kind: AccountChosen}},
		{"unknown reason", sessionIn(t, Explaining), Event{Kind: ReasonOverridden, Reason: 42}},
		{"token for another account", mint, Event{Kind: MintSucceeded, Generation: mint.Generation(), Token: other}},
		{"empty token", mint, Event{Kind: MintSucceeded, Generation: mint.Generation(), Token: emptyValue}},
		{"re-read of another account", verifying, Event{Kind: VerifyResult, Generation: verifying.Generation(), Account: mono.Account{ID: "x", DataStatus: mono.StatusAvailable}}},
	} {
		got, err := tc.s.Apply(tc.ev, midway)
		if !errors.Is(err, ErrIllegal) || !reflect.DeepEqual(got, tc.s) {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
}

func TestVerificationOutcomes(t *testing.T) {
	s := sessionIn(t, Verifying)
	s = apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Err: errors.New("Mono is having trouble (503)")}, midway)
	if s.Phase() != Verifying || s.Verification().LastErr != "Mono is having trouble (503)" || s.Verification().Checks != 1 {
		t.Fatalf("read failure: %s %+v", s.Phase(), s.Verification())
	}
	partial := apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Account: withStatus(mono.StatusPartial)}, midway)
	if partial.Phase() != Verifying || partial.Verification().LastErr != "" || !strings.Contains(partial.Verification().Headline, "PARTIAL") {
		t.Errorf("partial: %s %+v", partial.Phase(), partial.Verification())
	}
	// AVAILABLE on the last try is Mono's cached data: said so, not verified.
	lastTry := apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Account: withStatus(mono.StatusAvailable), GaveUp: true}, midway)
	if lastTry.Phase() != StillSyncing || !strings.Contains(lastTry.Verification().Headline, "cached data") {
		t.Errorf("available on the last try: %s %+v", lastTry.Phase(), lastTry.Verification())
	}
	// A read that shows a sync after the success is fresh.
	fresh := withStatus(mono.StatusAvailable)
	fresh.LastSyncedAt = midway.Add(time.Minute)
	if v := apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Account: fresh}, midway.Add(time.Minute)); v.Phase() != Verified {
		t.Errorf("fresh read: %s", v.Phase())
	}
	still := apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Account: withStatus(mono.StatusProcessing), GaveUp: true}, midway)
	if still.Phase() != StillSyncing || still.Verification().Headline != "Re-authorised; Mono has not confirmed fresh data yet (data PROCESSING)." {
		t.Errorf("gave up: %s %+v", still.Phase(), still.Verification())
	}
	unread := apply(t, s, Event{Kind: VerifyResult, Generation: s.Generation(), Err: errors.New("timeout"), GaveUp: true}, midway)
	if unread.Phase() != StillSyncing || !strings.Contains(unread.Verification().Headline, "(data not read)") {
		t.Errorf("gave up unread: %s %+v", unread.Phase(), unread.Verification())
	}
	if still.Outcome().Kind != OutcomeSucceeded {
		t.Error("verification changed the outcome")
	}
	// The check cut short by its front end (the agent quit, the server
	// shut down): unconfirmed, saying why, the success kept.
	stopped := apply(t, partial, Event{Kind: VerifyStopped, Why: "The agent quit reauth"}, midway)
	if stopped.Phase() != StillSyncing || stopped.Outcome().Kind != OutcomeSucceeded ||
		stopped.Verification().Headline != "Re-authorised; the check stopped before Mono confirmed fresh data (data PARTIAL). The agent quit reauth." {
		t.Errorf("stopped: %s %+v", stopped.Phase(), stopped.Verification())
	}
	if _, err := stopped.Apply(Event{Kind: VerifyStopped}, midway); !errors.Is(err, ErrIllegal) {
		t.Errorf("a check stopped twice: %v", err)
	}
	if _, err := sessionIn(t, WidgetLive).Apply(Event{Kind: VerifyStopped}, midway); !errors.Is(err, ErrIllegal) {
		t.Errorf("a check stopped with none under way: %v", err)
	}
}

func TestBack(t *testing.T) {
	s := sessionIn(t, TokenReady)
	back := apply(t, s, Event{Kind: Back}, midway)
	if back.Phase() != Explaining || back.Token() != (mono.Token{}) || back.Account().ID != testAccount.ID {
		t.Errorf("back from token ready: %v", back)
	}
	if back.MintNeedsReplace(midway) {
		t.Error("the dropped token still needs Replace")
	}

	opened := sessionIn(t, PageOpened)
	back = apply(t, opened, Event{Kind: Back}, midway)
	if back.Phase() != TokenReady || back.Token().Value != secretToken || back.PageURL() != "" || back.PairingCode() != "" {
		t.Errorf("back from page opened: %v %q", back, back.PageURL())
	}
	if _, err := back.Apply(Event{Kind: PageConnected, Generation: opened.Generation()}, midway); !errors.Is(err, ErrIllegal) {
		t.Errorf("dropped page's connect: %v", err)
	}
	reopened := apply(t, back, Event{Kind: PageRequested}, midway)
	if _, err := reopened.Apply(Event{Kind: PageConnected, Generation: opened.Generation()}, midway); !errors.Is(err, ErrStale) {
		t.Errorf("dropped page's connect after reopening: %v", err)
	}

	explaining := apply(t, sessionIn(t, Explaining), Event{Kind: Back}, midway)
	if explaining.Phase() != ChoosingAccount || explaining.Account().ID != "" || len(explaining.Reason().Evidence) != 0 {
		t.Errorf("back from explaining: %v", explaining)
	}
}

func TestResetStartsOverButKeepsCounting(t *testing.T) {
	s := sessionIn(t, Verifying)
	gen := s.Generation()
	r := apply(t, s, Event{Kind: Reset}, midway)
	if r.Phase() != ChoosingAccount || r.Generation() <= gen {
		t.Fatalf("reset: %v", r)
	}
	if want := (Session{generation: r.Generation()}); !reflect.DeepEqual(r, want) {
		t.Errorf("reset kept state: %v", r)
	}
	// Walk a new attempt up to verifying again: the old re-read must not land.
	again := r
	again = apply(t, again, Event{Kind: AccountChosen, Account: testAccount}, midway)
	again = apply(t, again, Event{Kind: MintRequested}, midway)
	again = apply(t, again, Event{Kind: MintSucceeded, Generation: again.Generation(), Token: testToken()}, midway)
	again = apply(t, again, Event{Kind: PageRequested}, midway)
	again = apply(t, again, Event{Kind: PageConnected, Generation: again.Generation()}, midway)
	again = feed(t, again, onEvent(mono.EventSuccess, mono.EventData{}))
	again = apply(t, again, Event{Kind: VerifyStarted}, midway)
	if _, err := again.Apply(Event{Kind: VerifyResult, Generation: gen, Account: withStatus(mono.StatusAvailable)}, midway); !errors.Is(err, ErrStale) {
		t.Errorf("pre-reset re-read: %v", err)
	}
}

func TestReasonOverride(t *testing.T) {
	s := sessionIn(t, Explaining)
	if s.Reason().Kind != MFARequired || s.Reason().Overridden {
		t.Fatalf("derived reason %+v", s.Reason())
	}
	s = apply(t, s, Event{Kind: ReasonOverridden, Reason: PasswordChanged}, midway)
	if r := s.Reason(); r.Kind != PasswordChanged || !r.Overridden {
		t.Errorf("override %+v", r)
	}
	// Reason returns a copy: editing it must not reach the session.
	r := s.Reason()
	r.Evidence[0] = "tampered"
	if s.Reason().Evidence[0] == "tampered" {
		t.Error("Reason shares its slices with the session")
	}
}

func TestSecretsNeverFormatted(t *testing.T) {
	s := feed(t, sessionIn(t, WidgetLive), onEvent(mono.EventSuccess, mono.EventData{Code: successCode}))
	ev := Event{Kind: MintSucceeded, Token: testToken(), Widget: onEvent(mono.EventSuccess, mono.EventData{Code: successCode})}
	_, err := New().Apply(ev, midway)
	var texts []string
	for _, v := range []any{s, ev, &s, &ev} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			texts = append(texts, fmt.Sprintf(verb, v))
		}
	}
	texts = append(texts, err.Error(), s.Outcome().String(), s.Outcome().Detail)
	for _, text := range texts {
		if strings.Contains(text, secretToken) || strings.Contains(text, successCode) {
			t.Errorf("secret leaked: %s", text)
		}
	}
	if !strings.Contains(s.String(), testToken().Fingerprint()) {
		t.Errorf("String should carry the fingerprint: %s", s)
	}
}

func TestStringsCoverEveryValue(t *testing.T) {
	seen := map[string]bool{}
	check := func(what, got string) {
		t.Helper()
		if got == "" || strings.Contains(got, "(") || seen[got] {
			t.Errorf("%s: String %q empty, a fallback, or duplicated", what, got)
		}
		seen[got] = true
	}
	for _, p := range allPhases {
		check("phase", p.String())
	}
	clear(seen)
	for _, k := range allEventKinds {
		check("event kind", k.String())
	}
	clear(seen)
	for k := OutcomeNone; k <= OutcomeTakenOver; k++ {
		check("outcome kind", k.String())
	}
	for _, tc := range []struct{ got, want string }{
		{Phase(99).String(), "Phase(99)"},
		{Phase(-1).String(), "Phase(-1)"},
		{EventKind(0).String(), "EventKind(0)"},
		{EventKind(99).String(), "EventKind(99)"},
		{OutcomeKind(9).String(), "OutcomeKind(9)"},
		{OutcomeSucceeded.String(), "SUCCEEDED"},
		{OutcomeExpired.String(), "EXPIRED"},
		{WidgetLive.String(), "widget live"},
	} {
		if tc.got != tc.want {
			t.Errorf("String = %q, want %q", tc.got, tc.want)
		}
	}
	var te error = &TransitionError{Phase: Minting, Event: PageServed, Why: "because"}
	if te.Error() != "state: cannot apply page served while minting token: because" {
		t.Errorf("error text %q", te)
	}
}

func TestOutcomeStringWithoutNextStep(t *testing.T) {
	if got := (Outcome{Headline: "Done."}).String(); got != "Done." {
		t.Errorf("%q", got)
	}
}

// Mono refusing a mint ("cannot be re-authorised") is an outcome with a
// next step, and no further mint is offered for the account.
func TestMonoRefusingAMintIsAnOutcome(t *testing.T) {
	s := sessionIn(t, Minting)
	s = apply(t, s, Event{Kind: MintFailed, Generation: s.Generation(), Err: errors.New("This account can not be re-authorised."), Refused: true}, t0)
	o := s.Outcome()
	if s.Phase() != Failed || o.Kind != OutcomeFailed || !strings.Contains(o.NextStep, "link the account again") ||
		!strings.Contains(o.NextStep, testAccount.ID) {
		t.Fatalf("%s %+v", s.Phase(), o)
	}
	if s.Can(MintRequested) {
		t.Error("a mint is still offered after Mono refused the account")
	}
	if _, err := s.Apply(Event{Kind: MintRequested}, t0); !errors.Is(err, ErrIllegal) {
		t.Errorf("mint after refusal: %v", err)
	}
}

// An account Mono says was unlinked cannot be re-authorised: no mint and no
// link is offered for it.
func TestUnlinkedAccountOffersNoMint(t *testing.T) {
	s := apply(t, New(), Event{Kind: AccountChosen, Account: testAccount,
		Signals: Signals{Webhook: &WebhookEvidence{Event: "mono.events.account_unlinked", At: t0}, WebhooksChecked: true}}, t0)
	if s.Reason().Kind != AccountUnlinked {
		t.Fatalf("reason %v", s.Reason().Kind)
	}
	if s.Can(MintRequested) || s.Can(LinkPrepared) {
		t.Error("a mint or link is offered for an unlinked account")
	}
}

// The reason as shown after the account's details is recorded, with Mono
// support's ids from the read.
func TestRefinedReasonIsAuditedWithSupportIDs(t *testing.T) {
	a := NewAttempt("att")
	if _, err := a.Apply(Event{Kind: AccountChosen, Account: testAccount}, t0); err != nil {
		t.Fatal(err)
	}
	acct := testAccount
	acct.DataRequestID, acct.SessionID = "drq_123", "sess_456"
	recs, err := a.Refine(acct, Signals{}, t0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%v %v", recs, err)
	}
	r := recs[0]
	if r.Action != "reason_shown" || r.Seq != 3 || !strings.HasSuffix(r.Detail, "data_request_id drq_123; session_id sess_456") {
		t.Errorf("record %+v", r)
	}
}
