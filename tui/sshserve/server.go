// Package sshserve delivers reauth's whole TUI over SSH for a support team
// (`reauth serve`), on wish v2.
//
// The model:
//
//   - One Bubble Tea program per SSH session, each with its own context and
//     its own tui.Deps from Config.NewDeps. Nothing is shared between agents
//     except what NewDeps chooses to share (the Mono client, the account
//     catalogue, the page server, the audit log): every agent's page sessions and event streams belong to
//     that agent's program alone. When the session ends (the agent quits,
//     the connection drops, the idle timeout fires or the server shuts down)
//     its context is cancelled, so its pages, loaders and goroutines stop.
//   - Identity comes from the key, never from the SSH user name (which the
//     client chooses: alice's key can log in as "bob"). An agent is the name
//     their public key has in the authorized keys file (the comment's part
//     before "@": "ssh-ed25519 AAAA… ada@support" is "ada"; a key without a
//     comment, and every key under AllowAnyKey, is named by its
//     fingerprint's short form "SHA256:AbCdEfGh") plus the key's SHA256
//     fingerprint. The user name the client sent is kept beside it as a
//     claim (audit.Agent.ClaimedUser), only when it differs. All of it goes
//     to the audit log through NewDeps and to the connection log; the header
//     shows "ada (SHA256:AbCdEfGh…)", or "ada (SHA256:AbCdEfGh…) · claims
//     bob".
//   - Only keys listed in an OpenSSH authorized_keys file get in (re-read when
//     it changes, so revoking a key needs no restart); AllowAnyKey lets any
//     key in and says so loudly.
//   - Never a browser on the server: OpenBrowser is forced to nil. The page
//     link is shown as an OSC 8 hyperlink and copied with OSC 52; both are
//     plain escape sequences written to the session, so they reach the
//     agent's own terminal and clipboard.
//   - Colours follow the agent's terminal, never the server's: the session
//     uses wish's emulated PTY, the colour profile comes from the client's
//     TERM and environment (bubbletea.MakeOptions), and the TUI's background
//     query (OSC 11) is answered by the agent's terminal over the session.
package sshserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"charm.land/log/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// DefaultAddr is where `reauth serve` listens unless told otherwise.
const DefaultAddr = ":23234"

// DefaultShutdownTimeout bounds ListenAndServe's graceful shutdown.
const DefaultShutdownTimeout = 10 * time.Second

// DefaultDrainTimeout is how long `reauth serve` lets live attempts finish
// after SIGTERM (--drain-timeout).
const DefaultDrainTimeout = 5 * time.Minute

// handshakeTimeout drops clients that connect and never finish the SSH
// handshake, so they cannot hold sockets open forever.
const handshakeTimeout = 30 * time.Second

// Messages a client sees. NoPTYMessage is exact: scripts and docs quote it.
const (
	NoPTYMessage     = "reauth needs an interactive terminal: use ssh -t"
	NoCommandMessage = "reauth serve runs the app only: connect without a command (ssh -t -p PORT HOST)"
	ShutdownMessage  = "reauth: the server is shutting down; your session has ended."
	// DrainMessage is what an agent let go by a drain reads (and a
	// connection that reaches a draining server).
	DrainMessage      = "reauth: this server is restarting; reconnect (you will reach another server)."
	NoPublicURLNote   = "No --public-url: this link only works on the server's own machine"
	fullMessageFormat = "reauth: all %d sessions are in use; try again in a few minutes."
	idleMessageFormat = "reauth: closed after %s without input."
)

