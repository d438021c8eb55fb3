package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The demo recording (demo.tape, rendered by vhs with `make demo`) must keep
// working as the app changes, but vhs and ttyd are not test dependencies.
// TestDemoTapeReplays reads the tape, starts the real binary with the
// tape's command line in a pseudo-terminal of the tape's size, sends the
// same keys in the same order, and requires every Wait+Screen pattern to
// appear on the emulated screen before the next key, as vhs would.

const demoTape = "demo.tape"

// tapeStep is one thing the replay does: send keys or wait for a pattern.
type tapeStep struct {
	line    int
	keys    string         // bytes to send to the program
	wait    *regexp.Regexp // pattern the screen must show
	timeout time.Duration  // for waits
	quits   bool           // the keys quit the app
}

// tape is the part of a vhs tape the replay needs.
type tape struct {
	cols, rows int
	launch     []string // reauth's arguments, from `Type "reauth …"` + Enter
	env        []string // Env commands, KEY=value
	outputs    []string
	steps      []tapeStep
}

// tapeWord is one lexical item of a tape line: a bare word, a quoted string
// or a /regex/ (vhs has no escapes in either).
type tapeWord struct {
	text   string
	quoted bool
	regex  bool
}

// splitTapeLine lexes a line the way vhs's lexer does for the commands this
// replay understands: a string in double, single or back quotes, or a
// /regex/, runs to its closing character; # starts a comment.
func splitTapeLine(line string) ([]tapeWord, error) {
	var words []tapeWord
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			return words, nil
		case c == '"' || c == '\'' || c == '`' || c == '/':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c", c)
			}
			words = append(words, tapeWord{text: line[i+1 : i+1+end], quoted: c != '/', regex: c == '/'})
			i += end + 2
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t\r\"'`/#", rune(line[j])) {
				j++
			}
			words = append(words, tapeWord{text: line[i:j]})
			i = j
		}
	}
	return words, nil
}

// namedKeys are vhs key commands and the bytes a terminal sends for them.
var namedKeys = map[string]string{
	"Enter": "\r", "Escape": "\x1b", "Tab": "\t", "Space": " ", "Backspace": "\x7f",
	"Up": "\x1b[A", "Down": "\x1b[B", "Right": "\x1b[C", "Left": "\x1b[D",
	"PageUp": "\x1b[5~", "PageDown": "\x1b[6~", "Delete": "\x1b[3~",
}

var (
	waitCommand = regexp.MustCompile(`^Wait(\+(Screen|Line))?(@(\S+))?$`)
	typeCommand = regexp.MustCompile(`^Type(@\S+)?$`)
	sizeComment = regexp.MustCompile(`^#\s*demo-test:\s*size\s+(\d+)x(\d+)\s*$`)
)

// parseVHSDuration reads vhs times: "500ms", "1.5s", "2" (seconds).
func parseVHSDuration(s string) (time.Duration, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		s += "s"
	}
	return time.ParseDuration(s)
}

