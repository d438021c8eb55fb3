package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// waitLimit bounds every wait on a condition (never a sleep).
const waitLimit = 20 * time.Second

// receive waits for the next signal on ch that ok accepts.
func receive(t *testing.T, ch <-chan tui.AccountSignal, what string, ok func(tui.AccountSignal) bool) tui.AccountSignal {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case sig, open := <-ch:
			if !open {
				t.Fatalf("channel closed waiting for %s", what)
			}
			if ok(sig) {
				return sig
			}
		case <-deadline:
			t.Fatalf("no signal: %s", what)
		}
	}
}

// cleanEnv gives the test its own state directory and no Mono keys.
func cleanEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	t.Setenv("HOME", dir)
	for _, k := range []string{"MONO_SECRET_KEY", "MONO_SECRET_KEY_FILE", "MONO_PUBLIC_KEY", "MONO_API_URL",
		"MONO_WEBHOOK_SECRET", "REAUTH_AGENT"} {
		t.Setenv(k, "")
	}
	return dir
}

func small(o *sandbox.Options) { o.Accounts = 40 }

// setup is Setup with a small sandbox (or live, per the environment) and
// the runtime on it, both closed when the test ends.
func setupRuntime(t *testing.T, cfg Config) (*Env, *Runtime) {
	t.Helper()
	if cfg.Tune.Sandbox == nil {
		cfg.Tune.Sandbox = small
	}
	e, err := Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := New(ctx, e)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); rt.Close() })
	return e, rt
}

func TestStateDirRules(t *testing.T) {
	abs := t.TempDir()
	home := t.TempDir()
	t.Setenv("HOME", home)

	t.Setenv("XDG_STATE_HOME", abs)
	if d, err := StateDir(); err != nil || d != filepath.Join(abs, "reauth") {
		t.Fatalf("absolute XDG_STATE_HOME: %q %v", d, err)
	}
	// A relative XDG_STATE_HOME is ignored, as the spec says.
	for _, x := range []string{"", "relative/state"} {
		t.Setenv("XDG_STATE_HOME", x)
		if d, err := StateDir(); err != nil || d != filepath.Join(home, ".local", "state", "reauth") {
			t.Fatalf("XDG_STATE_HOME=%q: %q %v", x, d, err)
		}
	}
	// The files resolve from it, under their own names.
	dir := filepath.Join(home, ".local", "state", "reauth")
	var f Files
	for name, got := range map[string]func() (string, error){"audit.jsonl": f.Audit, "webhooks.json": f.Marks, "reauth.log": f.Log} {
		if p, err := got(); err != nil || p != filepath.Join(dir, name) {
			t.Fatalf("%s: %q %v", name, p, err)
		}
	}
	if p, err := StatePath(HostKeyFileName); err != nil || p != filepath.Join(dir, "ssh_host_ed25519") {
		t.Fatalf("host key: %q %v", p, err)
	}
	// Overrides: the marks follow the audit log (a receiver and the app
	// agree through --audit-log alone); the log file is its own.
	other := t.TempDir()
	f = Files{AuditLog: filepath.Join(other, "a.jsonl"), LogFile: filepath.Join(other, "x.log")}
	if p, _ := f.Audit(); p != f.AuditLog {
		t.Fatalf("audit override: %q", p)
	}
	if p, _ := f.Marks(); p != filepath.Join(other, "webhooks.json") {
		t.Fatalf("marks beside an overridden audit log: %q", p)
	}
	if p, _ := f.Log(); p != f.LogFile {
		t.Fatalf("log override: %q", p)
	}
	// No home and no absolute XDG_STATE_HOME: no default, said plainly.
	t.Setenv("HOME", "")
	t.Setenv("XDG_STATE_HOME", "rel")
	if _, err := (Files{}).Audit(); !errors.As(err, new(ConfigError)) || !strings.Contains(err.Error(), "no audit log location") {
		t.Fatalf("no state directory: %v", err)
	}
}

