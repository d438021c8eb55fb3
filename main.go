// Command reauth helps support agents walk a customer through re-authorising
// a bank account linked through Mono. This file is flags, subcommands and
// wiring only; the work lives in mono/, state/ and tui/.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"charm.land/log/v2"
	xterm "github.com/charmbracelet/x/term"
	"github.com/pkg/browser"

	"github.com/reauth/reauth/internal/link"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
	"github.com/reauth/reauth/tui/sshserve"
)

// Exit codes: 0 done, 1 the operation failed, 2 usage or configuration.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const envHelp = `Environment:
  MONO_SECRET_KEY        Mono secret key (live mode). Never pass it as a flag.
  MONO_SECRET_KEY_FILE   file holding the secret key, instead of MONO_SECRET_KEY
  MONO_PUBLIC_KEY        Mono public key for the widget (live mode)
  MONO_API_URL           API base URL (default https://api.withmono.com)
  MONO_WEBHOOK_SECRET    shared secret Mono sends in mono-webhook-secret
  REAUTH_AUDIT_LOG       audit log path (default $XDG_STATE_HOME/reauth/audit.jsonl)
  REAUTH_LOG_FILE        log file path (default $XDG_STATE_HOME/reauth/reauth.log)
  REAUTH_AGENT           the agent's name in the header and the audit (default: the OS user)
  NO_COLOR               disable colours
Without MONO_SECRET_KEY (or with --sandbox) reauth runs on its embedded sandbox.`

const usage = `reauth — re-authorise a customer's Mono-linked bank account.

Usage:
  reauth [flags]                         the full-screen app
  reauth accounts [QUERY] [--needs-reauth] [--json]
  reauth token ACCOUNT_ID [--json]       mint a reauth token
  reauth link ACCOUNT_ID [--no-browser] [--json] [--timeout D]
  reauth serve [flags]                   the app over SSH for a team
  reauth sandbox [--addr 127.0.0.1:8089] the fake Mono API alone
  reauth audit [--account ID] [--since D] [--json]
  reauth webhooks [--webhook-addr ADDR]  receive Mono's webhooks
  reauth version

Run 'reauth COMMAND --help' for a command's flags.

`

func main() {
	// Set once, before any goroutine can open a browser.
	browser.Stdout, browser.Stderr = io.Discard, io.Discard
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a bad command line: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = append([]string{"version"}, args[1:]...)
	}
	if len(args) > 1 && args[0] == "help" && !strings.HasPrefix(args[1], "-") {
		// reauth help COMMAND is reauth COMMAND --help.
		args = []string{args[1], "--help"}
	}
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "":
		err = runTUI(ctx, args, stdout, stderr)
	case "accounts":
		err = runAccounts(ctx, args, stdout, stderr)
	case "token":
		err = runToken(ctx, args, stdout, stderr)
	case "link":
		err = runLink(ctx, args, stdout, stderr)
	case "serve":
		err = runServe(ctx, args, stdout, stderr)
	case "sandbox":
		err = runSandbox(ctx, args, stdout, stderr)
	case "audit":
		err = runAudit(ctx, args, stdout, stderr)
	case "webhooks":
		err = runWebhooks(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionLine())
	case "help":
		fmt.Fprint(stdout, usage+envHelp+"\n")
	default:
		err = usageError{fmt.Sprintf("unknown command %q (try reauth --help)", mono.CleanText(cmd))}
	}
	// --help and -h: the help goes to stdout (it was asked for) and the
	// exit status is 0.
	if he := (helpError{}); errors.As(err, &he) {
		if _, werr := io.WriteString(stdout, he.text); werr != nil {
			return exitFailed
		}
		return exitOK
	}
	return exitCode(err, stderr)
}

// exitCode prints err as one line and picks the exit status.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	var fe failedError
	var xe exitError
	var fl flagError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &fl):
		// The error and one line saying where the usage is, not the whole
		// usage (which buried the error between 50 lines of flags).
		fmt.Fprintln(stderr, "reauth:", oneLine(errors.New(fl.msg)))
		fmt.Fprintln(stderr, fl.hint())
		return exitUsage
	case errors.As(err, &xe):
		return xe.code // the command has said why
	case errors.As(err, &fe):
		if fe.msg != "" {
			fmt.Fprintln(stderr, "reauth:", fe.msg)
		}
		return exitFailed
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "reauth:", ue.msg)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "reauth:", oneLine(err))
		return exitFailed
	}
}

// exitError ends with a chosen status and nothing more to print (130:
// interrupted by Ctrl-C, as shells report it).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// failedError is an operation that ran and failed (exit 1) with its message
// already chosen.
type failedError struct{ msg string }

func (e failedError) Error() string { return e.msg }

func oneLine(err error) string {
	if me := (*mono.Error)(nil); errors.As(err, &me) {
		return me.Hint()
	}
	return strings.Join(strings.Fields(mono.CleanText(err.Error())), " ")
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// domainLog hands a package under mono/ its logger: the same file and level
// as the app's, through log/slog, so the domain never imports Charm's
// packages (charm.land/log is a slog.Handler).
func domainLog(l *log.Logger, prefix string) *slog.Logger { return slog.New(l.WithPrefix(prefix)) }

// ---- configuration shared by commands ----

// common holds the flags most commands share.
type common struct {
	sandbox     bool
	debug       bool
	logFile     string
	auditPath   string
	widgetAddr  string
	publicURL   string
	noBrowser   bool
	connectJS   string
	contract    string
	autoplay    bool
	webhookAddr string
	redirectURL string
	apiTimeout  time.Duration
	sandboxSeed int64
	// Sandbox-only knobs for demos and recordings.
	sandboxClock   string
	sandboxConfirm time.Duration
	// accountsRefresh re-reads the shared account list this often (reauth
	// serve; 0: only on a retry after a failure).
	accountsRefresh time.Duration
}

func (c *common) register(fs *flag.FlagSet, page bool) {
	fs.BoolVar(&c.sandbox, "sandbox", false, "use the embedded sandbox even when MONO_SECRET_KEY is set")
	fs.BoolVar(&c.debug, "debug", false, "log at debug level")
	fs.StringVar(&c.logFile, "log-file", os.Getenv("REAUTH_LOG_FILE"), "log file (default $XDG_STATE_HOME/reauth/reauth.log)")
	fs.StringVar(&c.auditPath, "audit-log", os.Getenv("REAUTH_AUDIT_LOG"), "audit log path (default $XDG_STATE_HOME/reauth/audit.jsonl)")
	fs.DurationVar(&c.apiTimeout, "api-timeout", mono.DefaultTimeout, "timeout of one Mono API call")
	fs.Int64Var(&c.sandboxSeed, "sandbox-seed", 1, "sandbox data seed")
	fs.StringVar(&c.sandboxClock, "sandbox-clock", "", "sandbox: start the clock at this RFC 3339 time (recordings)")
	fs.DurationVar(&c.sandboxConfirm, "sandbox-confirm-delay", 20*time.Second, "sandbox: how long a re-authorised account keeps syncing")
	if page {
		fs.StringVar(&c.widgetAddr, "widget-addr", "127.0.0.1:0", "address of the local widget page server")
		fs.StringVar(&c.publicURL, "public-url", "", "base URL of the page server as the customer's browser reaches it")
		fs.BoolVar(&c.noBrowser, "no-browser", false, "never open a browser; just show the link")
		fs.StringVar(&c.connectJS, "connect-js-url", "", "Connect widget script URL (live default: Mono's CDN)")
		fs.StringVar(&c.contract, "widget-contract", "auto", "auto (ask the Connect script itself), token (connect.js <= 2.0) or account (connect.js >= 2.1)")
		fs.BoolVar(&c.autoplay, "autoplay", false, "sandbox: a scripted customer completes the widget by itself")
		fs.StringVar(&c.redirectURL, "redirect-url", "", "where Mono's hosted reauth page sends the customer afterwards (optional)")
		fs.StringVar(&c.webhookAddr, "webhook-addr", "", "also receive Mono's webhooks on this address (needs MONO_WEBHOOK_SECRET)")
	}
}

func newFlagSet(name, synopsis string, _ io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print the whole usage on every bad flag; parse
	// prints nothing itself. It hands the help text to run (stdout, when
	// asked for) and a bad flag to exitCode (one line and a hint).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\n"+envHelp)
	}
	return fs
}

// parse parses flags, allowing them before and after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				var help strings.Builder
				fs.SetOutput(&help)
				fs.Usage()
				fs.SetOutput(io.Discard)
				return nil, helpError{help.String()}
			}
			return nil, flagError{cmd: fs.Name(), msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// env is what a command runs against: a Mono client (live or sandbox), the
// logger, and the sandbox when there is one.
type env struct {
	now     func() time.Time // the sandbox clock, or time.Now
	logger  *log.Logger
	client  *mono.Client
	sandbox *sandbox.Server
	// hooks holds the sandbox's webhooks (nil live): what tells the app,
	// as Mono's would, which accounts need reauth.
	hooks   *sandboxHooks
	public  string // Mono public key for the widget
	apiURL  string
	closers []func()
}

func (e *env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// secretKey reads the key from the environment only (never a flag).
func secretKey() (string, error) {
	if k := strings.TrimSpace(os.Getenv("MONO_SECRET_KEY")); k != "" {
		return k, nil
	}
	if p := os.Getenv("MONO_SECRET_KEY_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", usageError{"cannot read MONO_SECRET_KEY_FILE: " + errors.Unwrap(err).Error()}
		}
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
		return "", usageError{"MONO_SECRET_KEY_FILE is empty"}
	}
	return "", nil
}

func stateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "reauth")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "reauth")
	}
	return filepath.Join(os.TempDir(), "reauth")
}

// openLogger logs to a file, never to the terminal the TUI draws on.
func openLogger(c common) (*log.Logger, func(), error) {
	path := c.logFile
	if path == "" {
		path = filepath.Join(stateDir(), "reauth.log")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, usageError{"cannot create the log directory: " + err.Error()}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, usageError{"cannot open the log file: " + err.Error()}
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
			return nil, nil, usageError{"cannot make the log file private (chmod 600): " + err.Error()}
		}
	}
	l := log.NewWithOptions(f, log.Options{ReportTimestamp: true, Level: log.InfoLevel})
	if c.debug {
		l.SetLevel(log.DebugLevel)
	}
	return l, func() { _ = f.Close() }, nil
}

// setup builds the Mono client: live when MONO_SECRET_KEY is set (and
// --sandbox is not), otherwise against an in-process sandbox on loopback,
// reached through the same client code.
func setup(c common) (*env, error) {
	logger, closeLog, err := openLogger(c)
	if err != nil {
		return nil, err
	}
	e := &env{logger: logger, closers: []func(){closeLog}, now: time.Now}
	key, err := secretKey()
	if err != nil {
		e.Close()
		return nil, err
	}
	base := os.Getenv("MONO_API_URL")
	sandboxed := c.sandbox || key == ""
	if c.sandboxClock != "" {
		start, err := time.Parse(time.RFC3339, c.sandboxClock)
		if err != nil || !sandboxed {
			e.Close()
			return nil, usageError{"--sandbox-clock takes an RFC 3339 time and works only on the sandbox"}
		}
		// A clock that starts at a fixed instant and runs at real speed, so a
		// recording shows the same times on every run.
		began := time.Now()
		e.now = func() time.Time { return start.Add(time.Since(began)) }
	}
	if sandboxed {
		// The sandbox pushes its webhooks from the moment it is made; they
		// are kept in memory (never in the live webhooks.json) and reach the
		// app once its runtime attaches (sandboxHooks).
		e.hooks = newSandboxHooks(e.now, logger)
		opts := sandbox.Options{Seed: c.sandboxSeed, Logger: domainLog(logger, "sandbox"), Now: e.now,
			ConfirmDelay: c.sandboxConfirm, Webhooks: e.hooks.push}
		if c.sandboxClock != "" {
			// Recordings: the fake Mono's tokens repeat too (they are not
			// secrets; the page's own id and secret stay random).
			var seed [32]byte
			binary.LittleEndian.PutUint64(seed[:], uint64(c.sandboxSeed))
			opts.TokenSource = mrand.NewChaCha8(seed)
		}
		sb := sandbox.New(opts)
		if err := sb.Start(""); err != nil {
			e.Close()
			return nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		e.sandbox = sb
		e.closers = append(e.closers, func() { _ = sb.Close() })
		key, base, e.public = sandbox.SecretKey, sb.URL(), sandbox.PublicKey
	} else {
		e.public = strings.TrimSpace(os.Getenv("MONO_PUBLIC_KEY"))
	}
	e.apiURL = base
	client, err := mono.NewClient(mono.Config{BaseURL: base, SecretKey: key, Logger: domainLog(logger, "mono"),
		HTTPClient: httpClient(c.apiTimeout), Now: e.now})
	if err != nil {
		e.Close()
		return nil, usageError{"Mono client: " + oneLine(err)}
	}
	e.client = client
	logger.Info("reauth starting", "version", buildVersion(), "sandbox", e.sandbox != nil, "api", base)
	return e, nil
}

// ---- subcommands ----

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("accounts", "reauth accounts [QUERY] [--needs-reauth] [--json] [--timeout D]\n\n"+
		"Nothing matching is not an error: an empty list ([] with --json; \"No accounts match.\" on stderr\n"+
		"without it) and exit 0. Exit 1: Mono failed or did not answer in time; 2: usage.", stderr)
	c.registerOnly(fs, "sandbox", "debug", "log-file", "api-timeout", "sandbox-seed", "sandbox-clock")
	needs := fs.Bool("needs-reauth", false, "only accounts that need reauth")
	jsonOut := fs.Bool("json", false, "JSON array output")
	limit := fs.Int("limit", 0, "print at most this many (0: all)")
	timeout := fs.Duration("timeout", defaultMonoTimeout, "give up when Mono has not answered within this long, retries included (0: no limit)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return usageError{"--timeout must not be negative"}
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	defer e.Close()
	mctx, finish := waitForMono(ctx, stderr, *timeout)
	var all []mono.Account
	for page, err := range e.client.Accounts(mctx) {
		if err != nil {
			return finish(err)
		}
		all = append(all, page.Accounts...)
	}
	_ = finish(nil)
	// Whether an account needs reauth is what the app's list says: Mono's
	// webhooks (the marks store; the sandbox's own webhooks on the sandbox),
	// and an account read's sync_status if Mono ever sends one.
	marks, err := commandMarks(c, e)
	if err != nil {
		fmt.Fprintln(stderr, "reauth: warning: Mono's webhooks not read, so only the account reads count:", oneLine(err))
	}
	needsReauth := func(a mono.Account) bool { return a.NeedsReauth() || (marks != nil && marks.NeedsReauth(a.ID)) }
	found := tui.FindAccounts(all, strings.Join(pos, " "), false)
	if *needs {
		found = slices.DeleteFunc(found, func(a mono.Account) bool { return !needsReauth(a) })
	}
	if *limit > 0 && len(found) > *limit {
		found = found[:*limit]
	}
	if *jsonOut {
		if found == nil {
			found = []mono.Account{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(found)
	}
	now := e.now()
	for _, a := range found {
		status := string(a.DataStatus.Normal())
		if needsReauth(a) {
			status = "NEEDS REAUTH"
		}
		// Then what Mono's webhook said, when one marked the account (or
		// said it was unlinked): which event, when, with what.
		if marks != nil {
			if m, ok := marks.Mark(a.ID); ok {
				status += "  " + m.Evidence(now)
			}
		}
		fmt.Fprintf(stdout, "%s  %-28s %-18s %s  %s\n", a.ID, trunc(a.Name, 28), trunc(a.Institution.Name, 18), a.MaskedNumber(), status)
	}
	if len(found) == 0 {
		// As with --json ([]): an empty result, not a failure. Said on
		// stderr so stdout stays a list a script can read.
		fmt.Fprintln(stderr, "No accounts match.")
	}
	return nil
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// accountArg checks the single ACCOUNT_ID that token and link take.
func accountArg(cmd string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usageError{cmd + " needs exactly one ACCOUNT_ID"}
	}
	// Spaces around a pasted id are trimmed, as the TUI trims what is typed.
	id := strings.TrimSpace(pos[0])
	if !mono.IsAccountID(id) {
		return "", usageError{fmt.Sprintf("%q is not a Mono account id (24 hex characters)", mono.CleanText(pos[0]))}
	}
	return id, nil
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("token", "reauth token ACCOUNT_ID [--json] [--timeout D]\n\n"+
		"Every mint is audited: token_mint_requested is on disk before the request leaves, then\n"+
		"token_minted (fingerprint and expiry, never the token) or token_mint_failed. When the audit\n"+
		"log cannot be written no token is minted (exit 1).", stderr)
	c.registerOnly(fs, "sandbox", "debug", "log-file", "audit-log", "api-timeout", "sandbox-seed", "sandbox-clock")
	jsonOut := fs.Bool("json", false, `print {"account_id","token","expires_at"}`)
	timeout := fs.Duration("timeout", defaultMonoTimeout, "give up when Mono has not answered within this long (0: no limit)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := accountArg("token", pos)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return usageError{"--timeout must not be negative"}
	}
	// The audit first: a mint that cannot be recorded is not made.
	rec, err := openLinkAudit(c)
	if err != nil {
		return failedError{noAuditNoMint + oneLine(err)}
	}
	defer rec.close()
	e, err := setup(c)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := warnIfHealthy(ctx, c, e, rec, id, stderr, *timeout); err != nil {
		return err
	}
	tok, err := mintAudited(ctx, e, rec, id, stderr, *timeout)
	if err != nil {
		return err
	}
	e.logger.Info("token minted", "account", tok.AccountID, "token", tok.Fingerprint(), "expires", tok.ExpiresAt)
	if *jsonOut {
		return json.NewEncoder(stdout).Encode(struct {
			AccountID string `json:"account_id"`
			Token     string `json:"token"`
			ExpiresAt string `json:"expires_at"`
		}{tok.AccountID, tok.Value, tok.ExpiresAt.UTC().Format(time.RFC3339)})
	}
	// The token goes to stdout only because the agent asked for it.
	fmt.Fprintf(stdout, "%s\nexpires %s (in %s)\n", tok.Value, tok.ExpiresAt.Local().Format("15:04:05"), mono.TokenLifetime)
	return nil
}

func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sandbox", "reauth sandbox [--addr 127.0.0.1:8089]", stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address")
	seed := fs.Int64("seed", 1, "data seed")
	n := fs.Int("accounts", 520, "number of accounts")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	sb := sandbox.New(sandbox.Options{Seed: *seed, Accounts: *n})
	if err := sb.Start(*addr); err != nil {
		return failedError{"cannot listen on " + *addr + ": " + oneLine(err)}
	}
	defer sb.Close()
	fmt.Fprintf(stdout, "Sandbox Mono API on %s\n  MONO_API_URL=%s MONO_SECRET_KEY=%s MONO_PUBLIC_KEY=%s\nScenario accounts:\n",
		sb.URL(), sb.URL(), sandbox.SecretKey, sandbox.PublicKey)
	for _, s := range sandbox.Scenarios() {
		fmt.Fprintf(stdout, "  %s  %-22s %s\n", s.ID, s.Name, s.Description)
	}
	fmt.Fprintln(stdout, "Ctrl+C stops it.")
	<-ctx.Done()
	return nil
}

func runTUI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("reauth", "reauth [flags]", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage+"Flags:\n")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\n"+envHelp)
	}
	c.register(fs, true)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if !isTerminal(os.Stdin) || !isTerminal(stdout) {
		// Bubble Tea would fail with its own words (or read /dev/tty behind
		// a script's back); say what is needed, as `reauth serve` does.
		fmt.Fprintln(stderr, noTerminalMessage)
		return exitError{code: exitUsage}
	}
	// A bad secret key file is a usage error: say so before any screen.
	key, err := secretKey()
	if err != nil {
		return err
	}
	warmUp()
	agent := audit.Agent{User: osUser(), Via: "local"}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The log, sandbox, page server and audit log are made while Bubble Tea
	// starts (tui.NewStarting says why). Run returns only after the program
	// has quit; setupDone then says the goroutine is done with e and rt.
	var (
		e  *env
		rt *runtime
	)
	ready, setupDone := make(chan tui.Ready, 1), make(chan error, 1)
	go func() {
		var err error
		defer func() { setupDone <- err }()
		if e, err = setup(c); err != nil {
			ready <- tui.Ready{Err: err}
			return
		}
		if rt, err = newRuntime(ctx, c, e); err != nil {
			ready <- tui.Ready{Err: err}
			return
		}
		deps := rt.deps(agent)
		if !c.noBrowser {
			deps.OpenBrowser = openBrowser
		}
		ready <- tui.Ready{Deps: deps}
	}()
	preview := tui.Deps{Agent: agent.User, Sandbox: c.sandbox || key == ""}
	p := tea.NewProgram(tui.NewStarting(ctx, preview, ready), tea.WithContext(ctx), tea.WithOutput(stdout),
		tea.WithFPS(tui.FrameRate))
	_, err = p.Run()
	cancel()
	setupErr := <-setupDone
	if rt != nil {
		rt.Close()
	}
	if e != nil {
		e.Close()
	}
	if setupErr != nil {
		return setupErr
	}
	if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// osUser names the local agent: REAUTH_AGENT when set (shared accounts,
// recordings), else the OS user.
func osUser() string {
	if a := strings.TrimSpace(mono.CleanText(os.Getenv("REAUTH_AGENT"))); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// ---- the app's runtime: page server, audit, webhook marks ----

// runtime is what every TUI program shares: locally one, under `reauth
// serve` one for all SSH connections (each connection still gets its own
// program and its own page sessions).
type runtime struct {
	env   *env
	pages *connect.Server
	audit *audit.Log
	// auditPath is the audit log's file, read back for an account's past
	// attempts (its reason).
	auditPath string
	// marks is what Mono's webhooks said about each account: the store
	// beside the audit log live, the sandbox's own in memory.
	marks    *webhook.Store
	hub      *signalHub
	webhooks *http.Server // nil unless --webhook-addr
	hookURL  string
	secret   string // MONO_WEBHOOK_SECRET
	redirect string
	// localPages: no --public-url, so page links only open on this machine.
	localPages bool
	// catalog is the account list every program shares: paged from Mono
	// once (not once per SSH session) and refreshed in the background.
	catalog *tui.Catalog
}

func newRuntime(ctx context.Context, c common, e *env) (*runtime, error) {
	rt := &runtime{env: e, hub: newSignalHub(), redirect: c.redirectURL, localPages: c.publicURL == ""}
	rt.catalog = tui.NewCatalog(ctx, e.client, tui.CatalogOptions{RefreshEvery: c.accountsRefresh, Now: e.now,
		OnLoad: func(n int, took time.Duration, err error) {
			if err != nil && ctx.Err() == nil {
				e.logger.Warn("account list not loaded", "accounts", n, "after", took.Round(time.Millisecond), "err", oneLine(err))
			} else if err == nil {
				e.logger.Info("account list loaded", "accounts", n, "took", took.Round(time.Millisecond))
			}
		}})
	cfg, err := pageConfig(c, e)
	if err != nil {
		return nil, err
	}
	srv, err := connect.NewServer(cfg)
	if err != nil {
		return nil, usageError{oneLine(err)}
	}
	if err := srv.Start(); err != nil {
		return nil, failedError{"cannot start the widget page server on " + c.widgetAddr + ": " + oneLine(err)}
	}
	rt.pages = srv
	path := c.auditPath
	if path == "" {
		if path, err = audit.DefaultPath(); err != nil {
			rt.Close()
			return nil, usageError{"no audit log location: " + err.Error()}
		}
	}
	if rt.audit, err = audit.Open(path); err != nil {
		rt.Close()
		return nil, failedError{"cannot open the audit log: " + oneLine(err)}
	}
	rt.auditPath = path
	if e.hooks != nil {
		// The sandbox's webhooks, in memory: every one it has sent so far
		// now, each later one as it comes, told to every program.
		rt.marks = e.hooks.attach(e.sandbox.Webhooks, rt.publish)
	} else if rt.marks, _, err = openMarks(common{auditPath: path}); err != nil {
		e.logger.Warn("webhook marks unavailable", "err", err)
		rt.marks = nil
	}
	if c.webhookAddr != "" {
		rt.secret = os.Getenv("MONO_WEBHOOK_SECRET")
		if rt.secret == "" {
			rt.Close()
			return nil, usageError{"--webhook-addr needs MONO_WEBHOOK_SECRET (Mono sends it in mono-webhook-secret)"}
		}
		if rt.marks == nil {
			rt.Close()
			return nil, failedError{"--webhook-addr needs the webhook store beside the audit log"}
		}
		rt.webhooks, err = serveWebhooks(ctx, c.webhookAddr, rt.secret, rt.marks, e.logger, rt.onWebhook)
		if err != nil {
			rt.Close()
			return nil, err
		}
		rt.hookURL = "http://" + rt.webhooks.Addr + "/"
	}
	if rt.marks != nil && rt.webhooks == nil && e.hooks == nil {
		// Without its own receiver, the store may be another process's (a
		// `reauth webhooks` beside the app): its new marks show while the
		// app runs, not only at the next start.
		go rt.watchMarks(ctx, marksPollEvery)
	}
	return rt, nil
}

// marksPollEvery is how often a runtime without its own webhook receiver
// looks for marks another process wrote: a stat, and a read only when the
// file changed.
const marksPollEvery = 2 * time.Second

// watchMarks re-reads the webhook store every so often until ctx ends, and
// tells every program about accounts newly marked or cleared, as the
// in-process receiver does (onWebhook).
func (rt *runtime) watchMarks(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		marked, cleared, err := rt.marks.Reload()
		if err != nil {
			// Once per distinct error: a damaged file would otherwise log
			// every tick until someone mends it.
			if err.Error() != lastErr {
				rt.env.logger.Warn("webhook marks not re-read", "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		for _, id := range append(marked, cleared...) {
			// What the store now holds for it: a mark, an unlinking, or
			// the clearing (account_reauthorized, or account_updated
			// SUCCESSFUL) with its event and time.
			m, ok := rt.marks.Latest(id)
			if !ok {
				continue
			}
			rt.hub.Publish(tui.AccountSignal{AccountID: id, Event: m.Event, NeedsReauth: m.NeedsReauth(),
				Reauthorized: m.Kind == webhook.Cleared && isReauthorizedEvent(m.Event),
				DataStatus:   m.DataStatus, SyncStatus: m.SyncStatus, At: m.At})
		}
	}
}

// isReauthorizedEvent reports whether a Mark's event is Mono's
// account_reauthorized (either spelling).
func isReauthorizedEvent(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	return name == webhook.Reauthorized.String() || name == "mono.events.account_reauthorised"
}

// pageConfig is the widget page server's configuration for this mode. In
// the sandbox, a completed simulated reauth is reported to the fake Mono,
// which then sends its webhooks (account_reauthorized, later account_updated)
// as Mono would: they reach the app through sandboxHooks, never from here.
func pageConfig(c common, e *env) (connect.Config, error) {
	contract, err := connect.ParseContract(c.contract)
	if err != nil {
		return connect.Config{}, usageError{err.Error()}
	}
	cfg := connect.Config{Addr: c.widgetAddr, PublicURL: c.publicURL, Contract: contract, Autoplay: c.autoplay,
		ConnectJSURL: c.connectJS, PublicKey: e.public, Logger: domainLog(e.logger, "page"), Now: e.now}
	if e.sandbox == nil {
		cfg.Mode = connect.ModeLive
		if e.public == "" {
			return connect.Config{}, usageError{"MONO_PUBLIC_KEY is required in live mode (the widget needs it)"}
		}
		return cfg, nil
	}
	sb := e.sandbox
	cfg.Mode = connect.ModeSandbox
	if c.sandboxClock != "" {
		// Recordings: session ids and pairing codes repeat as well (page
		// secrets never do; they stay crypto/rand and masked on screen).
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(c.sandboxSeed)+1)
		cfg.LabelSource = mrand.NewChaCha8(seed)
	}
	cfg.SandboxComplete = func(_ context.Context, token string) error {
		_, err := sb.CompleteReauth(token)
		return err
	}
	return cfg, nil
}

// onWebhook audits an accepted webhook and tells every program about it.
func (rt *runtime) onWebhook(ev webhook.Event) {
	rt.publish(ev)
	if err := rt.audit.Append(audit.Record{Agent: audit.Agent{User: "mono", Via: "webhook"}, Account: ev.AccountID,
		Action: audit.ActionWebhookReceived, Event: ev.Name, Detail: string(ev.DataStatus)}); err != nil {
		rt.env.logger.Error("audit append failed", "err", err)
	}
}

// publish tells every program about an event the marks store applied:
// at Mono's time for it (When), whether it marks the account as needing
// reauth (an unlinking does not: it cannot be re-authorised), whether it is
// account_reauthorized, and account_updated's sync_status (SUCCESSFUL is
// what turns a succeeded attempt Verified).
func (rt *runtime) publish(ev webhook.Event) {
	kind, marks := ev.Marks()
	rt.hub.Publish(tui.AccountSignal{AccountID: ev.AccountID, Event: ev.Name,
		NeedsReauth:  marks && kind != webhook.MarkUnlinked,
		Reauthorized: ev.Kind == webhook.Reauthorized,
		DataStatus:   ev.DataStatus, SyncStatus: ev.SyncStatus, At: ev.When()})
}

// sandboxHooks takes the embedded sandbox's webhooks
// (sandbox.Options.Webhooks) into an in-memory marks store, as a receiver
// takes Mono's: sandbox marks never reach the live webhooks.json.
//
// The sandbox pushes from the moment it is made, before the app's runtime
// exists. Until something attaches, a pushed body is dropped: the
// sandbox's Webhooks() still holds it, and attach records all of those
// first. After that each pushed body is recorded, and each one the store
// applies is handed to onEvent. A body is recorded once: the backlog may
// still be arriving when attach has read it, and its legacy payloads carry
// no event_id for the store to dedupe on.
type sandboxHooks struct {
	mu       sync.Mutex
	store    *webhook.Store
	now      func() time.Time
	logger   *log.Logger
	attached bool
	onEvent  func(webhook.Event) // nil: record only
	recorded map[[sha256.Size]byte]struct{}
}

func newSandboxHooks(now func() time.Time, logger *log.Logger) *sandboxHooks {
	return &sandboxHooks{store: webhook.NewMemoryStore(), now: now, logger: logger,
		recorded: map[[sha256.Size]byte]struct{}{}}
}

// attach records every webhook sent so far (sent: the sandbox's
// Webhooks), then each pushed one as it comes, handing each applied event
// to onEvent (may be nil; only the first attach sets it). It returns the
// store.
func (h *sandboxHooks) attach(sent func() [][]byte, onEvent func(webhook.Event)) *webhook.Store {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.attached {
		// Under the lock, so a body pushed meanwhile waits and is then
		// either among these or new.
		for _, body := range sent() {
			h.recordLocked(body)
		}
		h.attached, h.onEvent = true, onEvent
	}
	return h.store
}

// push is sandbox.Options.Webhooks.
func (h *sandboxHooks) push(_ context.Context, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.attached {
		return // attach reads it from the sandbox's Webhooks
	}
	if ev, ok := h.recordLocked(body); ok && h.onEvent != nil {
		h.onEvent(ev)
	}
}

// recordLocked parses one body and records it in the store, once; ok when
// the store applied it.
func (h *sandboxHooks) recordLocked(body []byte) (webhook.Event, bool) {
	sum := sha256.Sum256(body)
	if _, dup := h.recorded[sum]; dup {
		return webhook.Event{}, false
	}
	h.recorded[sum] = struct{}{}
	ev, err := webhook.Parse(body)
	if err != nil {
		h.logger.Warn("sandbox webhook not understood", "err", err)
		return webhook.Event{}, false
	}
	if ev.Kind == webhook.Unknown {
		return webhook.Event{}, false
	}
	ev.Received = h.now()
	out, err := h.store.Record(ev)
	if err != nil {
		h.logger.Warn("sandbox webhook not recorded", "event", ev.Name, "account", ev.AccountID, "err", err)
		return webhook.Event{}, false
	}
	return ev, out == webhook.Applied
}

func newEventID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// signalHub fans webhook news out to every running program. Publishing
// never blocks: a program that is not reading misses a signal, and the
// marks store still has it.
type signalHub struct {
	mu   sync.Mutex
	subs map[chan tui.AccountSignal]struct{}
}

func newSignalHub() *signalHub { return &signalHub{subs: map[chan tui.AccountSignal]struct{}{}} }

func (h *signalHub) Subscribe(ctx context.Context) <-chan tui.AccountSignal {
	ch := make(chan tui.AccountSignal, 16)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, ch)
		close(ch)
		h.mu.Unlock()
	}()
	return ch
}