// parseTape reads the tape. Anything it does not understand is an error, so
// a tape edited beyond this replay fails loudly instead of being half-checked.
func parseTape(src string) (*tape, error) {
	tp := &tape{}
	waitTimeout := 15 * time.Second // vhs's default WaitTimeout
	var pendingLaunch []string      // `Type "reauth …"` seen, waiting for Enter
	for n, raw := range strings.Split(src, "\n") {
		n++
		if m := sizeComment.FindStringSubmatch(strings.TrimSpace(raw)); m != nil {
			tp.cols, _ = strconv.Atoi(m[1])
			tp.rows, _ = strconv.Atoi(m[2])
			continue
		}
		words, err := splitTapeLine(raw)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", demoTape, n, err)
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: "+format, append([]any{demoTape, n}, a...)...)
		}
		for len(words) > 0 {
			w := words[0]
			words = words[1:]
			if w.quoted || w.regex {
				return nil, bad("unexpected %q", w.text)
			}
			// arg takes the next word when it is of the wanted kind.
			arg := func(quoted, regex bool) (string, bool) {
				if len(words) > 0 && words[0].quoted == quoted && words[0].regex == regex {
					s := words[0].text
					words = words[1:]
					return s, true
				}
				return "", false
			}
			keys := func(k string) { // a key, repeated by an optional count
				count := 1
				if s, ok := arg(false, false); ok {
					c, err := strconv.Atoi(s)
					if err != nil {
						words = append([]tapeWord{{text: s}}, words...)
					} else {
						count = c
					}
				}
				tp.steps = append(tp.steps, tapeStep{line: n, keys: strings.Repeat(k, count)})
			}
			switch {
			case w.text == "Output":
				p, ok := arg(false, false)
				if !ok {
					return nil, bad("Output needs a path")
				}
				tp.outputs = append(tp.outputs, p)
			case w.text == "Require":
				if _, ok := arg(false, false); !ok {
					return nil, bad("Require needs a program")
				}
			case w.text == "Set":
				name, ok := arg(false, false)
				if !ok {
					return nil, bad("Set needs a setting")
				}
				if len(words) == 0 {
					return nil, bad("Set %s needs a value", name)
				}
				value := words[0].text
				words = words[1:]
				if name == "WaitTimeout" {
					if waitTimeout, err = parseVHSDuration(value); err != nil {
						return nil, bad("Set WaitTimeout: %v", err)
					}
				}
			case w.text == "Env":
				k, ok1 := arg(false, false)
				v, ok2 := arg(true, false)
				if !ok1 || !ok2 {
					return nil, bad(`Env needs KEY "value"`)
				}
				tp.env = append(tp.env, k+"="+v)
			case w.text == "Sleep":
				s, ok := arg(false, false)
				if !ok {
					return nil, bad("Sleep needs a time")
				}
				// Sleeps pace the recording for people; the replay does not
				// need them: Wait steps are the synchronisation.
				if _, err := parseVHSDuration(s); err != nil {
					return nil, bad("Sleep: %v", err)
				}
			case w.text == "Hide", w.text == "Show":
			case typeCommand.MatchString(w.text):
				s, ok := arg(true, false)
				if !ok {
					return nil, bad("Type needs a string")
				}
				if tp.launch == nil && pendingLaunch == nil {
					f := strings.Fields(s)
					if len(f) == 0 || f[0] != "reauth" {
						return nil, bad("the first Type must start reauth, got %q", s)
					}
					pendingLaunch = f[1:]
					continue
				}
				tp.steps = append(tp.steps, tapeStep{line: n, keys: s})
			case w.text == "Enter" && pendingLaunch != nil:
				tp.launch, pendingLaunch = pendingLaunch, nil
			case namedKeys[w.text] != "":
				keys(namedKeys[w.text])
			case strings.HasPrefix(w.text, "Ctrl+") && len(w.text) == len("Ctrl+x"):
				c := w.text[len(w.text)-1] | 0x20 // lower case
				if c < 'a' || c > 'z' {
					return nil, bad("unsupported %s", w.text)
				}
				tp.steps = append(tp.steps, tapeStep{line: n, keys: string(rune(c - 'a' + 1))})
			case waitCommand.MatchString(w.text):
				m := waitCommand.FindStringSubmatch(w.text)
				if m[2] != "Screen" {
					// Line waits look at the cursor's line, which a full-screen
					// app does not make meaningful.
					return nil, bad("only Wait+Screen is replayed")
				}
				timeout := waitTimeout
				if m[4] != "" {
					if timeout, err = parseVHSDuration(m[4]); err != nil {
						return nil, bad("Wait timeout: %v", err)
					}
				}
				pat, ok := arg(false, true)
				if !ok {
					return nil, bad("Wait+Screen needs a /regex/")
				}
				rx, err := regexp.Compile(pat)
				if err != nil {
					return nil, bad("%v", err)
				}
				tp.steps = append(tp.steps, tapeStep{line: n, wait: rx, timeout: timeout})
			default:
				return nil, bad("the replay does not understand %q", w.text)
			}
		}
	}
	if pendingLaunch != nil || tp.launch == nil {
		return nil, errors.New(demoTape + `: no Type "reauth …" followed by Enter`)
	}
	if tp.cols == 0 {
		return nil, errors.New(demoTape + ": no `# demo-test: size COLSxROWS` line")
	}
	// The tape must end by quitting the app, so the recording ends cleanly
	// and the replay can check the exit status.
	for i := len(tp.steps) - 1; i >= 0; i-- {
		if tp.steps[i].keys != "" {
			if k := tp.steps[i].keys; k == "q" || k == "\x03" {
				tp.steps[i].quits = true
				break
			}
			return nil, errors.New(demoTape + ": the last key must quit the app (q or Ctrl+C)")
		}
	}
	return tp, nil
}

