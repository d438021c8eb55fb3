package connect

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reauth/reauth/mono"
)

//go:embed assets
var assets embed.FS

// Server serves the session pages, their event ingest and (in sandbox mode)
// the stand-in Connect script and simulated widget.
type Server struct {
	set *settings

	labelMu sync.Mutex // guards set.LabelSource, which need not be safe for concurrent use

	mu        sync.Mutex
	started   bool
	closed    bool
	ln        net.Listener
	httpSrv   *http.Server
	base      string          // public base URL, no trailing slash
	origin    string          // the page's origin, the only one allowed to post
	hosts     map[string]bool // Host headers we answer (DNS rebinding guard)
	sessions  map[string]*Session
	byAccount map[string]*Session
	tombs     map[string]string // ended session id -> why
	tombOrder []string
	moved     map[string]movedEntry // sessions handed to another replica (Export)
	movedList []string              // moved ids, oldest first
	serveDone chan struct{}

	baseCtx  context.Context
	cancel   context.CancelFunc
	pageCSP  string
	standIn  []byte
	refusals *refusalLog
	proxy    *httputil.ReverseProxy // nil unless Config.Forward
}

// NewServer validates cfg. Call Start to listen.
func NewServer(cfg Config) (*Server, error) {
	set, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := &Server{
		set:       set,
		sessions:  map[string]*Session{},
		byAccount: map[string]*Session{},
		tombs:     map[string]string{},
		moved:     map[string]movedEntry{},
		pageCSP:   set.pageCSP(),
		refusals:  newRefusalLog(set.Logger, set.tune.refusalLog),
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	if set.Forward != nil {
		s.proxy = s.newForwarder()
	}
	if set.Mode == ModeSandbox {
		js, err := assets.ReadFile("assets/sandbox/connect.js")
		if err != nil {
			return nil, err
		}
		cfgJSON, _ := json.Marshal(map[string]any{
			"openDelayMs": set.SandboxOpenDelay.Milliseconds(),
		})
		src, err := standInFor(string(js), set.standIn)
		if err != nil {
			return nil, err
		}
		s.standIn = []byte(strings.Replace(src, "/*STANDIN_CONFIG*/{}", string(cfgJSON), 1))
	}
	return s, nil
}

// Start listens on Config.Addr and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("widget page: server is closed")
	}
	if s.started {
		return errors.New("widget page: server already started")
	}
	ln, err := net.Listen("tcp", s.set.Addr)
	if err != nil {
		return fmt.Errorf("widget page: listen on %s: %w", s.set.Addr, err)
	}
	s.ln = ln
	listenHost := ln.Addr().String()
	if host, port, err := net.SplitHostPort(listenHost); err == nil && (host == "0.0.0.0" || host == "::") {
		// Listening everywhere: the loopback address is the one that works
		// on this machine. Others must come through PublicURL.
		listenHost = net.JoinHostPort("127.0.0.1", port)
	}
	s.hosts = map[string]bool{listenHost: true}
	if s.set.publicBase != nil {
		s.base = strings.TrimRight(s.set.publicBase.String(), "/")
		s.origin = s.set.publicBase.Scheme + "://" + s.set.publicBase.Host
		s.hosts[s.set.publicBase.Host] = true
	} else {
		s.base = "http://" + listenHost
		s.origin = s.base
	}
	s.httpSrv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		// net/http's own complaints (bad handshakes, broken clients) go to
		// our log file, never to stderr under a TUI.
		ErrorLog: slog.NewLogLogger(s.set.Logger.Handler(), slog.LevelDebug),
	}
	s.serveDone = make(chan struct{})
	s.started = true
	go func() {
		defer close(s.serveDone)
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.set.Logger.Error("widget page server stopped", "err", err)
		}
	}()
	s.set.Logger.Info("widget page server listening", "addr", ln.Addr().String(), "mode", string(s.set.Mode))
	return nil
}

// Addr is the address the server listens on ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the public base URL ("" before Start).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// Close stops the server, ends every session and waits for their
// goroutines. Safe to call more than once.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	all := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	started := s.started
	s.mu.Unlock()

	s.cancel() // stops SandboxComplete calls in flight
	for _, sess := range all {
		s.endSession(sess, EndServerClosed)
	}
	defer s.refusals.close() // after the last request: its count is in the final line
	if !started {
		return nil
	}
	// Handlers never block and every session has ended, so a short grace
	// is enough for requests in flight. Browsers also hold speculative
	// connections that never send a request, and Shutdown would wait up
	// to 5 s for those: after the grace they are simply cut.
	grace, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	var err error
	if serr := s.httpSrv.Shutdown(grace); serr != nil {
		_ = s.httpSrv.Close()
		err = ctx.Err() // only the caller's own deadline is an error
	}
	<-s.serveDone
	return err
}

