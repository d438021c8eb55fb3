package sshserve

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"charm.land/log/v2"
	"github.com/charmbracelet/x/vt"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/internal/app"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// waitLimit bounds every wait on a condition: generous, because -race
// SSH with a full TUI on two shared cores is slow, but never a sleep.
const waitLimit = 30 * time.Second

func TestMain(m *testing.M) {
	// The TUI prints local times; pin the zone for stable screens.
	time.Local = time.UTC
	os.Exit(m.Run())
}

// newKey makes an ed25519 SSH signer.
func newKey(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authorizedLine(s gossh.Signer, comment string) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey()))) + " " + comment + "\n"
}

type fixtureOpts struct {
	agents      []string // names whose keys go in authorized_keys
	allowAny    bool
	maxSessions int
	idle        time.Duration
	autoplay    bool
	accounts    int
	// database is the store: "" the plain files (audit.jsonl), "sqlite" a
	// SQLite file in the fixture's directory, or a postgres:// URL (two
	// fixtures on one URL are two replicas).
	database string
	// claimsEvery replaces app.ClaimsPollEvery.
	claimsEvery time.Duration
	// resumeGrace is Config.ResumeGrace.
	resumeGrace time.Duration
	// verifyFor is the programs' Deps.VerifyFor (0: 20s).
	verifyFor time.Duration
	// sandboxConfirm is how long after a reauth the sandbox confirms fresh
	// data (its account_updated SUCCESSFUL); 0: 1 ms.
	sandboxConfirm time.Duration
	// auditDown, when set and true, makes the programs' audit fail every
	// write as a store that went away does.
	auditDown *atomic.Bool
	// Replicas: publicURL is the pages' shared public URL (a load
	// balancer's), replicaID this replica's id, and sameKeysAs another
	// fixture whose agents' keys this one lets in (one team, two replicas).
	// drainReadFor is Config.DrainReadFor.
	drainReadFor time.Duration
	publicURL    string
	replicaID    string
	sameKeysAs   *fixture
}

