package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// Cross-replica resume (issue 19): replica r1 hands a live page to r2
// (Export), r2 carries it on (Adopt), and the customer's page, whichever
// replica its requests reach, notices nothing.

// movers is a set of replicas sharing sharedPublic, each reachable from the
// others through Forward unless marked gone; now is their shared clock.
type movers struct {
	mu    sync.Mutex
	where map[string]string
	gone  map[string]bool
	now   atomic.Pointer[time.Time] // nil: the real clock
	srv   map[string]*Server
}

func startMovers(t *testing.T, names []string, tweak ...func(*Config)) *movers {
	t.Helper()
	m := &movers{where: map[string]string{}, gone: map[string]bool{}, srv: map[string]*Server{}}
	cfg := sandboxConfig()
	cfg.PublicURL = sharedPublic
	cfg.Now = func() time.Time {
		if p := m.now.Load(); p != nil {
			return *p
		}
		return time.Now()
	}
	cfg.Forward = func(owner string) (*url.URL, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		base, ok := m.where[owner]
		if !ok || m.gone[owner] {
			return nil, ErrNoLiveReplica
		}
		u, err := url.Parse(base)
		return u, err
	}
	for _, f := range tweak {
		f(&cfg)
	}
	for _, name := range names {
		c := cfg
		c.ReplicaID = name
		srv := startServer(t, c, func(tu *tuning) { tu.holdWindow = time.Hour })
		m.mu.Lock()
		m.where[name] = loopback(srv)
		m.srv[name] = srv
		m.mu.Unlock()
	}
	return m
}

func (m *movers) setGone(name string, gone bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gone[name] = gone
}

// page is the customer's page for one session: its secret, its instance,
// and the replica its next request goes to.
type page struct {
	t      *testing.T
	id     string
	secret string
	pageID string
}