const shutdownGrace = time.Second

// NewSession opens a page for one reauth attempt. A session already open for
// the same account is ended first: its page's posts get 410 Gone.
func (s *Server) NewSession(p SessionParams) (*Session, error) {
	if strings.TrimSpace(p.Account.ID) == "" {
		return nil, &ConfigError{"account", "missing id"}
	}
	contract, err := s.sessionContract(p.Contract)
	if err != nil {
		return nil, err
	}
	if p.Token.Value != "" {
		if p.Token.Expired(s.set.Now()) {
			return nil, &ConfigError{"token", "expired at " + p.Token.ExpiresAt.UTC().Format(time.RFC3339) + "; mint a new one"}
		}
		if p.Token.AccountID != "" && p.Token.AccountID != p.Account.ID {
			return nil, &ConfigError{"token", "minted for another account"}
		}
	}
	s.mu.Lock()
	if !s.started || s.closed {
		s.mu.Unlock()
		return nil, errors.New("widget page: server is not running")
	}
	var pairing string
	for range 16 {
		code, err := newPairingCode(s.labelBytes)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		if !s.pairingInUseLocked(code) {
			pairing = code
			break
		}
	}
	sess, err := newSession(s, p, contract, s.base, pairing)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	prev := s.byAccount[p.Account.ID]
	s.sessions[sess.id] = sess
	s.byAccount[p.Account.ID] = sess
	sess.start()
	s.mu.Unlock()

	if prev != nil {
		s.endSession(prev, EndReplaced)
	}
	s.set.Logger.Info("widget session opened", "session", sess.id, "account", p.Account.ID,
		"contract", string(contract), "token", p.Token.Fingerprint(), "scenario", p.Scenario)
	return sess, nil
}

// sessionContract is the contract a new session uses (SessionParams.Contract).
func (s *Server) sessionContract(c Contract) (Contract, error) {
	switch c {
	case ContractToken, ContractAccount:
		return c, nil
	case "", ContractAuto:
	default:
		return "", &ConfigError{"contract", fmt.Sprintf("%q is not auto, token or account", string(c))}
	}
	switch {
	case s.set.Contract != ContractAuto:
		return s.set.Contract, nil
	case s.set.ownConnectJS:
		return s.set.standIn, nil
	}
	return "", &ConfigError{"contract", "auto: resolve it with Server.ResolveContract (before minting) and pass it in SessionParams.Contract"}
}

func (s *Server) pairingInUseLocked(code string) bool {
	for _, sess := range s.sessions {
		if sess.pairing == code {
			return true
		}
	}
	return false
}

// endSession removes sess, leaving a tombstone so its page learns it is gone
// and why: the true cause for the customer (Session.endCause).
func (s *Server) endSession(sess *Session, why string) {
	why = sess.endCause(why)
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
		if s.byAccount[sess.params.Account.ID] == sess {
			delete(s.byAccount, sess.params.Account.ID)
		}
		s.addTombLocked(sess.id, why)
		s.set.Logger.Info("widget session ended", "session", sess.id, "why", why)
	}
	s.mu.Unlock()
	sess.end(why)
}

// addTombLocked remembers that session id ended and why (at most maxTombs).
func (s *Server) addTombLocked(id, why string) {
	if _, again := s.tombs[id]; again {
		s.tombOrder = slices.DeleteFunc(s.tombOrder, func(t string) bool { return t == id })
	}
	s.tombs[id] = why
	s.tombOrder = append(s.tombOrder, id)
	if len(s.tombOrder) > s.set.tune.maxTombs {
		delete(s.tombs, s.tombOrder[0])
		s.tombOrder = s.tombOrder[1:]
	}
}

// dropTombLocked forgets that session id ended (it lives here again: Adopt).
func (s *Server) dropTombLocked(id string) {
	if _, ok := s.tombs[id]; ok {
		delete(s.tombs, id)
		s.tombOrder = slices.DeleteFunc(s.tombOrder, func(t string) bool { return t == id })
	}
}

// lookup finds an open session, or says why not: 404 unknown, or 410 ended
// (then the verdict names the EndReason).
func (s *Server) lookup(id string) (*Session, verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[id]; ok {
		return sess, verdict{}
	}
	if why, ok := s.tombs[id]; ok {
		return nil, endedVerdict(why)
	}
	return nil, verdict{status: http.StatusNotFound, why: "no such page"}
}

// SecretHeader carries the page secret on the page's requests (the unload
// beacon, which cannot set headers, puts it in its text/plain body).
const SecretHeader = "X-Reauth-Secret"

