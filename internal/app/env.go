package app

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"charm.land/log/v2"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
)

// Env is what a command runs against: a Mono client (live or sandbox), the
// logger, and the sandbox when there is one.
type Env struct {
	Now     func() time.Time // the sandbox clock, or time.Now
	Logger  *log.Logger
	Client  *mono.Client
	Sandbox *sandbox.Server // nil live
	// PublicKey is Mono's public key for the widget.
	PublicKey string
	APIURL    string
	// ReplicaID names this process among replicas on one database: it
	// begins its page session ids (Config.ReplicaID, or random; under
	// --sandbox-clock derived from the seed, so recordings repeat).
	ReplicaID string

	cfg Config
	// hooks holds the sandbox's webhooks (nil live): what tells the app,
	// as Mono's would, which accounts need reauth.
	hooks   *sandboxHooks
	closers []func()
}

// Close closes what Setup made, last first.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// SecretKey reads Mono's secret key from the environment only (never a
// flag): MONO_SECRET_KEY, or the file MONO_SECRET_KEY_FILE names. "" means
// none (the sandbox).
func SecretKey() (string, error) {
	if k := strings.TrimSpace(os.Getenv("MONO_SECRET_KEY")); k != "" {
		return k, nil
	}
	if p := os.Getenv("MONO_SECRET_KEY_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", ConfigError{"cannot read MONO_SECRET_KEY_FILE: " + errors.Unwrap(err).Error()}
		}
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
		return "", ConfigError{"MONO_SECRET_KEY_FILE is empty"}
	}
	return "", nil
}

// OpenLogger logs to the log file (Files.Log), never to the terminal the
// TUI draws on. The returned func closes the file.
func OpenLogger(cfg Config) (*log.Logger, func(), error) {
	path, err := cfg.Files.Log()
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, ConfigError{"cannot create the log directory: " + err.Error()}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, ConfigError{"cannot open the log file: " + err.Error()}
	}
	// The mode above only applies to a new file. An existing log others can
	// read (made by an older reauth, a copy, a umask) names agents, accounts
	// and token fingerprints: tighten it, as the audit log does.
	if fi, err := f.Stat(); err != nil || fi.Mode().Perm()&0o077 != 0 {
		if err == nil {
			err = f.Chmod(0o600)
		}
		if err != nil {
			_ = f.Close()
			return nil, nil, ConfigError{"cannot make the log file private (chmod 600): " + err.Error()}
		}
	}
	l := log.NewWithOptions(f, log.Options{ReportTimestamp: true, Level: log.InfoLevel})
	if cfg.Debug {
		l.SetLevel(log.DebugLevel)
	}
	return l, func() { _ = f.Close() }, nil
}

// DomainLog hands a package under mono/ its logger: the same file and level
// as the app's, through log/slog, so the domain never imports Charm's
// packages (charm.land/log is a slog.Handler).
func DomainLog(l *log.Logger, prefix string) *slog.Logger { return slog.New(l.WithPrefix(prefix)) }

// Setup builds the Mono client: live when MONO_SECRET_KEY is set (and
// Config.Sandbox is not), otherwise against an in-process sandbox on
// loopback, reached through the same client code.
func Setup(cfg Config) (*Env, error) {
	logger, closeLog, err := OpenLogger(cfg)
	if err != nil {
		return nil, err
	}
	e := &Env{Logger: logger, closers: []func(){closeLog}, Now: time.Now, cfg: cfg}
	key, err := SecretKey()
	if err != nil {
		e.Close()
		return nil, err
	}
	var idSource io.Reader
	if cfg.SandboxClock != "" {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(cfg.SandboxSeed)+2)
		idSource = mrand.NewChaCha8(seed)
	}
	if e.ReplicaID, err = replicaIDFor(cfg.ReplicaID, idSource); err != nil {
		e.Close()
		return nil, err
	}
	base := os.Getenv("MONO_API_URL")
	sandboxed := cfg.Sandbox || key == ""
	if cfg.SandboxClock != "" {
		start, err := time.Parse(time.RFC3339, cfg.SandboxClock)
		if err != nil || !sandboxed {
			e.Close()
			return nil, ConfigError{"--sandbox-clock takes an RFC 3339 time and works only on the sandbox"}
		}
		// A clock that starts at a fixed instant and runs at real speed, so a
		// recording shows the same times on every run.
		began := time.Now()
		e.Now = func() time.Time { return start.Add(time.Since(began)) }
	}
	if sandboxed && cfg.Tune.SharedSandbox != nil {
		e.Sandbox = cfg.Tune.SharedSandbox
		key, base, e.PublicKey = sandbox.SecretKey, e.Sandbox.URL(), sandbox.PublicKey
	} else if sandboxed {
		// The sandbox pushes its webhooks from the moment it is made; they
		// are kept in memory (never in the live webhooks.json) and reach the
		// app once its runtime attaches (sandboxHooks).
		e.hooks = newSandboxHooks(e.Now, logger)
		opts := sandbox.Options{Seed: cfg.SandboxSeed, Logger: DomainLog(logger, "sandbox"), Now: e.Now,
			ConfirmDelay: cfg.SandboxConfirm, Webhooks: e.hooks.push}
		if cfg.SandboxClock != "" {
			// Recordings: the fake Mono's tokens repeat too (they are not
			// secrets; the page's own id and secret stay random).
			var seed [32]byte
			binary.LittleEndian.PutUint64(seed[:], uint64(cfg.SandboxSeed))
			opts.TokenSource = mrand.NewChaCha8(seed)
		}
		if cfg.Tune.Sandbox != nil {
			cfg.Tune.Sandbox(&opts)
		}
		sb := sandbox.New(opts)
		if err := sb.Start(""); err != nil {
			e.Close()
			return nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		e.Sandbox = sb
		e.closers = append(e.closers, func() { _ = sb.Close() })
		key, base, e.PublicKey = sandbox.SecretKey, sb.URL(), sandbox.PublicKey
	} else {
		e.PublicKey = strings.TrimSpace(os.Getenv("MONO_PUBLIC_KEY"))
	}
	e.APIURL = base
	mc := mono.Config{BaseURL: base, SecretKey: key, Logger: DomainLog(logger, "mono"),
		HTTPClient: httpClient(cfg.APITimeout), Now: e.Now}
	if cfg.Metrics != nil {
		mc.Observe = cfg.Metrics.MonoCall
	}
	if cfg.Tune.Mono != nil {
		cfg.Tune.Mono(&mc)
	}
	client, err := mono.NewClient(mc)
	if err != nil {
		e.Close()
		return nil, ConfigError{"Mono client: " + OneLine(err)}
	}
	e.Client = client
	logger.Info("reauth starting", "version", cfg.Version, "sandbox", e.Sandbox != nil, "api", base)
	return e, nil
}

func httpClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = mono.DefaultTimeout
	}
	return &http.Client{Timeout: timeout}
}

// Marks is where a command (accounts, token, link) reads what Mono's
// webhooks said about accounts, as the app's list does: on the sandbox, the
// webhooks the sandbox has sent so far (in memory); live, the store's marks
// (st: the command's store, which `reauth webhooks` or an app's receiver
// keeps).
func (e *Env) Marks(ctx context.Context, st *Storage) (*webhook.Store, error) {
	if e.hooks != nil {
		return e.hooks.attach(e.Sandbox.Webhooks, nil), nil
	}
	return st.Marks(ctx)
}