func (p *page) get(srv *Server, path string) (int, string, http.Header) {
	p.t.Helper()
	return via(p.t, srv, req{method: http.MethodGet, path: "/s/" + p.id + path, secret: p.secret,
		header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
}

func (p *page) config(srv *Server) pageConfig {
	p.t.Helper()
	code, body, _ := p.get(srv, "/config")
	if code != http.StatusOK {
		p.t.Fatalf("config: %d %s", code, body)
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		p.t.Fatalf("config %q: %v", body, err)
	}
	p.pageID = cfg.PageID
	return cfg
}

func (p *page) post(srv *Server, seq int64, callback, name string) (int, string, http.Header) {
	p.t.Helper()
	return via(p.t, srv, req{path: "/s/" + p.id + "/events", secret: p.secret, body: pagePost(seq, callback, name, p.pageID)})
}

func (p *page) postOK(srv *Server, seq int64, callback, name string) {
	p.t.Helper()
	if code, body, _ := p.post(srv, seq, callback, name); code != http.StatusNoContent {
		p.t.Fatalf("post %d %s %s: %d %s", seq, callback, name, code, body)
	}
}

func seqs(evs []mono.WidgetEvent) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func expectSeqs(t *testing.T, s *Session, want ...int64) {
	t.Helper()
	for _, seq := range want {
		if ev := next(t, s, 5*time.Second); ev.Seq != seq {
			t.Fatalf("got seq %d (%s %s), want %d", ev.Seq, ev.Callback, ev.Name, seq)
		}
	}
}

func TestPageMovesToAnotherReplica(t *testing.T) {
	m := startMovers(t, []string{"r1", "r2"})
	r1, r2 := m.srv["r1"], m.srv["r2"]
	old := newSess(t, r1, "acc_move", "")
	p := &page{t: t, id: old.ID(), secret: secretOf(old)}
	token := old.params.Token.Value

	// The page opens on r1 and posts; the agent's program reads some.
	p.config(r2) // through r2, forwarded to r1
	expectSequence(t, old, 5*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened})
	p.postOK(r1, 1, "load", "")
	p.postOK(r2, 2, "event", "OPENED")
	p.postOK(r1, 3, "event", "INSTITUTION_SELECTED")
	expectSeqs(t, old, 1, 2, 3)
	// Then the agent's connection drops: nobody reads. Two more arrive,
	// and 7 waits for 6.
	p.postOK(r2, 4, "event", "SUBMIT_CREDENTIALS")
	p.postOK(r1, 5, "event", "ERROR")
	p.postOK(r1, 7, "event", "SUBMIT_MFA")

	h, err := r1.Export(old.ID(), "r2")
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	<-old.Done()
	if why := old.EndReason(); why != EndMoved {
		t.Fatalf("old session ended as %q, want %q", why, EndMoved)
	}
	if ev, ok := <-old.Events(); ok {
		t.Fatalf("the old session still delivers %+v: it went with the handoff", ev)
	}
	if got := seqs(h.Pending); fmt.Sprint(got) != "[4 5]" {
		t.Fatalf("pending %v, want [4 5]", got)
	}
	if len(h.Held) != 1 || h.Held[0].Event.Seq != 7 || h.NextSeq != 6 || h.HighSeq != 7 {
		t.Fatalf("held %+v next %d high %d", h.Held, h.NextSeq, h.HighSeq)
	}
	if h.From != "r1" || h.To != "r2" || h.PageID != p.pageID || h.Opens != 1 || !h.Contact {
		t.Fatalf("handoff %+v", h) // String: no secrets even here
	}

	// Nothing of it may reach a log.
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("handoff", "h", h, "p", &h)
	shown := fmt.Sprintf("%v %+v %#v %s %q %x %d", h, h, h, h, h, h, h) + fmt.Sprint(&h) + h.String() + logged.String()
	for _, secret := range []string{p.secret, token} {
		if strings.Contains(shown, secret) {
			t.Fatalf("a secret shows in %s", shown)
		}
	}
	if !strings.Contains(h.String(), old.ID()) {
		t.Errorf("String() %q does not say which session", h.String())
	}

	// Between Export and Adopt the page is told to try again, whichever
	// replica it reaches (and page.js does).
	for _, srv := range []*Server{r1, r2} {
		code, body, hdr := p.post(srv, 6, "event", "SUBMIT_MFA")
		if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
			t.Fatalf("post while moving via %s: %d %s", srv.set.ReplicaID, code, body)
		}
	}

	// The runtime carries it as JSON.
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var carried Handoff
	if err := json.Unmarshal(b, &carried); err != nil {
		t.Fatal(err)
	}
	s, err := r2.Adopt(carried)
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if s.ID() != old.ID() || s.URL() != old.URL() || s.PairingCode() != old.PairingCode() || s.Reference() != old.Reference() ||
		s.Contract() != old.Contract() || s.Account().ID != "acc_move" || s.params.Token.Value != token || !s.params.Token.ExpiresAt.Equal(old.params.Token.ExpiresAt) {
		t.Fatalf("adopted session differs: %s %s %s", s.ID(), s.PairingCode(), s.Reference())
	}
	if _, err := r2.Adopt(carried); !errors.Is(err, ErrSessionLive) {
		t.Fatalf("Adopt twice: %v, want ErrSessionLive", err)
	}

	// What the old consumer had not read comes first, then the gap fills
	// (posted to r1's address: forwarded), and order and dedupe go on.
	expectSeqs(t, s, 4, 5)
	p.postOK(r1, 6, "event", "SUBMIT_MFA")
	expectSeqs(t, s, 6, 7)
	p.postOK(r2, 6, "event", "SUBMIT_MFA") // a retry: delivered once
	p.postOK(r1, 3, "event", "INSTITUTION_SELECTED")
	p.postOK(r2, 9, "event", "ACCOUNT_LINKED") // waits for 8
	p.postOK(r1, 8, "event", "ACCOUNT_SELECTED")
	expectSeqs(t, s, 8, 9)
	p.postOK(r2, 10, "heartbeat", "")
	p.postOK(r1, 11, "event", "PROBE")
	if ev := next(t, s, 5*time.Second); ev.Seq != 11 || ev.Name != "PROBE" {
		t.Fatalf("want only the probe, got %+v", ev)
	}

	// A reload, through either replica: the page and its config, and the
	// older instance is told it moved on.
	for _, srv := range []*Server{r1, r2} {
		code, body, _ := via(t, srv, req{method: http.MethodGet, path: "/s/" + p.id})
		if code != http.StatusOK || !strings.Contains(body, "<html") {
			t.Fatalf("page via %s: %d %.80q", srv.set.ReplicaID, code, body)
		}
		before := p.pageID
		cfg := p.config(srv)
		if cfg.PairingCode != old.PairingCode() || cfg.Connect.Reauth != token || cfg.SeqStart != 12 || cfg.PageID == before {
			t.Fatalf("config via %s: %+v", srv.set.ReplicaID, cfg)
		}
		expectSequence(t, s, 5*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageReopened})
		if code, body, _ := via(t, srv, req{path: "/s/" + p.id + "/events", secret: p.secret, body: pagePost(12, "heartbeat", "", before)}); code != http.StatusConflict || !strings.Contains(body, `"moved"`) {
			t.Fatalf("superseded instance via %s: %d %s", srv.set.ReplicaID, code, body)
		}
	}

	// The wrong secret is still refused on both.
	for _, srv := range []*Server{r1, r2} {
		wrong := &page{t: t, id: p.id, secret: "nope", pageID: p.pageID}
		if code, body, _ := wrong.get(srv, "/config"); code != http.StatusUnauthorized {
			t.Errorf("config with a wrong secret via %s: %d %s", srv.set.ReplicaID, code, body)
		}
		if code, body, _ := wrong.post(srv, 12, "event", "X"); code != http.StatusUnauthorized {
			t.Errorf("post with a wrong secret via %s: %d %s", srv.set.ReplicaID, code, body)
		}
	}

	// The stand-in widget's plan and completion, through both: one
	// completion, the same answer twice.
	ask := func(srv *Server, path, body string) (int, string) {
		code, out, _ := via(t, srv, req{path: "/s/" + p.id + path, secret: p.secret, body: []byte(body)})
		return code, out
	}
	code, body := ask(r1, "/sandbox/plan", `{"reauth":"`+token+`"}`)
	if code != http.StatusOK || strings.Contains(body, "invalid") {
		t.Fatalf("plan via r1: %d %s", code, body)
	}
	code, first := ask(r2, "/sandbox/complete", `{}`)
	if code != http.StatusOK || !strings.Contains(first, `"ok":true`) {
		t.Fatalf("complete via r2: %d %s", code, first)
	}
	if code, again := ask(r1, "/sandbox/complete", `{}`); code != http.StatusOK || again != first {
		t.Fatalf("complete again via r1: %d %s, want %s", code, again, first)
	}

	// Ending the adopted session ends the page, through either replica.
	s.Close()
	for _, srv := range []*Server{r1, r2} {
		if code, body, _ := p.get(srv, "/config"); code != http.StatusGone || !strings.Contains(body, `"ended_by_agent"`) {
			t.Errorf("config after Close via %s: %d %s", srv.set.ReplicaID, code, body)
		}
		if code, body, _ := p.post(srv, 13, "event", "X"); code != http.StatusGone {
			t.Errorf("post after Close via %s: %d %s", srv.set.ReplicaID, code, body)
		}
	}
}