// vhsScreen is the screen as vhs's Wait+Screen sees it: every row, trailing
// blanks trimmed, joined by newlines.
func vhsScreen(emulated string) string {
	lines := strings.Split(emulated, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// demoBrowser puts .ci/demo-browser first on PATH as xdg-open, exactly as
// `make demo` does, and stops the headless browsers it starts when the test
// ends. It returns the environment for the binary.
func demoBrowser(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		if _, err := exec.LookPath("google-chrome"); err != nil {
			t.Fatal("chromium is needed to load the demo's widget page (make test installs it)")
		}
	}
	shim, err := filepath.Abs(filepath.Join(".ci", "demo-browser"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shim, filepath.Join(bin, "xdg-open")); err != nil {
		t.Fatal(err)
	}
	pids := filepath.Join(dir, "browser.pids")
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopBrowserGroups(t, pids) })
	return []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"REAUTH_DEMO_PIDFILE=" + pids,
		"REAUTH_DEMO_BROWSER_TIMEOUT=120",
		"TMPDIR=" + tmp, // the browser profile goes here, removed with the test's temp dir
	}
}

// stopBrowserGroups kills each process group the shim recorded and waits
// until it is gone, so the temp dir holding its profile can be removed.
func stopBrowserGroups(t *testing.T, pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return // no browser was started
	}
	for _, f := range strings.Fields(string(b)) {
		pgid, err := strconv.Atoi(f)
		if err != nil || pgid <= 1 {
			t.Errorf("bad pid %q in %s", f, pidFile)
			continue
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(-pgid, 0) == nil {
			if time.Now().After(deadline) {
				t.Errorf("browser group %d still running", pgid)
				break
			}
			time.Sleep(20 * time.Millisecond) // polling for exit of a process that is not our child
		}
	}
}

func TestDemoTapeReplays(t *testing.T) {
	src, err := os.ReadFile(demoTape)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := parseTape(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var waits int
	for _, st := range tp.steps {
		if st.wait != nil {
			waits++
		}
	}
	if waits < 5 {
		t.Fatalf("the tape checks only %d screens; it must show search, reason, token, events and the outcome", waits)
	}

	env := append([]string{}, tp.env...)
	env = append(env, demoBrowser(t)...)
	state := t.TempDir() // never the tape's .demo/state: tests do not write into the repo
	env = append(env, "XDG_STATE_HOME="+state, "HOME="+state)
	// The recording pins the page's port (its link is on screen); the
	// replay takes a free one, so it never collides with anything.
	launch := append([]string(nil), tp.launch...)
	for i := range launch {
		if launch[i] == "--widget-addr" && i+1 < len(launch) {
			launch[i+1] = "127.0.0.1:0"
		}
	}
	s := startScreen(t, tp.cols, tp.rows, env, launch...)

	for _, st := range tp.steps {
		if st.wait != nil {
			// The app under -race on a loaded machine is slower than the
			// recording; twice the tape's timeout still catches a pattern
			// that never comes.
			waitScreen(t, s, st, 2*st.timeout)
			continue
		}
		// One byte sequence per key, as vhs types them one at a time.
		if strings.HasPrefix(st.keys, "\x1b") {
			s.send(st.keys) // an escape sequence is one key
		} else {
			for _, r := range st.keys {
				s.send(string(r))
			}
		}
		if st.quits {
			done := make(chan error, 1)
			go func() { done <- s.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s:%d: quitting: %v", demoTape, st.line, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s:%d: the app did not quit; screen:\n%s", demoTape, st.line, s.text())
			}
		}
	}
}

func waitScreen(t *testing.T, s *screen, st tapeStep, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		txt := vhsScreen(s.text())
		if st.wait.MatchString(txt) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:%d: Wait+Screen /%s/ not seen in %s; screen:\n%s", demoTape, st.line, st.wait, timeout, txt)
		}
		<-tick.C
	}
}

// vhsTranscriptSeparator ends each screen in a vhs .txt output.
var vhsTranscriptSeparator = strings.Repeat("─", 80) + "\n"

// pageSecret is a page link's secret fragment (see .ci/demo-render.sh).
var pageSecret = regexp.MustCompile(`/s/[A-Za-z0-9_-]+#[A-Za-z0-9_-]`)