func (s *Session) secretOK(got string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.secret)) == 1
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /s/{id}", s.handlePage)
	mux.HandleFunc("GET /s/{id}/config", s.handleConfig)
	mux.HandleFunc("POST /s/{id}/events", s.handleEvents)
	mux.HandleFunc("GET /assets/{file}", s.assetFiles("assets", "page.js", "page.css"))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if s.set.Mode == ModeSandbox {
		mux.HandleFunc("GET "+standInPath, s.handleStandIn)
		mux.HandleFunc("GET /sandbox/widget", s.handleWidgetPage)
		mux.HandleFunc("GET /sandbox/{file}", s.assetFiles("assets/sandbox", "widget.js", "widget.css"))
		mux.HandleFunc("POST /s/{id}/sandbox/plan", s.handlePlan)
		mux.HandleFunc("POST /s/{id}/sandbox/complete", s.handleComplete)
	}
	page := s.guard(mux)
	internal := s.set.Internal
	if internal == nil {
		return page
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, InternalPrefix) {
			// The runtime's own traffic between replicas: it
			// authenticates these requests itself. No Host check, no
			// page headers, never forwarded.
			internal.ServeHTTP(w, r)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// InternalPrefix is the path under which Config.Internal is served.
const InternalPrefix = "/_internal/"

// guard sets the security headers on every response and refuses Hosts that
// are not ours (a DNS-rebinding page must not reach this server).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.setSecurityHeaders(w, r)
		if !s.hosts[r.Host] {
			http.Error(w, "unknown host", http.StatusMisdirectedRequest)
			return
		}
		if s.forward(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setSecurityHeaders sets the headers every response of ours carries.
func (s *Server) setSecurityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	csp := s.pageCSP
	if strings.HasPrefix(r.URL.Path, "/sandbox/") {
		csp = widgetCSP
	}
	h.Set("Content-Security-Policy", csp)
	// strict-origin, not no-referrer: under no-referrer Chromium sends
	// "Origin: null" on same-origin POSTs and beacons, and the ingest
	// needs the real Origin. It also gives Mono's frame our origin
	// (never a path) as its Referer. connect.js passes the full page
	// URL itself (?referrer=), which is why the page strips the secret
	// from its address before loading it.
	h.Set("Referrer-Policy", "strict-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if !strings.HasPrefix(r.URL.Path, "/sandbox/") {
		h.Set("X-Frame-Options", "DENY")
	}
}

// handlePage serves the page, also for an ended session (with 410): the page
// then asks for its config and tells the customer the true cause.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	_, v := s.lookup(r.PathValue("id"))
	switch v.status {
	case 0:
		s.serveAsset(w, http.StatusOK, "assets/page.html", "text/html; charset=utf-8")
	case http.StatusGone:
		s.serveAsset(w, http.StatusGone, "assets/page.html", "text/html; charset=utf-8")
	default:
		http.Error(w, v.why, v.status)
	}
}

// assetFiles serves the named embedded files of dir as {file}; anything
// else is a 404, so no other embedded asset can be reached by name.
func (s *Server) assetFiles(dir string, files ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if !slices.Contains(files, name) {
			http.NotFound(w, r)
			return
		}
		ctype := "text/css; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ctype = "text/javascript; charset=utf-8"
		}
		s.serveAsset(w, http.StatusOK, dir+"/"+name, ctype)
	}
}

func (s *Server) serveAsset(w http.ResponseWriter, status int, name, ctype string) {
	b, err := assets.ReadFile(name)
	if err != nil {
		http.Error(w, "missing asset", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// authorize checks what every secret-bearing request must carry: a known,
// open session, the right secret in SecretHeader, and — for POSTs — our own
// Origin. It writes the refusal itself.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) *Session {
	sess, v := s.lookup(r.PathValue("id"))
	if v.status != 0 {
		s.answer(w, v)
		return nil
	}
	if sess.pastExpiryGrace() {
		// The pump ends it too, on its own timer; a clock that jumped
		// (or a pump yet to wake) must not leave it taking requests.
		s.endSession(sess, EndExpired)
		s.answer(w, endedVerdict(EndExpired))
		return nil
	}
	if r.Method == http.MethodPost {
		if !s.originOK(r) {
			s.refuse(w, r, http.StatusForbidden, "foreign or missing Origin")
			return nil
		}
	} else if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		s.refuse(w, r, http.StatusForbidden, "cross-site request")
		return nil
	}
	if !sess.secretOK(r.Header.Get(SecretHeader)) {
		s.refuse(w, r, http.StatusUnauthorized, "missing or wrong page secret")
		return nil
	}
	return sess
}

func (s *Server) originOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o != "" && o == s.origin
}

// refuse answers with a short plain body. It writes no log line of its
// own: refusals are counted and logged at a bounded rate (refusalLog), so a
// page or a script hammering the server cannot fill the log. Neither the
// request's body nor its secret is ever logged.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, status int, why string) {
	s.refusals.count(status)
	s.observePost(false, status)
	http.Error(w, why, status)
}

