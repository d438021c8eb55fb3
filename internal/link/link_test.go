package link

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

const (
	secretToken = "tokSECRETvalue4d9Q"
	successCode = "code_SECRET_8842"
)

var (
	t0      = time.Date(2026, 3, 2, 9, 50, 0, 0, time.UTC)
	account = mono.Account{ID: "65f1c0a9e1b2c3d4e5f60718", Name: "Adaeze Okafor", AccountNumber: "0123456789",
		Institution: mono.Institution{Name: "GTBank"}, DataStatus: mono.StatusFailed}
)

// page is a widget page whose events the test scripts.
type page struct {
	events chan mono.WidgetEvent
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	why    string
	// acked is what Recorded was told, with the audit's size then
	// (recordedAudit: set by the test).
	acked         []int64
	ackedAt       []int
	recordedAudit *memAudit
}

// Recorded is connect.Session's: the run says which events are recorded.
func (p *page) Recorded(seq int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acked = append(p.acked, seq)
	if p.recordedAudit != nil {
		p.recordedAudit.mu.Lock()
		p.ackedAt = append(p.ackedAt, len(p.recordedAudit.recs))
		p.recordedAudit.mu.Unlock()
	}
}

func newPage(evs ...mono.WidgetEvent) *page {
	p := &page{events: make(chan mono.WidgetEvent, 64), done: make(chan struct{})}
	for _, e := range evs {
		p.events <- e
	}
	return p
}

func (p *page) URL() string                     { return "http://127.0.0.1:4242/s/abc#pageSECRETfragment" }
func (p *page) PairingCode() string             { return "K7-Q2" }
func (p *page) Events() <-chan mono.WidgetEvent { return p.events }
func (p *page) Done() <-chan struct{}           { return p.done }
func (p *page) Close()                          { p.end(connect.EndClosed) }
func (p *page) end(why string) {
	p.once.Do(func() {
		p.mu.Lock()
		p.why = why
		p.mu.Unlock()
		close(p.done)
	})
}
func (p *page) EndReason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.why
}

// memAudit records appends; fail makes them fail.
type memAudit struct {
	mu    sync.Mutex
	recs  []audit.Record
	fail  bool
	tries int // appends failed
}

func (a *memAudit) Append(r audit.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		a.tries++
		return errors.New("disk full")
	}
	a.recs = append(a.recs, r)
	return nil
}

func (a *memAudit) actions() []audit.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Action
	for _, r := range a.recs {
		out = append(out, r.Action)
	}
	return out
}

// minter mints secretToken; it checks the request record is already in
// the audit when the request leaves.
type minter struct {
	audit  *memAudit
	calls  int
	sawReq bool
	err    error
}

func (m *minter) Reauthorise(context.Context, string) (mono.Token, error) {
	m.calls++
	m.sawReq = slices.Contains(m.audit.actions(), audit.ActionTokenMintRequested)
	if m.err != nil {
		return mono.Token{}, m.err
	}
	return mono.Token{AccountID: account.ID, Value: secretToken, MintedAt: t0, ExpiresAt: t0.Add(mono.TokenLifetime)}, nil
}

func ev(name string, d mono.EventData) mono.WidgetEvent {
	return mono.WidgetEvent{Callback: mono.CallbackEvent, Name: name, Data: d}
}

func cb(c mono.Callback) mono.WidgetEvent { return mono.WidgetEvent{Callback: c} }

type run struct {
	res    Result
	err    error
	out    []string
	audit  *memAudit
	minter *minter
}

func runWith(t *testing.T, ctx context.Context, p *page, tweak func(*Options)) run {
	t.Helper()
	au := &memAudit{}
	mt := &minter{audit: au}
	pr, pw := io.Pipe()
	var out []string
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
	}()
	opts := Options{Account: account, Mint: mt, Audit: au, Out: pw, Now: func() time.Time { return t0 },
		Open: func(context.Context, mono.Account, mono.Token) (Page, error) { return p, nil }}
	if tweak != nil {
		tweak(&opts)
	}
	res, err := Run(ctx, opts)
	pw.Close()
	<-read
	return run{res: res, err: err, out: out, audit: au, minter: mt}
}