func (h *signalHub) Publish(sig tui.AccountSignal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- sig:
		default:
		}
	}
}

// runtimeCloseTimeout bounds Close: the webhook receiver and the page
// server share it, so a slow client of one cannot stretch a shutdown.
const runtimeCloseTimeout = 3 * time.Second

func (rt *runtime) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), runtimeCloseTimeout)
	defer cancel()
	if rt.webhooks != nil {
		_ = rt.webhooks.Shutdown(ctx)
	}
	if rt.pages != nil {
		_ = rt.pages.Close(ctx)
	}
	if rt.audit != nil {
		_ = rt.audit.Close()
	}
}

// auditRecorder stamps each record with the agent and appends it; a failed
// append is logged, never shown as a crash.
type auditRecorder struct {
	log    *audit.Log
	agent  audit.Agent
	logger *log.Logger
}

// Guard registers an attempt's secrets (token, page secret, onSuccess code)
// so the audit redacts them from any record (tui.SecretGuard).
func (a auditRecorder) Guard(secrets ...string) { a.log.Guard(secrets...) }

func (a auditRecorder) Record(r audit.Record) {
	r.Agent = a.agent
	if err := a.log.Append(r); err != nil {
		a.logger.Error("audit append failed", "action", r.Action, "err", err)
	}
}