// Config configures a Server.
type Config struct {
	// Addr to listen on. Default DefaultAddr. Tests use "127.0.0.1:0".
	Addr string
	// HostKeyPath is the server's private host key. An ed25519 key is
	// generated there (mode 0600) on first run and kept afterwards.
	HostKeyPath string
	// HostKey, when set, is the private host key itself (OpenSSH PEM, as
	// REAUTH_SSH_HOST_KEY gives it): every replica behind one load balancer
	// is started with the same key, so agents see one server. HostKeyPath
	// is then ignored and nothing is written.
	HostKey []byte
	// AuthorizedKeysPath lists the agents' public keys (OpenSSH
	// authorized_keys format). Required unless AllowAnyKey.
	AuthorizedKeysPath string
	// AllowAnyKey accepts every public key. Only for demos on a trusted
	// network: New logs a warning and Warning() returns one to print.
	AllowAnyKey bool
	// MaxSessions caps concurrent sessions; extra ones are refused with a
	// message. 0 means no cap.
	MaxSessions int
	// IdleTimeout ends a session when the agent has typed nothing (no key,
	// paste or resize) for this long. 0 means never. The server's own
	// redraws do not count: a countdown ticking on screen is not an agent.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds ListenAndServe's shutdown. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DrainTimeout is how long ListenAndServe drains (Drain) before its
	// shutdown. 0: no drain.
	DrainTimeout time.Duration
	// DrainReadFor is how long, during a drain, an agent whose attempt has
	// just reached its outcome keeps their session to read it (the banner,
	// the next step) before it is let go; the drain's own bound still ends
	// it. 0: DefaultDrainReadFor.
	DrainReadFor time.Duration
	// ResumeGrace is how long a live attempt whose agent's connection
	// dropped waits for them (resume.go): the same agent (key fingerprint)
	// connecting again within it gets the same attempt back, with what
	// the customer did meanwhile. 0: the attempt ends with the connection.
	ResumeGrace time.Duration
	// ResumeElsewhere, with ResumeGrace, is asked when an agent connects
	// with nothing parked here: the live attempt their dropped connection
	// left parked on another replica, handed over to this one, and their
	// attempts on other replicas that cannot come back, which their account
	// list mentions (internal/app's Runtime.ResumeElsewhere). Nil: resume
	// stays on one server.
	ResumeElsewhere func(ctx context.Context, agent audit.Agent) tui.Elsewhere
	// PublicURL is the page server's public base URL (--public-url). It is
	// only used to tell agents when it is empty: then each session's
	// PageNote (unless NewDeps set one) is NoPublicURLNote.
	PublicURL string
	// Logger receives connection logs (never secrets). Nil: discarded.
	Logger *log.Logger
	// NewDeps builds the dependencies of one session's program. It is
	// called once per SSH session, from that session's goroutine, with the
	// agent's identity from their key (see the package comment). The
	// server then overrides Agent (the header's short identity) and
	// OpenBrowser (nil: never launch a browser on the server). Required.
	NewDeps func(agent audit.Agent) tui.Deps
	// Connected, if set, is told when an agent's session starts (it has
	// passed the key check and the session cap); the func it returns is
	// called once when that session ends. For metrics.
	Connected func() (disconnected func())
}

// DefaultDrainReadFor is Config.DrainReadFor's default.
const DefaultDrainReadFor = 30 * time.Second

// Server is `reauth serve`'s SSH server.
type Server struct {
	cfg     Config
	logger  *log.Logger
	ssh     *ssh.Server
	hostKey gossh.Signer
	keys    *authorizedKeys // nil with AllowAnyKey
	warning string

	mu        sync.Mutex
	ln        net.Listener
	serveDone chan struct{}
	closing   bool
	sessions  map[*agentSession]struct{}
	// parked are the attempts waiting for their agent, by key
	// fingerprint (resume.go).
	parked map[string]*parkedAttempt
	// lapsed are attempts ended because their agent did not come back
	// within the grace, told on the agent's next connection (resume.go).
	lapsed map[string]tui.Stranded
	// draining is set by Drain: no new sessions; drainUntil is its end;
	// emptied is closed when the last session has gone.
	draining   bool
	drainUntil time.Time
	emptied    chan struct{}
	handlers   sync.WaitGroup // running session handlers
	// finishing are the checks left running by programs that ended,
	// carried to their answers (finish.go); stopFinishing ends them.
	finishing     sync.WaitGroup
	stopFinishing context.CancelFunc
	finishCtx     context.Context
}

