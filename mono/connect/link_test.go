package connect

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// linkRun is RunLink running in the background with its stdout read line
// by line.
type linkRun struct {
	lines  chan string
	sess   chan *Session
	done   chan struct{}
	res    Result
	err    error
	cancel context.CancelFunc
}

func startLink(t *testing.T, opts LinkOptions) *linkRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &linkRun{lines: make(chan string, 256), sess: make(chan *Session, 1), done: make(chan struct{}), cancel: cancel}
	opts.Out = pw
	opts.OnSession = func(s *Session) { r.sess <- s }
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	go func() {
		defer close(r.done)
		r.res, r.err = RunLink(ctx, opts)
		pw.Close()
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *linkRun) session(t *testing.T) *Session {
	t.Helper()
	select {
	case s := <-r.sess:
		return s
	case <-r.done:
		t.Fatalf("RunLink ended before a session: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no session")
	}
	return nil
}

func (r *linkRun) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			t.Fatal("output ended")
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("no output line")
	}
	return ""
}

func (r *linkRun) wait(t *testing.T) (Result, error) {
	t.Helper()
	select {
	case <-r.done:
		return r.res, r.err
	case <-time.After(20 * time.Second):
		t.Fatal("RunLink did not end")
	}
	return Result{}, nil
}

func linkOptions(accountID string) LinkOptions {
	return LinkOptions{
		Server:   sandboxConfig(),
		Account:  testAccount(accountID),
		Token:    testToken(accountID),
		JSON:     true,
		Describe: func(ev mono.WidgetEvent) string { return "said " + string(ev.Callback) + " " + ev.Name },
	}
}

type jsonEvent struct {
	Seq      int64          `json:"seq"`
	Callback string         `json:"callback"`
	Name     string         `json:"name"`
	At       time.Time      `json:"at"`
	Sentence string         `json:"sentence"`
	Data     map[string]any `json:"data"`
}

func TestRunLinkJSON(t *testing.T) {
	opts := linkOptions("acct1")
	r := startLink(t, opts)
	s := r.session(t)
	srv := s.srv

	var head map[string]any
	if err := json.Unmarshal([]byte(r.line(t)), &head); err != nil {
		t.Fatalf("first line is not JSON: %v", err)
	}
	if head["url"] != s.URL() || head["pairing_code"] != s.PairingCode() || head["account_id"] != "acct1" || head["mode"] != "sandbox" || head["expires_at"] == "" {
		t.Fatalf("first line %v", head)
	}
	postOK(t, srv, s, 1, "load", "", nil)
	postOK(t, srv, s, 2, "event", "LOADED", nil)
	postOK(t, srv, s, 3, "heartbeat", "", nil)
	postOK(t, srv, s, 4, "event", "INSTITUTION_SELECTED", map[string]any{"institution": map[string]any{"id": "i1", "name": "GTBank"}, "authMethod": "internet_banking"})
	postOK(t, srv, s, 5, "event", "ERROR", map[string]any{"errorType": "INVALID_OTP", "errorMessage": "The OTP entered is wrong\x1b[2J"})
	postOK(t, srv, s, 6, "success", "", map[string]any{"code": "code_SECRET_onsuccess"})
	postOK(t, srv, s, 7, "event", "SUCCESS", map[string]any{"code": "code_SECRET_onsuccess"})
	postOK(t, srv, s, 8, "close", "", nil)

	want := []string{"load ", "event LOADED", "event INSTITUTION_SELECTED", "event ERROR", "success ", "event SUCCESS", "close "}
	var all []string
	for i, w := range want {
		l := r.line(t)
		all = append(all, l)
		var ev jsonEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if ev.Callback+" "+ev.Name != w || ev.Sentence != "said "+w || ev.Seq == 3 || ev.At.IsZero() {
			t.Errorf("line %d: %q, want %s", i, l, w)
		}
		if w == "event INSTITUTION_SELECTED" && (ev.Data["institution_name"] != "GTBank" || ev.Data["auth_method"] != "internet_banking") {
			t.Errorf("data %v", ev.Data)
		}
		if w == "event ERROR" && ev.Data["error_message"] != "The OTP entered is wrong" {
			t.Errorf("error data %v", ev.Data)
		}
	}
	var out map[string]any
	last := r.line(t)
	all = append(all, last)
	if err := json.Unmarshal([]byte(last), &out); err != nil || out["outcome"] != "succeeded" || out["exit_code"] != float64(0) {
		t.Fatalf("outcome line %q (%v)", last, err)
	}
	res, err := r.wait(t)
	if err != nil || res.Outcome != OutcomeSucceeded || res.ExitCode() != 0 || res.Events != 7 || res.URL != s.URL() {
		t.Errorf("result %+v %v", res, err)
	}
	for _, l := range all {
		if strings.Contains(l, "code_SECRET") || strings.Contains(l, opts.Token.Value) || strings.Contains(l, "\x1b") {
			t.Errorf("line leaks a secret or an escape: %q", l)
		}
	}
}

