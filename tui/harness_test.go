package tui

import (
	"context"
	mrand "math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
)

func TestMain(m *testing.M) {
	// Views print local times; pin the zone so goldens match on any machine.
	time.Local = time.UTC
	m.Run()
}

// clock is a settable time source shared by the sandbox, the client and the TUI.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakePage is a page whose events the test pushes.
type fakePage struct {
	url, code string
	events    chan mono.WidgetEvent
	done      chan struct{}
	once      sync.Once
	closed    bool
	endReason string
	mu        sync.Mutex
}

func newFakePage(n int) *fakePage {
	return &fakePage{url: "http://127.0.0.1:4242/s/abc#fragment", code: "K7-Q2",
		events: make(chan mono.WidgetEvent, 64), done: make(chan struct{})}
}

func (p *fakePage) URL() string                     { return p.url }
func (p *fakePage) PairingCode() string             { return p.code }
func (p *fakePage) Events() <-chan mono.WidgetEvent { return p.events }
func (p *fakePage) Done() <-chan struct{}           { return p.done }
func (p *fakePage) Close()                          { p.end(connect.EndClosed) }

// end ends the page's session for why, as the page server does.
func (p *fakePage) end(why string) {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed, p.endReason = true, why
		p.mu.Unlock()
		close(p.done)
	})
}

func (p *fakePage) EndReason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endReason
}

type fakePages struct {
	mu     sync.Mutex
	opened []*fakePage
	reqs   []PageRequest
	err    error
}

func (f *fakePages) Open(ctx context.Context, req PageRequest) (Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	p := newFakePage(len(f.opened))
	f.opened = append(f.opened, p)
	f.reqs = append(f.reqs, req)
	return p, nil
}

func (f *fakePages) last() *fakePage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.opened) == 0 {
		return nil
	}
	return f.opened[len(f.opened)-1]
}

// memAudit is the audit in memory. With now and agent set it stamps each
// record's time and agent when they are missing, as the app's recorder does.
type memAudit struct {
	mu    sync.Mutex
	recs  []audit.Record
	now   func() time.Time
	agent string
}

func (a *memAudit) Record(r audit.Record) {
	if r.Time.IsZero() && a.now != nil {
		r.Time = a.now()
	}
	if r.Agent == (audit.Agent{}) && a.agent != "" {
		r.Agent = audit.Agent{User: a.agent}
	}
	a.mu.Lock()
	a.recs = append(a.recs, r)
	a.mu.Unlock()
}

// records is a copy of what was recorded so far.
func (a *memAudit) records() []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Record(nil), a.recs...)
}