// The page can move on again, and back: each hop is forwarded to wherever
// it went last.
func TestPageMovesOnAndBack(t *testing.T) {
	m := startMovers(t, []string{"r1", "r2", "r3"})
	r1, r2, r3 := m.srv["r1"], m.srv["r2"], m.srv["r3"]
	first := newSess(t, r1, "acc_hops", "")
	p := &page{t: t, id: first.ID(), secret: secretOf(first)}
	p.config(r1)
	expectSequence(t, first, 5*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened})

	hop := func(from, to *Server, sess *Session) *Session {
		t.Helper()
		h, err := from.Export(sess.ID(), to.set.ReplicaID)
		if err != nil {
			t.Fatalf("Export %s->%s: %v", from.set.ReplicaID, to.set.ReplicaID, err)
		}
		next, err := to.Adopt(h)
		if err != nil {
			t.Fatalf("Adopt on %s: %v", to.set.ReplicaID, err)
		}
		return next
	}
	s := hop(r1, r2, first)
	s = hop(r2, r3, s)
	seq := int64(0)
	for _, srv := range []*Server{r1, r2, r3} { // r1 -> r2 -> r3: two hops
		seq++
		p.postOK(srv, seq, "event", "STEP")
		expectSeqs(t, s, seq)
	}
	s = hop(r3, r1, s) // home again: r1 holds it, r2 and r3 forward
	for _, srv := range []*Server{r1, r2, r3} {
		seq++
		p.postOK(srv, seq, "event", "STEP")
		expectSeqs(t, s, seq)
	}
	if cfg := p.config(r3); cfg.SeqStart != seq+1 {
		t.Fatalf("config via r3: %+v", cfg)
	}
}