// fixture is the app's runtime on a small sandbox (internal/app: the Mono
// client, the shared account catalogue, the widget page server, the audit,
// the sandbox's webhooks) and an SSH server whose NewDeps is the runtime's,
// recording what it was given.
type fixture struct {
	t        testing.TB
	dir      string
	database bool // the audit is in a database (Storage), not audit.jsonl
	keysPath string
	keys     map[string]gossh.Signer
	sb       *sandbox.Server
	rt       *app.Runtime
	srv      *Server
	// verifyFor is fixtureOpts.verifyFor (0: the default).
	verifyFor time.Duration
	auditDown *atomic.Bool // fixtureOpts.auditDown
	// connected counts sessions between Config.Connected and its end.
	connected atomic.Int64
	logs      *syncBuffer

	mu           sync.Mutex
	agents       []audit.Agent
	browserCalls int
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	if len(o.agents) == 0 && !o.allowAny {
		o.agents = []string{"ada"}
	}
	if o.accounts == 0 {
		o.accounts = 60
	}
	f := &fixture{t: t, dir: t.TempDir(), keys: map[string]gossh.Signer{}, logs: &syncBuffer{}, verifyFor: o.verifyFor,
		auditDown: o.auditDown}
	f.keysPath = filepath.Join(f.dir, "authorized_keys")
	var lines strings.Builder
	lines.WriteString("# reauth support agents\n")
	for _, name := range o.agents {
		f.keys[name] = newKey(t)
		if o.sameKeysAs != nil && o.sameKeysAs.keys[name] != nil {
			f.keys[name] = o.sameKeysAs.keys[name]
		}
		lines.WriteString(authorizedLine(f.keys[name], name+"@support"))
	}
	if err := os.WriteFile(f.keysPath, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	// The runtime `reauth serve` runs on, on the sandbox: which accounts
	// need reauth, and why, comes from the sandbox's webhooks (its reads
	// carry no sync_status, as Mono's do not); its account_updated
	// SUCCESSFUL after a reauth confirms fresh data.
	if o.sandboxConfirm == 0 {
		o.sandboxConfirm = time.Millisecond
	}
	cfg := app.Config{Sandbox: true, SandboxSeed: 1, SandboxConfirm: o.sandboxConfirm, Autoplay: o.autoplay,
		PublicURL: o.publicURL, ReplicaID: o.replicaID,
		Files: app.Files{AuditLog: filepath.Join(f.dir, "audit.jsonl"), LogFile: filepath.Join(f.dir, "reauth.log")},
		Tune: app.Tune{
			ClaimsPollEvery: o.claimsEvery,
			Sandbox:         func(so *sandbox.Options) { so.Accounts, so.PageSize = o.accounts, 20 },
			Pages: func(pc *connect.Config) {
				pc.AutoplayStepDelay, pc.SandboxOpenDelay = 50*time.Millisecond, 50*time.Millisecond
			},
			Mono: func(mc *mono.Config) { mc.Retry = mono.RetryPolicy{MaxAttempts: 1} },
		}}
	switch o.database {
	case "":
	case "sqlite":
		cfg.Files.AuditLog, cfg.Files.Database = "", filepath.Join(f.dir, "reauth.db")
	default:
		cfg.Files.AuditLog, cfg.Files.Database = "", o.database
	}
	if o.sameKeysAs != nil {
		// One team, one Mono: the replicas share the first one's fake Mono
		// (a token minted through one is completed through the other).
		cfg.Tune.SharedSandbox = o.sameKeysAs.sb
	}
	if o.database != "" {
		// A database store would import the state directory's old files.
		cfg.Files.OldFilesDir = app.NoOldFiles
		f.database = true
	}
	env, err := app.Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	f.sb = env.Sandbox
	rtCtx, rtCancel := context.WithCancel(context.Background())
	f.rt, err = app.New(rtCtx, env)
	if err != nil {
		rtCancel()
		t.Fatal(err)
	}
	// After the server's shutdown (cleanups run last first).
	t.Cleanup(func() { rtCancel(); f.rt.Close() })

	scfg := Config{
		Addr:               "127.0.0.1:0",
		HostKeyPath:        filepath.Join(f.dir, "host_ed25519"),
		AuthorizedKeysPath: f.keysPath,
		AllowAnyKey:        o.allowAny,
		MaxSessions:        o.maxSessions,
		IdleTimeout:        o.idle,
		ResumeGrace:        o.resumeGrace,
		DrainReadFor:       o.drainReadFor,
		Logger:             log.NewWithOptions(f.logs, log.Options{Level: log.DebugLevel}),
		NewDeps:            f.newDeps,
		ResumeElsewhere:    f.rt.ResumeElsewhere,
		PublicURL:          o.publicURL,
		Connected: func() func() {
			f.connected.Add(1)
			return func() { f.connected.Add(-1) }
		},
	}
	if o.allowAny {
		scfg.AuthorizedKeysPath = ""
	}
	f.srv, err = New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	f.rt.ServeHandOvers(f.srv)
	if err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return f
}

// newDeps is the per-session factory: the runtime's, as `reauth serve`
// hands it to the server, recording the agent, with quicker post-success
// re-reads. It sets OpenBrowser to prove the server drops it.
func (f *fixture) newDeps(agent audit.Agent) tui.Deps {
	f.mu.Lock()
	f.agents = append(f.agents, agent)
	f.mu.Unlock()
	d := f.rt.Deps(agent)
	d.OpenBrowser = func(string) error {
		f.mu.Lock()
		f.browserCalls++
		f.mu.Unlock()
		return nil
	}
	d.VerifyEvery, d.VerifyFor = 50*time.Millisecond, 20*time.Second
	if f.verifyFor > 0 {
		d.VerifyFor = f.verifyFor
	}
	if f.auditDown != nil {
		d.Audit = outageRecorder{inner: d.Audit, down: f.auditDown}
	}
	return d
}

func (f *fixture) seenAgents() []audit.Agent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]audit.Agent(nil), f.agents...)
}