// attempts is Deps.Attempts over this audit (the app reads its store).
func (a *memAudit) attempts(_ context.Context, accountID string, now time.Time) (audit.Summary, bool) {
	return audit.Summarize(a.records(), accountID, now), true
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

// harness drives a Model the way a Program would: Update on the test's
// goroutine, Cmds on their own goroutines, their messages fed back in.
type harness struct {
	t      *testing.T
	m      Model
	msgs   chan tea.Msg
	clock  *clock
	sb     *sandbox.Server
	pages  *fakePages
	audit  *memAudit
	cancel context.CancelFunc
	quit   bool
	// With harnessOpts.starting: the model began with NewStarting; the test
	// hands it deps through ready when it chooses.
	ready chan Ready
	deps  Deps
	// webhooks delivers Mono's webhooks to the program (Deps.Signals).
	webhooks chan AccountSignal
	// marks is the webhook store behind Deps.SignalsFor and LatestWebhook.
	marks *webhook.Store
}

// monoSynced is Mono's account_updated with sync_status SUCCESSFUL for the
// open account: the webhook that confirms fresh data after a reauth.
func (h *harness) monoSynced() {
	h.t.Helper()
	h.webhooks <- AccountSignal{AccountID: h.m.session.account.ID, Event: "mono.events.account_updated",
		SyncStatus: mono.SyncStatusSuccessful, At: h.clock.Now()}
}

type harnessOpts struct {
	accounts int
	width    int
	height   int
	dark     bool
	pageErr  error
	fault    *sandbox.Fault
	tweak    func(*Deps)
	// confirmDelay is how long the sandbox keeps a re-authorised account
	// PROCESSING (default 30s).
	confirmDelay time.Duration
	// starting begins with NewStarting (the Deps still being made); the test
	// delivers them with h.ready <- Ready{Deps: h.deps}.
	starting bool
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.accounts == 0 {
		o.accounts = 60
	}
	if o.width == 0 {
		o.width, o.height = 80, 24
	}
	if o.confirmDelay == 0 {
		o.confirmDelay = 30 * time.Second
	}
	c := newClock()
	// Seeded tokens keep the masked token in golden views stable.
	sb := sandbox.New(sandbox.Options{Seed: 1, Accounts: o.accounts, PageSize: 20, Now: c.Now, ConfirmDelay: o.confirmDelay,
		TokenSource: mrand.NewChaCha8([32]byte{1})})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	if o.fault != nil {
		sb.SetFault(*o.fault)
	}
	client, err := mono.NewClient(mono.Config{BaseURL: sb.URL(), SecretKey: sandbox.SecretKey, Now: c.Now,
		Retry: mono.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pages := &fakePages{err: o.pageErr}
	au := &memAudit{now: c.Now, agent: "ada@support"}
	// The sandbox says why its scenario accounts need reauth the way Mono
	// does: through webhooks, here recorded into a store before the app
	// starts (as the app's receiver would have).
	marks := webhook.NewMemoryStore()
	// Mono's later webhooks (the test sends them: h.webhook) reach the
	// program as a receiver's would.
	webhooks := make(chan AccountSignal, 16)
	for _, body := range sb.ScenarioWebhooks() {
		ev, err := webhook.Parse(body)
		if err != nil {
			t.Fatalf("sandbox webhook: %v", err)
		}
		if _, err := marks.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	deps := Deps{Mono: client, Pages: pages, Audit: au, Now: c.Now, Agent: "ada@support", Sandbox: true,
		ScenarioFor: func(id string) string { return string(sandbox.ScenarioFor(id)) },
		NeedsReauth: marks.NeedsReauth, SignalsFor: MarkSignals(marks, nil), LatestWebhook: LatestWebhook(marks), Attempts: au.attempts,
		Signals:     func(context.Context) <-chan AccountSignal { return webhooks },
		VerifyEvery: time.Millisecond, VerifyFor: 40 * time.Second}
	if o.tweak != nil {
		o.tweak(&deps)
	}
	var m Model
	var ready chan Ready
	if o.starting {
		ready = make(chan Ready, 1)
		m = NewStarting(ctx, Deps{Agent: deps.Agent, Sandbox: deps.Sandbox, Now: deps.Now}, ready)
	} else {
		m = New(ctx, deps)
	}
	m.noTimers = true
	h := &harness{t: t, m: m, msgs: make(chan tea.Msg, 256), clock: c, sb: sb, pages: pages, audit: au, cancel: cancel,
		ready: ready, deps: deps, webhooks: webhooks, marks: marks}
	t.Cleanup(func() {
		cancel()
		_ = sb.Close()
	})
	h.send(tea.WindowSizeMsg{Width: o.width, Height: o.height})
	h.m.applyStyles(o.dark)
	h.exec(h.m.Init())
	return h
}

func (h *harness) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		switch msg := msg.(type) {
		case nil:
		case tea.BatchMsg:
			for _, c := range msg {
				h.exec(c)
			}
		default:
			if seq := sequenceCmds(msg); seq != nil {
				// As the Program does: each Cmd finishes before the next starts.
				for _, c := range seq {
					if c != nil {
						h.deliver(c())
					}
				}
				return
			}
			h.deliver(msg)
		}
	}()
}

func (h *harness) deliver(msg tea.Msg) {
	if msg == nil {
		return
	}
	select {
	case h.msgs <- msg:
	case <-time.After(10 * time.Second):
	}
}

// sequenceCmds unpacks tea.Sequence's message, whose type Bubble Tea does
// not export: a slice of Cmds that must run one after another.
func sequenceCmds(msg tea.Msg) []tea.Cmd {
	v := reflect.ValueOf(msg)
	if v.Kind() != reflect.Slice || v.Type().Elem() != reflect.TypeOf(tea.Cmd(nil)) || v.Type() == reflect.TypeOf(tea.BatchMsg(nil)) {
		return nil
	}
	out := make([]tea.Cmd, v.Len())
	for i := range out {
		out[i] = v.Index(i).Interface().(tea.Cmd)
	}
	return out
}

func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	if _, ok := msg.(tea.QuitMsg); ok {
		h.quit = true
		return
	}
	next, cmd := h.m.Update(msg)
	h.m = next.(Model)
	h.exec(cmd)
}

// until feeds Cmd results into Update until cond holds, or fails the test
// after a deadline (never a fixed sleep).
func (h *harness) until(what string, cond func(m Model) bool) {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	// Some conditions depend on Cmd side effects that send no message (an
	// audit write): re-check them on a short poll as well.
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !cond(h.m) {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-poll.C:
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; view:\n%s", what, h.m.View().Content)
		}
	}
}

// mintAndOpenPage mints a token for the open account (t) and opens its page
// (o), waiting for each step.
func (h *harness) mintAndOpenPage() {
	h.t.Helper()
	h.key("t")
	h.until("token", func(m Model) bool { return m.session.sess.Phase() == state.TokenReady })
	h.key("o")
	h.until("page", func(m Model) bool { return m.session.sess.Phase() == state.PageOpened })
}

func (h *harness) key(keys ...string) {
	h.t.Helper()
	for _, k := range keys {
		h.send(keyMsg(k))
	}
}

func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

func (h *harness) tick(d time.Duration) {
	h.clock.Advance(d)
	h.send(clockMsg(h.clock.Now()))
}