func TestExportAndAdoptRefusals(t *testing.T) {
	m := startMovers(t, []string{"r1", "r2"})
	r1, r2 := m.srv["r1"], m.srv["r2"]
	s := newSess(t, r1, "acc_refuse", "")

	for _, c := range []struct {
		id, to string
		want   error
	}{
		{"r1-AAAAAAAAAAAAAAAAAAAAAA", "r2", ErrNoSession},
		{s.ID(), "r1", ErrCannotMove},
		{s.ID(), "r9", ErrCannotMove},
		{s.ID(), "R2", ErrCannotMove},
	} {
		if _, err := r1.Export(c.id, c.to); !errors.Is(err, c.want) {
			t.Errorf("Export(%s, %s): %v, want %v", c.id, c.to, err, c.want)
		}
	}
	if _, err := r2.Export(s.ID(), "r1"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Export of another replica's session: %v", err)
	}
	cfg := sandboxConfig()
	cfg.ReplicaID = "r5"
	lone := startServer(t, cfg)
	ls := newSess(t, lone, "acc_lone", "")
	if _, err := lone.Export(ls.ID(), "r1"); !errors.Is(err, ErrCannotMove) {
		t.Errorf("Export without Forward: %v", err)
	}

	h, err := r1.Export(s.ID(), "r2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Export(s.ID(), "r2"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Export of a moved session: %v", err)
	}
	expired := h
	expired.Params.Token.ExpiresAt = time.Now().Add(-time.Hour)
	if _, err := r2.Adopt(expired); !errors.Is(err, ErrHandoffExpired) {
		t.Errorf("Adopt of an expired handoff: %v", err)
	}
	for name, spoil := range map[string]func(*Handoff){
		"version":        func(h *Handoff) { h.Version = 0 },
		"id":             func(h *Handoff) { h.ID = "../x" },
		"short secret":   func(h *Handoff) { h.Secret = "abc" },
		"no account":     func(h *Handoff) { h.Params.Account.ID = "" },
		"contract":       func(h *Handoff) { h.Contract = ContractAuto },
		"other's token":  func(h *Handoff) { h.Params.Token.AccountID = "acc_other" },
		"seq":            func(h *Handoff) { h.NextSeq = 0 },
		"held behind":    func(h *Handoff) { h.Held = []HandoffHeld{{Event: mono.WidgetEvent{Seq: h.NextSeq - 1}}} },
		"skipped ahead":  func(h *Handoff) { h.Skipped = []int64{h.NextSeq} },
		"page instance":  func(h *Handoff) { h.PageID = "<script>" },
		"negative count": func(h *Handoff) { h.Opens = -1 },
	} {
		bad := h
		spoil(&bad)
		if _, err := r2.Adopt(bad); !errors.Is(err, ErrBadHandoff) {
			t.Errorf("Adopt with a bad %s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), h.Secret) {
			t.Errorf("error %q holds the secret", err)
		}
	}
	// r2 refused it: the runtime gives it back to r1, whose page works on.
	back, err := r1.Adopt(h)
	if err != nil {
		t.Fatalf("Adopt back on r1: %v", err)
	}
	p := &page{t: t, id: back.ID(), secret: secretOf(back)}
	p.config(r2)
	expectSequence(t, back, 5*time.Second, step{cb: mono.CallbackPageOpen, name: mono.EventPageOpened})
	p.postOK(r2, 1, "load", "")
	expectSeqs(t, back, 1)
}