func TestRunOutcomes(t *testing.T) {
	reopen := mono.WidgetEvent{Callback: mono.CallbackPageOpen, Name: mono.EventPageReopened}
	cases := []struct {
		name  string
		evs   []mono.WidgetEvent
		end   string
		tweak func(*Options)
		want  state.OutcomeKind
		exit  int
	}{
		{"success", []mono.WidgetEvent{ev(mono.EventSuccess, mono.EventData{Code: successCode}), cb(mono.CallbackClose)}, "", nil, state.OutcomeSucceeded, 0},
		// A closed tab is not the end: the reopened link carries on.
		{"page closed, reopened, success", []mono.WidgetEvent{ev(mono.EventOpened, mono.EventData{}), cb(mono.CallbackUnload), reopen,
			ev(mono.EventSuccess, mono.EventData{}), cb(mono.CallbackClose)}, "", nil, state.OutcomeSucceeded, 0},
		{"page error", []mono.WidgetEvent{{Callback: mono.CallbackPageError, Data: mono.EventData{ErrorMessage: "Re-auth token is required"}}}, "", nil, state.OutcomeFailed, 1},
		{"taken over", []mono.WidgetEvent{ev(mono.EventOpened, mono.EventData{})}, connect.EndReplaced, nil, state.OutcomeTakenOver, 1},
		// --exit-on-close: the old stop at the first close, as the agent's end.
		{"exit on close", []mono.WidgetEvent{ev(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP"}), ev(mono.EventSubmitMFA, mono.EventData{}), cb(mono.CallbackClose)},
			"", func(o *Options) { o.ExitOnClose = true }, state.OutcomeEndedByAgent, 1},
		{"timeout", nil, "", func(o *Options) { o.Timeout = 50 * time.Millisecond }, state.OutcomeEndedByAgent, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPage(c.evs...)
			if c.end != "" {
				p.end(c.end)
			}
			r := runWith(t, context.Background(), p, c.tweak)
			if r.err != nil || r.res.Outcome.Kind != c.want || r.res.ExitCode() != c.exit {
				t.Fatalf("got %v %+v exit %d, want %s exit %d\n%s", r.err, r.res.Outcome, r.res.ExitCode(), c.want, c.exit, strings.Join(r.out, "\n"))
			}
			var outcomes []string
			for _, rec := range r.audit.recs {
				if rec.Action == audit.ActionOutcome {
					outcomes = append(outcomes, rec.Outcome)
				}
			}
			if len(outcomes) != 1 || outcomes[0] != c.want.String() {
				t.Errorf("outcome records %q, want one %s", outcomes, c.want)
			}
			for _, l := range r.out {
				if strings.Contains(l, secretToken) || strings.Contains(l, successCode) {
					t.Errorf("a secret reached stdout: %q", l)
				}
			}
		})
	}
}

// reauth link tells the page which of its events are recorded, each once
// its records are in the audit, so the page server answers the page's
// outcome posts only then (connect.Config.AckRecorded).
func TestLinkSaysWhichEventsAreRecorded(t *testing.T) {
	withSeq := func(seq int64, e mono.WidgetEvent) mono.WidgetEvent { e.Seq = seq; return e }
	p := newPage(withSeq(1, ev(mono.EventOpened, mono.EventData{})),
		withSeq(2, ev(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "wrong code"})),
		withSeq(3, ev(mono.EventSuccess, mono.EventData{})), withSeq(4, cb(mono.CallbackClose)))
	var au *memAudit
	r := runWith(t, context.Background(), p, func(o *Options) {
		au = o.Audit.(*memAudit)
		p.recordedAudit = au
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Equal(p.acked, []int64{1, 2, 3, 4}) {
		t.Fatalf("Recorded calls %v, want 1..4", p.acked)
	}
	// When seq 3 (the success) was said recorded, the outcome was in the audit.
	outcomeAt := -1
	for i, rec := range au.recs {
		if rec.Action == audit.ActionOutcome {
			outcomeAt = i
			break
		}
	}
	if outcomeAt < 0 || p.ackedAt[2] <= outcomeAt {
		t.Fatalf("success said recorded with %d records in the audit; the outcome is record %d", p.ackedAt[2], outcomeAt)
	}
}

// The request record is durable before the mint leaves; a run whose audit
// cannot be written never mints.
func TestMintIsRecordedFirstOrNotAtAll(t *testing.T) {
	r := runWith(t, context.Background(), newPage(ev(mono.EventSuccess, mono.EventData{}), cb(mono.CallbackClose)), nil)
	if r.minter.calls != 1 || !r.minter.sawReq {
		t.Fatalf("mint calls %d, request record before it %v", r.minter.calls, r.minter.sawReq)
	}
	want := []audit.Action{audit.ActionSessionStarted, audit.ActionReasonShown, audit.ActionReasonShown, // as listed, then with what is known
		audit.ActionTokenMintRequested, audit.ActionTokenMinted, audit.ActionPageOpened}
	if got := r.audit.actions(); !slices.Equal(got[:len(want)], want) {
		t.Errorf("records %v", got)
	}
	for i, rec := range r.audit.recs {
		if rec.Seq != i+1 || rec.Session != r.res.Attempt || rec.Account != account.ID {
			t.Errorf("record %d: seq %d session %q account %q", i, rec.Seq, rec.Session, rec.Account)
		}
	}

	au := &memAudit{fail: true}
	mt := &minter{audit: au}
	_, err := Run(context.Background(), Options{Account: account, Mint: mt, Audit: au,
		Open: func(context.Context, mono.Account, mono.Token) (Page, error) { return newPage(), nil }})
	if err == nil || mt.calls != 0 || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("unwritable audit: err %v, mint calls %d", err, mt.calls)
	}

	// A mint Mono refuses is recorded and returned.
	au = &memAudit{}
	mt = &minter{audit: au, err: errors.New("This account can not be re-authorised.")}
	_, err = Run(context.Background(), Options{Account: account, Mint: mt, Audit: au,
		Open: func(context.Context, mono.Account, mono.Token) (Page, error) { return newPage(), nil }})
	if err == nil || !slices.Contains(au.actions(), audit.ActionTokenMintFailed) {
		t.Fatalf("refused mint: %v %v", err, au.actions())
	}
}

// Mono's account_reauthorized turns the run into a success after the page
// is gone; a webhook for another account changes nothing.
func TestWebhookSuccessWinsAfterThePageIsGone(t *testing.T) {
	sigs := make(chan Signal)
	p := newPage(ev(mono.EventOpened, mono.EventData{}), cb(mono.CallbackUnload))
	var au *memAudit
	ready := make(chan *memAudit, 1)
	go func() {
		a := <-ready
		// Once the page's close is in the audit, Mono's webhooks arrive.
		waitFor(t, func() bool { return a.has("Page closed") })
		sigs <- Signal{AccountID: "000000000000000000000000", Reauthorized: true, At: t0}
		sigs <- Signal{AccountID: account.ID, Reauthorized: true, At: t0}
	}()
	r := runWith(t, context.Background(), p, func(o *Options) {
		o.Signals = sigs
		au = o.Audit.(*memAudit)
		ready <- au
	})
	if r.res.Outcome.Kind != state.OutcomeSucceeded || !strings.Contains(r.res.Outcome.Detail, "account_reauthorized") {
		t.Fatalf("%+v\n%s", r.res.Outcome, strings.Join(r.out, "\n"))
	}
}

// Ctrl-C: the run stops, says cancelled, and the attempt is recorded as
// ended by the agent.
func TestCancelIsTheAgentsEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *memAudit, 1)
	go func() {
		a := <-ready
		waitFor(t, func() bool { return a.has("Widget opened") })
		cancel()
	}()
	r := runWith(t, ctx, newPage(ev(mono.EventOpened, mono.EventData{})), func(o *Options) { ready <- o.Audit.(*memAudit) })
	if !errors.Is(r.err, ErrCanceled) || r.res.Outcome.Kind != state.OutcomeEndedByAgent {
		t.Fatalf("%v %+v", r.err, r.res.Outcome)
	}
}

