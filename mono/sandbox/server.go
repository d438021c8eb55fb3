// Package sandbox is a fake Mono API served over real HTTP on loopback. It
// answers the endpoints reauth uses with Mono's JSON shapes, checks the
// secret key like Mono, mints reauth tokens that really expire (on an
// injectable clock), holds deterministic seeded accounts including the named
// scenario accounts, and can be told to misbehave (slow, 429/5xx, garbage,
// truncated, reset, hang) for tests. The same mono.Client talks to it as to
// Mono itself.
//
// Like Mono, its account reads carry no sync_status, sync_message or
// last_synced_at: whether an account needs reauth is said only by the
// webhooks it sends (Webhooks, ScenarioWebhooks, Options.Webhooks), in
// Mono's documented shapes.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/reauth/reauth/mono"
)

// Keys the sandbox accepts. They are deliberately short so nothing mistakes
// them for real keys.
const (
	SecretKey = "test_sk_sandbox"
	PublicKey = "test_pk_sandbox"
)

// DefaultAddr is where Start listens when given "".
const DefaultAddr = "127.0.0.1:0"

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	Seed     int64 // data seed; the same seed gives the same accounts
	Accounts int   // number of accounts including the scenarios; default 520
	PageSize int   // accounts per list page; default 20
	// Now is the clock for token expiry, confirmation and timestamps;
	// default time.Now.
	Now func() time.Time
	// ConfirmDelay is how long an account reads PROCESSING after a completed
	// reauth before it reads AVAILABLE; default 20s, negative means none.
	ConfirmDelay time.Duration
	Logger       *slog.Logger // may be nil
	// TokenSource feeds minted tokens. Default crypto/rand; tests and demo
	// recordings pass a seeded reader so screens are the same every run.
	TokenSource io.Reader
	// Webhooks, when set, is handed each webhook the sandbox sends, as
	// Mono's raw JSON body, one at a time from one goroutine started by New:
	// first the backlog (every account whose sync went wrong before the
	// sandbox started, oldest first), then, as they happen,
	// account_reauthorized on CompleteReauth, account_updated with
	// sync_status SUCCESSFUL ConfirmDelay later (in wall-clock time), and
	// account_updated with REAUTHORISATION_REQUIRED on MarkNeedsReauth. ctx
	// ends when the Server closes. It may block (a slow receiver delays
	// the next webhook, never a request). The same webhooks are in Webhooks.
	Webhooks func(ctx context.Context, payload []byte)
}

// Errors from CompleteReauth.
var (
	ErrUnknownToken  = errors.New("sandbox: unknown reauth token")
	ErrTokenExpired  = errors.New("sandbox: reauth token has expired")
	ErrTokenUsed     = errors.New("sandbox: reauth token was already used")
	ErrTokenReplaced = errors.New("sandbox: a newer reauth token was minted for this account")
)

// Server is the fake Mono. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	now     func() time.Time
	handler http.Handler
	mux     *http.ServeMux
	// data is the generated accounts, made on first use: generating them
	// is the costliest part of starting the app on the sandbox, and the
	// first use is the account list request, which runs while the TUI draws
	// its first frame.
	data func() *catalogue
	// backlogOnce builds the webhooks sent before the sandbox started.
	backlogOnce func() []backlogHook

	randMu    sync.Mutex // guards Options.TokenSource, which need not be safe for concurrent use
	mu        sync.Mutex
	overlays  map[int]*overlay
	tokens    map[string]*tokenRecord
	current   map[string]string // account id -> its live token
	lastSync  map[string]time.Time
	faults    []*activeFault
	log       []string
	closed    bool
	inflight  sync.WaitGroup
	done      chan struct{}
	srv       *http.Server
	listener  net.Listener
	serveDone chan struct{}

	// Webhooks sent since the sandbox started (guarded by mu), and the
	// goroutine pushing them to Options.Webhooks.
	emitted  []*emission
	emitSeq  int
	kick     chan struct{}
	stopPush context.CancelFunc
	pushDone chan struct{}
}

// overlay is what changed on an account since it was generated.
type overlay struct {
	confirmFrom time.Time // when a reauth completed; zero if none since
	// marked: MarkNeedsReauth was called (after confirmFrom, if any); the
	// account reads what it read then.
	marked          bool
	frozenStatus    mono.DataStatus
	frozenRetrieved []string
}

type tokenRecord struct {
	accountID string
	expires   time.Time
	used      bool
	replaced  bool
}

// maxLog bounds RequestLog so a long-running `reauth sandbox` does not grow.
const maxLog = 10_000

