package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/chromedp/chromedp"
	"github.com/creack/pty"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
	"github.com/reauth/reauth/mono/webhook"
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

func TestAccountsNeedsReauthAndNoMatch(t *testing.T) {
	r := runBin(t, nil, "accounts", "--needs-reauth")
	if r.code != 0 || !strings.Contains(r.stdout, "NEEDS REAUTH") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasSuffix(l, "NEEDS REAUTH") {
			t.Fatalf("line without the reauth flag: %q", l)
		}
	}
	r = runBin(t, nil, "accounts", "zzzzqqqqxxxx")
	if r.code != 1 || !strings.Contains(r.stderr, "no account matches") {
		t.Fatalf("no match: exit %d %q", r.code, r.stderr)
	}
}

// The token command against any Mono-shaped server performs exactly one
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
	if log := sb.RequestLog(); !slices.Equal(log, []string{"POST /accounts/" + id + "/reauthorise"}) {
		t.Fatalf("requests %q", log)
	}
	if strings.Contains(r.stderr, sandbox.SecretKey) {
		t.Fatal("secret key printed")
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
	deadline := time.Now().Add(15 * time.Second)
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

func TestTUIInPseudoTerminal(t *testing.T) {
	s := startScreen(t, 80, 24, nil, "--no-browser")
	s.waitText("SANDBOX")
	s.waitText("loaded 520 / 520")
	s.send("okonkwo")
	s.waitFor("the filtered list", func(txt string) bool {
		return strings.Contains(txt, "Adaeze Okonkwo") && !strings.Contains(txt, "Folake")
	})
	s.send("\r")
	s.waitText("MFA required by the bank")
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
	s.send("q")
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
func TestAppShowsMarksAnotherProcessWrites(t *testing.T) {
	all := sandbox.Generate(1, 520)
	var healthy mono.Account
	for _, a := range all {
		if a.NeedsReauth() || !a.DataStatus.Is(mono.StatusAvailable) {
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
	s := startScreen(t, 100, 30, nil, "--no-browser")
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
	// The other process: its own store on the same file.
	receiver, err := webhook.OpenStore(filepath.Join(s.state, "reauth", "webhooks.json"))
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
	audit, _ := os.ReadFile(filepath.Join(s.state, "reauth", "audit.jsonl"))
	if files < 2 || !bytes.Contains(audit, []byte("token_minted")) || !bytes.Contains(audit, []byte("page_opened")) {
		t.Fatalf("expected a log and an audit with the mint and the page (%d files):\n%s", files, audit)
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
