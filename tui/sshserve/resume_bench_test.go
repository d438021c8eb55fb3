package sshserve

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/mono/sandbox"
)

// BenchmarkResume measures issue 19's resume target: an agent with a live
// page whose connection drops (the client closes its TCP connection, no
// quit) reconnects within --resume-grace (the default, 3m); the time is
// from the new TCP dial to the first output carrying "Resumed after the
// connection dropped", the status line of the restored attempt. The server
// is the real binary's `reauth serve --sandbox` in a child process, as in
// BenchmarkServeScale; the agent drops and comes back N times to the same
// attempt (REAUTH_BENCH_RESUMES, default 100), waiting each time until the
// server's log says the attempt was kept.
//
// Baseline, in the same run and alternating with the resumes: a fresh
// session of another agent (another key, nothing kept for it), from the TCP
// dial to its first frame (the account list), as BenchmarkServeScale times
// first frames.
//
//	go test -run '^$' -bench Resume -benchtime 1x ./tui/sshserve/
//	REAUTH_BENCH_RESUMES=300 go test -run '^$' -bench Resume -benchtime 1x ./tui/sshserve/
//
// Target (issue 19): reconnect to first frame with the attempt restored
// <= 200 ms p99.
func BenchmarkResume(b *testing.B) {
	n := envInt(b, "REAUTH_BENCH_RESUMES", 100)
	bin := buildReauth(b)
	for range b.N {
		runResume(b, bin, n)
	}
}

var resumedMarker = []byte("Resumed after the connection dropped")

// dialUntil connects as user with key (a PTY of 120x40, output into a vt
// emulator if emulate) and returns once the output holds marker; the duration is from
// the TCP dial to the read that completed it.
func dialUntil(p *serveProc, user string, key gossh.Signer, marker []byte, emulate bool) (*agent, time.Duration, error) {
	start := time.Now()
	a, out, err := openAgent(p, user, key, emulate)
	if err != nil {
		return nil, 0, err
	}
	c := a.client
	var seenAt time.Time
	go func() {
		defer close(a.done)
		buf := make([]byte, 32<<10)
		var head []byte
		seen := false
		for {
			n, err := out.Read(buf)
			if n > 0 {
				if !seen {
					head = append(head, buf[:n]...)
					if bytes.Contains(head, marker) {
						seenAt = time.Now()
						seen, head = true, nil
						close(a.firstFrame)
					}
				}
				a.mu.Lock()
				if a.emu != nil {
					_, _ = a.emu.Write(buf[:n])
				}
				a.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	if a.emu != nil {
		go func() { _, _ = io.Copy(a.stdin, a.emu) }() // answers to terminal queries
	}
	select {
	case <-a.firstFrame:
		return a, seenAt.Sub(start), nil
	case <-a.done:
		c.Close()
		return nil, 0, fmt.Errorf("session ended before %q", marker)
	case <-time.After(60 * time.Second):
		a.close()
		return nil, 0, fmt.Errorf("no %q in 60s", marker)
	}
}

// drop closes the agent's TCP connection as a network failure would: no
// quit, no SSH channel close first.
func (a *agent) drop() {
	_ = a.client.Conn.Close()
	<-a.done
}

// awaitLog waits until the log holds want n times.
func awaitLog(path, want string, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		raw, _ := os.ReadFile(path)
		if strings.Count(string(raw), want) >= n {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("the server's log does not say %q %d times", want, n)
}

func runResume(b *testing.B, bin string, n int) {
	p := startServe(b, bin, serveOpts{})
	logPath := p.logPath
	defer p.stop()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	fresh, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		b.Fatal(err)
	}

	// The agent opens a page (an account of the sandbox's, by its id).
	a, _, err := dialUntil(p, "ada", p.clientID, []byte("reauth"), true)
	if err != nil {
		b.Fatal(err)
	}
	// Past the scenario accounts; the server's sandbox is seed 1 with 520
	// accounts, as generated here (see runScale).
	acct := sandbox.Generate(1, 520)[20].ID
	if _, err := openAgentPage(a, acct); err != nil {
		a.close()
		b.Fatal(err)
	}
	// From here output is only scanned: an emulator whose answers to
	// terminal queries nobody reads any more would block on a closed link.
	a.stopEmulating()

	var resumed, firsts latencies
	b.ResetTimer()
	for i := range n {
		a.drop()
		if err := awaitLog(logPath, "attempt kept for the agent", i+1); err != nil {
			b.Fatal(err)
		}
		var d time.Duration
		a, d, err = dialUntil(p, "ada", p.clientID, resumedMarker, false)
		if err != nil {
			b.Fatalf("resume %d: %v", i+1, err)
		}
		resumed = append(resumed, d)

		// The baseline: another agent's fresh session, its first frame.
		f, d, err := dialUntil(p, "bob", fresh, []byte("reauth"), false)
		if err != nil {
			b.Fatalf("fresh session %d: %v", i+1, err)
		}
		firsts = append(firsts, d)
		f.close()
	}
	b.StopTimer()
	a.close()

	b.ReportMetric(resumed.pct(0.50), "resume-p50-ms")
	b.ReportMetric(resumed.pct(0.99), "resume-p99-ms")
	b.ReportMetric(resumed.pct(1), "resume-max-ms")
	b.ReportMetric(firsts.pct(0.50), "fresh-p50-ms")
	b.ReportMetric(firsts.pct(0.99), "fresh-p99-ms")
	if f := firsts.pct(0.50); f > 0 {
		b.ReportMetric(resumed.pct(0.50)/f, "p50-ratio")
	}
	if f := firsts.pct(0.99); f > 0 {
		b.ReportMetric(resumed.pct(0.99)/f, "p99-ratio")
	}
	b.Logf("%d resumes: dial to the restored attempt's first frame p50 %.1f p99 %.1f max %.1f ms; "+
		"fresh sessions: dial to first frame p50 %.1f p99 %.1f max %.1f ms",
		n, resumed.pct(0.5), resumed.pct(0.99), resumed.pct(1), firsts.pct(0.5), firsts.pct(0.99), firsts.pct(1))
}