func TestRunLinkOutcomes(t *testing.T) {
	type post struct {
		cb, name string
		data     map[string]any
	}
	cases := []struct {
		name    string
		posts   []post
		outcome Outcome
		reason  string
	}{
		{"error then close", []post{{"event", "ERROR", map[string]any{"errorType": "BANK_UNAVAILABLE"}}, {"close", "", nil}}, OutcomeFailed, "BANK_UNAVAILABLE"},
		{"exit on MFA", []post{{"event", "EXIT", map[string]any{"pageName": "MFA"}}, {"close", "", nil}}, OutcomeAbandoned, "MFA page"},
		{"page closed", []post{{"load", "", nil}, {"unload", "", nil}}, OutcomeAbandoned, "closed the page"},
		{"SDK threw", []post{{"page_error", "", map[string]any{"errorType": "SDK_ERROR", "errorMessage": "Re-auth token is required for reauthorisation"}}}, OutcomeFailed, "Re-auth token is required"},
		{"success then page closed", []post{{"success", "", map[string]any{"code": "c"}}, {"unload", "", nil}}, OutcomeSucceeded, "re-authorised"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := startLink(t, linkOptions("acct1"))
			s := r.session(t)
			for i, p := range c.posts {
				postOK(t, s.srv, s, int64(i+1), p.cb, p.name, p.data)
			}
			res, err := r.wait(t)
			if err != nil || res.Outcome != c.outcome || !strings.Contains(res.Reason, c.reason) {
				t.Fatalf("got %+v %v, want %s (%s)", res, err, c.outcome, c.reason)
			}
			if want := map[bool]int{true: 0, false: 1}[c.outcome == OutcomeSucceeded]; res.ExitCode() != want {
				t.Errorf("exit code %d", res.ExitCode())
			}
		})
	}
}

func TestRunLinkPageGone(t *testing.T) {
	opts := linkOptions("acct1")
	opts.Server.HeartbeatInterval, opts.Server.HeartbeatTimeout = 20*time.Millisecond, 100*time.Millisecond
	r := startLink(t, opts)
	s := r.session(t)
	postOK(t, s.srv, s, 1, "load", "", nil)
	res, _ := r.wait(t)
	if res.Outcome != OutcomeAbandoned || !strings.Contains(res.Reason, "stopped responding") {
		t.Fatalf("%+v", res)
	}
}

// A newer page for the same account (another `reauth link`, or an agent in
// the app sharing the page server) ends the run's session: the run says what
// happened and what to check, and exits 1.
func TestRunLinkReplacedByANewerPage(t *testing.T) {
	r := startLink(t, linkOptions("acct1"))
	s := r.session(t)
	postOK(t, s.srv, s, 1, "load", "", nil)
	newSess(t, s.srv, "acct1", "") // ends the run's session
	res, _ := r.wait(t)
	if res.Outcome != OutcomeAbandoned || !strings.Contains(res.Reason, "A newer page for this account took over") ||
		!strings.Contains(res.Reason, "reauth audit --account "+s.Account().ID) || res.ExitCode() != 1 {
		t.Fatalf("%+v (exit %d)", res, res.ExitCode())
	}
}