// r1 forgets where a page went once r2 is gone from Forward (the page is
// told its link is no longer active) or once the session would have
// expired.
func TestMovedPagesAreForgotten(t *testing.T) {
	m := startMovers(t, []string{"r1", "r2"})
	r1, r2 := m.srv["r1"], m.srv["r2"]

	gone := newSess(t, r1, "acc_gone", "")
	pg := &page{t: t, id: gone.ID(), secret: secretOf(gone)}
	h, err := r1.Export(gone.ID(), "r2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Adopt(h); err != nil {
		t.Fatal(err)
	}
	m.setGone("r2", true)
	code, body, _ := pg.get(r1, "/config")
	if code != http.StatusGone || !strings.Contains(body, `"server_closed"`) {
		t.Fatalf("config with r2 gone: %d %s", code, body)
	}
	m.setGone("r2", false)
	if code, body, _ := pg.get(r1, "/config"); code != http.StatusGone || !strings.Contains(body, `"server_closed"`) {
		t.Fatalf("config once r2 is back: %d %s (r1 forgot the move)", code, body)
	}
	r1.mu.Lock()
	remembered := len(r1.moved)
	r1.mu.Unlock()
	if remembered != 0 {
		t.Fatalf("r1 still remembers %d moves", remembered)
	}

	late := newSess(t, r1, "acc_late", "")
	pl := &page{t: t, id: late.ID(), secret: secretOf(late)}
	if _, err := r1.Export(late.ID(), "r2"); err != nil {
		t.Fatal(err)
	}
	future := late.params.Token.ExpiresAt.Add(time.Hour)
	m.now.Store(&future)
	if code, body, _ := pl.get(r1, "/config"); code != http.StatusGone || !strings.Contains(body, `"expired"`) {
		t.Fatalf("config past expiry: %d %s", code, body)
	}
	r1.mu.Lock()
	remembered = len(r1.moved)
	r1.mu.Unlock()
	if remembered != 0 {
		t.Fatalf("r1 still remembers %d moves", remembered)
	}
}