func (rt *runtime) deps(agent audit.Agent) tui.Deps {
	d := tui.Deps{
		Mono:        rt.env.client,
		Pages:       tui.ConnectPages{Server: rt.pages},
		Audit:       auditRecorder{log: rt.audit, agent: agent, logger: rt.env.logger},
		Agent:       agent.User,
		Now:         rt.env.now,
		Sandbox:     rt.env.sandbox != nil,
		Signals:     rt.hub.Subscribe,
		RedirectURL: rt.redirect,
		// An in-process receiver, or the sandbox's own webhooks; a separate
		// `reauth webhooks` is not known for sure, so the TUI says where
		// progress would come from.
		WebhookReceiver: rt.webhooks != nil || rt.env.sandbox != nil,
		Catalog:         rt.catalog,
		// What Mono's webhooks said about the account (nil marks: not
		// checked) and its past attempts in the audit.
		SignalsFor: tui.MarkSignals(rt.marks, rt.history),
	}
	if rt.env.sandbox != nil {
		d.ScenarioFor = func(id string) string { return string(sandbox.ScenarioFor(id)) }
	} else if rt.localPages {
		// A live customer is rarely at the agent's own computer.
		d.PageNote = "This link only opens on this computer; for a customer elsewhere, run with --public-url (see README)."
	}
	if rt.marks != nil {
		d.NeedsReauth = rt.marks.NeedsReauth
		marks, logger := rt.marks, rt.env.logger
		d.ClearMark = func(id string, at time.Time) {
			if _, err := marks.Clear(id, at, "verified success in reauth"); err != nil {
				logger.Warn("mark not cleared after a verified success", "account", id, "err", err)
			}
		}
	}
	return d
}