func TestRunLinkTimeoutAndExpiry(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		opts := linkOptions("acct1")
		opts.Timeout = 150 * time.Millisecond
		r := startLink(t, opts)
		r.session(t)
		if res, err := r.wait(t); err != nil || res.Outcome != OutcomeTimedOut || res.ExitCode() != 1 {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("token expiry", func(t *testing.T) {
		opts := linkOptions("acct1")
		opts.Token.ExpiresAt = time.Now().Add(200 * time.Millisecond)
		r := startLink(t, opts)
		s := r.session(t)
		postOK(t, s.srv, s, 1, "load", "", nil)
		if res, err := r.wait(t); err != nil || res.Outcome != OutcomeExpired || res.ExitCode() != 1 {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		r := startLink(t, linkOptions("acct1"))
		r.session(t)
		r.cancel()
		if res, err := r.wait(t); !errors.Is(err, context.Canceled) || res.Outcome != OutcomeCanceled {
			t.Fatalf("%+v %v", res, err)
		}
	})
}

func TestRunLinkText(t *testing.T) {
	opts := linkOptions("acct1")
	opts.JSON = false
	opts.Describe = nil // the built-in sentences
	opts.OpenBrowser = true
	var mu sync.Mutex
	var opened []string
	opts.Open = func(url string) error {
		mu.Lock()
		defer mu.Unlock()
		opened = append(opened, url)
		return errors.New("no display")
	}
	r := startLink(t, opts)
	s := r.session(t)
	if l := r.line(t); l != s.URL() {
		t.Fatalf("first line %q, want the URL", l)
	}
	if l := r.line(t); !strings.Contains(l, "Pairing code "+s.PairingCode()) || !strings.Contains(l, "••••6789") || !strings.Contains(l, "SANDBOX") {
		t.Errorf("second line %q", l)
	}
	if l := r.line(t); !strings.Contains(l, "Could not open a browser") {
		t.Errorf("no notice about the browser: %q", l)
	}
	mu.Lock()
	if len(opened) != 1 || opened[0] != s.URL() {
		t.Errorf("opened %v", opened)
	}
	mu.Unlock()
	postOK(t, s.srv, s, 1, "event", "INSTITUTION_SELECTED", map[string]any{"institution": map[string]any{"name": "GTBank"}, "authMethod": "mobile_banking"})
	postOK(t, s.srv, s, 2, "event", "EXIT", map[string]any{"pageName": "MFA"})
	postOK(t, s.srv, s, 3, "close", "", nil)
	clock := `^\d\d:\d\d:\d\d `
	for _, want := range []string{clock + `Customer chose GTBank \(mobile banking\)$`, clock + `Closed the widget on the MFA page$`, clock + `Widget closed$`, clock + `ABANDONED: The customer closed the widget on the MFA page\.$`} {
		if l := r.line(t); !regexp.MustCompile(want).MatchString(l) {
			t.Errorf("line %q does not match %s", l, want)
		}
	}
	if res, _ := r.wait(t); res.ExitCode() != 1 {
		t.Errorf("%+v", res)
	}
}

func TestRunLinkRefusesBadSetup(t *testing.T) {
	if _, err := RunLink(context.Background(), LinkOptions{Account: testAccount("a")}); !IsConfigError(err) {
		t.Errorf("no mode: %v", err)
	}
	opts := linkOptions("acct1")
	opts.Token.ExpiresAt = time.Now().Add(-time.Minute)
	if _, err := RunLink(context.Background(), opts); !IsConfigError(err) {
		t.Errorf("expired token: %v", err)
	}
}

// The whole path: RunLink serving the page, Chromium opening the URL from
// the first JSON line, the scripted customer getting the OTP wrong once.
func TestRunLinkInChromium(t *testing.T) {
	t.Parallel()
	opts := linkOptions("acct1")
	opts.Server.Autoplay = true
	opts.Server.AutoplayStepDelay = 30 * time.Millisecond
	opts.Server.SandboxOpenDelay = 100 * time.Millisecond
	opts.Scenario = ScenarioWrongOTPThenSuccess
	opts.Describe = nil
	r := startLink(t, opts)
	r.session(t)
	var head struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(r.line(t)), &head); err != nil || head.URL == "" {
		t.Fatalf("first line: %v", err)
	}
	ctx, _ := newTab(t)
	navigate(t, ctx, head.URL)
	var got []string
	for {
		l := r.line(t)
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if o, ok := m["outcome"]; ok {
			got = append(got, "outcome "+o.(string))
			break
		}
		got = append(got, strings.TrimSpace(m["callback"].(string)+" "+stringOr(m["name"])))
	}
	want := "load|event LOADED|event OPENED|event INSTITUTION_SELECTED|event SUBMIT_CREDENTIALS|event SUBMIT_MFA|event ERROR|event SUBMIT_MFA|event ACCOUNT_SELECTED|event ACCOUNT_LINKED|success|event SUCCESS|close|outcome succeeded"
	if strings.Join(got, "|") != want {
		t.Fatalf("transcript\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if res, err := r.wait(t); err != nil || res.ExitCode() != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func stringOr(v any) string {
	s, _ := v.(string)
	return s
}
