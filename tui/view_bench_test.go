package tui

import (
	"context"
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/state"
)

// BenchmarkModelView draws the whole session screen (header, account,
// reason, token, page, status pane, footer) at 200x60 with 100 and 10,000
// events in the pane. Bubble Tea v2 calls View after every Update, so this
// is the cost every widget event pays besides Update itself:
//
//	go test -run '^$' -bench ModelView -benchmem ./tui/
//
// stream: one new event per frame (Update + View); steady: View alone.
func BenchmarkModelView(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		d := newViewDriver(b, 200, 60)
		d.pushEvents(b, n)
		if got := len(d.m.session.status.lines); got < n {
			b.Fatalf("%d lines in the pane, want >= %d", got, n)
		}
		b.Run(fmt.Sprintf("events=%d/steady", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d.m.View()
			}
		})
		b.Run(fmt.Sprintf("events=%d/stream", n), func(b *testing.B) {
			ev := mono.WidgetEvent{Callback: mono.CallbackEvent, Name: mono.EventSubmitMFA, Data: mono.EventData{MFAType: "OTP"}}
			b.ReportAllocs()
			for b.Loop() {
				d.seq++
				ev.Seq, ev.At = d.seq, time.Now()
				next, _ := d.m.Update(widgetMsg{gen: d.gen, page: d.page, evs: []mono.WidgetEvent{ev}})
				d.m = next.(Model)
				d.m.View()
			}
		})
		d.close()
	}
}

// viewDriver runs a Model the way the test harness does (Update on this
// goroutine, Cmds on theirs, their messages fed back), for benchmarks.
type viewDriver struct {
	m      Model
	msgs   chan tea.Msg
	sb     *sandbox.Server
	page   *benchPage
	gen    uint64
	seq    int64
	cancel context.CancelFunc
}

type benchPage struct {
	events chan mono.WidgetEvent
	done   chan struct{}
}

func (p *benchPage) URL() string                     { return "http://127.0.0.1:1/s/bench#not-a-secret" }
func (p *benchPage) PairingCode() string             { return "B3-NCH" }
func (p *benchPage) Events() <-chan mono.WidgetEvent { return p.events }
func (p *benchPage) Done() <-chan struct{}           { return p.done }
func (p *benchPage) EndReason() string               { return "" }
func (p *benchPage) Close()                          {}

type benchPages struct{ page *benchPage }

func (p benchPages) Open(context.Context, PageRequest) (Page, error) { return p.page, nil }

func newViewDriver(b *testing.B, width, height int) *viewDriver {
	b.Helper()
	sb := sandbox.New(sandbox.Options{Seed: 1, Accounts: 60, PageSize: 60})
	if err := sb.Start(""); err != nil {
		b.Fatal(err)
	}
	client, err := mono.NewClient(mono.Config{BaseURL: sb.URL(), SecretKey: sandbox.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	page := &benchPage{events: make(chan mono.WidgetEvent, 1024), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	m := New(ctx, Deps{Mono: client, Pages: benchPages{page}, Agent: "bench@support", Sandbox: true})
	m.noTimers = true
	d := &viewDriver{m: m, msgs: make(chan tea.Msg, 1024), sb: sb, page: page, cancel: cancel}
	d.send(tea.WindowSizeMsg{Width: width, Height: height})
	d.exec(d.m.Init())
	d.until(b, "the account list", func(m Model) bool { return !m.search.loading && len(m.search.visible) > 0 })
	for range 10 { // past the scenario accounts
		d.send(tea.KeyPressMsg{Code: tea.KeyDown})
	}
	d.send(tea.KeyPressMsg{Code: tea.KeyEnter})
	phase := func(p state.Phase) func(Model) bool {
		return func(m Model) bool { return m.session != nil && m.session.sess.Phase() == p }
	}
	d.until(b, "the account screen", phase(state.Explaining))
	d.send(tea.KeyPressMsg{Code: 't', Text: "t"})
	d.until(b, "a token", phase(state.TokenReady))
	d.send(tea.KeyPressMsg{Code: 'o', Text: "o"})
	d.until(b, "the page", phase(state.PageOpened))
	d.gen = d.m.session.sess.Generation()
	return d
}

func (d *viewDriver) close() {
	d.cancel()
	_ = d.sb.Close()
}

func (d *viewDriver) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		switch msg := cmd().(type) {
		case nil:
		case tea.BatchMsg:
			for _, c := range msg {
				d.exec(c)
			}
		default:
			select {
			case d.msgs <- msg:
			case <-time.After(10 * time.Second):
			}
		}
	}()
}

func (d *viewDriver) send(msg tea.Msg) {
	next, cmd := d.m.Update(msg)
	d.m = next.(Model)
	d.exec(cmd)
}

func (d *viewDriver) until(b *testing.B, what string, cond func(Model) bool) {
	b.Helper()
	deadline := time.After(60 * time.Second)
	for !cond(d.m) {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-deadline:
			b.Fatalf("timed out waiting for %s", what)
		}
	}
}

// pushEvents delivers n widget events through the page, as a long session
// with a customer who keeps getting the OTP wrong would.
func (d *viewDriver) pushEvents(b *testing.B, n int) {
	b.Helper()
	round := []mono.WidgetEvent{
		{Callback: mono.CallbackEvent, Name: mono.EventInstitutionSelected, Data: mono.EventData{InstitutionName: "GTBank", AuthMethod: "internet_banking"}},
		{Callback: mono.CallbackEvent, Name: mono.EventSubmitCredentials},
		{Callback: mono.CallbackEvent, Name: mono.EventSubmitMFA, Data: mono.EventData{MFAType: "OTP"}},
		{Callback: mono.CallbackEvent, Name: mono.EventError, Data: mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}},
	}
	go func() {
		for i := range n {
			ev := round[i%len(round)]
			ev.Seq, ev.At = int64(i+1), time.Now()
			d.page.events <- ev
		}
	}()
	d.seq = int64(n)
	d.until(b, "the events", func(m Model) bool { return len(m.session.status.lines) >= n })
}
