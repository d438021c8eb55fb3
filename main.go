// Command reauth helps support agents walk a customer through re-authorising
// a bank account linked through Mono. This file is flags, usage and
// dispatch: the runtime the commands run on lives in internal/app, the work
// in mono/, state/ and tui/.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	xterm "github.com/charmbracelet/x/term"
	"github.com/pkg/browser"

	"github.com/reauth/reauth/internal/app"
	"github.com/reauth/reauth/internal/link"
	"github.com/reauth/reauth/internal/metrics"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
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
  REAUTH_DATABASE_URL    the store: postgres://… for a team, or a SQLite file
                         (default $XDG_STATE_HOME/reauth/reauth.db)
  REAUTH_AUDIT_LOG       keep the audit in this JSON-lines file instead (one host, no hash chain)
  REAUTH_SSH_HOST_KEY    reauth serve: the SSH host key itself (OpenSSH PEM), the same on every replica
  REAUTH_REPLICA_ID      reauth serve: --replica-id (this replica's name; default random)
  REAUTH_INTERNAL_URL    reauth serve: --internal-url (where other replicas reach its page server)
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
	var ce app.ConfigError
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
	case errors.As(err, &ce):
		// The runtime's configuration refused (a bad key file, flag value
		// or state directory).
		fmt.Fprintln(stderr, "reauth:", ce.Msg)
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

func oneLine(err error) string { return app.OneLine(err) }

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

// ---- configuration shared by commands ----

// common holds the flags most commands share: the runtime's configuration.
type common = app.Config

func register(c *common, fs *flag.FlagSet, page bool) {
	fs.BoolVar(&c.Sandbox, "sandbox", false, "use the embedded sandbox even when MONO_SECRET_KEY is set")
	fs.BoolVar(&c.Debug, "debug", false, "log at debug level")
	fs.StringVar(&c.Files.LogFile, "log-file", os.Getenv("REAUTH_LOG_FILE"), "log file (default $XDG_STATE_HOME/reauth/reauth.log)")
	fs.StringVar(&c.Files.Database, "database-url", os.Getenv(app.DatabaseEnv), "the store: a postgres:// URL (a team), or a SQLite file (default $XDG_STATE_HOME/reauth/reauth.db)")
	fs.StringVar(&c.Files.AuditLog, "audit-log", os.Getenv("REAUTH_AUDIT_LOG"), "keep the audit in this JSON-lines file instead of the store (webhook marks beside it)")
	fs.DurationVar(&c.APITimeout, "api-timeout", mono.DefaultTimeout, "timeout of one Mono API call")
	fs.Int64Var(&c.SandboxSeed, "sandbox-seed", 1, "sandbox data seed")
	fs.StringVar(&c.SandboxClock, "sandbox-clock", "", "sandbox: start the clock at this RFC 3339 time (recordings)")
	fs.DurationVar(&c.SandboxConfirm, "sandbox-confirm-delay", 20*time.Second, "sandbox: how long a re-authorised account keeps syncing")
	if page {
		fs.StringVar(&c.WidgetAddr, "widget-addr", "127.0.0.1:0", "address of the local widget page server")
		fs.StringVar(&c.PublicURL, "public-url", "", "base URL of the page server as the customer's browser reaches it")
		fs.BoolVar(&c.NoBrowser, "no-browser", false, "never open a browser; just show the link")
		fs.StringVar(&c.ConnectJS, "connect-js-url", "", "Connect widget script URL (live default: Mono's CDN)")
		fs.StringVar(&c.Contract, "widget-contract", "auto", "auto (ask the Connect script itself), token (connect.js <= 2.0) or account (connect.js >= 2.1)")
		fs.BoolVar(&c.Autoplay, "autoplay", false, "sandbox: a scripted customer completes the widget by itself")
		fs.StringVar(&c.RedirectURL, "redirect-url", "", "where Mono's hosted reauth page sends the customer afterwards (optional)")
		fs.StringVar(&c.WebhookAddr, "webhook-addr", "", "also receive Mono's webhooks on this address (needs MONO_WEBHOOK_SECRET)")
	}
	c.Version = buildVersion()
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

// ---- subcommands ----

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("accounts", "reauth accounts [QUERY] [--needs-reauth] [--json] [--timeout D]\n\n"+
		"Nothing matching is not an error: an empty list ([] with --json; \"No accounts match.\" on stderr\n"+
		"without it) and exit 0. Exit 1: Mono failed or did not answer in time; 2: usage.", stderr)
	registerOnly(&c, fs, "sandbox", "debug", "log-file", "database-url", "api-timeout", "sandbox-seed", "sandbox-clock")
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
	e, err := app.Setup(c)
	if err != nil {
		return err
	}
	defer e.Close()
	mctx, finish := waitForMono(ctx, stderr, *timeout)
	var all []mono.Account
	for page, err := range e.Client.Accounts(mctx) {
		if err != nil {
			return finish(err)
		}
		all = append(all, page.Accounts...)
	}
	_ = finish(nil)
	// Whether an account needs reauth is what the app's list says: Mono's
	// webhooks (the marks store; the sandbox's own webhooks on the sandbox),
	// and an account read's sync_status if Mono ever sends one.
	var st *app.Storage
	if e.Sandbox == nil { // the sandbox's marks are its own, in memory
		if st, err = app.OpenStorage(ctx, c.Files, e.Now, e.Logger); err == nil {
			defer st.Close()
		}
	}
	var marks *webhook.Store
	if err == nil {
		marks, err = e.Marks(ctx, st)
	}
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
	now := e.Now()
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
	registerOnly(&c, fs, "sandbox", "debug", "log-file", "database-url", "audit-log", "api-timeout", "sandbox-seed", "sandbox-clock")
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
	// The audit first (a mint that cannot be recorded is not made), then a
	// warning when nothing shows the account needs reauth, then the mint
	// with its own audit trail.
	wait := func(ctx context.Context) (context.Context, func(error) error) {
		return waitForMono(ctx, stderr, *timeout)
	}
	tok, err := app.MintToken(ctx, c, id, stderr, wait)
	if err != nil {
		return err
	}
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
	register(&c, fs, true)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if !isTerminal(os.Stdin) || !isTerminal(stdout) {
		// Bubble Tea would fail with its own words (or read /dev/tty behind
		// a script's back); say what is needed, as `reauth serve` does.
		fmt.Fprintln(stderr, noTerminalMessage)
		return exitError{code: exitUsage}
	}
	warmUp()
	// The runtime is made while Bubble Tea starts (app.RunTUI says how).
	return app.RunTUI(ctx, c, stdout, stderr)
}

// ---- audit and webhooks ----

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("audit", "reauth audit [--account ID] [--since D] [--json] [--verify]\n\n"+
		"Records are printed in the order they were stored, except that the records of one attempt\n"+
		"(session) are printed together in their seq order, where the attempt first appears.\n"+
		"--account ID starts with a summary line (the last attempt, who ran it, its outcome) on stderr;\n"+
		"with no records it says \"no audit records for account ID\" on stderr and exits 0.\n"+
		"--verify walks the hash chain and names the first broken record.\n"+
		"Exit 1: no audit yet, it cannot be read, or --verify found a broken record; 2: usage.", stderr)
	registerOnly(&c, fs, "database-url", "audit-log")
	account := fs.String("account", "", "only this account id")
	var since sinceFlag
	fs.Var(&since, "since", "only records newer than this: a Go duration (24h, 90m) or days (7d)")
	jsonOut := fs.Bool("json", false, "JSON lines output")
	verify := fs.Bool("verify", false, "check the audit's hash chain: every record unchanged, none removed")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("audit takes no arguments (got %q); for one account: --account ID", mono.CleanText(pos[0]))}
	}
	*account = strings.TrimSpace(*account)
	// Reading must not create a store where there is none.
	if err := auditExists(c.Files); err != nil {
		return err
	}
	st, err := app.OpenStorage(ctx, c.Files, nil, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, msg := range st.Imported {
		fmt.Fprintln(stderr, "reauth: "+msg)
	}
	if *verify {
		rep, err := st.Audit().Verify(ctx)
		if errors.Is(err, audit.ErrNoChain) {
			return failedError{"the audit file " + st.Where + " keeps no hash chain: only a database store (SQLite, PostgreSQL) can be verified"}
		}
		if err != nil {
			return failedError{oneLine(err)}
		}
		fmt.Fprintf(stdout, "audit chain intact: %d records in the %s store %s; head %s\n", rep.Records, st.Kind, st.Where, rep.Head)
		return nil
	}
	q := audit.Query{Account: *account}
	if since > 0 {
		q.Since = time.Now().Add(-time.Duration(since))
	}
	recs, err := st.Audit().Query(ctx, q)
	if err != nil {
		return failedError{"cannot read the audit: " + oneLine(err)}
	}
	// Writers sharing a commit can store an attempt's records out of order;
	// each attempt reads in its own order.
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
	if *account != "" {
		// The answer first, then the evidence.
		fmt.Fprintln(stderr, "reauth: "+audit.Summarize(recs, *account, time.Now()).Line)
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

// auditExists refuses to read an audit that was never written: the named
// file, or the default store (or the old audit file it would import).
// PostgreSQL is always asked.
func auditExists(f app.Files) error {
	switch {
	case strings.Contains(f.Database, "://"): // PostgreSQL (OpenStorage refuses any other URL)
		return nil
	case f.Database != "":
		path := strings.TrimPrefix(f.Database, "sqlite:")
		if _, err := os.Stat(path); err != nil {
			return failedError{"no audit store at " + path + " yet"}
		}
		return nil
	case f.AuditLog != "":
		if _, err := os.Stat(f.AuditLog); err != nil {
			return failedError{"no audit log at " + f.AuditLog + " yet"}
		}
		return nil
	}
	db, err := app.StatePath(app.StoreFileName)
	if err != nil {
		return app.ConfigError{Msg: "no audit store location: " + err.Error()}
	}
	old, _ := app.StatePath(app.AuditFileName)
	for _, p := range []string{db, old} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return failedError{"no audit records yet (no store at " + db + ")"}
}

func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("webhooks", "reauth webhooks [--webhook-addr 127.0.0.1:8090]", stderr)
	// The receiver calls no Mono API: only the log and where the marks
	// store lives (beside the audit log) apply.
	registerOnly(&c, fs, "debug", "log-file", "database-url", "audit-log")
	addr := fs.String("webhook-addr", "127.0.0.1:8090", "listen address for Mono's webhooks")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	secret := os.Getenv("MONO_WEBHOOK_SECRET")
	if secret == "" {
		return usageError{"MONO_WEBHOOK_SECRET is required: Mono sends it in the mono-webhook-secret header"}
	}
	logger, closeLog, err := app.OpenLogger(c)
	if err != nil {
		return err
	}
	defer closeLog()
	st, err := app.OpenStorage(ctx, c.Files, nil, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, msg := range st.Imported {
		fmt.Fprintln(stderr, "reauth: "+msg)
	}
	store, err := st.Marks(ctx)
	if err != nil {
		return err
	}
	srv, err := app.ServeWebhooks(ctx, *addr, secret, store, logger, nil, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Receiving Mono webhooks on http://%s/ (marks kept in the %s). Ctrl+C stops.\n", srv.Addr, st.MarksWhere())
	<-ctx.Done()
	return shutdownHTTP(srv)
}

func shutdownHTTP(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), app.CloseTimeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet("serve", "reauth serve --authorized-keys FILE [flags]", stderr)
	register(&c, fs, true)
	sshAddr := fs.String("ssh-addr", sshserve.DefaultAddr, "SSH listen address")
	defaultHostKey, _ := app.StatePath(app.HostKeyFileName)
	hostKey := fs.String("host-key", defaultHostKey, "host key (generated on first run, kept 0600)")
	authKeys := fs.String("authorized-keys", "", "agents' public keys, OpenSSH authorized_keys format (required)")
	anyKey := fs.Bool("allow-any-key", false, "let ANY public key in (demos on a trusted network only)")
	maxSessions := fs.Int("max-sessions", 50, "concurrent SSH sessions at most (0: no cap)")
	idle := fs.Duration("idle-timeout", 30*time.Minute, "end a session after this long without input (0: never)")
	drain := fs.Duration("drain-timeout", sshserve.DefaultDrainTimeout,
		"on SIGTERM, stop taking connections, tell the agents and let live attempts finish for up to this long before ending them (0: end at once)")
	resumeGrace := fs.Duration("resume-grace", sshserve.DefaultResumeGrace,
		"when an agent's connection drops under a live attempt, keep it (and the customer's page) this long for them to reconnect to (0: it ends with the connection)")
	fs.DurationVar(&c.AccountsRefresh, "accounts-refresh", 5*time.Minute,
		"re-read the account list from Mono this often; every session shares one list (0: only on R after a failure)")
	adminAddr := fs.String("admin-addr", "", "serve /metrics, /healthz and /readyz on this address (off by default; keep it on loopback or a private network, e.g. 127.0.0.1:9090)")
	fs.StringVar(&c.ReplicaID, "replica-id", os.Getenv("REAUTH_REPLICA_ID"),
		"this replica's name among replicas on one database, 1-32 lowercase letters and digits (default: a random one); it begins its page links")
	fs.StringVar(&c.InternalURL, "internal-url", os.Getenv("REAUTH_INTERNAL_URL"),
		"where the other replicas reach this one's page server, e.g. http://10.0.0.5:8080 (default: the --widget-addr it listens on)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *drain < 0 {
		return usageError{"--drain-timeout must not be negative"}
	}
	if *resumeGrace < 0 {
		return usageError{"--resume-grace must not be negative"}
	}
	// Replicas behind one load balancer share one host key, given whole.
	givenHostKey := []byte(os.Getenv("REAUTH_SSH_HOST_KEY"))
	if *hostKey == "" && len(givenHostKey) == 0 {
		return usageError{"no state directory for the host key: pass --host-key, or set XDG_STATE_HOME or HOME"}
	}
	var m *metrics.Metrics
	if *adminAddr != "" {
		m = metrics.New()
		c.Metrics = m
	}
	e, err := app.Setup(c)
	if err != nil {
		return err
	}
	defer e.Close()
	rt, err := app.New(ctx, e)
	if err != nil {
		return err
	}
	defer rt.Close()
	for _, msg := range rt.Imported() {
		fmt.Fprintln(stderr, "reauth: "+msg)
	}
	// Load the shared account list now, so the first agent finds it ready.
	rt.Catalog().Start()
	scfg := sshserve.Config{Addr: *sshAddr, HostKeyPath: *hostKey, HostKey: givenHostKey, AuthorizedKeysPath: *authKeys,
		AllowAnyKey: *anyKey, MaxSessions: *maxSessions, IdleTimeout: *idle, ResumeGrace: *resumeGrace, PublicURL: c.PublicURL,
		Logger: e.Logger.WithPrefix("ssh"), NewDeps: rt.Deps, ResumeElsewhere: rt.ResumeElsewhere}
	if m != nil {
		scfg.Connected = m.AgentConnected
		// The admin server outlives ctx by the shutdown, so /readyz says
		// "draining" while agents are told and sessions end.
		adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
		defer stopAdmin()
		addr, _, err := metrics.Serve(adminCtx, *adminAddr, m.Handler(rt.Storage().Ping))
		if err != nil {
			return failedError{"cannot listen on --admin-addr " + *adminAddr + ": " + oneLine(err)}
		}
		fmt.Fprintf(stdout, "admin: http://%s/metrics, /healthz, /readyz\n", addr)
		go func() {
			<-ctx.Done()
			m.SetDraining()
		}()
	}
	srv, err := sshserve.New(scfg)
	if err != nil {
		return usageError{oneLine(err)}
	}
	if w := srv.Warning(); w != "" {
		fmt.Fprintln(stderr, w)
	}
	// Other replicas may take this one's parked attempts for their agents.
	rt.ServeHandOvers(srv)
	if err := srv.Start(); err != nil {
		return failedError{"cannot listen on " + *sshAddr + ": " + oneLine(err)}
	}
	fmt.Fprintf(stdout, "reauth serve: ssh -p %s HOST  (host key %s)\nwidget pages on %s\n",
		portOf(srv.Addr()), srv.HostKeyFingerprint(), rt.PagesURL())
	if c.PublicURL == "" {
		fmt.Fprintln(stdout, "note: no --public-url, so page links only work on this machine")
	}
	if u := rt.WebhookURL(); u != "" {
		fmt.Fprintln(stdout, "webhooks on", u)
	}
	<-ctx.Done()
	if *drain > 0 && srv.Sessions() > 0 {
		// Rolling restart: no new connections (/readyz already says
		// draining), agents told, live attempts get up to --drain-timeout.
		fmt.Fprintf(stdout, "draining: no new connections; live attempts have up to %s (signal again to stop now)\n", *drain)
		// A second SIGTERM or ctrl+c cuts the drain short.
		dctx, cutDrain := context.WithCancel(context.Background())
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		go func() {
			select {
			case <-again:
				cutDrain()
			case <-dctx.Done():
			}
		}()
		srv.Drain(dctx, *drain)
		cutDrain()
		signal.Stop(again)
	}
	fmt.Fprintln(stdout, "shutting down: closing sessions")
	// One deadline for the whole shutdown: the SSH sessions get what the
	// runtime's close (pages, webhook receiver: app.CloseTimeout, run by the
	// deferred rt.Close) leaves of sshserve.DefaultShutdownTimeout.
	sctx, cancel := context.WithTimeout(context.Background(), sshserve.DefaultShutdownTimeout-app.CloseTimeout)
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
	register(&c, fs, true)
	jsonOut := fs.Bool("json", false, "JSON lines: the first has the page url, then one per event, then the outcome")
	timeout := fs.Duration("timeout", 0, "give up after this long (default: a minute after the token expires)")
	exitOnClose := fs.Bool("exit-on-close", false, "stop at the first close of the widget or the page (by default the customer can reopen it while the link lives)")
	takeOver := fs.Bool("take-over", false, "take the account over from a colleague's live attempt (their page stops; they are told)")
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
	res, err := app.RunLink(ctx, c, app.LinkRun{AccountID: id, Out: stdout, Warn: stderr, JSON: *jsonOut,
		Timeout: *timeout, ExitOnClose: *exitOnClose, TakeOver: *takeOver})
	switch {
	case errors.Is(err, link.ErrCanceled):
		fmt.Fprintln(stderr, "reauth: cancelled")
		return exitError{code: 130}
	case err != nil:
		return err
	case res.ExitCode() != 0:
		return failedError{} // the outcome line on stdout already said why
	}
	return nil
}

// ---- command-line conventions, waiting on Mono ----

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

// registerOnly registers the flags of register named in names and no
// others, so a command's help lists only flags that do something for it.
// The flags are register's own (same names, defaults, help and fields of c).
func registerOnly(c *common, fs *flag.FlagSet, names ...string) {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	register(c, all, true)
	for _, n := range names {
		f := all.Lookup(n)
		if f == nil {
			panic("registerOnly: register has no flag " + n)
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
// the deadline into app.NoAnswerError ("Mono did not answer within 30s", exit 1) and returns
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
			return app.NoAnswerError{Within: timeout}
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