// A webhook published by the hub reaches every subscribed program; a
// program that is gone is unsubscribed (its channel closed); a link run
// hears only about its own account.
func TestHubFansOut(t *testing.T) {
	h := NewHub()
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	a, b := h.Subscribe(ctx1), h.Subscribe(ctx2)
	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	only := h.LinkSignals(lctx, "acct-2")

	h.PublishEvent(webhook.Event{Kind: webhook.Reauthorized, Name: "mono.events.account_reauthorized", AccountID: "acct-1"})
	h.PublishEvent(webhook.Event{Kind: webhook.ReauthRequired, Name: "mono.events.reauthorisation_required", AccountID: "acct-2"})
	for _, ch := range []<-chan tui.AccountSignal{a, b} {
		s := receive(t, ch, "acct-1", func(s tui.AccountSignal) bool { return true })
		if s.AccountID != "acct-1" || !s.Reauthorized || s.NeedsReauth {
			t.Fatalf("first signal %+v", s)
		}
		s = receive(t, ch, "acct-2", func(s tui.AccountSignal) bool { return true })
		if s.AccountID != "acct-2" || !s.NeedsReauth || s.Reauthorized {
			t.Fatalf("second signal %+v", s)
		}
	}
	select {
	case s := <-only:
		if s.AccountID != "acct-2" {
			t.Fatalf("the link run heard about %s", s.AccountID)
		}
	case <-time.After(waitLimit):
		t.Fatal("the link run heard nothing")
	}

	cancel1()
	for range a { // closes once the program is gone
	}
	h.Publish(tui.AccountSignal{AccountID: "acct-3"})
	if s := receive(t, b, "acct-3", func(tui.AccountSignal) bool { return true }); s.AccountID != "acct-3" {
		t.Fatalf("after one left: %+v", s)
	}
}

