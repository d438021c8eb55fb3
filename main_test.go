package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/chromedp/chromedp"
	"github.com/creack/pty"

	"github.com/reauth/reauth/internal/app"
	"github.com/reauth/reauth/internal/store/postgres"
	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// binPath is the reauth binary built once for these tests: they run it the
// way an agent or a script does.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "reauth-bin-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "reauth")
	// As `make build` does: static, no cgo.
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building reauth: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// runBin runs reauth with a clean environment: no inherited Mono keys, state
// under a temp dir.
func runBin(t *testing.T, env []string, args ...string) result {
	t.Helper()
	state := t.TempDir()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func TestAccountsJSONOnSandbox(t *testing.T) {
	r := runBin(t, nil, "accounts", "ada", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var accts []mono.Account
	if err := json.Unmarshal([]byte(r.stdout), &accts); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	// Exactly what the search screen would list, in its order: the same
	// seeded sandbox data through the same ranking.
	want := tui.FindAccounts(sandbox.Generate(1, 520), "ada", false)
	if len(accts) == 0 || len(accts) != len(want) {
		t.Fatalf("%d accounts printed, want %d", len(accts), len(want))
	}
	for i := range want {
		if accts[i].ID != want[i].ID {
			t.Fatalf("result %d is %s, want %s", i, accts[i].Name, want[i].Name)
		}
	}
	if !strings.HasPrefix(strings.ToLower(accts[0].Name), "ada") {
		t.Fatalf("a name starting with ada must rank first, got %q", accts[0].Name)
	}
}

// sandboxMarks is what the seeded sandbox's webhooks (sent before it
// started) mark, read as the app reads them (internal/app): accounts
// needing reauth.
func sandboxMarks(t *testing.T) map[string]webhook.Mark {
	t.Helper()
	dir := t.TempDir()
	e, err := app.Setup(app.Config{Sandbox: true, SandboxSeed: 1,
		Files: app.Files{AuditLog: filepath.Join(dir, "audit.jsonl"), LogFile: filepath.Join(dir, "reauth.log")}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	st, err := e.Marks(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.Marked()
}

// --needs-reauth lists what the app's list marks NEEDS REAUTH: on the
// sandbox, exactly the accounts its webhooks say need reauth (account reads
// carry no sync_status, as Mono's do not), each with the webhook's
// evidence; live, the marks another process's receiver wrote beside the
// audit log. Text and --json agree.
func TestAccountsNeedsReauthAndNoMatch(t *testing.T) {
	want := sandboxMarks(t)
	if len(want) < 20 {
		t.Fatalf("the sandbox's webhooks mark only %d accounts", len(want))
	}
	r := runBin(t, nil, "accounts", "--needs-reauth")
	if r.code != 0 || !strings.Contains(r.stdout, "NEEDS REAUTH") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.Contains(l, "  NEEDS REAUTH  Mono webhook ") {
			t.Fatalf("line without the reauth flag and Mono's webhook: %q", l)
		}
		id := strings.Fields(l)[0]
		if _, ok := want[id]; !ok {
			t.Fatalf("listed %s, which no sandbox webhook marks: %q", id, l)
		}
		listed[id] = true
	}
	if len(listed) != len(want) {
		t.Fatalf("%d accounts listed, the sandbox's webhooks mark %d", len(listed), len(want))
	}
	folake := "5ca1ab1e0000000000000001"
	if !strings.Contains(r.stdout, folake) || !regexp.MustCompile(folake+`.*NEEDS REAUTH  Mono webhook account_updated at .*: sync_status REAUTHORISATION_REQUIRED\n`).MatchString(r.stdout) {
		t.Fatalf("Folake's line lacks the webhook's evidence:\n%s", r.stdout)
	}
	r = runBin(t, nil, "accounts", "--needs-reauth", "--json")
	var accts []mono.Account
	if err := json.Unmarshal([]byte(r.stdout), &accts); r.code != 0 || err != nil {
		t.Fatalf("--json: exit %d %v: %s", r.code, err, r.stderr)
	}
	if len(accts) != len(want) {
		t.Fatalf("--json lists %d accounts, want %d", len(accts), len(want))
	}
	for _, a := range accts {
		if !listed[a.ID] {
			t.Fatalf("--json lists %s (%s), the text did not", a.ID, a.Name)
		}
	}

	// Live: a `reauth webhooks` beside the audit log marked one account.
	sb := sandbox.New(sandbox.Options{Seed: 1})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	receiver, err := webhook.OpenStore(filepath.Join(dir, "webhooks.json"))
	if err != nil {
		t.Fatal(err)
	}
	marked := "5ca1ab1e0000000000000004"
	if _, err := receiver.Apply(webhook.Event{ID: "evt-other-process", Kind: webhook.AccountUpdated,
		Name: "mono.events.account_updated", SyncStatus: "REAUTHORISATION_REQUIRED", AccountID: marked,
		Received: time.Now()}); err != nil {
		t.Fatal(err)
	}
	live := []string{"MONO_API_URL=" + sb.URL(), "MONO_SECRET_KEY=" + sandbox.SecretKey,
		"REAUTH_AUDIT_LOG=" + filepath.Join(dir, "audit.jsonl")}
	r = runBin(t, live, "accounts", "--needs-reauth")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 1 ||
		!strings.HasPrefix(lines[0], marked) || !strings.Contains(lines[0], "  NEEDS REAUTH  Mono webhook account_updated received ") ||
		!strings.HasSuffix(lines[0], ": sync_status REAUTHORISATION_REQUIRED") {
		t.Fatalf("live, with another process's mark: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, live, "accounts", "--needs-reauth", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &accts); r.code != 0 || err != nil || len(accts) != 1 || accts[0].ID != marked {
		t.Fatalf("live --json: exit %d %v: %s", r.code, err, r.stdout)
	}
	// Nothing matching is an empty list, not a failure (exit 0), with and
	// without --json: TestAccountsNoMatchIsTheSameWithAndWithoutJSON.
	r = runBin(t, nil, "accounts", "zzzzqqqqxxxx")
	if r.code != 0 || !strings.Contains(r.stderr, "No accounts match.") {
		t.Fatalf("no match: exit %d %q", r.code, r.stderr)
	}
}

// The token command against any Mono-shaped server reads the account (for
// its warning when nothing says it needs reauth) and performs exactly one
// POST /accounts/ID/reauthorise with the key header.
func TestTokenAgainstMonoShapedServer(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Seed: 3})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	id := "5ca1ab1e0000000000000001"
	r := runBin(t, []string{"MONO_API_URL=" + sb.URL(), "MONO_SECRET_KEY=" + sandbox.SecretKey}, "token", id, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		AccountID string `json:"account_id"`
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339, got.ExpiresAt)
	if err != nil || got.AccountID != id || len(got.Token) < 10 {
		t.Fatalf("reply %+v (%v)", got, err)
	}
	if d := time.Until(exp); d < 9*time.Minute || d > 10*time.Minute+5*time.Second {
		t.Fatalf("expiry %s is not ~10 minutes away", d)
	}
	if acct, ok := sb.TokenValid(got.Token); !ok || acct != id {
		t.Fatal("the printed token is not the one the server minted")
	}
	if log := sb.RequestLog(); !slices.Equal(log, []string{"GET /v2/accounts/" + id, "POST /accounts/" + id + "/reauthorise"}) {
		t.Fatalf("requests %q", log)
	}
	if strings.Contains(r.stderr, sandbox.SecretKey) {
		t.Fatal("secret key printed")
	}
}

// `reauth token` and `reauth link` say on stderr, in one line, when nothing
// shows the account needs reauth (its read, Mono's webhooks, its past
// attempts), and go ahead all the same; for an account Mono's webhook marks
// they say nothing.
func TestTokenAndLinkWarnWhenNothingSaysReauth(t *testing.T) {
	marked := sandboxMarks(t)
	var healthy mono.Account
	for _, a := range sandbox.Generate(1, 520) {
		if _, ok := marked[a.ID]; !ok && a.DataStatus.Is(mono.StatusAvailable) && !strings.HasPrefix(a.ID, "5ca1ab1e") {
			healthy = a
			break
		}
	}
	if healthy.ID == "" {
		t.Fatal("no sandbox account without a mark reads AVAILABLE")
	}
	const folake = "5ca1ab1e0000000000000001" // account_updated REAUTHORISATION_REQUIRED
	const want = "reauth: warning: no sign this account needs reauth (data_status AVAILABLE; no Mono webhook says otherwise; " +
		"no failed attempt) — minting anyway\n"
	auditFlag := func() string { return "--audit-log=" + filepath.Join(t.TempDir(), "audit.jsonl") }

	r := runBin(t, nil, "token", healthy.ID, "--json", auditFlag())
	if r.code != 0 || r.stderr != want || !strings.Contains(r.stdout, `"token"`) {
		t.Fatalf("token for %s (%s): exit %d stdout %q stderr %q; want the token and %q", healthy.ID, healthy.Name, r.code, r.stdout, r.stderr, want)
	}
	r = runBin(t, nil, "token", folake, auditFlag())
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("token for a marked account: exit %d stderr %q; want no warning", r.code, r.stderr)
	}
	// A bank that only ever gives Mono the balance: a reauth would not help.
	r = runBin(t, nil, "token", "5ca1ab1e0000000000000007", auditFlag())
	if r.code != 0 || !strings.HasPrefix(r.stderr, "reauth: warning: OPay gives Mono only the balance: a partner-bank limitation, not a reauth need (") ||
		!strings.HasSuffix(r.stderr, ") — minting anyway\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("token for the balance-only account: exit %d stderr %q", r.code, r.stderr)
	}

	// link warns before it mints; nobody opens the page, so it ends at
	// --timeout (exit 1).
	r = runBin(t, nil, "link", healthy.ID, "--no-browser", "--json", "--timeout", "1s", auditFlag())
	if r.code != 1 || r.stderr != want || !strings.Contains(r.stdout, `"url"`) {
		t.Fatalf("link for %s: exit %d stdout %q stderr %q; want %q", healthy.ID, r.code, r.stdout, r.stderr, want)
	}
	r = runBin(t, nil, "link", folake, "--no-browser", "--json", "--timeout", "1s", auditFlag())
	if r.code != 1 || r.stderr != "" {
		t.Fatalf("link for a marked account: exit %d stderr %q; want no warning", r.code, r.stderr)
	}
}

func TestTokenErrors(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Seed: 3})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	api := "MONO_API_URL=" + sb.URL()
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"wrong key", []string{api, "MONO_SECRET_KEY=test_sk_wrong"}, []string{"token", "5ca1ab1e0000000000000001"}, 1, "401"},
		{"unknown id", []string{api, "MONO_SECRET_KEY=" + sandbox.SecretKey}, []string{"token", "0123456789abcdef01234567"}, 1, "404"},
		{"cannot reauth", []string{api, "MONO_SECRET_KEY=" + sandbox.SecretKey}, []string{"token", "5ca1ab1e0000000000000005"}, 1, "cannot be re-authorised"},
		{"not an id", nil, []string{"token", "abc"}, 2, "not a Mono account id"},
		{"no id", nil, []string{"token"}, 2, "exactly one ACCOUNT_ID"},
		{"bad flag", nil, []string{"accounts", "--frobnicate"}, 2, "frobnicate"},
		{"unknown command", nil, []string{"dance"}, 2, "unknown command"},
		{"key file missing", []string{"MONO_SECRET_KEY_FILE=/nonexistent/key"}, []string{"accounts"}, 2, "MONO_SECRET_KEY_FILE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runBin(t, c.env, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d stderr %q; want %d and %q", r.code, r.stderr, c.code, c.want)
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 && c.code != 2 {
				t.Fatalf("error is not one line: %q", r.stderr)
			}
			if strings.Contains(r.stderr+r.stdout, "test_sk_wrong") {
				t.Fatal("a secret key was printed")
			}
		})
	}
}