// The committed transcript must come from the committed tape: rendered at
// the size the replay uses, through every screen the tape waits for, in
// order, and without a page secret. A tape edited without re-running
// `make demo` fails here.
func TestDemoTranscriptMatchesTape(t *testing.T) {
	src, err := os.ReadFile(demoTape)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := parseTape(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var transcript string
	for _, o := range tp.outputs {
		if strings.HasSuffix(o, ".txt") || strings.HasSuffix(o, ".ascii") {
			transcript = o
		}
	}
	if transcript == "" {
		t.Fatalf("%s has no text Output", demoTape)
	}
	b, err := os.ReadFile(transcript)
	if err != nil {
		t.Fatalf("%v (run make demo)", err)
	}
	screens := strings.Split(strings.TrimSuffix(string(b), vhsTranscriptSeparator), vhsTranscriptSeparator)
	if len(screens) < 2 {
		t.Fatalf("%s holds %d screens", transcript, len(screens))
	}

	// vhs writes every row; the last screens are the final terminal size.
	last := strings.Split(strings.TrimSuffix(screens[len(screens)-1], "\n"), "\n")
	if len(last) != tp.rows {
		t.Errorf("%s has %d rows, the tape's size line says %d", transcript, len(last), tp.rows)
	}
	// The app draws a rule across the whole width (less its margins), so
	// the widest trimmed row tells the width within two cells.
	widest := 0
	for _, sc := range screens {
		for _, l := range strings.Split(sc, "\n") {
			widest = max(widest, len([]rune(l)))
		}
	}
	if widest > tp.cols || widest < tp.cols-2 {
		t.Errorf("%s is %d cells wide at most, the tape's size line says %d", transcript, widest, tp.cols)
	}

	at := 0
	for _, st := range tp.steps {
		if st.wait == nil {
			continue
		}
		for at < len(screens) && !st.wait.MatchString(screens[at]) {
			at++
		}
		if at == len(screens) {
			t.Errorf("%s:%d: /%s/ is on no screen of %s after the previous wait's (re-render with make demo)", demoTape, st.line, st.wait, transcript)
			return
		}
	}
	if loc := pageSecret.FindStringIndex(string(b)); loc != nil {
		t.Errorf("%s shows a page secret near %q", transcript, string(b)[loc[0]:loc[1]])
	}
}

func TestParseTape(t *testing.T) {
	good := `# demo-test: size 90x25
Output x.gif
Set WaitTimeout 5s
Env TZ "UTC"
Hide
Type "reauth --autoplay" Sleep 1 Enter
Show
Wait+Screen /loaded \d+/
Type@20ms "ab"  # a comment
Down 2
Wait+Screen@2.5s /x y/
Ctrl+C
`
	tp, err := parseTape(good)
	if err != nil {
		t.Fatal(err)
	}
	if tp.cols != 90 || tp.rows != 25 || strings.Join(tp.launch, " ") != "--autoplay" || strings.Join(tp.env, ",") != "TZ=UTC" {
		t.Fatalf("parsed %+v", tp)
	}
	type step struct {
		keys, wait string
		timeout    time.Duration
		quits      bool
	}
	var got []step
	for _, st := range tp.steps {
		s := step{keys: st.keys, timeout: st.timeout, quits: st.quits}
		if st.wait != nil {
			s.wait = st.wait.String()
		}
		got = append(got, s)
	}
	want := []step{
		{wait: `loaded \d+`, timeout: 5 * time.Second},
		{keys: "ab"},
		{keys: "\x1b[B\x1b[B"},
		{wait: "x y", timeout: 2500 * time.Millisecond},
		{keys: "\x03", quits: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("steps\n got %+v\nwant %+v", got, want)
	}

	for name, bad := range map[string]string{
		"unknown command":  "# demo-test: size 80x24\nType \"reauth\" Enter\nScroll 3\nType \"q\"\n",
		"line wait":        "# demo-test: size 80x24\nType \"reauth\" Enter\nWait /x/\nType \"q\"\n",
		"no launch":        "# demo-test: size 80x24\nType \"q\"\n",
		"not reauth first": "# demo-test: size 80x24\nType \"ls\" Enter\nType \"q\"\n",
		"no quit":          "# demo-test: size 80x24\nType \"reauth\" Enter\nType \"t\"\n",
		"no size":          "Type \"reauth\" Enter\nType \"q\"\n",
		"bad regex":        "# demo-test: size 80x24\nType \"reauth\" Enter\nWait+Screen /(/\nType \"q\"\n",
		"unterminated":     "# demo-test: size 80x24\nType \"reauth\" Enter\nType \"q\n",
	} {
		if _, err := parseTape(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