// has reports whether a record's event is text.
func (a *memAudit) has(text string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.recs {
		if r.Event == text {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, cond func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Error("condition not met in 10s")
			return
		}
		<-tick.C
	}
}

// JSON lines: the URL first, one line per widget event without the success
// code, the outcome last in the machine's words.
func TestJSONTranscript(t *testing.T) {
	r := runWith(t, context.Background(), newPage(ev(mono.EventSuccess, mono.EventData{Code: successCode}), cb(mono.CallbackClose)),
		func(o *Options) { o.JSON = true })
	if len(r.out) < 3 {
		t.Fatalf("output %q", r.out)
	}
	var head map[string]any
	if err := json.Unmarshal([]byte(r.out[0]), &head); err != nil || head["url"] == "" || head["pairing_code"] != "K7-Q2" {
		t.Fatalf("first line %q", r.out[0])
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(r.out[len(r.out)-1]), &last); err != nil || last["outcome"] != "SUCCEEDED" || last["exit_code"] != float64(0) {
		t.Fatalf("last line %q", r.out[len(r.out)-1])
	}
	for _, l := range r.out {
		if strings.Contains(l, successCode) {
			t.Errorf("code leaked: %q", l)
		}
	}
}

// The account contract mints nothing: the link is prepared instead.
func TestAccountContractMintsNothing(t *testing.T) {
	r := runWith(t, context.Background(), newPage(ev(mono.EventSuccess, mono.EventData{}), cb(mono.CallbackClose)),
		func(o *Options) { o.Mint = nil })
	if r.minter.calls != 0 || r.res.Outcome.Kind != state.OutcomeSucceeded || !slices.Contains(r.audit.actions(), audit.ActionLinkPrepared) {
		t.Fatalf("calls %d outcome %+v records %v", r.minter.calls, r.res.Outcome, r.audit.actions())
	}
}