func TestHelpListsEnvironment(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"accounts", "--help"}, {"token", "-h"}, {"link", "--help"}} {
		r := runBin(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stderr+r.stdout, "MONO_SECRET_KEY") || !strings.Contains(r.stderr+r.stdout, "MONO_API_URL") {
			t.Fatalf("%v: exit %d, no environment listed:\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	r := runBin(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "reauth ") {
		t.Fatalf("version: %q", r.stdout)
	}
}

// ---- the real binary in a pseudo-terminal ----

// screen runs the binary in a pty and keeps an emulated screen of it.
type screen struct {
	t     *testing.T
	mu    sync.Mutex
	emu   *vt.Emulator
	pty   *os.File
	cmd   *exec.Cmd
	state string // the program's XDG_STATE_HOME: log, audit
}

func startScreen(t *testing.T, w, h int, env []string, args ...string) *screen {
	t.Helper()
	state := t.TempDir()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH"), "TERM=xterm-256color"}, env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(w), Rows: uint16(h)})
	if err != nil {
		t.Fatal(err)
	}
	s := &screen{t: t, emu: vt.NewEmulator(w, h), pty: f, cmd: cmd, state: state}
	go func() { // program output → emulator
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				s.mu.Lock()
				_, _ = s.emu.Write(buf[:n])
				s.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // the emulator's answers to queries → program input
		_, _ = io.Copy(f, s.emu)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		_ = f.Close()
		// The emulator is not closed: its Close races with the answer
		// pump's Read. The pump stays parked on an idle pipe until the test
		// binary exits.
	})
	return s
}

func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emu.String()
}

func (s *screen) waitFor(what string, ok func(string) bool) string {
	s.t.Helper()
	return s.waitForUpTo(15*time.Second, what, ok)
}

func (s *screen) waitForUpTo(d time.Duration, what string, ok func(string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		txt := s.text()
		if ok(txt) {
			return txt
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; screen:\n%s", what, txt)
		}
		<-tick.C
	}
}

// lastRecord is the newest record of action in the app's audit (its
// SQLite store in the state directory), read as another process would.
func (s *screen) lastRecord(action audit.Action) audit.Record {
	s.t.Helper()
	var last audit.Record
	for _, r := range readAudit(s.t, filepath.Join(s.state, "reauth", "reauth.db")) {
		if r.Action == action {
			last = r
		}
	}
	return last
}

func (s *screen) waitText(sub string) string {
	s.t.Helper()
	return s.waitFor(sub, func(txt string) bool { return strings.Contains(txt, sub) })
}

func (s *screen) send(keys string) {
	s.t.Helper()
	if _, err := s.pty.Write([]byte(keys)); err != nil {
		s.t.Fatal(err)
	}
}