// auditOf is the audit trail of the agent whose key has fingerprint fp, as
// the runtime's recorder wrote it.
func (f *fixture) auditOf(fp string) agentAudit { return agentAudit{f: f, fp: fp} }

type agentAudit struct {
	f  *fixture
	fp string
}

// records reads the audit log back: the records stamped with the agent's
// key.
func (a agentAudit) records() []audit.Record {
	a.f.t.Helper()
	var recs []audit.Record
	var err error
	if a.f.database {
		recs, err = a.f.rt.Storage().Audit().Query(context.Background(), audit.Query{})
	} else {
		recs, _, err = audit.ReadFile(filepath.Join(a.f.dir, "audit.jsonl"), audit.Filter{})
	}
	if err != nil {
		a.f.t.Fatalf("reading the audit log: %v", err)
	}
	var out []audit.Record
	for _, r := range recs {
		if r.Agent.KeyFingerprint == a.fp {
			out = append(out, r)
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dial opens an SSH connection as user with key, pinning the server's host
// key.
func (f *fixture) dial(user string, key gossh.Signer) (*gossh.Client, error) {
	cfg := &gossh.ClientConfig{
		User:            user,
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.FixedHostKey(f.srv.hostKey.PublicKey()),
		Timeout:         10 * time.Second,
	}
	return gossh.Dial("tcp", f.srv.Addr(), cfg)
}

type termOpts struct {
	width, height int
	term          string
	env           map[string]string
	background    color.Color // what the agent's terminal answers to OSC 11
	unsized       bool        // the PTY request carries no size (0x0)
}

// terminal is an agent's terminal: an SSH session with a PTY whose output
// feeds a vt emulator, and whose answers to terminal queries go back as
// input, as a real terminal's would.
type terminal struct {
	t      testing.TB
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser

	mu   sync.Mutex
	emu  *vt.Emulator
	raw  bytes.Buffer // every byte of stdout, escape sequences included
	clip []string     // OSC 52 clipboard writes, decoded

	exited chan error // the session's Wait result
	pumps  sync.WaitGroup
}

// open connects user (whose key is in the fixture) and starts a shell.
func (f *fixture) open(user string, o termOpts) *terminal {
	f.t.Helper()
	c, err := f.dial(user, f.keys[user])
	if err != nil {
		f.t.Fatalf("dial as %s: %v", user, err)
	}
	return openTerminal(f.t, c, o)
}

func openTerminal(t testing.TB, c *gossh.Client, o termOpts) *terminal {
	t.Helper()
	if o.width == 0 {
		o.width, o.height = 100, 30
	}
	if o.term == "" {
		o.term = "xterm-256color"
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range o.env {
		if err := sess.Setenv(k, v); err != nil {
			t.Fatalf("setenv %s: %v", k, err)
		}
	}
	ptyW, ptyH := o.width, o.height
	if o.unsized {
		ptyW, ptyH = 0, 0
	}
	if err := sess.RequestPty(o.term, ptyH, ptyW, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	tm := &terminal{t: t, client: c, sess: sess, emu: vt.NewEmulator(o.width, o.height), exited: make(chan error, 1)}
	if o.background != nil {
		tm.emu.SetDefaultBackgroundColor(o.background)
	}
	tm.emu.RegisterOscHandler(52, func(data []byte) bool {
		parts := bytes.Split(data, []byte{';'})
		if dec, err := base64.StdEncoding.DecodeString(string(parts[len(parts)-1])); err == nil {
			tm.clip = append(tm.clip, string(dec)) // under tm.mu: called from emu.Write
		}
		return true
	})
	tm.stdin, err = sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	feed := func(r io.Reader, keepRaw bool) {
		defer tm.pumps.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				tm.mu.Lock()
				if keepRaw {
					tm.raw.Write(buf[:n])
				}
				_, _ = tm.emu.Write(buf[:n])
				tm.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}
	tm.pumps.Add(3)
	go feed(stdout, true)
	go feed(stderr, false)
	go func() { // the terminal's answers to queries → the program's input
		defer tm.pumps.Done()
		if _, err := io.Copy(tm.stdin, tm.emu); err != nil {
			// The session is gone; keep draining so the emulator never
			// blocks on an answer nobody reads.
			_, _ = io.Copy(io.Discard, tm.emu)
		}
	}()
	go func() { tm.exited <- sess.Wait() }()
	t.Cleanup(tm.close)
	return tm
}

// close ends the client side and waits for the pumps.
func (tm *terminal) close() {
	_ = tm.sess.Close()
	_ = tm.client.Close()
	// Closing the emulator's input pipe ends the answer pump without
	// touching the emulator's own closed flag (which Read checks unlocked).
	if c, ok := tm.emu.InputPipe().(io.Closer); ok {
		_ = c.Close()
	}
	tm.pumps.Wait()
}

func (tm *terminal) screen() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.emu.String()
}

func (tm *terminal) rawOutput() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.raw.String()
}

func (tm *terminal) clipboard() []string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return append([]string(nil), tm.clip...)
}

// waitFor polls the emulated screen until ok, failing after waitLimit.
func (tm *terminal) waitFor(what string, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(15 * time.Millisecond)
	defer tick.Stop()
	for {
		s := tm.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %s; screen:\n%s", what, s)
		}
		<-tick.C
	}
}

func (tm *terminal) waitText(sub string) string {
	tm.t.Helper()
	return tm.waitFor(sub, func(s string) bool { return strings.Contains(s, sub) })
}

func (tm *terminal) send(keys string) {
	tm.t.Helper()
	if _, err := tm.stdin.Write([]byte(keys)); err != nil {
		tm.t.Fatalf("typing %q: %v", keys, err)
	}
}

// wait waits for the session to end and returns its exit status (-1 when
// it ended without one).
func (tm *terminal) wait() int {
	tm.t.Helper()
	select {
	case err := <-tm.exited:
		if err == nil {
			return 0
		}
		if ee, ok := err.(*gossh.ExitError); ok {
			return ee.ExitStatus()
		}
		tm.t.Logf("session ended without a status: %v", err)
		return -1
	case <-time.After(waitLimit):
		tm.t.Fatalf("session did not end; screen:\n%s", tm.screen())
		return -1
	}
}

// link returns the first OSC 8 hyperlink target on screen containing sub.
func (tm *terminal) link(sub string) string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for y := range tm.emu.Height() {
		for x := range tm.emu.Width() {
			if c := tm.emu.CellAt(x, y); c != nil && strings.Contains(c.Link.URL, sub) {
				return c.Link.URL
			}
		}
	}
	return ""
}