// New checks the configuration, loads (or creates) the host key and reads
// the authorized keys. It does not listen yet: see Start.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.NewDeps == nil {
		return nil, errors.New("sshserve: Config.NewDeps is required")
	}
	if cfg.MaxSessions < 0 || cfg.IdleTimeout < 0 || cfg.ResumeGrace < 0 {
		return nil, errors.New("sshserve: MaxSessions, IdleTimeout and ResumeGrace must not be negative")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = log.New(io.Discard)
	}
	s := &Server{cfg: cfg, logger: logger, sessions: map[*agentSession]struct{}{}, parked: map[string]*parkedAttempt{}}
	s.finishCtx, s.stopFinishing = context.WithCancel(context.Background())

	var hostKey gossh.Signer
	var err error
	if len(cfg.HostKey) > 0 {
		hostKey, err = parseHostKey(cfg.HostKey, "given in REAUTH_SSH_HOST_KEY")
	} else {
		hostKey, err = loadOrCreateHostKey(cfg.HostKeyPath)
	}
	if err != nil {
		return nil, err
	}
	s.hostKey = hostKey
	if cfg.AllowAnyKey {
		s.warning = "WARNING: --allow-any-key: ANY SSH key is accepted. Anyone who can reach " + cfg.Addr +
			" gets reauth, mints reauth tokens and acts on your Mono accounts. Use --authorized-keys instead."
		logger.Warn("any SSH key is accepted (--allow-any-key)", "addr", cfg.Addr)
	} else {
		keys, err := loadAuthorizedKeys(cfg.AuthorizedKeysPath, logger)
		if err != nil {
			return nil, err
		}
		s.keys = keys
	}

	s.ssh, err = wish.NewServer(
		wish.WithAddress(cfg.Addr),
		func(srv *ssh.Server) error { srv.AddHostKey(hostKey); return nil },
		wish.WithPublicKeyAuth(s.allowKey),
		wish.WithMiddleware(func(ssh.Handler) ssh.Handler { return s.handle }),
		func(srv *ssh.Server) error {
			srv.HandshakeTimeout = handshakeTimeout
			srv.ConnectionFailedCallback = func(c net.Conn, err error) {
				logger.Info("ssh connection refused", "remote", c.RemoteAddr().String(), "err", err)
			}
			return nil
		},
	)
	if err != nil {
		return nil, fmt.Errorf("sshserve: %w", err)
	}
	return s, nil
}

// Warning is a loud warning main should print before serving ("" if none):
// currently only for AllowAnyKey.
func (s *Server) Warning() string { return s.warning }

// HostKeyFingerprint is the host key's SHA256 fingerprint, for agents to
// check the first time their ssh asks them to trust the server.
func (s *Server) HostKeyFingerprint() string { return gossh.FingerprintSHA256(s.hostKey.PublicKey()) }

// allowKey is the public-key check. Only public keys are offered: there is
// no password or keyboard-interactive login, so every agent has a key
// fingerprint to be audited by.
func (s *Server) allowKey(ctx ssh.Context, key ssh.PublicKey) bool {
	if s.cfg.AllowAnyKey {
		return true
	}
	_, ok := s.keys.lookup(key)
	if !ok {
		s.logger.Debug("public key refused", "claimed_user", cleanUser(ctx.User()), "key", gossh.FingerprintSHA256(key),
			"remote", ctx.RemoteAddr().String())
	}
	return ok
}

// Start listens on Config.Addr and serves in the background. Addr reports
// the bound address (useful with port 0).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errors.New("sshserve: server is shut down")
	}
	if s.ln != nil {
		return errors.New("sshserve: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen for SSH on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		err := s.ssh.Serve(ln)
		s.mu.Lock()
		closing := s.closing || s.draining
		s.mu.Unlock()
		if !closing {
			s.logger.Error("ssh server stopped", "err", err)
		}
	}()
	s.logger.Info("serving reauth over SSH", "addr", ln.Addr().String(), "host_key", s.HostKeyFingerprint())
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

// Sessions is the number of sessions running now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// ListenAndServe starts the server and serves until ctx is cancelled (main
// passes its SIGINT/SIGTERM context), then shuts down gracefully within
// Config.ShutdownTimeout.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	served := s.serveDone
	s.mu.Unlock()
	var serveErr error
	select {
	case <-ctx.Done():
		s.Drain(context.Background(), s.cfg.DrainTimeout)
	case <-served:
		serveErr = errors.New("sshserve: the SSH listener stopped unexpectedly")
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return errors.Join(serveErr, err)
	}
	return serveErr
}