// The one recorder stamps its agent on every record and writes it before
// Append returns; As shares the audit under another agent; secrets it is
// told are redacted; History reads an account's attempts back.
func TestRecorderStampsTheAgent(t *testing.T) {
	cleanEnv(t)
	ada := audit.Agent{User: "ada", Via: audit.ViaLocal}
	st, err := OpenStorage(context.Background(), Files{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The default store: SQLite, in the state directory.
	want, _ := StatePath(StoreFileName)
	if st.Kind != StoreSQLite || st.Where != want {
		t.Fatalf("store %s at %q, want sqlite at %q", st.Kind, st.Where, want)
	}
	rec := st.Recorder(ada, nil)
	now := time.Now()
	const secret = "tok_live_secretvalue123456"
	rec.Guard(secret)
	if err := rec.Append(audit.Record{Time: now, Session: "s1", Seq: 1, Account: "acct-1", Action: audit.ActionTokenMintRequested,
		Agent: audit.Agent{User: "forged"}, Detail: "about " + secret}); err != nil {
		t.Fatal(err)
	}
	// In the store now, for any other process, before anything else happens.
	other, err := OpenStorage(context.Background(), Files{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	readBack := func() []audit.Record {
		recs, err := other.Audit().Query(context.Background(), audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	recs := readBack()
	if len(recs) != 1 {
		t.Fatalf("read back %d records", len(recs))
	}
	if recs[0].Agent != ada {
		t.Fatalf("stamped %+v, want %+v", recs[0].Agent, ada)
	}
	if strings.Contains(recs[0].Detail, secret) {
		t.Fatalf("secret written: %q", recs[0].Detail)
	}
	// Another agent on the same audit (a program under serve; a webhook).
	bob := audit.Agent{User: "bob", Via: audit.ViaSSH, KeyFingerprint: "SHA256:abc"}
	var tr tui.Recorder = rec.As(bob)
	tr.Record(audit.Record{Time: now, Session: "s2", Seq: 1, Account: "acct-1", Action: audit.ActionSessionStarted})
	rec.As(WebhookAgent).Record(audit.Record{Time: now, Account: "acct-1", Action: audit.ActionWebhookReceived, Event: "mono.events.account_reauthorized"})
	recs = readBack()
	if len(recs) != 3 {
		t.Fatalf("read back %d records", len(recs))
	}
	if recs[1].Agent != bob || recs[2].Agent != WebhookAgent {
		t.Fatalf("stamped %+v and %+v", recs[1].Agent, recs[2].Agent)
	}
	if past, ok := rec.History(context.Background(), "acct-1"); !ok || len(past) == 0 {
		t.Fatalf("history: %v %v", past, ok)
	}
	if _, ok := rec.History(context.Background(), "acct-none"); !ok {
		t.Fatal("an account with no attempts: history not read")
	}
	if rep, err := other.Audit().Verify(context.Background()); err != nil || rep.Records != 3 {
		t.Fatalf("chain: %+v %v", rep, err)
	}
}

// On the sandbox the runtime takes the sandbox's webhooks as Mono's: the
// backlog marks accounts at once, with the evidence checked; a webhook it
// posts later (a completed reauth) reaches the programs through the hub.
func TestSandboxWebhooksReachPrograms(t *testing.T) {
	cleanEnv(t)
	e, rt := setupRuntime(t, Config{Sandbox: true, SandboxConfirm: time.Millisecond})
	if !rt.WebhooksArrive() {
		t.Fatal("the sandbox posts its webhooks in-process, but the runtime says none can arrive")
	}
	d := rt.Deps(LocalAgent())
	const marked = "5ca1ab1e0000000000000001" // account_updated REAUTHORISATION_REQUIRED
	if d.NeedsReauth == nil || !d.NeedsReauth(marked) {
		t.Fatal("the sandbox's backlog does not mark its scenario account")
	}
	sig := d.SignalsFor(context.Background(), marked)
	if !sig.WebhooksChecked || sig.Webhook == nil || !sig.HistoryChecked {
		t.Fatalf("signals %+v", sig)
	}
	if !d.Sandbox || d.ScenarioFor(marked) == "" || !d.WebhookReceiver {
		t.Fatalf("sandbox deps %+v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	news := d.Signals(ctx)
	tok, err := e.Client.Reauthorise(ctx, marked)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Sandbox.CompleteReauth(tok.Value); err != nil {
		t.Fatal(err)
	}
	receive(t, news, "account_reauthorized from the sandbox", func(s tui.AccountSignal) bool {
		return s.AccountID == marked && s.Reauthorized
	})
	receive(t, news, "account_updated SUCCESSFUL from the sandbox", func(s tui.AccountSignal) bool {
		return s.AccountID == marked && strings.EqualFold(s.SyncStatus, mono.SyncStatusSuccessful)
	})
}

// live points the environment at a sandbox Mono on loopback, as live mode
// reaches Mono.
func live(t *testing.T) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Seed: 1, Accounts: 40})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	t.Setenv("MONO_API_URL", sb.URL())
	t.Setenv("MONO_SECRET_KEY", sandbox.SecretKey)
	t.Setenv("MONO_PUBLIC_KEY", sandbox.PublicKey)
}

// Live without a receiver, the runtime follows the marks file another
// process writes (a `reauth webhooks` beside it): the poller publishes the
// marks that came and the ones that went.
func TestPollerPublishesMarksThatCameAndWent(t *testing.T) {
	for _, mode := range []StoreKind{StoreSQLite, StoreFile} {
		t.Run(string(mode), func(t *testing.T) {
			dir := cleanEnv(t)
			live(t)
			var files Files
			if mode == StoreFile {
				files.AuditLog = filepath.Join(dir, "audit.jsonl")
			}
			_, rt := setupRuntime(t, Config{Files: files, Tune: Tune{MarksPollEvery: 5 * time.Millisecond}})
			if !rt.WebhooksArrive() {
				t.Fatal("the poller follows the marks, but the runtime says no webhook can arrive")
			}
			d := rt.Deps(LocalAgent())
			if d.Sandbox || d.WebhookReceiver {
				t.Fatalf("live deps say sandbox %v, receiver %v", d.Sandbox, d.WebhookReceiver)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			news := d.Signals(ctx)

			// Another process (a `reauth webhooks` receiver) on the same store.
			st, err := OpenStorage(ctx, files, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			other, err := st.Marks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const id = "65f1c0ffee0000000000abcd"
			at := time.Now().Add(-time.Minute)
			if _, err := other.Apply(webhook.Event{ID: "evt-1", Kind: webhook.ReauthRequired, Name: "mono.events.reauthorisation_required",
				AccountID: id, Received: at}); err != nil {
				t.Fatal(err)
			}
			receive(t, news, "the mark another process wrote", func(s tui.AccountSignal) bool {
				return s.AccountID == id && s.NeedsReauth
			})
			if !d.NeedsReauth(id) {
				t.Fatal("the runtime's marks do not hold the polled mark")
			}
			if _, err := other.Apply(webhook.Event{ID: "evt-2", Kind: webhook.Reauthorized, Name: "mono.events.account_reauthorized",
				AccountID: id, Received: at.Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
			receive(t, news, "the clearing another process wrote", func(s tui.AccountSignal) bool {
				return s.AccountID == id && s.Reauthorized && !s.NeedsReauth
			})
			if d.NeedsReauth(id) {
				t.Fatal("the mark is still held after its clearing")
			}
		})
	}
}

// With --webhook-addr the runtime receives Mono's webhooks itself: each
// accepted one is told to the programs and recorded by the one recorder
// as Mono's (WebhookAgent).
func TestReceiverPublishesAndAudits(t *testing.T) {
	cleanEnv(t)
	live(t)
	t.Setenv("MONO_WEBHOOK_SECRET", "whsec-test-0123456789")
	_, rt := setupRuntime(t, Config{WebhookAddr: "127.0.0.1:0"})
	if rt.WebhookURL() == "" || !rt.WebhooksArrive() {
		t.Fatalf("receiver %q, arrive %v", rt.WebhookURL(), rt.WebhooksArrive())
	}
	d := rt.Deps(LocalAgent())
	if !d.WebhookReceiver {
		t.Fatal("deps do not say a receiver runs")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	news := d.Signals(ctx)
	const id = "65f1c0ffee0000000000abcd"
	body := webhook.Payload(webhook.ReauthRequired, id, "evt-42")
	if err := webhook.Send(ctx, rt.WebhookURL(), "whsec-test-0123456789", body); err != nil {
		t.Fatal(err)
	}
	receive(t, news, "the received webhook", func(s tui.AccountSignal) bool { return s.AccountID == id && s.NeedsReauth })
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		recs, err := rt.Storage().Audit().Query(ctx, audit.Query{Account: id})
		if err == nil && len(recs) == 1 {
			if recs[0].Action != audit.ActionWebhookReceived || recs[0].Agent != WebhookAgent {
				t.Fatalf("webhook audited as %+v", recs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not audited: %v %v", recs, err)
		}
		<-tick.C // the receiver's goroutine writes it after telling the programs
	}
}

// Without any way for webhook news to arrive (live, the marks file cannot
// be opened), the account screen must not claim webhooks were checked.
func TestNoWebhooksNoClaim(t *testing.T) {
	dir := cleanEnv(t)
	live(t)
	// The plain files (--audit-log), with the marks file's place taken by a
	// directory: no store. (A database store always has its marks.)
	files := Files{AuditLog: filepath.Join(dir, "reauth", "audit.jsonl")}
	if err := os.MkdirAll(filepath.Join(dir, "reauth", MarksFileName, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, rt := setupRuntime(t, Config{Files: files})
	if rt.WebhooksArrive() {
		t.Fatal("no marks, no receiver, no sandbox: yet the runtime says webhooks arrive")
	}
	sig := rt.Deps(LocalAgent()).SignalsFor(context.Background(), "65f1c0ffee0000000000abcd")
	if sig.WebhooksChecked {
		t.Fatal("SignalsFor says webhooks were checked")
	}

	// A one-off command live on the files reads the marks file only when a
	// receiver has kept one; without it, "no webhook" is no evidence either.
	dir = cleanEnv(t)
	live(t)
	files = Files{AuditLog: filepath.Join(dir, "reauth", "audit.jsonl")}
	e, err := Setup(Config{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	st, err := OpenStorage(ctx, files, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	marks, arrive, err := e.CommandMarks(ctx, st)
	if err != nil || marks == nil || arrive {
		t.Fatalf("no marks file yet: store %v, arrive %v, %v", marks != nil, arrive, err)
	}
	path, _ := files.Marks()
	if _, err := marks.Apply(webhook.Event{ID: "e", Kind: webhook.ReauthRequired, Name: "mono.events.reauthorisation_required",
		AccountID: "65f1c0ffee0000000000abcd", Received: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the store wrote no file: %v", err)
	}
	if _, arrive, _ := e.CommandMarks(ctx, st); !arrive {
		t.Fatal("a receiver's marks file exists, but the command does not count it")
	}
	// On the default store (SQLite) a command always counts the marks:
	// every receiver writes there.
	cleanEnv(t)
	live(t)
	lite, err := OpenStorage(ctx, Files{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, arrive, err := e.CommandMarks(ctx, lite); err != nil || !arrive {
		t.Fatalf("sqlite store: arrive %v, %v", arrive, err)
	}
}
