package app

import (
	"context"
	"encoding/binary"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"charm.land/log/v2"
	"github.com/pkg/browser"

	"github.com/reauth/reauth/internal/metrics"
	"github.com/reauth/reauth/internal/store/postgres"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// Runtime is what every TUI program shares: locally one, under `reauth
// serve` one for all SSH connections (each connection still gets its own
// program and its own page sessions, through Deps).
type Runtime struct {
	env     *Env
	pages   *connect.Server
	storage *Storage
	audit   *Recorder
	// marks is what Mono's webhooks said about each account: the file
	// beside the audit log live, the sandbox's own in memory.
	marks    *webhook.Store
	hub      *Hub
	webhooks *http.Server // nil unless Config.WebhookAddr
	hookURL  string
	// arrive: webhook news can reach this runtime (a receiver, the marks
	// poller following the file, or the sandbox's own webhooks).
	arrive   bool
	redirect string
	// localPages: no public URL, so page links only open on this machine.
	localPages bool
	// replicas: this replica's id and the registry's live replicas, for
	// forwarding page requests to the replica that owns the page.
	replicas *replicaSet
	// catalog is the account list every program shares: paged from Mono
	// once (not once per SSH session) and refreshed in the background.
	catalog *tui.Catalog
	// claims is the team's claims on accounts, on the store, with their
	// news fanned out to programs.
	claims *Claims
	// handovers lets other replicas take this one's parked attempts, and
	// this one theirs (handover.go).
	handovers handovers
	// news tells the other processes on a database store of this
	// runtime's fresher account reads, and overlays theirs (accountnews.go);
	// nil on the plain files.
	news *accountNews
}

// MarksPollEvery is how often a runtime looks for marks another process
// wrote: on a database, one query for changes after the version it has; on
// the file, a stat and a read only when the file changed.
const MarksPollEvery = 2 * time.Second

// CloseTimeout bounds Close: the webhook receiver and the page server share
// it, so a slow client of one cannot stretch a shutdown.
const CloseTimeout = 3 * time.Second

// New builds the runtime on env: the account catalogue, the page server,
// the audit, the webhook marks (the sandbox's own, or the file) and the hub
// that tells programs about webhooks, with a receiver when
// Config.WebhookAddr is set and otherwise the marks poller on a live file.
// Everything it starts stops when ctx ends or Close is called.
func New(ctx context.Context, env *Env) (*Runtime, error) {
	cfg := env.cfg
	rt := &Runtime{env: env, hub: NewHub(), redirect: cfg.RedirectURL, localPages: cfg.PublicURL == ""}
	rt.catalog = tui.NewCatalog(ctx, env.Client, tui.CatalogOptions{RefreshEvery: cfg.AccountsRefresh, Now: env.Now,
		OnLoad: func(n int, took time.Duration, err error) {
			if err != nil && ctx.Err() == nil {
				env.Logger.Warn("account list not loaded", "accounts", n, "after", took.Round(time.Millisecond), "err", OneLine(err))
			} else if err == nil {
				env.Logger.Info("account list loaded", "accounts", n, "took", took.Round(time.Millisecond))
			}
		},
		// A program's fresher read (after a reauth) is news for the other
		// replicas; set before any program runs, so read without a lock.
		OnUpdate: func(a mono.Account) {
			if rt.news != nil {
				rt.news.publish(a)
			}
		}})
	rt.replicas = &replicaSet{id: env.ReplicaID, logger: env.Logger}
	rt.handovers.rt = rt
	srv, err := env.startPages(func(c *connect.Config) {
		c.Forward = rt.replicas.forward
		c.Internal = &rt.handovers
	})
	if err != nil {
		return nil, err
	}
	rt.pages = srv
	if rt.storage, err = OpenStorage(ctx, cfg.Files, env.Now, env.Logger); err != nil {
		rt.Close()
		return nil, err
	}
	if rt.storage.replicas != nil && cfg.PublicURL != "" {
		// Pages behind a shared public URL: register where ours are, so
		// the other replicas forward them here (and we to them).
		self, err := internalURLFor(cfg.InternalURL, srv.Addr())
		if err == nil {
			err = rt.replicas.join(ctx, rt.storage.replicas, self)
		}
		if err != nil {
			rt.Close()
			return nil, err
		}
		env.Logger.Info("replica registered", "replica", env.ReplicaID, "internal_url", self)
	}
	rt.audit = rt.storage.Recorder(audit.Agent{}, env.Logger)
	rt.audit.metrics = cfg.Metrics
	rt.claims = newClaims(rt.storage.Claims(), env.Now, env.Logger, cfg.Metrics)
	rt.claims.replica = env.ReplicaID
	if rt.replicas.joined() {
		rt.claims.gone = func(ctx context.Context, id string, seen time.Time) bool {
			rt.replicas.read(ctx)
			return rt.replicas.gone(id, seen)
		}
	}
	claimsEvery := ClaimsPollEvery
	if cfg.Tune.ClaimsPollEvery > 0 {
		claimsEvery = cfg.Tune.ClaimsPollEvery
	}
	rt.claims.start(ctx, claimsEvery, rt.storage.Wake(ctx, postgres.KindClaims))
	if b := rt.storage.AccountNews(); b != nil {
		// A database store: other processes (replicas) re-read accounts
		// too. On a SQLite file it is usually one process, and the feed
		// costs a query every few seconds; two on one file (a serve and a
		// local reauth) hear each other.
		every := AccountNewsPollEvery
		if cfg.Tune.AccountNewsPollEvery > 0 {
			every = cfg.Tune.AccountNewsPollEvery
		}
		rt.news = newAccountNews(ctx, b, env.ReplicaID, env.Now, env.Client, rt.catalog, env.Logger)
		rt.news.start(ctx, every, rt.storage.Wake(ctx, postgres.KindAccounts))
	}
	if env.hooks != nil {
		// The sandbox's webhooks, in memory: every one it has sent so far
		// now, each later one as it comes, told to every program.
		rt.marks = env.hooks.attach(env.Sandbox.Webhooks, rt.hub.PublishEvent)
		rt.arrive = true
	} else if rt.marks, err = rt.storage.Marks(ctx); err != nil {
		env.Logger.Warn("webhook marks unavailable", "err", err)
		rt.marks = nil
	}
	if cfg.WebhookAddr != "" {
		secret := os.Getenv("MONO_WEBHOOK_SECRET")
		if secret == "" {
			rt.Close()
			return nil, ConfigError{"--webhook-addr needs MONO_WEBHOOK_SECRET (Mono sends it in mono-webhook-secret)"}
		}
		if rt.marks == nil {
			rt.Close()
			return nil, failed("--webhook-addr needs the webhook marks store (" + rt.storage.MarksWhere() + ")")
		}
		rt.webhooks, err = ServeWebhooks(ctx, cfg.WebhookAddr, secret, rt.marks, env.Logger, cfg.Metrics, rt.onWebhook)
		if err != nil {
			rt.Close()
			return nil, err
		}
		rt.hookURL = "http://" + rt.webhooks.Addr + "/"
		rt.arrive = true
	}
	if rt.marks != nil && env.hooks == nil && (rt.webhooks == nil || rt.storage.Kind != StoreFile) {
		// Other processes write marks too — a `reauth webhooks` beside the
		// app, or, on a database, every replica's receiver: their news shows
		// while the app runs, not only at the next start. (A Store does not
		// report its own writes again, so with a receiver of its own nothing
		// is told twice.)
		every := MarksPollEvery
		if cfg.Tune.MarksPollEvery > 0 {
			every = cfg.Tune.MarksPollEvery
		}
		go rt.watchMarks(ctx, every)
		rt.arrive = true
	}
	return rt, nil
}

// watchMarks re-reads the webhook store every so often until ctx ends, and
// tells every program about accounts newly marked or cleared, as the
// in-process receiver does (onWebhook).
//
// On PostgreSQL it also wakes when another process commits marks (LISTEN/
// NOTIFY) and after the store's listener reconnects; the timer stays as the
// safety net, and the only way elsewhere.
func (rt *Runtime) watchMarks(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var wake <-chan struct{}
	if rt.storage != nil {
		wake = rt.storage.Wake(ctx, postgres.KindMarks)
	}
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		marked, cleared, err := rt.marks.Reload()
		if err != nil {
			// Once per distinct error: a damaged file would otherwise log
			// every tick until someone mends it.
			if err.Error() != lastErr {
				rt.env.Logger.Warn("webhook marks not re-read", "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		for _, id := range append(marked, cleared...) {
			// What the store now holds for it: a mark, an unlinking, or
			// the clearing (account_reauthorized, or account_updated
			// SUCCESSFUL) with its event and time.
			if m, ok := rt.marks.Latest(id); ok {
				rt.hub.Publish(signalOfMark(id, m))
			}
		}
	}
}

// onWebhook tells every program about an accepted webhook and audits it.
func (rt *Runtime) onWebhook(ev webhook.Event) {
	rt.hub.PublishEvent(ev)
	rt.audit.As(WebhookAgent).Record(audit.Record{Account: ev.AccountID,
		Action: audit.ActionWebhookReceived, Event: ev.Name, Detail: string(ev.DataStatus)})
}

// Deps is one program's tui.Deps on this runtime, its records stamped with
// agent. OpenBrowser is left nil (RunTUI sets it for the local app; SSH
// sessions never launch one).
func (rt *Runtime) Deps(agent audit.Agent) tui.Deps {
	d := tui.Deps{
		Mono:        rt.env.Client,
		Pages:       tui.ConnectPages{Server: rt.pages},
		Audit:       rt.audit.As(agent),
		Agent:       agent.User,
		AgentKey:    agent.KeyFingerprint,
		Now:         rt.env.Now,
		Sandbox:     rt.env.Sandbox != nil,
		Signals:     rt.hub.Subscribe,
		RedirectURL: rt.redirect,
		// An in-process receiver, or the sandbox's own webhooks; a separate
		// `reauth webhooks` is not known for sure, so the TUI says where
		// progress would come from.
		WebhookReceiver: rt.webhooks != nil || rt.env.Sandbox != nil,
		Catalog:         rt.catalog,
		Claims:          rt.claims.For(agent),
		// What Mono's webhooks said about the account (checked only when
		// their news can reach this runtime) and its past attempts.
		SignalsFor:    tui.WebhookSignals(rt.marks, rt.arrive, rt.audit.History),
		LatestWebhook: tui.LatestWebhook(rt.marks),
		Attempts:      rt.audit.Attempts, // the account screen's History
	}
	if rt.replicas.joined() {
		d.ReplicaGone = rt.replicas.gone
	}
	if rt.env.Sandbox != nil {
		d.ScenarioFor = func(id string) string { return string(sandbox.ScenarioFor(id)) }
	} else if rt.localPages {
		// A live customer is rarely at the agent's own computer.
		d.PageNote = "This link only opens on this computer; for a customer elsewhere, run with --public-url (see README)."
	}
	if rt.marks != nil {
		d.NeedsReauth = rt.marks.NeedsReauth
		marks, logger := rt.marks, rt.env.Logger
		d.ClearMark = func(id string, at time.Time) {
			if _, err := marks.Clear(id, at, "verified success in reauth"); err != nil {
				logger.Warn("mark not cleared after a verified success", "account", id, "err", err)
			}
		}
	}
	return d
}

// Claims is the team's claims on accounts (one live attempt per account).
func (rt *Runtime) Claims() *Claims { return rt.claims }

// Catalog is the account list every program shares (Start loads it now).
func (rt *Runtime) Catalog() *tui.Catalog { return rt.catalog }

// PagesURL is the widget page server's base URL.
func (rt *Runtime) PagesURL() string { return rt.pages.URL() }

// PagesAddr is the page server's listen address (behind --public-url,
// where a load balancer or another replica reaches it).
func (rt *Runtime) PagesAddr() string { return rt.pages.Addr() }

// WebhookURL is the in-process receiver's URL ("" without one).
func (rt *Runtime) WebhookURL() string { return rt.hookURL }

// WebhooksArrive reports whether webhook news can reach this runtime: a
// receiver runs (Config.WebhookAddr), the poller follows the marks file,
// or the sandbox posts its webhooks in-process. Only then does "no webhook
// about this account" mean anything.
func (rt *Runtime) WebhooksArrive() bool { return rt.arrive }

// Close stops the receiver and the page server (CloseTimeout) and closes
// the audit. The poller and the catalogue stop with New's ctx.
func (rt *Runtime) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if rt.webhooks != nil {
		_ = rt.webhooks.Shutdown(ctx)
	}
	if rt.pages != nil {
		_ = rt.pages.Close(ctx)
	}
	if rt.replicas != nil {
		rt.replicas.leave()
	}
	if rt.storage != nil {
		_ = rt.storage.Close()
	}
}

// Storage is the runtime's store (the audit and the webhook marks).
func (rt *Runtime) Storage() *Storage { return rt.storage }

// Imported says what this start imported from the files an older reauth
// kept (see Storage.Imported).
func (rt *Runtime) Imported() []string {
	if rt.storage == nil {
		return nil
	}
	return rt.storage.Imported
}

// PageConfig is the widget page server's configuration for this mode. In
// the sandbox, a completed simulated reauth is reported to the fake Mono,
// which then sends its webhooks (account_reauthorized, later account_updated)
// as Mono would: they reach the app through sandboxHooks, never from here.
func (e *Env) PageConfig() (connect.Config, error) {
	c := e.cfg
	contract, err := connect.ParseContract(c.Contract)
	if err != nil {
		return connect.Config{}, ConfigError{err.Error()}
	}
	cfg := connect.Config{Addr: c.WidgetAddr, PublicURL: c.PublicURL, Contract: contract, Autoplay: c.Autoplay,
		ConnectJSURL: c.ConnectJS, PublicKey: e.PublicKey, Logger: DomainLog(e.Logger, "page"), Now: e.Now,
		ReplicaID: e.ReplicaID,
		// A page's outcome post is answered once the agent's app has it in
		// the audit: what the page was told was taken survives a crash.
		AckRecorded: true}
	if m := c.Metrics; m != nil {
		cfg.ObservePost = func(accepted bool, status int) { m.PageIngest(accepted, strconv.Itoa(status)) }
	}
	if e.Sandbox == nil {
		cfg.Mode = connect.ModeLive
		if e.PublicKey == "" {
			return connect.Config{}, ConfigError{"MONO_PUBLIC_KEY is required in live mode (the widget needs it)"}
		}
	} else {
		sb := e.Sandbox
		cfg.Mode = connect.ModeSandbox
		if c.SandboxClock != "" {
			// Recordings: session ids and pairing codes repeat as well (page
			// secrets never do; they stay crypto/rand and masked on screen).
			var seed [32]byte
			binary.LittleEndian.PutUint64(seed[:], uint64(c.SandboxSeed)+1)
			cfg.LabelSource = mrand.NewChaCha8(seed)
		}
		cfg.SandboxComplete = func(_ context.Context, token string) error {
			_, err := sb.CompleteReauth(token)
			return err
		}
	}
	if c.Tune.Pages != nil {
		c.Tune.Pages(&cfg)
	}
	return cfg, nil
}

// StartPages starts a widget page server (PageConfig). The caller closes it.
func (e *Env) StartPages() (*connect.Server, error) { return e.startPages(nil) }

// startPages is StartPages with tweak (may be nil) applied to the
// configuration: the runtime adds forwarding to the other replicas.
func (e *Env) startPages(tweak func(*connect.Config)) (*connect.Server, error) {
	cfg, err := e.PageConfig()
	if err != nil {
		return nil, err
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := connect.NewServer(cfg)
	if err != nil {
		return nil, ConfigError{OneLine(err)}
	}
	if err := srv.Start(); err != nil {
		return nil, failed("cannot start the widget page server on " + e.cfg.WidgetAddr + ": " + OneLine(err))
	}
	return srv, nil
}

// ServeWebhooks starts a webhook receiver on addr into store; onEvent (may
// be nil) sees each accepted event. It serves until shut down.
func ServeWebhooks(ctx context.Context, addr, secret string, store *webhook.Store, logger *log.Logger, m *metrics.Metrics, onEvent func(webhook.Event)) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, failed("cannot listen for webhooks on " + addr + ": " + OneLine(err))
	}
	h := webhook.NewHandler(webhook.Config{Secret: secret, Store: store, Logger: DomainLog(logger, "webhook"), OnEvent: onEvent,
		Observe: m.Webhook})
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// OpenBrowser opens url with the system's launcher. The launcher's output
// must be discarded (main sets browser.Stdout and Stderr): xdg-open's
// chatter would corrupt the TUI's screen.
func OpenBrowser(url string) error { return browser.OpenURL(url) }