// Shutdown stops accepting connections, tells every running session the
// server is going away and ends its program cleanly (terminal restored, its
// pages closed), waits for them, then closes the remaining connections. If
// ctx ends first, the programs still running are killed, connections are
// closed, and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	ln, served := s.ln, s.serveDone
	running := make([]*agentSession, 0, len(s.sessions))
	for as := range s.sessions {
		running = append(running, as)
	}
	s.mu.Unlock()

	// Close the listener ourselves as well as through the ssh server: a
	// Shutdown racing Start could otherwise miss a listener that Serve has
	// not registered yet.
	if ln != nil {
		_ = ln.Close()
	}
	for _, as := range running {
		as.end(endShutdown)
	}
	// Nobody can come back for a parked attempt now.
	s.endParked()
	// Checks still going stop now, recorded unconfirmed (a drain has
	// given them its time already).
	s.stopFinishing()
	finished := make(chan struct{})
	go func() {
		s.handlers.Wait()
		s.finishing.Wait()
		close(finished)
	}()
	var err error
	select {
	case <-finished:
		// Give clients a moment to close their connections themselves
		// after the exit status, so no final line is cut off by a reset.
		grace, cancel := context.WithTimeout(ctx, time.Second)
		_ = s.ssh.Shutdown(grace)
		cancel()
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for as := range s.sessions {
			as.kill()
		}
		s.mu.Unlock()
	}
	_ = s.ssh.Close()
	if served != nil {
		select {
		case <-served:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	select {
	case <-finished:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.logger.Warn("ssh shutdown did not finish in time", "err", err)
	} else {
		s.logger.Info("ssh server stopped")
	}
	return err
}

// admit registers a session unless the server is closing or full; the
// returned message says why not.
func (s *Server) admit(as *agentSession) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ShutdownMessage, false
	}
	if s.draining {
		return DrainMessage, false
	}
	if s.cfg.MaxSessions > 0 && len(s.sessions) >= s.cfg.MaxSessions {
		return fmt.Sprintf(fullMessageFormat, s.cfg.MaxSessions), false
	}
	s.sessions[as] = struct{}{}
	s.handlers.Add(1)
	return "", true
}

func (s *Server) release(as *agentSession) {
	s.mu.Lock()
	delete(s.sessions, as)
	if len(s.sessions) == 0 && s.emptied != nil {
		close(s.emptied)
		s.emptied = nil
	}
	s.mu.Unlock()
	s.handlers.Done()
}

// Drain is the first half of a rolling restart (main runs it on SIGTERM,
// then Shutdown). It stops accepting connections at once (the listener is
// closed: new dials are refused, and a connection already accepted gets
// DrainMessage), tells every agent in their program (tui.DrainNotice: a
// notice on every screen, no new attempts), lets go at once every session
// whose program has no live attempt (its agent reads DrainMessage and
// reconnects: the balancer sends them to another replica) and each other
// one as soon as its attempt ends, and returns when no session is left,
// when timeout has passed, or when ctx ends, whichever is first. The
// sessions still running are Shutdown's to end; their live attempts are
// then recorded as ended by the restart (see agentSession.run).
//
// Whether a program has a live attempt is asked of the program itself (the
// notice's Live callback, called from its goroutine whenever it changes):
// the model knows its attempt's phase exactly, where the claims would miss
// an attempt whose claim could not be recorded and cost a store read.
//
// A timeout of 0 (or less) does nothing. Hand-over of a live attempt to
// another replica is not built: an attempt still live at the end is ended.
func (s *Server) Drain(ctx context.Context, timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	until := time.Now().Add(timeout)
	s.mu.Lock()
	if s.closing || s.draining {
		s.mu.Unlock()
		return
	}
	s.draining, s.drainUntil = true, until
	emptied := make(chan struct{})
	if len(s.sessions) == 0 {
		close(emptied)
	} else {
		s.emptied = emptied
	}
	ln := s.ln
	running := make([]*agentSession, 0, len(s.sessions))
	for as := range s.sessions {
		running = append(running, as)
	}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	s.logger.Info("draining: no new connections; agents told", "sessions", len(running), "timeout", timeout)
	for _, as := range running {
		as.notifyDrain(until)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-emptied:
		if !s.waitFinishing(ctx, t.C) {
			s.logger.Warn("drain: checks after a success still going; they stop with the shutdown")
			return
		}
		s.logger.Info("drained: every session has ended")
	case <-t.C:
		s.logger.Warn("drain timeout: ending the sessions left", "sessions", s.Sessions())
	case <-ctx.Done():
		s.logger.Warn("drain cut short", "sessions", s.Sessions(), "err", ctx.Err())
	}
}

// drainInfo is whether the server drains, and until when.
func (s *Server) drainInfo() (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining, s.drainUntil
}