// history is an account's past attempts, read back from the audit log
// (ok false when it could not be read).
func (rt *runtime) history(_ context.Context, accountID string) ([]state.PastAttempt, bool) {
	return pastAttempts(rt.auditPath, accountID)
}

// pastAttempts reads an account's past attempts from the audit log at path.
func pastAttempts(path, accountID string) ([]state.PastAttempt, bool) {
	recs, _, err := audit.ReadFile(path, audit.Filter{Account: accountID})
	if err != nil {
		return nil, false
	}
	return state.PastAttempts(recs, accountID), true
}

// ---- audit and webhooks ----

func runAudit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", "reauth audit [--account ID] [--since D] [--json]\n\n"+
		"Records are printed in file order, except that the records of one attempt (session) are\n"+
		"printed together in their seq order, where the attempt first appears.\n"+
		"--account ID with no records says \"no audit records for account ID\" on stderr and exits 0.\n"+
		"Exit 1: no audit log yet, or it cannot be read; 2: usage.", stderr)
	account := fs.String("account", "", "only this account id")
	var since sinceFlag
	fs.Var(&since, "since", "only records newer than this: a Go duration (24h, 90m) or days (7d)")
	jsonOut := fs.Bool("json", false, "JSON lines output")
	path := fs.String("audit-log", os.Getenv("REAUTH_AUDIT_LOG"), "audit log path")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("audit takes no arguments (got %q); for one account: --account ID", mono.CleanText(pos[0]))}
	}
	*account = strings.TrimSpace(*account)
	if *path == "" {
		p, err := audit.DefaultPath()
		if err != nil {
			return usageError{"no audit log location: " + err.Error()}
		}
		*path = p
	}
	f := audit.Filter{Account: *account}
	if since > 0 {
		f.Since = time.Now().Add(-time.Duration(since))
	}
	recs, warnings, err := audit.ReadFile(*path, f)
	if errors.Is(err, os.ErrNotExist) {
		return failedError{"no audit log at " + *path + " yet"}
	}
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "reauth: audit:", w)
	}
	// Writers sharing fsyncs can put an attempt's records in the file out
	// of order; each attempt reads in its own order.
	audit.InAttemptOrder(recs)
	if len(recs) == 0 && *account != "" {
		// Not an error (exit 0): the answer is "nobody did anything".
		msg := "no audit records for account " + mono.CleanText(*account)
		if since > 0 {
			msg += " in the last " + since.String()
		}
		fmt.Fprintln(stderr, "reauth:", msg)
		return nil
	}
	if !*jsonOut {
		return audit.Print(stdout, recs, false)
	}
	// --json: the file may have been edited by hand, and encoding/json
	// passes C1 controls, bidi overrides and other invisible format
	// characters through as they are, so a record could reorder or hide
	// text on the terminal of whoever reads the output. Each record is
	// marshalled again and every such rune (and DEL) is written as a \uXXXX
	// escape: the JSON means the same, and holds nothing a terminal acts on.
	// (encoding/json already escapes C0 controls, U+2028 and U+2029.)
	hidden := func(r rune) bool {
		return r == 0x7f || (r >= 0x80 && (!unicode.IsPrint(r) || unicode.Is(unicode.Cf, r)))
	}
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		var out strings.Builder
		out.Grow(len(b) + 1)
		for _, c := range string(b) { // valid UTF-8: json.Marshal replaced any invalid byte
			switch {
			case !hidden(c):
				out.WriteRune(c)
			case c > 0xffff: // a UTF-16 surrogate pair, as JSON spells it
				c -= 0x10000
				fmt.Fprintf(&out, `\u%04x\u%04x`, 0xd800+(c>>10), 0xdc00+(c&0x3ff))
			default:
				fmt.Fprintf(&out, `\u%04x`, c)
			}
		}
		out.WriteByte('\n')
		if _, err := io.WriteString(stdout, out.String()); err != nil {
			return err
		}
	}
	return nil
}