// openAdaeze finds Adaeze Okonkwo on the loaded list and opens her
// account, waiting for its reason: Mono's webhook, as the sandbox sends it
// (her account is marked by reauthorisation_required, which says no why).
func (s *screen) openAdaeze() {
	s.t.Helper()
	s.waitText("loaded 520 / 520")
	s.send("okonkwo")
	s.waitFor("the filtered list", func(txt string) bool {
		return strings.Contains(txt, "Adaeze Okonkwo") && !strings.Contains(txt, "Folake")
	})
	s.send("\r")
	s.waitText("From Mono webhook reauthorisation_required")
}

func TestTUIInPseudoTerminal(t *testing.T) {
	s := startScreen(t, 80, 24, nil, "--no-browser")
	s.waitText("SANDBOX")
	s.openAdaeze()
	s.send("t")
	txt := s.waitText("left")
	var tokenLine string
	for _, l := range strings.Split(txt, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Token ") {
			tokenLine = l
		}
	}
	if !strings.Contains(tokenLine, "••••") || !strings.Contains(tokenLine, "09:5") && !strings.Contains(tokenLine, "10:00") {
		t.Fatalf("token line %q: want a masked token and a countdown", tokenLine)
	}
	// The token is live: q asks first, and y confirms.
	s.send("q")
	s.waitText("Quit reauth")
	s.send("y")
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("quit with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("q did not quit")
	}
}

// reauth stopped by a signal (SIGTERM) under a live attempt ends it in the
// audit, saying so, instead of leaving an attempt with no outcome whose
// page died with the process.
func TestTUIStoppedBySignalEndsTheLiveAttempt(t *testing.T) {
	s := startScreen(t, 100, 30, nil, "--no-browser")
	s.openAdaeze()
	s.send("t")
	s.waitText("Token minted")
	s.send("o")
	s.waitText("the customer's page shows the same code")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("SIGTERM did not stop reauth")
	}
	ended := s.lastRecord(audit.ActionOutcome)
	if ended.Outcome != "ENDED BY AGENT" || !strings.Contains(ended.Detail, "reauth was stopped before the attempt ended") {
		t.Fatalf("the attempt's outcome after SIGTERM: %+v\nscreen:\n%s", ended, s.text())
	}
}

// sharedFirstName finds, in the seeded sandbox, a holder whose full name
// opens only them while their first name alone ranks another holder first
// (the pair: "Yetunde" finds Yetunde Ogundipe before Yetunde
// Adeleke). Typing the full name and enter in one write must open them,
// not the first hit of a partial query.
func sharedFirstName(t *testing.T) (want, first mono.Account) {
	t.Helper()
	all := sandbox.Generate(1, 520)
	for _, a := range all {
		name := strings.Fields(a.Name)
		if len(name) < 2 {
			continue
		}
		full := tui.FindAccounts(all, a.Name, false)
		partial := tui.FindAccounts(all, name[0], false)
		if len(full) == 0 || full[0].ID != a.ID || len(partial) < 2 || partial[0].ID == a.ID ||
			strings.HasPrefix(strings.ToLower(partial[0].Name), strings.ToLower(a.Name)) {
			continue
		}
		if want.ID == "" || a.Name == "Yetunde Adeleke" {
			want, first = a, partial[0]
		}
	}
	if want.ID == "" {
		t.Fatal("the sandbox has no two holders sharing a first name")
	}
	return want, first
}

// The most serious item: the whole name and enter arrive in one
// write, before the search for the whole name has answered; enter must act
// on the query as typed (the session shows the full name typed), never on
// the rows of an older, partial query.
func TestEnterInTheSameWriteOpensTheAccountTyped(t *testing.T) {
	want, first := sharedFirstName(t)
	t.Logf("typing %q; its first name alone ranks %q first", want.Name, first.Name)
	for round := range 3 {
		s := startScreen(t, 100, 30, nil, "--no-browser")
		s.waitText("loaded 520 / 520")
		if round == 2 {
			// Half the first name first, with its result on screen.
			s.send(want.Name[:3])
			s.waitText("/ " + want.Name[:3])
			s.send(want.Name[3:] + "\r")
		} else {
			s.send(want.Name + "\r")
		}
		txt := s.waitFor("the session screen", func(txt string) bool {
			return strings.Contains(txt, "›  "+want.Name) || strings.Contains(txt, "›  "+first.Name)
		})
		header := strings.SplitN(txt, "\n", 2)[0]
		if !strings.Contains(header, want.Name) || strings.Contains(header, first.Name) {
			t.Fatalf("round %d: typed %q and enter, opened:\n%s", round, want.Name, txt)
		}
		s.waitText(want.MaskedNumber())
	}
}

// The app draws while its log, sandbox, page server and audit log are made
// on another goroutine (tui.NewStarting); when making them fails, the
// program ends, the terminal is restored and the error is printed, with the
// exit status it had before.
func TestTUISetupErrorAfterTheScreenStarted(t *testing.T) {
	s := startScreen(t, 80, 24, nil, "--no-browser", "--sandbox-clock", "yesterday")
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
			t.Fatalf("exit %v, want status %d", err, exitUsage)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("reauth did not exit; screen:\n%s", s.text())
	}
	txt := s.waitText("--sandbox-clock takes an RFC 3339 time")
	if strings.Contains(txt, "Loading accounts") {
		t.Fatalf("the loading screen is still shown after the error:\n%s", txt)
	}
}