// cellFg is the foreground colour of the first cell of the first
// occurrence of text on screen.
func (tm *terminal) cellFg(text string) (color.Color, bool) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for y, line := range strings.Split(tm.emu.String(), "\n") {
		if x := strings.Index(line, text); x >= 0 {
			x = len([]rune(line[:x]))
			if c := tm.emu.CellAt(x, y); c != nil {
				return c.Style.Fg, true
			}
		}
	}
	return nil, false
}

// anyColour reports whether any cell on screen has a colour.
func (tm *terminal) anyColour() bool {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for y := range tm.emu.Height() {
		for x := range tm.emu.Width() {
			if c := tm.emu.CellAt(x, y); c != nil && (c.Style.Fg != nil || c.Style.Bg != nil) {
				return true
			}
		}
	}
	return false
}

// outageRecorder is a program's audit whose store can go away (down): then
// every write fails, as the runtime's does when PostgreSQL is unreachable.
type outageRecorder struct {
	inner tui.Recorder
	down  *atomic.Bool
}

func (o outageRecorder) Record(r audit.Record) { _ = o.Append(r) }

func (o outageRecorder) Append(r audit.Record) error {
	if o.down.Load() {
		return errors.New("audit store: connection refused")
	}
	if a, ok := o.inner.(tui.Appender); ok {
		return a.Append(r)
	}
	o.inner.Record(r)
	return nil
}

func (o outageRecorder) Guard(secrets ...string) {
	if g, ok := o.inner.(tui.SecretGuard); ok {
		g.Guard(secrets...)
	}
}