func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("webhooks", "reauth webhooks [--webhook-addr 127.0.0.1:8090]", stderr)
	// The receiver calls no Mono API: only the log and where the marks
	// store lives (beside the audit log) apply.
	c.registerOnly(fs, "debug", "log-file", "audit-log")
	addr := fs.String("webhook-addr", "127.0.0.1:8090", "listen address for Mono's webhooks")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	secret := os.Getenv("MONO_WEBHOOK_SECRET")
	if secret == "" {
		return usageError{"MONO_WEBHOOK_SECRET is required: Mono sends it in the mono-webhook-secret header"}
	}
	logger, closeLog, err := openLogger(c)
	if err != nil {
		return err
	}
	defer closeLog()
	store, storePath, err := openMarks(c)
	if err != nil {
		return err
	}
	srv, err := serveWebhooks(ctx, *addr, secret, store, logger, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Receiving Mono webhooks on http://%s/ (marks kept in %s). Ctrl+C stops.\n", srv.Addr, storePath)
	<-ctx.Done()
	return shutdownHTTP(srv)
}

// openMarks opens the webhook store that sits beside the audit log.
func openMarks(c common) (*webhook.Store, string, error) {
	path := c.auditPath
	if path == "" {
		p, err := audit.DefaultPath()
		if err != nil {
			return nil, "", usageError{"no state location: " + err.Error()}
		}
		path = p
	}
	path = filepath.Join(filepath.Dir(path), "webhooks.json")
	st, err := webhook.OpenStore(path)
	if err != nil {
		return nil, "", failedError{"cannot open the webhook store: " + oneLine(err)}
	}
	return st, path, nil
}