// Config.Internal is served under /_internal/ as it is: no Host check, no
// page headers, never forwarded.
func TestInternalHandlerIsMounted(t *testing.T) {
	var seen atomic.Value
	internal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	m := startMovers(t, []string{"r1", "r2"}, func(c *Config) { c.Internal = internal })
	r2 := m.srv["r2"]
	hr, _ := http.NewRequest(http.MethodPost, loopback(r2)+"/_internal/handoff/r1-AAAAAAAAAAAAAAAAAAAAAA", nil)
	hr.Host = "10.0.0.2:7000" // the internal address: not the page's host
	hr.Header.Set(ForwardedHeader, "r1")
	resp, err := testClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("Content-Security-Policy") != "" {
		t.Fatalf("internal: %d CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if got, _ := seen.Load().(string); got != "/_internal/handoff/r1-AAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("the handler saw %q", got)
	}
	// The page's routes are as before.
	s := newSess(t, m.srv["r1"], "acc_internal", "")
	p := &page{t: t, id: s.ID(), secret: secretOf(s)}
	p.config(r2)
	// Without Internal, nothing is there.
	cfg := sandboxConfig()
	plain := startServer(t, cfg)
	if code, _ := doRaw(t, plain, "/_internal/x"); code != http.StatusNotFound {
		t.Fatalf("no Internal: %d", code)
	}
}

// A post racing the Export either lands before it (and moves with the
// handoff) or is told to retry; none is lost or doubled.
func TestExportRacingPosts(t *testing.T) {
	m := startMovers(t, []string{"r1", "r2"})
	r1, r2 := m.srv["r1"], m.srv["r2"]
	old := newSess(t, r1, "acc_race", "")
	p := &page{t: t, id: old.ID(), secret: secretOf(old)}
	p.config(r1)
	const n = 40
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := int64(1); seq <= n; seq++ {
			for attempt := 0; ; attempt++ {
				code, body, _ := p.post(r1, seq, "event", "STEP")
				if code == http.StatusNoContent {
					break
				}
				if code != http.StatusServiceUnavailable || attempt > 1000 {
					t.Errorf("post %d: %d %s", seq, code, body)
					return
				}
			}
		}
	}()
	var got []int64
	for len(got) < 10 { // the agent reads a few, then stops
		if ev := next(t, old, 5*time.Second); ev.Seq > 0 {
			got = append(got, ev.Seq)
		}
	}
	h, err := r1.Export(old.ID(), "r2")
	if err != nil {
		t.Fatal(err)
	}
	for ev := range old.Events() { // what the reader still took
		if ev.Seq > 0 {
			got = append(got, ev.Seq)
		}
	}
	s, err := r2.Adopt(h)
	if err != nil {
		t.Fatal(err)
	}
	for len(got) < n {
		if ev := next(t, s, 5*time.Second); ev.Seq > 0 {
			got = append(got, ev.Seq)
		}
	}
	wg.Wait()
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("delivered %v", got)
		}
	}
}

// A handoff the new replica could not adopt: without EndUnadopted, the
// page's requests (forwarded to it by the old replica) are answered 503
// "moving" until the move is forgotten; with it, the page is told at once
// that its link ended, wherever its requests land.
func TestUnadoptedPageIsToldItEnded(t *testing.T) {
	m := startMovers(t, []string{"r1", "r2"})
	r1, r2 := m.srv["r1"], m.srv["r2"]
	old := newSess(t, r1, "acc_unadopted", "")
	p := &page{t: t, id: old.ID(), secret: secretOf(old)}
	p.config(r1)
	if _, err := r1.Export(old.ID(), "r2"); err != nil {
		t.Fatalf("Export: %v", err)
	}
	for _, srv := range []*Server{r1, r2} {
		if code, body, _ := p.post(srv, 1, "load", ""); code != http.StatusServiceUnavailable {
			t.Fatalf("between Export and Adopt: %d %s, want 503", code, body)
		}
	}
	r2.EndUnadopted(old.ID())
	for name, srv := range map[string]*Server{"r1": r1, "r2": r2} {
		code, body, _ := p.post(srv, 1, "load", "")
		if code != http.StatusGone || !strings.Contains(body, `"reason":"server_closed"`) {
			t.Fatalf("posting through %s after the adoption failed: %d %s, want 410 server_closed", name, code, body)
		}
		if code, _, _ := via(t, srv, req{method: http.MethodGet, path: "/s/" + old.ID()}); code != http.StatusGone {
			t.Fatalf("the page through %s: %d, want 410", name, code)
		}
	}
	// A session live on the server is never ended this way.
	live := newSess(t, r2, "acc_live_here", "")
	r2.EndUnadopted(live.ID())
	select {
	case <-live.Done():
		t.Fatal("EndUnadopted ended a live session")
	default:
	}
	lp := &page{t: t, id: live.ID(), secret: secretOf(live)}
	lp.config(r2)
}