// A `reauth webhooks` receiver in another process writes the marks store
// beside the audit log; the running app shows a new mark without a restart.
// Live mode, against a sandbox Mono on loopback: on the embedded sandbox the
// sandbox's own webhooks say which accounts need reauth (in memory) and
// webhooks.json is not read.
func TestAppShowsMarksAnotherProcessWrites(t *testing.T) {
	all := sandbox.Generate(1, 520)
	sandboxMarked := sandboxMarks(t)
	var healthy mono.Account
	for _, a := range all {
		if _, marked := sandboxMarked[a.ID]; marked || a.NeedsReauth() || !a.DataStatus.Is(mono.StatusAvailable) {
			continue
		}
		same := 0
		for _, b := range all {
			if b.Name == a.Name {
				same++
			}
		}
		if same == 1 {
			healthy = a
			break
		}
	}
	if healthy.ID == "" {
		t.Fatal("the sandbox has no healthy account with a unique name")
	}
	sb := sandbox.New(sandbox.Options{Seed: 1})
	if err := sb.Start(""); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	s := startScreen(t, 100, 30, []string{"MONO_API_URL=" + sb.URL(), "MONO_SECRET_KEY=" + sandbox.SecretKey,
		"MONO_PUBLIC_KEY=" + sandbox.PublicKey}, "--no-browser")
	s.waitText("loaded 520 / 520")
	s.send(healthy.Name)
	rowSays := func(label string) func(string) bool {
		return func(txt string) bool {
			for _, l := range strings.Split(txt, "\n") {
				if strings.Contains(l, healthy.MaskedNumber()) && strings.Contains(l, label) {
					return true
				}
			}
			return false
		}
	}
	s.waitFor(healthy.Name+" listed AVAILABLE", rowSays("AVAILABLE"))
	// The other process (a `reauth webhooks` receiver): its own handle on
	// the same store, the default SQLite file.
	st, err := app.OpenStorage(context.Background(), app.Files{Database: filepath.Join(s.state, "reauth", "reauth.db"),
		OldFilesDir: app.NoOldFiles}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	receiver, err := st.Marks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receiver.Apply(webhook.Event{ID: "evt-other-process", Kind: webhook.ReauthRequired,
		Name: "mono.events.reauthorisation_required", AccountID: healthy.ID, Received: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(healthy.Name+" marked NEEDS REAUTH", rowSays("NEEDS REAUTH"))
}

// newBrowser starts headless Chromium for a test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	if p := chromiumPath(); p != "" {
		opts = append(opts, chromedp.ExecPath(p))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// The "done when": `reauth link ID --no-browser --json` prints a URL
// first; opening it in Chromium and completing the (autoplayed) sandbox
// widget streams the events and the outcome, and the exit status is 0.
func TestLinkEndToEndInChromium(t *testing.T) {
	state := t.TempDir()
	cmd := exec.Command(binPath, "link", "5ca1ab1e0000000000000002", "--no-browser", "--json", "--autoplay", "--timeout", "2m")
	cmd.Env = []string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var first struct {
		URL         string `json:"url"`
		PairingCode string `json:"pairing_code"`
	}
	select {
	case l := <-lines:
		if err := json.Unmarshal([]byte(l), &first); err != nil || first.URL == "" {
			t.Fatalf("first line is not {\"url\":…}: %q", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no URL printed; stderr %s", stderr.String())
	}
	ctx := newBrowser(t)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(first.URL)); err != nil {
		t.Fatal(err)
	}
	var names []string
	var outcome map[string]any
	deadline := time.After(60 * time.Second)
	for outcome == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout ended without an outcome; events %v; stderr %s", names, stderr.String())
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			if _, ok := m["outcome"]; ok {
				outcome = m
				continue
			}
			name, _ := m["name"].(string)
			if name == "" {
				name, _ = m["callback"].(string)
			}
			names = append(names, name)
		case <-deadline:
			t.Fatalf("no outcome; events so far %v", names)
		}
	}
	if outcome["outcome"] != "SUCCEEDED" {
		t.Fatalf("outcome %v", outcome)
	}
	want := []string{"LOADED", "OPENED", "INSTITUTION_SELECTED", "SUBMIT_CREDENTIALS", "SUBMIT_MFA", "ERROR", "SUBMIT_MFA", "SUCCESS"}
	if !isSubsequence(want, names) {
		t.Fatalf("events %v do not contain %v in order", names, want)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v (stderr %s)", err, stderr.String())
	}
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// After a full TUI flow with debug logging, no secret — the Mono secret key,
// the token, the page secret — is in the log or the audit.
func TestNoSecretsInLogsOrAudit(t *testing.T) {
	s := startScreen(t, 200, 40, nil, "--no-browser", "--debug")
	s.waitText("loaded 520 / 520")
	s.send("folake")
	s.waitFor("filtered", func(txt string) bool { return strings.Contains(txt, "Folake") && !strings.Contains(txt, "Okonkwo") })
	s.send("\r")
	s.waitText("Why")
	s.send("t")
	s.waitText("left")
	s.send("v")
	var token string
	s.waitFor("revealed token", func(txt string) bool {
		for _, l := range strings.Split(txt, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Token" && !strings.Contains(f[1], "•") {
				token = f[1]
				return true
			}
		}
		return false
	})
	s.send("o")
	s.waitText("Code ")
	// The screen masks the page secret; the link's OSC 8 target carries it.
	var pageSecret string
	s.waitFor("page link target", func(string) bool {
		s.mu.Lock()
		styled := s.emu.Render()
		s.mu.Unlock()
		i := strings.Index(styled, "/s/")
		if i < 0 {
			return false
		}
		rest := styled[i:]
		j := strings.IndexByte(rest, '#')
		if j < 0 {
			return false
		}
		end := strings.IndexAny(rest[j+1:], "\x1b\x07")
		if end < 16 {
			return false
		}
		pageSecret = rest[j+1 : j+1+end]
		return true
	})
	if strings.Contains(s.text(), pageSecret) {
		t.Fatal("the page secret is visible on screen")
	}
	// The attempt is live: q asks first, and q again confirms.
	s.send("q")
	s.waitText("Quit reauth")
	s.send("q")
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("q did not quit")
	}
	if len(token) < 10 || len(pageSecret) < 16 {
		t.Fatalf("could not read the secrets off the screen: token %q page secret %q", token, pageSecret)
	}
	files := 0
	err := filepath.WalkDir(s.state, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for name, secret := range map[string]string{"secret key": sandbox.SecretKey, "token": token, "page secret": pageSecret} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s found in %s", name, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// `reauth audit` reads the same trail back, for this account.
	r := runBin(t, []string{"XDG_STATE_HOME=" + s.state}, "audit", "--account", "5ca1ab1e0000000000000001", "--json")
	if r.code != 0 {
		t.Fatalf("reauth audit: exit %d: %s", r.code, r.stderr)
	}
	var actions []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var rec struct {
			Action  string `json:"action"`
			Account string `json:"account"`
			Agent   struct {
				User string `json:"user"`
			} `json:"agent"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if rec.Account != "5ca1ab1e0000000000000001" || rec.Agent.User == "" {
			t.Fatalf("audit record without account or agent: %q", l)
		}
		actions = append(actions, rec.Action)
	}
	for _, want := range []string{"session_started", "reason_shown", "token_minted", "page_opened"} {
		if !slices.Contains(actions, want) {
			t.Fatalf("reauth audit lacks %s: %v", want, actions)
		}
	}
	// The store is the default SQLite file: its bytes were scanned above
	// (the write-ahead log is folded in when the app closes it).
	if _, err := os.Stat(filepath.Join(s.state, "reauth", "reauth.db")); files < 2 || err != nil {
		t.Fatalf("expected a log and the SQLite store (%d files; store: %v)", files, err)
	}
}

// NO_COLOR: the same screens, no colour; colour is back without it.
func TestNoColor(t *testing.T) {
	styled := func(env []string) string {
		s := startScreen(t, 100, 30, env, "--no-browser")
		s.waitText("loaded 520 / 520")
		s.waitText("NEEDS REAUTH")
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.emu.Render()
	}
	colour := regexp.MustCompile(`\x1b\[[0-9;:]*(38|48)[;:]`)
	if out := styled([]string{"NO_COLOR=1"}); colour.MatchString(out) {
		t.Fatalf("NO_COLOR screen has colour: %q", colour.FindString(out))
	}
	if out := styled([]string{"COLORTERM=truecolor"}); !colour.MatchString(out) {
		t.Fatal("no colour without NO_COLOR: the check above proves nothing")
	}
}

// An existing reauth.log others can read (0644, e.g. from an older reauth)
// is tightened to 0600 when reauth opens it, as the audit log is; what it
// held is kept.
func TestExistingLogFileIsTightenedTo0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reauth.log")
	if err := os.WriteFile(path, []byte("an earlier run's line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	r := runBin(t, []string{"REAUTH_LOG_FILE=" + path}, "accounts", "ada", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("reauth.log mode %04o after reauth opened it, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "an earlier run's line\n") {
		t.Fatalf("the log's earlier content was lost: %q", b)
	}
}

// `reauth audit --json` on a hand-edited audit line carrying bidi
// overrides, line separators, ESC, C1 controls, DEL and invisible format
// characters (as JSON escapes and as raw UTF-8) prints them all as \uXXXX
// escapes: the output holds no such rune, every line is JSON meaning the
// same record, and ordinary non-ASCII names stay readable.
func TestAuditJSONEscapesControlAndBidiRunes(t *testing.T) {
	hostile := `{"time":"2026-11-25T16:02:11Z","agent":{"user":"ada\u202eevil` + "\u2066" + `x","via":"ssh","claimed_user":"b\u0085ob"},` +
		`"account":"65f1c0ffee0123456789abcd","action":"outcome","outcome":"SUCCEEDED` + "\u2028" + `FORGED\u2029",` +
		`"detail":"esc \u001b[2J c1 \u009b31m ` + "\u009d0;t\u009c" + ` del ` + "\x7f" + ` rlo ` + "\u202e" + ` lrm \u200e zw ` + "\u200b" +
		` tag ` + "\U000E0041" + ` bom ` + "\ufeff" + ` Ọ̀kọ́ GTBank"}`
	plain := `{"time":"2026-11-25T16:03:00Z","agent":{"user":"ada","via":"local"},"account":"65f1c0ffee0123456789abcd","action":"token_minted","token_fingerprint":"sha256:ab12cd34ef56"}`
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte(hostile+"\n"+plain+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runBin(t, nil, "audit", "--json", "--audit-log", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for i, c := range r.stdout {
		if c == 0x1b || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029 || c == 0x202e || c == 0x2066 ||
			c == 0x200e || c == 0x200b || c == 0xfeff || c == 0xe0041 || c == 0xfffd {
			t.Errorf("raw %U at byte %d of the output", c, i)
		}
	}
	for _, esc := range []string{`\u202e`, `\u2066`, `\u2028`, `\u2029`, `\u001b`, `\u009b`, `\u009d`, `\u009c`, `\u0085`,
		`\u007f`, `\u200e`, `\u200b`, `\ufeff`, `\udb40\udc41`} {
		if !strings.Contains(r.stdout, esc) {
			t.Errorf("output lacks the escape %s:\n%s", esc, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "Ọ̀kọ́ GTBank") {
		t.Errorf("a readable name was escaped:\n%s", r.stdout)
	}
	// Each line is JSON meaning exactly the record that was read.
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), r.stdout)
	}
	canon := func(s string) string {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, s)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	for i, in := range []string{hostile, plain} {
		if got, want := canon(lines[i]), canon(in); got != want {
			t.Errorf("line %d means something else:\n got %s\nwant %s", i+1, got, want)
		}
	}
}

// ---- the command line: audited mints, a slow Mono, conventions ----

// readAudit reads an audit file the way `reauth audit` does.
func readAudit(t *testing.T, path string) []audit.Record {
	t.Helper()
	if postgres.IsURL(path) || strings.HasSuffix(path, ".db") {
		// A store (SQLite file, PostgreSQL URL), read as another process
		// would, with its chain checked.
		st, err := app.OpenStorage(context.Background(), app.Files{Database: path, OldFilesDir: app.NoOldFiles}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		recs, err := st.Audit().Query(context.Background(), audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Audit().Verify(context.Background()); err != nil {
			t.Fatalf("chain of %s: %v", st.Where, err)
		}
		return recs
	}
	recs, warns, err := audit.ReadFile(path, audit.Filter{})
	if err != nil || len(warns) > 0 {
		t.Fatalf("reading %s: %v %v", path, err, warns)
	}
	return recs
}

// `reauth token` audits every mint: token_mint_requested (Seq 1) then
// token_minted (Seq 2, the printed token's fingerprint and expiry) or
// token_mint_failed, one "token-…" session, the local agent; by
// --audit-log, REAUTH_AUDIT_LOG or the default path.
func TestTokenMintIsAudited(t *testing.T) {
	id := "5ca1ab1e0000000000000001"
	dir := t.TempDir()
	flagPath, envPath := filepath.Join(dir, "flag.jsonl"), filepath.Join(dir, "env.jsonl")
	state := t.TempDir()
	pgURL, pgEnvURL := storetest.PostgresURL(t), storetest.PostgresURL(t)
	cases := []struct {
		name, path string
		env        []string
		args       []string
	}{
		{"--audit-log", flagPath, nil, []string{"token", id, "--json", "--audit-log", flagPath}},
		{"REAUTH_AUDIT_LOG", envPath, []string{"REAUTH_AUDIT_LOG=" + envPath}, []string{"token", id, "--json"}},
		{"default store (SQLite)", filepath.Join(state, "reauth", "reauth.db"), []string{"XDG_STATE_HOME=" + state}, []string{"token", id, "--json"}},
		{"--database-url postgres", pgURL, nil, []string{"token", id, "--json", "--database-url", pgURL}},
		{"REAUTH_DATABASE_URL", pgEnvURL, []string{"REAUTH_DATABASE_URL=" + pgEnvURL}, []string{"token", id, "--json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runBin(t, append([]string{"REAUTH_AGENT=ada"}, c.env...), c.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got struct {
				Token     string `json:"token"`
				ExpiresAt string `json:"expires_at"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatal(err)
			}
			recs := readAudit(t, c.path)
			if len(recs) != 2 {
				t.Fatalf("%d records, want 2: %+v", len(recs), recs)
			}
			req, minted := recs[0], recs[1]
			if req.Action != audit.ActionTokenMintRequested || req.Seq != 1 || minted.Action != audit.ActionTokenMinted || minted.Seq != 2 {
				t.Fatalf("records %s/%d, %s/%d; want token_mint_requested/1, token_minted/2", req.Action, req.Seq, minted.Action, minted.Seq)
			}
			for _, rec := range recs {
				if !strings.HasPrefix(rec.Session, "token-") || rec.Session != req.Session || rec.Account != id ||
					rec.Agent.User != "ada" || rec.Agent.Via != audit.ViaLocal {
					t.Fatalf("record %+v: want session token-…, account %s, agent ada (local)", rec, id)
				}
			}
			if minted.TokenFingerprint != mono.Fingerprint(got.Token) {
				t.Fatalf("fingerprint %s, want the printed token's %s", minted.TokenFingerprint, mono.Fingerprint(got.Token))
			}
			if exp, _ := time.Parse(time.RFC3339, got.ExpiresAt); !minted.TokenExpiresAt.Truncate(time.Second).Equal(exp) {
				t.Fatalf("audited expiry %s, printed %s", minted.TokenExpiresAt, got.ExpiresAt)
			}
			if b, _ := os.ReadFile(c.path); bytes.Contains(b, []byte(got.Token)) {
				t.Fatal("the token itself is in the audit log")
			}
			for _, rec := range recs {
				if b, _ := json.Marshal(rec); bytes.Contains(b, []byte(got.Token)) {
					t.Fatal("the token itself is in an audit record")
				}
			}
		})
	}
	t.Run("refused mint", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		r := runBin(t, nil, "token", "5ca1ab1e0000000000000005", "--audit-log", path)
		if r.code != 1 || r.stdout != "" {
			t.Fatalf("exit %d stdout %q", r.code, r.stdout)
		}
		recs := readAudit(t, path)
		if len(recs) != 2 || recs[0].Action != audit.ActionTokenMintRequested || recs[1].Action != audit.ActionTokenMintFailed ||
			recs[1].Seq != 2 || !strings.Contains(recs[1].Detail, "cannot be re-authorised") {
			t.Fatalf("records %+v", recs)
		}
	})
}

// monoServer is a Mono-shaped server on loopback: POST
// /accounts/ID/reauthorise runs mint and answers with a token; any other
// request runs other (nil: 404).
func monoServer(t *testing.T, mint func(r *http.Request), other http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/reauthorise") && mint != nil {
			mint(r)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token":"tok_0123456789abcdefghij"}`)
			return
		}
		if other != nil {
			other(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

// token_mint_requested is on disk before the mint request reaches Mono:
// the server reads the audit file when the POST arrives.
func TestTokenMintRequestIsOnDiskBeforeTheRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	seen := make(chan []audit.Record, 1)
	srv, _ := monoServer(t, func(*http.Request) {
		recs, _, _ := audit.ReadFile(path, audit.Filter{})
		seen <- recs
	}, nil)
	id := "5ca1ab1e0000000000000001"
	r := runBin(t, []string{"MONO_API_URL=" + srv.URL, "MONO_SECRET_KEY=live_sk_notreal0000", "MONO_PUBLIC_KEY=live_pk_x"},
		"token", id, "--audit-log", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var atRequest []audit.Record
	select {
	case atRequest = <-seen:
	default:
		t.Fatal("the mint request never reached the server")
	}
	if len(atRequest) != 1 || atRequest[0].Action != audit.ActionTokenMintRequested || atRequest[0].Account != id {
		t.Fatalf("audit when the request arrived: %+v; want exactly token_mint_requested", atRequest)
	}
	if recs := readAudit(t, path); len(recs) != 2 || recs[1].Action != audit.ActionTokenMinted ||
		recs[1].TokenFingerprint != mono.Fingerprint("tok_0123456789abcdefghij") {
		t.Fatalf("audit afterwards: %+v", recs)
	}
}

// An audit log that cannot be opened or written (a directory where the
// file should be) refuses the mint: exit 1, one line, no token, and no
// request to Mono.
func TestTokenRefusesWithoutAnAuditLog(t *testing.T) {
	srv, requests := monoServer(t, func(*http.Request) {}, nil)
	monoEnv := []string{"MONO_API_URL=" + srv.URL, "MONO_SECRET_KEY=live_sk_notreal0000"}
	dir := t.TempDir() // a directory: not a file the log can be
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--audit-log", monoEnv, []string{"token", "5ca1ab1e0000000000000001", "--audit-log", dir}},
		{"REAUTH_AUDIT_LOG", append([]string{"REAUTH_AUDIT_LOG=" + dir}, monoEnv...), []string{"token", "5ca1ab1e0000000000000001", "--json"}},
		{"sandbox", nil, []string{"token", "5ca1ab1e0000000000000001", "--audit-log", dir}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runBin(t, c.env, c.args...)
			if r.code != 1 || r.stdout != "" {
				t.Fatalf("exit %d stdout %q stderr %q; want 1 and nothing on stdout", r.code, r.stdout, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "reauth: cannot write the audit log, so no token is minted: ") ||
				strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("stderr %q", r.stderr)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached Mono; want none", n)
	}
}

// `reauth audit` prints one attempt's records in Seq order even when group
// commit put them out of order in the file; records without a Seq stay in
// file order. Text and --json agree.
func TestAuditPrintsAnAttemptInSeqOrder(t *testing.T) {
	line := func(min int, session string, seq int, event string) string {
		at := time.Date(2026, 11, 25, 16, min, 0, 0, time.UTC).Format(time.RFC3339)
		s := `{"time":"` + at + `","agent":{"user":"ada","via":"local"},"account":"65f1c0ffee0123456789abcd","action":"widget_event","event":"` + event + `"`
		if session != "" {
			s += `,"session":"` + session + `","seq":` + strconv.Itoa(seq)
		}
		return s + "}\n"
	}
	file := line(0, "", 0, "old-1") + // written before records carried a seq
		line(1, "s-a", 1, "a1") +
		line(2, "s-b", 2, "b2") + // b's second record reached the file first
		line(3, "s-a", 3, "a3") +
		line(2, "s-a", 2, "a2") +
		line(1, "s-b", 1, "b1") +
		line(5, "", 0, "webhook") +
		line(4, "s-a", 4, "a4")
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{"old-1", "a1", "a2", "a3", "a4", "b1", "b2", "webhook"}
	r := runBin(t, nil, "audit", "--json", "--audit-log", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var rec audit.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Event)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("--json order %v, want %v", got, want)
	}
	r = runBin(t, nil, "audit", "--audit-log", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got = nil
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(l)
		got = append(got, f[len(f)-1])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("text order %v, want %v:\n%s", got, want, r.stdout)
	}
}

// slowMono answers nothing until the client goes away or the test ends.
func slowMono(t *testing.T) *httptest.Server { return slowMonoFor(t, nil) }

// slowMonoFor is slowMono for the requests hang reports (nil: all); any
// other request is answered 404 at once.
func slowMonoFor(t *testing.T, hang func(*http.Request) bool) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	wait := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang != nil && !hang(r) {
			http.NotFound(w, r)
			return
		}
		wait(r)
		http.Error(w, `{"message":"too late"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

// A Mono that does not answer: accounts and token end at --timeout with
// "reauth: Mono did not answer within 2s" (exit 1), well before the
// per-call API timeout. When it is the mint that gets no answer, the failed
// mint is audited; when Mono does not even answer token's read of the
// account (for its warning), nothing is minted and nothing audited. With
// stderr not a terminal nothing else is said, even past the 3 s notice.
func TestSlowMonoEndsAtTheTimeout(t *testing.T) {
	srv := slowMono(t)
	// Answers the account read at once (404: token then gives no warning)
	// and never the mint.
	mintHangs := slowMonoFor(t, func(r *http.Request) bool { return r.Method == http.MethodPost })
	env := func(srv *httptest.Server) []string {
		return []string{"MONO_API_URL=" + srv.URL, "MONO_SECRET_KEY=live_sk_notreal0000", "MONO_PUBLIC_KEY=live_pk_x"}
	}
	for _, c := range []struct {
		name    string
		srv     *httptest.Server
		timeout string
		args    []string
		minted  bool // the mint request went out (and is audited)
	}{
		{"accounts", srv, "2s", []string{"accounts", "ada"}, false},
		{"accounts --json", srv, "2s", []string{"accounts", "--json"}, false},
		{"token, no read", srv, "2s", []string{"token", "5ca1ab1e0000000000000001"}, false},
		{"token", mintHangs, "2s", []string{"token", "5ca1ab1e0000000000000001"}, true},
		{"token past the notice", mintHangs, "4s", []string{"token", "5ca1ab1e0000000000000001", "--json"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			start := time.Now()
			r := runBin(t, append([]string{"REAUTH_AUDIT_LOG=" + path}, env(c.srv)...), append(c.args, "--timeout", c.timeout)...)
			took := time.Since(start)
			t.Logf("%v --timeout %s ended after %s", c.args, c.timeout, took.Round(10*time.Millisecond))
			want := "reauth: Mono did not answer within " + c.timeout + "\n"
			if r.code != 1 || r.stderr != want || r.stdout != "" {
				t.Fatalf("exit %d stdout %q stderr %q; want exit 1 and %q", r.code, r.stdout, r.stderr, want)
			}
			if limit, _ := time.ParseDuration(c.timeout); took > limit+8*time.Second {
				t.Fatalf("took %s with --timeout %s", took, c.timeout)
			}
			if c.args[0] != "token" {
				return
			}
			if !c.minted {
				if recs := readAudit(t, path); len(recs) != 0 {
					t.Fatalf("nothing was minted, yet the audit has %+v", recs)
				}
				return
			}
			recs := readAudit(t, path)
			if len(recs) != 2 || recs[0].Action != audit.ActionTokenMintRequested || recs[1].Action != audit.ActionTokenMintFailed ||
				!strings.Contains(recs[1].Detail, "did not answer within "+c.timeout) {
				t.Fatalf("audit %+v", recs)
			}
		})
	}
}

// On a terminal, a command waiting on Mono says so after ~3 s: stderr on a
// pty shows "still waiting for Mono (3s)…", then the timeout.
func TestSlowMonoNoticeOnATerminal(t *testing.T) {
	srv := slowMono(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	state := t.TempDir()
	cmd := exec.Command(binPath, "accounts", "--timeout", "4s")
	cmd.Env = []string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH"),
		"MONO_API_URL=" + srv.URL, "MONO_SECRET_KEY=live_sk_notreal0000"}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO once the child's end is closed
		read <- string(b)
	}()
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1", err)
	}
	var got string
	select {
	case got = <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	got = strings.ReplaceAll(got, "\r\n", "\n")
	want := "reauth: still waiting for Mono (3s)…\nreauth: Mono did not answer within 4s\n"
	if got != want {
		t.Fatalf("terminal got %q, want %q", got, want)
	}
}

// The notice itself: one line per tick with the time waited, only on a
// terminal; nothing after stop.
func TestStillWaitingOnlyOnATerminal(t *testing.T) {
	start := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	for _, term := range []bool{true, false} {
		var out bytes.Buffer
		ticks := make(chan time.Time) // a send returns once the notice has taken the tick
		stop := stillWaiting(&out, term, ticks, start)
		if term {
			ticks <- start.Add(3 * time.Second)
			ticks <- start.Add(6*time.Second + 200*time.Millisecond)
		} else {
			select {
			case ticks <- start.Add(3 * time.Second):
				t.Fatal("not a terminal, yet something is waiting for ticks")
			default:
			}
		}
		stop()
		stop() // twice is fine
		want := ""
		if term {
			want = "reauth: still waiting for Mono (3s)…\nreauth: still waiting for Mono (6s)…\n"
		}
		if out.String() != want {
			t.Fatalf("terminal=%v: wrote %q, want %q", term, out.String(), want)
		}
	}
}

// every command, as typed after "reauth" ("" is the TUI).
var allCommands = []string{"", "accounts", "token", "link", "serve", "sandbox", "audit", "webhooks"}

func commandArgs(cmd string, args ...string) []string {
	if cmd == "" {
		return args
	}
	return append([]string{cmd}, args...)
}

// A bad flag or flag value is the error and one hint line on stderr, exit
// 2: not the whole usage between two copies of the error.
func TestBadFlagPrintsOneHint(t *testing.T) {
	for _, cmd := range allCommands {
		for _, bad := range [][]string{{"--frobnicate"}, {"-frobnicate=1", "x"}} {
			t.Run(cmd+bad[0], func(t *testing.T) {
				r := runBin(t, nil, commandArgs(cmd, bad...)...)
				hint := "run 'reauth " + cmd + " --help' for usage\n"
				if cmd == "" {
					hint = "run 'reauth --help' for usage\n"
				}
				want := "reauth: flag provided but not defined: -frobnicate\n" + hint
				if r.code != 2 || r.stderr != want || r.stdout != "" {
					t.Fatalf("exit %d stdout %q stderr %q; want 2 and %q", r.code, r.stdout, r.stderr, want)
				}
			})
		}
	}
	for _, args := range [][]string{{"accounts", "--limit", "many"}, {"token", "--timeout", "soon"}, {"audit", "--since", "lately"}} {
		r := runBin(t, nil, args...)
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); r.code != 2 || len(lines) != 2 ||
			!strings.Contains(lines[0], "invalid value") || lines[1] != "run 'reauth "+args[0]+" --help' for usage" {
			t.Fatalf("%v: exit %d stderr %q", args, r.code, r.stderr)
		}
	}
}

// --help and -h on every command: the help on stdout, nothing on stderr,
// exit 0; `reauth help COMMAND` is the same.
func TestHelpGoesToStdoutAndExitsZero(t *testing.T) {
	for _, cmd := range allCommands {
		for _, h := range []string{"--help", "-h"} {
			r := runBin(t, nil, commandArgs(cmd, h)...)
			if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage") || !strings.Contains(r.stdout, "MONO_SECRET_KEY") {
				t.Fatalf("reauth %s %s: exit %d stderr %q stdout:\n%s", cmd, h, r.code, r.stderr, r.stdout)
			}
		}
	}
	a, b := runBin(t, nil, "help", "token"), runBin(t, nil, "token", "--help")
	if a.code != 0 || a.stdout != b.stdout || !strings.Contains(a.stdout, "reauth token ACCOUNT_ID") {
		t.Fatalf("reauth help token: exit %d\n%s", a.code, a.stdout)
	}
}

// Each command's help lists the flags that do something for it, and not
// the page server's, the audit's or the sandbox's when they do nothing there.
func TestHelpListsOnlyFlagsThatApply(t *testing.T) {
	cases := map[string]struct{ has, hasNot []string }{
		"accounts": {has: []string{"-needs-reauth", "-json", "-limit", "-timeout", "-sandbox", "-api-timeout"},
			hasNot: []string{"-widget-addr", "-public-url", "-no-browser", "-autoplay", "-webhook-addr", "-redirect-url",
				"-connect-js-url", "-widget-contract", "-audit-log", "-sandbox-confirm-delay"}},
		"token": {has: []string{"-json", "-timeout", "-audit-log", "-sandbox", "-api-timeout"},
			hasNot: []string{"-widget-addr", "-public-url", "-no-browser", "-autoplay", "-webhook-addr", "-redirect-url",
				"-sandbox-confirm-delay"}},
		"webhooks": {has: []string{"-webhook-addr", "-audit-log", "-log-file"},
			hasNot: []string{"-sandbox", "-api-timeout", "-sandbox-seed", "-sandbox-clock", "-sandbox-confirm-delay", "-widget-addr"}},
		"audit":   {has: []string{"-account", "-since", "-json", "-audit-log"}, hasNot: []string{"-sandbox", "-api-timeout", "-log-file"}},
		"sandbox": {has: []string{"-addr", "-seed", "-accounts"}, hasNot: []string{"-sandbox", "-api-timeout", "-audit-log"}},
	}
	flagLine := regexp.MustCompile(`(?m)^  (-[a-z-]+)`)
	for cmd, c := range cases {
		r := runBin(t, nil, cmd, "--help")
		var listed []string
		for _, m := range flagLine.FindAllStringSubmatch(r.stdout, -1) {
			listed = append(listed, m[1])
		}
		for _, f := range c.has {
			if !slices.Contains(listed, f) {
				t.Errorf("reauth %s --help does not list %s: %v", cmd, f, listed)
			}
		}
		for _, f := range c.hasNot {
			if slices.Contains(listed, f) {
				t.Errorf("reauth %s --help lists %s, which does nothing there", cmd, f)
			}
		}
	}
	// A flag a command does not list is refused, not silently ignored.
	if r := runBin(t, nil, "accounts", "--widget-addr", "127.0.0.1:0"); r.code != 2 {
		t.Fatalf("accounts --widget-addr: exit %d", r.code)
	}
}

// `reauth --version` and `reauth version`: the version, the commit and the
// build date ("unknown" when the build did not record them; this
// environment builds with -buildvcs=false), and the Go toolchain.
func TestVersionShowsCommitAndDate(t *testing.T) {
	shape := regexp.MustCompile(`^reauth \S+ \(commit ([0-9a-f]{7,12}(\+dirty)?|unknown), built (\S+), go\S+ \S+/\S+\)\n$`)
	var first string
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		r := runBin(t, nil, args...)
		if r.code != 0 || r.stderr != "" || !shape.MatchString(r.stdout) {
			t.Fatalf("%v: exit %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
		}
		if first == "" {
			first = r.stdout
		} else if r.stdout != first {
			t.Fatalf("%v printed %q, --version %q", args, r.stdout, first)
		}
	}
	if m := shape.FindStringSubmatch(first); m[3] != "unknown" {
		if _, err := time.Parse(time.RFC3339, m[3]); err != nil {
			t.Fatalf("build date %q is neither unknown nor RFC 3339", m[3])
		}
	}
}

// Nothing matching: exit 0 with and without --json; an empty JSON array, or
// no lines on stdout and "No accounts match." on stderr.
func TestAccountsNoMatchIsTheSameWithAndWithoutJSON(t *testing.T) {
	text := runBin(t, nil, "accounts", "zzzzqqqqxxxx")
	js := runBin(t, nil, "accounts", "zzzzqqqqxxxx", "--json")
	if text.code != 0 || js.code != 0 {
		t.Fatalf("exit %d without --json, %d with; want 0 both", text.code, js.code)
	}
	if text.stdout != "" || text.stderr != "No accounts match.\n" {
		t.Fatalf("text: stdout %q stderr %q", text.stdout, text.stderr)
	}
	if strings.TrimSpace(js.stdout) != "[]" || js.stderr != "" {
		t.Fatalf("--json: stdout %q stderr %q", js.stdout, js.stderr)
	}
}

// writeAuditFile writes one widget_event per (age, account) pair.
func writeAuditFile(t *testing.T, recs ...audit.Record) string {
	t.Helper()
	var b bytes.Buffer
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// audit --since takes days (7d, 1.5d) as well as Go durations.
func TestAuditSinceAcceptsDays(t *testing.T) {
	now := time.Now()
	rec := func(ago time.Duration, event string) audit.Record {
		return audit.Record{Time: now.Add(-ago), Account: "65f1c0ffee0123456789abcd", Action: audit.ActionWidgetEvent, Event: event}
	}
	path := writeAuditFile(t, rec(20*24*time.Hour, "twenty-days"), rec(5*24*time.Hour, "five-days"),
		rec(30*time.Hour, "thirty-hours"), rec(time.Hour, "one-hour"))
	for since, want := range map[string][]string{
		"7d":   {"five-days", "thirty-hours", "one-hour"},
		"1.5d": {"thirty-hours", "one-hour"},
		"36h":  {"thirty-hours", "one-hour"},
		"2h":   {"one-hour"},
		"30d":  {"twenty-days", "five-days", "thirty-hours", "one-hour"},
	} {
		r := runBin(t, nil, "audit", "--json", "--since", since, "--audit-log", path)
		if r.code != 0 {
			t.Fatalf("--since %s: exit %d %s", since, r.code, r.stderr)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var rec audit.Record
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("--since %s: %v", since, err)
			}
			got = append(got, rec.Event)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("--since %s: %v, want %v", since, got, want)
		}
	}
	for _, bad := range []string{"7", "d", "-3d", "7days", "-1h"} {
		if r := runBin(t, nil, "audit", "--since", bad, "--audit-log", path); r.code != 2 {
			t.Fatalf("--since %s: exit %d, want 2", bad, r.code)
		}
	}
}

// audit --account with an id that has no records says so on stderr and
// exits 0 (as its help says); stdout stays empty for scripts.
func TestAuditAccountWithoutRecordsSaysSo(t *testing.T) {
	path := writeAuditFile(t, audit.Record{Time: time.Now(), Account: "65f1c0ffee0123456789abcd", Action: audit.ActionTokenMinted})
	unknown := "5ca1ab1e00000000000000ff"
	for _, args := range [][]string{{"--account", unknown}, {"--account", unknown, "--json"}} {
		r := runBin(t, nil, append([]string{"audit", "--audit-log", path}, args...)...)
		if r.code != 0 || r.stdout != "" || r.stderr != "reauth: no audit records for account "+unknown+"\n" {
			t.Fatalf("%v: exit %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r := runBin(t, nil, "audit", "--audit-log", path, "--account", unknown, "--since", "7d")
	if r.code != 0 || r.stderr != "reauth: no audit records for account "+unknown+" in the last 7d\n" {
		t.Fatalf("with --since: exit %d stderr %q", r.code, r.stderr)
	}
	// A known account: the summary first (on stderr: stdout stays the
	// records, for scripts), then its records.
	if r := runBin(t, nil, "audit", "--audit-log", path, "--account", "65f1c0ffee0123456789abcd"); r.code != 0 ||
		r.stderr != "reauth: no attempts recorded\n" || !strings.Contains(r.stdout, "token_minted") {
		t.Fatalf("known account: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runBin(t, nil, "audit", unknown, "--audit-log", path); r.code != 2 || !strings.Contains(r.stderr, "--account") {
		t.Fatalf("an id as an argument: exit %d stderr %q", r.code, r.stderr)
	}
	if h := runBin(t, nil, "audit", "--help"); !strings.Contains(h.stdout, "no audit records for account ID\" on stderr and exits 0") {
		t.Fatalf("the help does not say what an account without records does:\n%s", h.stdout)
	}
}

// An account id pasted with spaces around it is trimmed, as the TUI trims
// what the agent types.
func TestAccountIDArgumentIsTrimmed(t *testing.T) {
	for _, raw := range []string{" 5ca1ab1e0000000000000001", "5ca1ab1e0000000000000001 ", "\t5ca1ab1e0000000000000001\n"} {
		id, err := accountArg("token", []string{raw})
		if err != nil || id != "5ca1ab1e0000000000000001" {
			t.Fatalf("accountArg(%q) = %q, %v", raw, id, err)
		}
	}
	if _, err := accountArg("token", []string{"5ca1ab1e 0000000000000001"}); err == nil {
		t.Fatal("a space inside the id was accepted")
	}
	r := runBin(t, nil, "token", "  5ca1ab1e0000000000000001  ", "--json", "--audit-log", filepath.Join(t.TempDir(), "a.jsonl"))
	var got struct {
		AccountID string `json:"account_id"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || got.AccountID != "5ca1ab1e0000000000000001" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// The TUI without a terminal (stdin or stdout not a TTY) says it needs one
// and exits 2, as `reauth serve` does for SSH, instead of Bubble Tea's
// error.
func TestTUINeedsATerminal(t *testing.T) {
	want := "reauth needs an interactive terminal"
	// stdin from /dev/null, stdout and stderr pipes.
	r := runBin(t, nil, "--no-browser")
	if r.code != 2 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, "bubbletea") {
		t.Fatalf("stdin /dev/null: exit %d stderr %q", r.code, r.stderr)
	}
	// stdin a terminal, stdout a pipe.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	state := t.TempDir()
	cmd := exec.Command(binPath, "--no-browser")
	cmd.Env = []string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH"), "TERM=xterm-256color"}
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(stderr.String(), want) || stdout.Len() != 0 {
			t.Fatalf("stdout a pipe: %v stdout %q stderr %q", err, stdout.String(), stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the TUI started with stdout a pipe")
	}
}