// commandMarks is where a command (accounts, token, link) reads what Mono's
// webhooks said about accounts, as the app's list does: on the sandbox, the
// webhooks the sandbox has sent so far (in memory); live, the store beside
// the audit log that `reauth webhooks` or an app's receiver keeps.
func commandMarks(c common, e *env) (*webhook.Store, error) {
	if e.hooks != nil {
		return e.hooks.attach(e.sandbox.Webhooks, nil), nil
	}
	st, _, err := openMarks(c)
	return st, err
}

// commandSignals is what is known about an account besides its read, for
// its reason (state.ReasonFrom): Mono's webhooks about it (marks; nil: not
// checked) and its past attempts in the audit log at auditPath ("": not
// checked).
func commandSignals(ctx context.Context, marks *webhook.Store, auditPath, accountID string, now time.Time) state.Signals {
	var history func(context.Context, string) ([]state.PastAttempt, bool)
	if auditPath != "" {
		history = func(_ context.Context, id string) ([]state.PastAttempt, bool) { return pastAttempts(auditPath, id) }
	}
	sig := tui.MarkSignals(marks, history)(ctx, accountID)
	sig.Now = now
	return sig
}

// healthyWarning is the line `reauth token` and `reauth link` print on
// stderr before going ahead for an account that shows no sign of needing
// reauth (or that a reauth would not help), e.g. "reauth: warning: no sign
// this account needs reauth (data_status AVAILABLE; no Mono webhook says
// otherwise; no failed attempt) — minting anyway"; "" when the account
// needs it.
func healthyWarning(acct mono.Account, sig state.Signals, anyway string) string {
	r := state.ReasonFrom(acct, sig)
	if r.NeedsReauth() {
		return ""
	}
	summary := r.Summary
	if rest, ok := strings.CutPrefix(summary, "No "); ok {
		summary = "no " + rest
	}
	return "reauth: warning: " + summary + " (" + strings.Join(r.Evidence, "; ") + ") — " + anyway
}

// serveWebhooks starts the webhook receiver; onEvent (may be nil) sees each
// accepted event.
func serveWebhooks(ctx context.Context, addr, secret string, store *webhook.Store, logger *log.Logger, onEvent func(webhook.Event)) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, failedError{"cannot listen for webhooks on " + addr + ": " + oneLine(err)}
	}
	h := webhook.NewHandler(webhook.Config{Secret: secret, Store: store, Logger: domainLog(logger, "webhook"), OnEvent: onEvent})
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

func shutdownHTTP(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// ---- small helpers ----

func httpClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = mono.DefaultTimeout
	}
	return &http.Client{Timeout: timeout}
}

