package sshserve

import (
	"bytes"
	"image/color"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func TestClientWithoutPTYGetsOneClearLine(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	c, err := f.dial("ada", f.keys["ada"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	err = sess.Wait()
	ee, ok := err.(*gossh.ExitError)
	if !ok || ee.ExitStatus() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	if got := stderr.String(); got != NoPTYMessage+"\n" {
		t.Fatalf("stderr %q, want %q", got, NoPTYMessage+"\n")
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout got %q: the TUI must not start without a terminal", stdout.String())
	}
	if n := len(f.seenAgents()); n != 0 {
		t.Fatalf("NewDeps ran %d times for a session without a PTY", n)
	}
}

func TestCommandIsRefused(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	c, err := f.dial("ada", f.keys["ada"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	sess.Stderr = &stderr
	err = sess.Run("cat /etc/passwd")
	if ee, ok := err.(*gossh.ExitError); !ok || ee.ExitStatus() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	if !strings.Contains(stderr.String(), NoCommandMessage) {
		t.Fatalf("stderr %q", stderr.String())
	}
}

// The colour profile comes from the client's TERM and environment, and the
// background from the client's answer to the TUI's OSC 11 query, never
// from the server process.
func TestColoursFollowTheAgentsTerminal(t *testing.T) {
	t.Setenv("COLORTERM", "truecolor") // the server's own: must not matter
	t.Setenv("TERM", "xterm-direct")
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	dark := f.open("ada", termOpts{background: color.Black})
	light := f.open("ada", termOpts{background: color.White})
	for _, tm := range []*terminal{dark, light} {
		tm.waitText("loaded 60 / 60")
	}
	// The TUI starts with dark styles; only the light terminal's answer can
	// change them. Wait for the repaint, then compare the title's colour.
	var darkFg, lightFg color.Color
	light.waitFor("light styles", func(string) bool {
		darkFg, _ = dark.cellFg("reauth")
		lightFg, _ = light.cellFg("reauth")
		return darkFg != nil && lightFg != nil && !sameColour(darkFg, lightFg)
	})
	raw := light.rawOutput()
	if !strings.Contains(raw, "\x1b]11;?") {
		t.Fatal("the TUI never asked the terminal for its background (OSC 11)")
	}
	if strings.Contains(raw, "38;2;") || !strings.Contains(raw, "38;5;") {
		t.Fatal("TERM=xterm-256color should give 256 colours, not true colour (the server's env leaked?)")
	}

	truecolor := f.open("ada", termOpts{env: map[string]string{"COLORTERM": "truecolor"}})
	truecolor.waitText("loaded 60 / 60")
	truecolor.waitFor("true colour", func(string) bool { return strings.Contains(truecolor.rawOutput(), "38;2;") })

	plain := f.open("ada", termOpts{env: map[string]string{"NO_COLOR": "1"}})
	plain.waitText("loaded 60 / 60")
	if plain.anyColour() {
		t.Fatal("NO_COLOR from the client still got colours")
	}
}

// A client whose PTY request says 0x0 still gets a usable screen.
func TestUnsizedTerminalGetsTheClassicSize(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada"}})
	tm := f.open("ada", termOpts{width: 80, height: 24, unsized: true})
	tm.waitFor("an 80x24 screen", func(s string) bool {
		return strings.Contains(s, "loaded 60 / 60") && strings.Contains(s, "Adaeze Okonkwo")
	})
}

func sameColour(a, b color.Color) bool {
	ar, ag, ab, aa := a.RGBA()
	br, bg, bb, ba := b.RGBA()
	return ar == br && ag == bg && ab == bb && aa == ba
}

func TestMaxSessionsRefusesTheExtraOne(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}, maxSessions: 1})
	ada := f.open("ada", termOpts{})
	ada.waitText("loaded 60 / 60")

	bob := f.open("bob", termOpts{})
	if code := bob.wait(); code != 1 {
		t.Fatalf("the extra session exited %d, want 1", code)
	}
	bob.waitText("all 1 sessions are in use")
	if n := len(f.seenAgents()); n != 1 {
		t.Fatalf("NewDeps ran %d times; the refused session must not get a program", n)
	}

	ada.send("\x03") // ctrl+c: on the search screen q is typed into the query
	if code := ada.wait(); code != 0 {
		t.Fatalf("ada quit with %d", code)
	}
	again := f.open("bob", termOpts{})
	again.waitText("bob (SHA256:")
}

func TestIdleTimeoutClosesAQuietSession(t *testing.T) {
	const idle = 2 * time.Second
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "bob"}, idle: idle})
	quiet := f.open("ada", termOpts{})
	busy := f.open("bob", termOpts{})
	busy.waitText("loaded 60 / 60")

	// bob keeps typing (a key every idle/8) until ada's quiet session has
	// been closed; his must stay open all that time.
	tick := time.NewTicker(idle / 8)
	defer tick.Stop()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	keys := []string{"j", "k"}
	for i, closed := 0, false; !closed; i++ {
		select {
		case err := <-quiet.exited:
			ee, ok := err.(*gossh.ExitError)
			if !ok || ee.ExitStatus() != 1 {
				t.Fatalf("idle close: %v, want exit status 1", err)
			}
			closed = true
		case err := <-busy.exited:
			t.Fatalf("the busy session was closed while its agent typed: %v\n%s\nscreen:\n%s\nraw: %q", err, f.logs.String(), busy.screen(), busy.rawOutput())
		case <-tick.C:
			busy.send(keys[i%2])
		case <-deadline.C:
			t.Fatal("the quiet session was never closed")
		}
	}
	quiet.waitText("closed after 2s without input")
	// Once bob stops typing, his session goes the same way.
	if code := busy.wait(); code != 1 {
		t.Fatalf("bob's idle close exited %d", code)
	}
	busy.waitText("closed after 2s without input")
	if !strings.Contains(f.logs.String(), "idle timeout") {
		t.Fatal("idle closes are not logged")
	}
}
