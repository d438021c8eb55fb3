package tui

import (
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"go.uber.org/goleak"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/state"
)

// snapshot is what the test may read of a running program's model. It is
// taken inside Update, on the program's goroutine, so reading it never
// races with the model's own pointers.
type snapshot struct {
	loaded  bool
	query   string
	screen  screenID
	phase   state.Phase
	pageURL string
	asking  bool // a yes/no question is on screen
}

// watched wraps the root model and publishes a snapshot after each Update.
type watched struct {
	Model
	mu   *sync.Mutex
	last *snapshot
}

func (w watched) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	next, cmd := w.Model.Update(msg)
	w.Model = next.(Model)
	s := snapshot{loaded: loaded(w.Model), query: w.search.result.Query, screen: w.screen}
	if w.session != nil {
		s.phase, s.pageURL = w.session.sess.Phase(), w.session.sess.PageURL()
		s.asking = w.session.dialog != noDialog
	}
	w.mu.Lock()
	*w.last = s
	w.mu.Unlock()
	return w, cmd
}

func (w watched) snap() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return *w.last
}

func waitSnap(t *testing.T, w watched, what string, cond func(snapshot) bool) snapshot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for {
		if s := w.snap(); cond(s) {
			return s
		}
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; last %+v", what, w.snap())
		}
	}
}

// A real Bubble Tea program (input from a pipe, keys typed as bytes, a real
// renderer into a discarded output) runs against the sandbox and a real
// page server, opens a page that reports in, then quits. Once the program
// has returned and its context is cancelled, every goroutine it started is
// gone — while the input pipe is still open, as a terminal would be.
func TestQuitLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()

	sb := sandbox.New(sandbox.Options{Seed: 1, Accounts: 60, PageSize: 20})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{} // keep-alive on, as in the app
	client, err := mono.NewClient(mono.Config{BaseURL: sb.URL(), SecretKey: sandbox.SecretKey,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: transport}})
	if err != nil {
		t.Fatal(err)
	}
	pagesSrv, err := connect.NewServer(connect.Config{Mode: connect.ModeSandbox})
	if err != nil {
		t.Fatal(err)
	}
	if err := pagesSrv.Start(); err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer inW.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := watched{Model: New(ctx, Deps{Mono: client, Pages: ConnectPages{Server: pagesSrv}, Agent: "leak@test", Sandbox: true,
		ScenarioFor: func(id string) string { return string(sandbox.ScenarioFor(id)) }}), mu: &sync.Mutex{}, last: &snapshot{}}
	p := tea.NewProgram(w, tea.WithContext(ctx), tea.WithInput(inR), tea.WithOutput(io.Discard),
		tea.WithWindowSize(100, 30), tea.WithoutSignalHandler())
	done := make(chan error, 1)
	go func() {
		_, err := p.Run()
		done <- err
	}()
	typeKeys := func(s string) {
		t.Helper()
		if _, err := inW.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	waitSnap(t, w, "accounts", func(s snapshot) bool { return s.loaded })
	typeKeys("okonkwo")
	waitSnap(t, w, "filtered", func(s snapshot) bool { return s.query == "okonkwo" })
	typeKeys("\r")
	waitSnap(t, w, "account", func(s snapshot) bool { return s.screen == screenSession && s.phase == state.Explaining })
	typeKeys("t")
	waitSnap(t, w, "token", func(s snapshot) bool { return s.phase == state.TokenReady })
	typeKeys("o")
	pageURL := waitSnap(t, w, "page", func(s snapshot) bool { return s.phase == state.PageOpened }).pageURL
	page := posterFor(t, pageURL)
	page.mustPost("load", "", nil)
	page.mustPost("event", "OPENED", nil)
	waitSnap(t, w, "widget live", func(s snapshot) bool { return s.phase == state.WidgetLive })

	// q with a live widget asks first; q again quits, and the program
	// closes the page.
	typeKeys("q")
	waitSnap(t, w, "the quit question", func(s snapshot) bool { return s.asking })
	typeKeys("q")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("program: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("q did not end the program")
	}
	if code := page.post("heartbeat", "", nil); code != http.StatusGone {
		t.Fatalf("the page outlived the program: post answered %d, want 410", code)
	}
	cancel()
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	if err := pagesSrv.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	transport.CloseIdleConnections()
	page.client.CloseIdleConnections()

	// Poll (goleak.Find itself retries with backoff for about a second): a
	// clock tick Cmd may still be asleep for up to a second after quit.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := goleak.Find(before)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after quit:\n%v", err)
		}
	}
}