// openBrowser opens url with the system's launcher. The launcher's output
// is discarded (see main): xdg-open's chatter would corrupt the TUI's screen.
func openBrowser(url string) error { return browser.OpenURL(url) }

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("serve", "reauth serve --authorized-keys FILE [flags]", stderr)
	c.register(fs, true)
	sshAddr := fs.String("ssh-addr", sshserve.DefaultAddr, "SSH listen address")
	hostKey := fs.String("host-key", filepath.Join(stateDir(), "ssh_host_ed25519"), "host key (generated on first run, kept 0600)")
	authKeys := fs.String("authorized-keys", "", "agents' public keys, OpenSSH authorized_keys format (required)")
	anyKey := fs.Bool("allow-any-key", false, "let ANY public key in (demos on a trusted network only)")
	maxSessions := fs.Int("max-sessions", 50, "concurrent SSH sessions at most (0: no cap)")
	idle := fs.Duration("idle-timeout", 30*time.Minute, "end a session after this long without input (0: never)")
	fs.DurationVar(&c.accountsRefresh, "accounts-refresh", 5*time.Minute,
		"re-read the account list from Mono this often; every session shares one list (0: only on R after a failure)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	defer e.Close()
	rt, err := newRuntime(ctx, c, e)
	if err != nil {
		return err
	}
	defer rt.Close()
	// Load the shared account list now, so the first agent finds it ready.
	rt.catalog.Start()
	srv, err := sshserve.New(sshserve.Config{Addr: *sshAddr, HostKeyPath: *hostKey, AuthorizedKeysPath: *authKeys,
		AllowAnyKey: *anyKey, MaxSessions: *maxSessions, IdleTimeout: *idle, PublicURL: c.publicURL,
		Logger: e.logger.WithPrefix("ssh"), NewDeps: rt.deps})
	if err != nil {
		return usageError{oneLine(err)}
	}
	if w := srv.Warning(); w != "" {
		fmt.Fprintln(stderr, w)
	}
	if err := srv.Start(); err != nil {
		return failedError{"cannot listen on " + *sshAddr + ": " + oneLine(err)}
	}
	fmt.Fprintf(stdout, "reauth serve: ssh -p %s HOST  (host key %s)\nwidget pages on %s\n",
		portOf(srv.Addr()), srv.HostKeyFingerprint(), rt.pages.URL())
	if c.publicURL == "" {
		fmt.Fprintln(stdout, "note: no --public-url, so page links only work on this machine")
	}
	if rt.hookURL != "" {
		fmt.Fprintln(stdout, "webhooks on", rt.hookURL)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down: closing sessions")
	// One deadline for the whole shutdown: the SSH sessions get what the
	// runtime's close (pages, webhook receiver: runtimeCloseTimeout, run
	// by the deferred rt.Close) leaves of sshserve.DefaultShutdownTimeout.
	sctx, cancel := context.WithTimeout(context.Background(), sshserve.DefaultShutdownTimeout-runtimeCloseTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}

func runLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("link", "reauth link ACCOUNT_ID [--no-browser] [--json] [--timeout D] [--exit-on-close]", stderr)
	c.register(fs, true)
	jsonOut := fs.Bool("json", false, "JSON lines: the first has the page url, then one per event, then the outcome")
	timeout := fs.Duration("timeout", 0, "give up after this long (default: a minute after the token expires)")
	exitOnClose := fs.Bool("exit-on-close", false, "stop at the first close of the widget or the page (by default the customer can reopen it while the link lives)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := accountArg("link", pos)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return usageError{"--timeout must not be negative"}
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	defer e.Close()
	// The audit first: a run that cannot record its mint does not mint.
	rec, err := openLinkAudit(c)
	if err != nil {
		return failedError{"cannot open the audit log, so no token is minted: " + oneLine(err)}
	}
	defer rec.close()
	// What Mono's webhooks said about accounts (on the sandbox, its own, in
	// memory): for the warning below and for a receiver.
	marks, marksErr := commandMarks(c, e)
	var hub *signalHub
	if c.webhookAddr != "" {
		// Mono's account_reauthorized for this account ends the run as a
		// success even if the page is gone.
		secret := os.Getenv("MONO_WEBHOOK_SECRET")
		if secret == "" {
			return usageError{"--webhook-addr needs MONO_WEBHOOK_SECRET (Mono sends it in mono-webhook-secret)"}
		}
		if marksErr != nil {
			return failedError{"--webhook-addr needs the webhook store: " + oneLine(marksErr)}
		}
		hub = newSignalHub()
		srv, err := serveWebhooks(ctx, c.webhookAddr, secret, marks, e.logger, func(ev webhook.Event) {
			hub.Publish(tui.AccountSignal{AccountID: ev.AccountID, Reauthorized: ev.Kind == webhook.Reauthorized,
				SyncStatus: ev.SyncStatus, At: ev.When()})
		})
		if err != nil {
			return err
		}
		defer func() { _ = shutdownHTTP(srv) }()
	}
	cfg, err := pageConfig(c, e)
	if err != nil {
		return err
	}
	pages, err := connect.NewServer(cfg)
	if err != nil {
		return usageError{oneLine(err)}
	}
	if err := pages.Start(); err != nil {
		return failedError{"cannot start the widget page server on " + c.widgetAddr + ": " + oneLine(err)}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pages.Close(cctx)
	}()
	acct, err := e.client.Account(ctx, id)
	if err != nil {
		return err
	}
	scenario := ""
	if e.sandbox != nil {
		scenario = string(sandbox.ScenarioFor(acct.ID))
	}
	opts := link.Options{Account: acct, Audit: rec, Out: stdout, JSON: *jsonOut, Sandbox: e.sandbox != nil,
		Timeout: *timeout, ExitOnClose: *exitOnClose, Now: e.now,
	}
	// Which contract the widget script takes decides whether a token is
	// minted at all: found from the script itself (--widget-contract forces
	// one), before any mint.
	contract, err := pages.ResolveContract(ctx)
	if err != nil {
		return usageError{oneLine(err)}
	}
	opts.Open = func(_ context.Context, a mono.Account, tok mono.Token) (link.Page, error) {
		return pages.NewSession(connect.SessionParams{Account: a, Token: tok, Scenario: scenario, Contract: contract})
	}
	if contract == connect.ContractToken {
		opts.Mint = e.client
	}
	// Said before anything is minted or served: nothing shows this account
	// needs reauth. The link goes ahead all the same.
	if marksErr != nil {
		e.logger.Warn("webhook marks not read", "err", marksErr)
	}
	anyway := "opening the link anyway"
	if opts.Mint != nil {
		anyway = "minting anyway"
	}
	// The same signals the reason is recorded with (as the TUI records it).
	opts.Known = commandSignals(ctx, marks, rec.path, acct.ID, e.now())
	if w := healthyWarning(acct, opts.Known, anyway); w != "" {
		fmt.Fprintln(stderr, w)
	}
	if !c.noBrowser {
		opts.OpenBrowser = openBrowser
	}
	if hub != nil {
		opts.Signals = linkSignals(ctx, hub, acct.ID)
	}
	res, err := link.Run(ctx, opts)
	switch {
	case errors.Is(err, link.ErrCanceled):
		fmt.Fprintln(stderr, "reauth: cancelled")
		return exitError{code: 130}
	case err != nil && connect.IsConfigError(err):
		return usageError{oneLine(err)}
	case err != nil:
		return err
	case res.ExitCode() != 0:
		return failedError{} // the outcome line on stdout already said why
	}
	return nil
}

// linkSignals forwards the hub's news about one account to a link run.
func linkSignals(ctx context.Context, hub *signalHub, accountID string) <-chan link.Signal {
	in := hub.Subscribe(ctx)
	out := make(chan link.Signal, 8)
	go func() {
		defer close(out)
		for sig := range in {
			if sig.AccountID != accountID {
				continue // a webhook for another account never touches this run
			}
			select {
			case out <- link.Signal{AccountID: sig.AccountID, Reauthorized: sig.Reauthorized, SyncStatus: sig.SyncStatus, At: sig.At}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// linkAudit stamps a `reauth link` run's records with the local agent and
// appends them durably; an append that fails is the run's error.
type linkAudit struct {
	log   *audit.Log
	agent audit.Agent
	path  string // the file, read back for an account's past attempts
}

func openLinkAudit(c common) (*linkAudit, error) {
	path := c.auditPath
	if path == "" {
		var err error
		if path, err = audit.DefaultPath(); err != nil {
			return nil, err
		}
	}
	l, err := audit.Open(path)
	if err != nil {
		return nil, err
	}
	return &linkAudit{log: l, agent: audit.Agent{User: osUser(), Via: audit.ViaLocal}, path: path}, nil
}

func (r *linkAudit) Append(rec audit.Record) error {
	rec.Agent = r.agent
	return r.log.Append(rec)
}

func (r *linkAudit) close() { _ = r.log.Close() }

// Guard registers an attempt's secrets so the audit redacts them.
func (r *linkAudit) Guard(secrets ...string) { r.log.Guard(secrets...) }

// ---- command-line conventions, the CLI's audited mint, waiting on Mono ----

// helpError carries a command's help text, asked for with --help or -h: run
// prints it on stdout and exits 0.
type helpError struct{ text string }

func (e helpError) Error() string { return "help requested" }
func (e helpError) Unwrap() error { return flag.ErrHelp }

// flagError is a command line the flag package refused (an unknown flag, a
// bad value): exitCode prints it and one hint line, and exits 2.
type flagError struct{ cmd, msg string }

func (e flagError) Error() string { return e.msg }

// hint names the help to read: "run 'reauth link --help' for usage".
func (e flagError) hint() string {
	if e.cmd == "" || e.cmd == "reauth" {
		return "run 'reauth --help' for usage"
	}
	return "run 'reauth " + e.cmd + " --help' for usage"
}

// registerOnly registers the flags of common.register named in names and no
// others, so a command's help lists only flags that do something for it.
// The flags are common.register's own (same names, defaults, help and
// fields of c).
func (c *common) registerOnly(fs *flag.FlagSet, names ...string) {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	c.register(all, true)
	for _, n := range names {
		f := all.Lookup(n)
		if f == nil {
			panic("registerOnly: common.register has no flag " + n)
		}
		fs.Var(f.Value, f.Name, f.Usage)
	}
}

// buildDate can be set with -ldflags "-X main.buildDate=2026-11-25T14:00:00Z";
// otherwise `reauth version` shows the time of the commit built (vcs.time).
var buildDate string

// versionLine is what `reauth version` and `reauth --version` print: the
// version, the VCS commit and the build date, from the binary's build
// information; "unknown" for what the build did not record (go build
// -buildvcs=false records no commit).
//
//	reauth dev (commit 4924b83+dirty, built 2026-11-25T14:00:00Z, go1.26.8 linux/amd64)
func versionLine() string {
	commit, date, dirty, goVersion := "unknown", "unknown", false, goruntime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty && commit != "unknown" {
		commit += "+dirty"
	}
	if buildDate != "" {
		date = buildDate
	}
	return fmt.Sprintf("reauth %s (commit %s, built %s, %s %s/%s)", buildVersion(), commit, date, goVersion,
		goruntime.GOOS, goruntime.GOARCH)
}

// noTerminalMessage is what the TUI says when started without a terminal.
const noTerminalMessage = "reauth needs an interactive terminal (stdin and stdout); from a script use " +
	"reauth accounts, token, link or audit (reauth --help)"

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && xterm.IsTerminal(f.Fd())
}

// sinceFlag is audit --since: a Go duration (24h, 90m) or whole or
// fractional days (7d, 1.5d).
type sinceFlag time.Duration

func (s *sinceFlag) String() string {
	d := time.Duration(*s)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (s *sinceFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > 100*365 {
			return errors.New("want a duration like 24h or days like 7d")
		}
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return errors.New("want a duration like 24h or days like 7d")
		}
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	*s = sinceFlag(d)
	return nil
}

// defaultMonoTimeout bounds a CLI command's whole conversation with Mono
// (retries included) unless --timeout says otherwise.
const defaultMonoTimeout = 30 * time.Second

// stillWaitingEvery is how often a command waiting on Mono says so, on a
// terminal: first after this long, then again each time it passes.
const stillWaitingEvery = 3 * time.Second

// errMonoDeadline is the cause of a context whose --timeout passed.
var errMonoDeadline = errors.New("mono deadline")

// waitForMono gives the Mono calls that follow an overall deadline (none
// when timeout is 0) and, when stderr is a terminal, says every few seconds
// that they are still waiting. finish ends both; it turns an error caused by
// the deadline into "Mono did not answer within 30s" (exit 1) and returns
// any other error as it is.
func waitForMono(ctx context.Context, stderr io.Writer, timeout time.Duration) (context.Context, func(error) error) {
	cancel := context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errMonoDeadline)
	}
	tick := time.NewTicker(stillWaitingEvery)
	stopNotice := stillWaiting(stderr, isTerminal(stderr), tick.C, time.Now())
	return ctx, func(err error) error {
		tick.Stop()
		stopNotice()
		defer cancel()
		if err != nil && errors.Is(context.Cause(ctx), errMonoDeadline) {
			return failedError{"Mono did not answer within " + timeout.String()}
		}
		return err
	}
}

// stillWaiting writes "reauth: still waiting for Mono (3s)…" to w for each
// tick (elapsed since start), but only when isTerminal: a script reading
// stderr gets no chatter. The returned stop waits until nothing more can be
// written.
func stillWaiting(w io.Writer, isTerminal bool, ticks <-chan time.Time, start time.Time) (stop func()) {
	if !isTerminal {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case at := <-ticks:
				fmt.Fprintf(w, "reauth: still waiting for Mono (%s)…\n", at.Sub(start).Round(time.Second))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-exited
	}
}

// warnIfHealthy reads the account before `reauth token` mints and says so
// on stderr (healthyWarning) when nothing shows it needs reauth; the mint
// goes ahead either way. When Mono does not answer the read within
// timeout, nothing is minted (exit 1, as for the mint). Any other failed
// read only means no warning: the mint then says what is wrong, audited.
func warnIfHealthy(ctx context.Context, c common, e *env, rec *linkAudit, id string, stderr io.Writer, timeout time.Duration) error {
	rctx, finish := waitForMono(ctx, stderr, timeout)
	acct, err := e.client.Account(rctx, id)
	if err = finish(err); err != nil {
		if ctx.Err() != nil || errors.As(err, new(failedError)) {
			return err
		}
		e.logger.Warn("account not read before the mint: no reauth check", "account", id, "err", oneLine(err))
		return nil
	}
	marks, merr := commandMarks(c, e)
	if merr != nil {
		e.logger.Warn("webhook marks not read", "err", merr)
	}
	if w := healthyWarning(acct, commandSignals(ctx, marks, rec.path, id, e.now()), "minting anyway"); w != "" {
		fmt.Fprintln(stderr, w)
	}
	return nil
}

// noAuditNoMint starts the error of a mint refused because the audit log
// cannot record it.
const noAuditNoMint = "cannot write the audit log, so no token is minted: "

// mintAudited mints a token for `reauth token` with an audit trail of its
// own attempt ("token-<hex>", Seq 1 and 2): token_mint_requested, on disk
// before the request leaves (when it cannot be written nothing is sent),
// then token_minted (fingerprint and expiry) or token_mint_failed. A token
// whose token_minted record cannot be written is not handed out.
func mintAudited(ctx context.Context, e *env, rec *linkAudit, id string, stderr io.Writer, timeout time.Duration) (mono.Token, error) {
	session := "token-" + newEventID()
	write := func(seq int, r audit.Record) error {
		r.Time, r.Session, r.Seq, r.Account = e.now(), session, seq, id
		return rec.Append(r)
	}
	if err := write(1, audit.Record{Action: audit.ActionTokenMintRequested, Detail: "reauth token"}); err != nil {
		return mono.Token{}, failedError{noAuditNoMint + oneLine(err)}
	}
	mctx, finish := waitForMono(ctx, stderr, timeout)
	tok, err := e.client.Reauthorise(mctx, id)
	if err = finish(err); err != nil {
		detail := oneLine(err)
		switch {
		case ctx.Err() != nil:
			detail = "cancelled before Mono answered (a token may have been minted; a new mint replaces it)"
		case errors.As(err, new(failedError)):
			detail += " (a token may have been minted; a new mint replaces it)"
		}
		if aerr := write(2, audit.Record{Action: audit.ActionTokenMintFailed, Detail: detail}); aerr != nil {
			e.logger.Error("audit append failed", "action", audit.ActionTokenMintFailed, "err", aerr)
			return mono.Token{}, failedError{oneLine(err) + " (and the audit log could not record the failure: " + oneLine(aerr) + ")"}
		}
		return mono.Token{}, err
	}
	rec.log.Guard(tok.Value)
	if err := write(2, audit.Record{Action: audit.ActionTokenMinted, TokenFingerprint: tok.Fingerprint(),
		TokenExpiresAt: tok.ExpiresAt}); err != nil {
		return mono.Token{}, failedError{"Mono minted a token " + tok.Fingerprint() +
			" but the audit log could not record it, so it is not shown (a new mint replaces it): " + oneLine(err)}
	}
	return tok, nil
}