func (s *Server) observePost(accepted bool, status int) {
	if s.set.ObservePost != nil {
		s.set.ObservePost(accepted, status)
	}
}

// endedReply is the 410 body for a request to an ended session: page.js
// says the cause in full.
type endedReply struct {
	Error  string `json:"error"`  // "ended"
	Reason string `json:"reason"` // expired | ended_by_agent | replaced | succeeded | server_closed
}

// movedReply is the 409 body for a post from a page instance a newer one
// superseded.
type movedReply struct {
	Error   string `json:"error"` // "moved"
	Message string `json:"message"`
}

// movedMessage is what a superseded page shows.
const movedMessage = "This reauth continued in another tab or on another device."

// answer writes a session's refusal: 410 and 409 as JSON the page acts on,
// anything else as short plain text. It is counted like every refusal.
func (s *Server) answer(w http.ResponseWriter, v verdict) {
	s.refusals.count(v.status)
	s.observePost(false, v.status)
	switch {
	case v.status == http.StatusGone && v.ended != "":
		writeJSON(w, v.status, endedReply{Error: "ended", Reason: endedReason(v.ended)})
	case v.status == http.StatusConflict && v.moved:
		writeJSON(w, v.status, movedReply{Error: "moved", Message: movedMessage})
	case v.status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
		http.Error(w, v.why, v.status)
	default:
		http.Error(w, v.why, v.status)
	}
}

// pageConfig is what /s/<id>/config returns to the page that proved it
// holds the secret. It is the only response that carries the token.
type pageConfig struct {
	Mode        string        `json:"mode"`
	PairingCode string        `json:"pairingCode"`
	Account     pageAccount   `json:"account"`
	Connect     connectConfig `json:"connect"`
	HeartbeatMs int64         `json:"heartbeatMs"`
	SeqStart    int64         `json:"seqStart"`
	// PageID names this page instance; its posts carry it as "page".
	PageID    string `json:"pageId"`
	ExpiresAt string `json:"expiresAt,omitempty"`
	// ExpiresInMs is the token's time left by the server's clock: the page
	// offers Reopen until then, whatever its own clock says.
	ExpiresInMs int64 `json:"expiresInMs,omitempty"`
}

type pageAccount struct {
	Holder string `json:"holder"`
	Bank   string `json:"bank"`
	Number string `json:"number"`
}

type connectConfig struct {
	ScriptURL string `json:"scriptURL"`
	Key       string `json:"key"`
	Contract  string `json:"contract"`
	// Reauth is the argument to reauthorise(): the token or the account id.
	Reauth    string `json:"reauth"`
	Scope     string `json:"scope,omitempty"`
	Reference string `json:"reference"`
}

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	sess := s.authorize(w, r)
	if sess == nil {
		return
	}
	seqStart, pageID, v := sess.openPage()
	if v.expire {
		s.endSession(sess, EndExpired)
	}
	if v.status != http.StatusOK {
		s.answer(w, v)
		return
	}
	a := sess.params.Account
	cfg := pageConfig{
		Mode:        string(s.set.Mode),
		PairingCode: sess.pairing,
		Account: pageAccount{
			Holder: mono.CleanText(a.Name),
			Bank:   mono.CleanText(a.Institution.Name),
			Number: a.MaskedNumber(),
		},
		Connect: connectConfig{
			ScriptURL: s.set.ConnectJSURL,
			Key:       s.set.PublicKey,
			Contract:  string(sess.contract),
			Reference: sess.reference,
		},
		HeartbeatMs: s.set.HeartbeatInterval.Milliseconds(),
		SeqStart:    seqStart,
		PageID:      pageID,
	}
	if s.set.ownConnectJS {
		cfg.Connect.ScriptURL = s.base + s.set.connectJSPath
	}
	switch sess.contract {
	case ContractAccount:
		cfg.Connect.Reauth = a.ID
		cfg.Connect.Scope = "reauth"
	default:
		cfg.Connect.Reauth = sess.params.Token.Value
	}
	if !sess.params.Token.ExpiresAt.IsZero() {
		cfg.ExpiresAt = sess.params.Token.ExpiresAt.UTC().Format(time.RFC3339)
		cfg.ExpiresInMs = sess.expiresIn().Milliseconds()
	}
	writeJSON(w, http.StatusOK, cfg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// labelBytes fills b for a session id or pairing code: from crypto/rand, or
// from Config.LabelSource in sandbox recordings.
func (s *Server) labelBytes(b []byte) error {
	if s.set.LabelSource == nil {
		_, err := rand.Read(b)
		return err
	}
	s.labelMu.Lock()
	defer s.labelMu.Unlock()
	_, err := io.ReadFull(s.set.LabelSource, b)
	return err
}