// New builds a Server with its data. It does not listen until Start; its
// Handler can also be mounted elsewhere (httptest).
func New(opts Options) *Server {
	if opts.Accounts <= 0 {
		opts.Accounts = 520
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 20
	}
	opts.PageSize = min(opts.PageSize, 1000)
	if opts.ConfirmDelay == 0 {
		opts.ConfirmDelay = 20 * time.Second
	}
	if opts.ConfirmDelay < 0 {
		opts.ConfirmDelay = 0
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Generated webhook times are relative to a fixed epoch; move them to
	// just before this server's "now" (when it was made, not when the data
	// is first read) so "3 days ago" reads true.
	shift := now().Sub(genEpoch).Truncate(time.Second)
	s := &Server{
		opts:     opts,
		now:      now,
		data:     sync.OnceValue(func() *catalogue { return newCatalogue(opts.Seed, opts.Accounts, shift) }),
		overlays: map[int]*overlay{},
		tokens:   map[string]*tokenRecord{},
		current:  map[string]string{},
		lastSync: map[string]time.Time{},
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
	}
	s.backlogOnce = sync.OnceValue(s.makeBacklog)
	s.mux = s.routes()
	s.handler = http.HandlerFunc(s.serve)
	if opts.Webhooks != nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopPush, s.pushDone = cancel, make(chan struct{})
		go s.push(ctx)
	}
	return s
}

// catalogue is the sandbox's base accounts and their index; read-only once
// made (changes live in the Server's overlays).
type catalogue struct {
	accounts []mono.Account
	index    map[string]int // lower-case id -> position
	// troubles is the webhook Mono sent before the sandbox started, by
	// account position (accounts whose sync never went wrong have none).
	troubles map[int]trouble
	shift    time.Duration // generated times + shift = the server's times
}

func newCatalogue(seed int64, n int, shift time.Duration) *catalogue {
	c := &catalogue{troubles: map[int]trouble{}, shift: shift}
	c.accounts = generate(seed, n, c.troubles)
	c.index = make(map[string]int, len(c.accounts))
	for i := range c.accounts {
		c.index[strings.ToLower(c.accounts[i].ID)] = i
	}
	return c
}

// Handler is the sandbox's HTTP handler (what Start serves).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on addr (DefaultAddr if "") and serves in the background.
func (s *Server) Start(addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sandbox: server is closed")
	}
	if s.listener != nil {
		return errors.New("sandbox: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	errLog := stdlog.New(io.Discard, "", 0)
	if s.opts.Logger != nil {
		errLog = slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug)
	}
	s.listener = ln
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	s.serveDone = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		_ = srv.Serve(ln) // returns http.ErrServerClosed on Close
	}(s.srv, s.serveDone)
	return nil
}

// URL is the base URL to give mono.Config.BaseURL, "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return "http://" + s.listener.Addr().String()
}

// Close stops serving and returns once every handler has returned and the
// webhook pusher (Options.Webhooks) has stopped. Requests held by Hang or
// Slow faults are released at once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, serveDone := s.srv, s.serveDone
	s.mu.Unlock()

	// Closing the connections first means a held request ends as a dropped
	// connection (what a client would see from a dying server) rather than
	// an empty answer; done then releases any held request that is not on
	// our own listener (Handler mounted elsewhere).
	var err error
	if srv != nil {
		err = srv.Close()
		<-serveDone
	}
	close(s.done)
	s.inflight.Wait()
	if s.stopPush != nil {
		s.stopPush()
		<-s.pushDone
	}
	return err
}

// RequestLog lists "METHOD /path?query" for each request received, oldest
// first (the last 10,000). Headers, and so the key, are never recorded.
func (s *Server) RequestLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// serve wraps every request: bookkeeping, faults, then the key check and
// the routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.Header().Set("Connection", "close")
		http.Error(w, "sandbox closed", http.StatusServiceUnavailable)
		return
	}
	// Add happens under mu and only while open, so it never races Close's Wait.
	s.inflight.Add(1)
	if len(s.log) >= maxLog {
		s.log = append(s.log[:0], s.log[len(s.log)-maxLog/2:]...)
	}
	s.log = append(s.log, r.Method+" "+r.URL.RequestURI())
	fault := s.takeFaultLocked(r.URL.Path)
	s.mu.Unlock()
	defer s.inflight.Done()

	if s.opts.Logger != nil {
		s.opts.Logger.Debug("request", "method", r.Method, "path", r.URL.Path)
	}
	if fault != nil && s.applyFault(w, r, fault) {
		return
	}
	s.serveAPI(w, r)
}

// serveAPI checks the key and routes. The hosted link page is for a
// customer's browser, so it needs no key.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/hosted/") {
		s.mux.ServeHTTP(w, r)
		return
	}
	if !keyOK(r.Header.Get("mono-sec-key")) {
		writeFailed(w, http.StatusUnauthorized, "Invalid secret key provided", s.now())
		return
	}
	s.mux.ServeHTTP(w, r)
}

func keyOK(got string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(SecretKey)) == 1
}

// wait blocks for d, or until the client gives up or the server closes;
// it reports whether the full delay passed. When the server closes it
// aborts the request, so the client sees a dropped connection, not an empty
// 200.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		if d == 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}

// newToken makes 20 random alphanumerics, like Mono's tokens, from
// Options.TokenSource (crypto/rand by default).
func (s *Server) newToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, 20)
	var buf [32]byte
	for len(out) < 20 {
		s.readRandom(buf[:])
		for _, b := range buf {
			// Reject the top of the byte range so every character is equally likely.
			if b < 248 && len(out) < 20 {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func (s *Server) readRandom(buf []byte) {
	if s.opts.TokenSource == nil {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go >= 1.24)
		return
	}
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if _, err := io.ReadFull(s.opts.TokenSource, buf); err != nil {
		_, _ = rand.Read(buf)
	}
}
