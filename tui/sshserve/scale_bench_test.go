package sshserve

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/mono/sandbox"
)

// BenchmarkServeScale runs the real binary's `reauth serve --sandbox` in a
// child process and loads it over loopback SSH from this one: idle agents
// (connected, looking at the account list), then active agents who each
// open a page that a simulated browser streams widget events into, while new
// agents keep connecting. Memory is the server process's resident set
// (/proc), so the clients' own memory does not count.
//
//	go test -run '^$' -bench ServeScale -benchtime 1x ./tui/sshserve/
//	REAUTH_BENCH_SECONDS=10 go test -run '^$' -bench ServeScale -benchtime 1x ./tui/sshserve/
//
// Knobs (environment): REAUTH_BENCH_IDLE (200), REAUTH_BENCH_ACTIVE (50),
// REAUTH_BENCH_ACTIVE_RATE (events/s per active page, 5),
// REAUTH_BENCH_SECONDS (how long the probes run while the pages stream, 5),
// REAUTH_BENCH_WARMUP_MS (how long the pages stream before the first probe,
// 1000; 0 probes from the streams' first instant),
// REAUTH_BENCH_SAME_STEP=1 (every event the same step: see streamPage),
// REAUTH_BENCH_SERVE_STDERR (a file for the server's stderr, e.g. with
// GODEBUG=gctrace=1, or REAUTH_BENCH_SERVE_GODEBUG=gctrace=1 for the
// server alone), REAUTH_BENCH_BIN (run this reauth binary instead of
// building one: A/B runs against an older build or a profiling one).
//
// Targets: <= 4 MB per session; a new session's first frame <= 100 ms p99
// while loaded.
func BenchmarkServeScale(b *testing.B) {
	idle, active := envInt(b, "REAUTH_BENCH_IDLE", 200), envInt(b, "REAUTH_BENCH_ACTIVE", 50)
	rate, seconds := envInt(b, "REAUTH_BENCH_ACTIVE_RATE", 5), envInt(b, "REAUTH_BENCH_SECONDS", 5)
	bin := buildReauth(b)
	b.Run(fmt.Sprintf("idle=%d/active=%d", idle, active), func(b *testing.B) {
		for range b.N {
			p := startServe(b, bin, serveOpts{})
			runScale(b, servers{p}, idle, active, rate, time.Duration(seconds)*time.Second)
			p.stop()
		}
	})
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a whole number", name, s)
	}
	return n
}

// buildReauth builds the binary as `make build` does, into a temp dir.
func buildReauth(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("REAUTH_BENCH_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(b.TempDir(), "reauth")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/reauth/reauth")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProc is the `reauth serve` child process.
type serveProc struct {
	cmd      *exec.Cmd
	sshAddr  string
	hostFP   string // SHA256 fingerprint of the host key, as printed
	logPath  string // its --log-file
	stopped  chan struct{}
	clientID gossh.Signer
}

// serveOpts are a child's flags beyond the defaults every benchmark's server
// gets (--sandbox --allow-any-key, no session cap, no idle timeout, a host
// key, state dir and log file of its own). The zero value is one server on
// its own, its audit in a file in its state dir.
type serveOpts struct {
	database   string // --database-url (instead of --audit-log)
	replicaID  string // --replica-id; also suffixes REAUTH_BENCH_SERVE_STDERR's file
	publicURL  string // --public-url
	widgetAddr string // --widget-addr, and --internal-url for the other replicas
}

func startServe(b *testing.B, bin string, o serveOpts) *serveProc {
	b.Helper()
	dir := b.TempDir()
	logPath := filepath.Join(dir, "reauth.log")
	args := []string{"serve", "--sandbox", "--allow-any-key", "--ssh-addr", "127.0.0.1:0",
		"--host-key", filepath.Join(dir, "host_ed25519"), "--max-sessions", "0", "--idle-timeout", "0",
		"--log-file", logPath}
	if o.database != "" {
		args = append(args, "--database-url", o.database)
	} else {
		args = append(args, "--audit-log", filepath.Join(dir, "audit.jsonl"))
	}
	if o.replicaID != "" {
		args = append(args, "--replica-id", o.replicaID)
	}
	if o.publicURL != "" {
		args = append(args, "--public-url", o.publicURL)
	}
	if o.widgetAddr != "" {
		args = append(args, "--widget-addr", o.widgetAddr, "--internal-url", "http://"+o.widgetAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+dir, "MONO_SECRET_KEY=", "NO_COLOR=")
	if v := os.Getenv("REAUTH_BENCH_SERVE_GODEBUG"); v != "" {
		cmd.Env = append(cmd.Env, "GODEBUG="+v) // the child's alone, e.g. gctrace=1
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	// Its stderr (the --allow-any-key warning, or why it would not start)
	// goes to a file: REAUTH_BENCH_SERVE_STDERR's, e.g. with
	// GODEBUG=gctrace=1 to see the server's live heap.
	errPath := filepath.Join(dir, "stderr")
	if path := os.Getenv("REAUTH_BENCH_SERVE_STDERR"); path != "" {
		errPath = path
		if o.replicaID != "" {
			errPath += "." + o.replicaID
		}
	}
	errFile, err := os.Create(errPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { errFile.Close() })
	cmd.Stderr = errFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &serveProc{cmd: cmd, logPath: logPath, stopped: make(chan struct{})}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		// "reauth serve: ssh -p PORT HOST  (host key SHA256:…)"
		if f := strings.Fields(lines.Text()); len(f) > 8 && f[0] == "reauth" && f[2] == "ssh" {
			p.sshAddr = "127.0.0.1:" + f[4]
			p.hostFP = strings.TrimSuffix(f[8], ")")
			break
		}
	}
	if p.sshAddr == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		stderr, _ := os.ReadFile(errPath)
		b.Fatalf("reauth serve did not print its SSH port; its stderr:\n%s", stderr)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout); _ = cmd.Wait(); close(p.stopped) }()
	b.Cleanup(p.stop) // if the benchmark stops early; stopping twice is harmless
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	if p.clientID, err = gossh.NewSignerFromKey(priv); err != nil {
		b.Fatal(err)
	}
	return p
}

func (p *serveProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.stopped:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.stopped
	}
}

// rssBytes and cpuTime read the child's /proc entries (Linux).
func (p *serveProc) rssBytes() int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (p *serveProc) cpuTime() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the ")" that ends the command name: utime is 14th, stime 15th overall.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// agent is one SSH connection with a PTY. Its output is scanned for the
// first frame and, while emulate is set, fed to a vt emulator so the
// benchmark can read the screen and press keys like an agent.
type agent struct {
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.Writer

	firstFrame chan struct{} // closed when the first frame arrived
	mu         sync.Mutex
	emu        *vt.Emulator // nil: output is only scanned and dropped
	done       chan struct{}
}

// dialAgent connects and returns once the first frame is on the wire; the
// duration is from the TCP dial to that frame.
func dialAgent(p *serveProc, user string, emulate bool) (*agent, time.Duration, error) {
	start := time.Now()
	a, out, err := openAgent(p, user, p.clientID, emulate)
	if err != nil {
		return nil, 0, err
	}
	c := a.client
	go a.read(out)
	if a.emu != nil {
		go func() { _, _ = io.Copy(a.stdin, a.emu) }() // answers to terminal queries
	}
	select {
	case <-a.firstFrame:
		return a, time.Since(start), nil
	case <-a.done:
		c.Close()
		return nil, 0, fmt.Errorf("session ended before its first frame")
	case <-time.After(60 * time.Second):
		a.close()
		return nil, 0, fmt.Errorf("no first frame in 60s")
	}
}

func (a *agent) read(out io.Reader) {
	defer close(a.done)
	buf := make([]byte, 32<<10)
	var head []byte // output until the first frame is seen
	seen := false
	for {
		n, err := out.Read(buf)
		if n > 0 {
			if !seen {
				// The first frame carries the header ("reauth") and the
				// window title; the bytes before it are terminal setup.
				head = append(head, buf[:n]...)
				if bytes.Contains(head, []byte("reauth")) {
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
}

func (a *agent) screen() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.emu.String()
}

// pageURL is the page link drawn on screen (an OSC 8 hyperlink whose
// target keeps the secret), or "".
func (a *agent) pageURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for y := range a.emu.Height() {
		for x := range a.emu.Width() {
			if c := a.emu.CellAt(x, y); c != nil && strings.Contains(c.Link.URL, "/s/") {
				return c.Link.URL
			}
		}
	}
	return ""
}

// stopEmulating drops the emulator: from here on output is only read.
func (a *agent) stopEmulating() {
	a.mu.Lock()
	emu := a.emu
	a.emu = nil
	a.mu.Unlock()
	if c, ok := emu.InputPipe().(io.Closer); ok {
		_ = c.Close()
	}
}

func (a *agent) await(what string, cond func() bool) error {
	deadline := time.Now().Add(60 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-a.done:
			return fmt.Errorf("session ended waiting for %s", what)
		case <-poll.C:
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out waiting for %s", what)
			}
		}
	}
	return nil
}

func (a *agent) close() {
	_ = a.sess.Close()
	_ = a.client.Close()
	<-a.done
}

// openAgentPage walks an active agent to an opened page: it types its own
// account's id (the TUI opens an account whose full id is typed; each agent
// needs its own, as a newer page for an account replaces the older one),
// then t to mint and o to open. Typing beats arrow keys here: under load an
// escape sequence split across reads would be taken as Esc and text.
func openAgentPage(a *agent, accountID string) (string, error) {
	if err := a.await("the account list", func() bool {
		s := a.screen()
		return strings.Contains(s, "AVAILABLE") || strings.Contains(s, "NEEDS REAUTH")
	}); err != nil {
		return "", err
	}
	_, _ = io.WriteString(a.stdin, accountID)
	if err := a.await("the account screen", func() bool { return strings.Contains(a.screen(), "Why") }); err != nil {
		return "", err
	}
	// A key pressed while the account's details are still loading can go
	// unanswered: press again while nothing has happened (both keys are
	// harmless to repeat before they take effect).
	// An account with no sign of needing reauth asks before minting (y / n):
	// the benchmark's agents answer yes.
	//
	// A mint slower than pressUntil's wait (under load) makes it press t
	// again, and that press may land once the token is ready: the TUI then
	// asks whether to replace the live token, and that question would
	// swallow every o. The agents answer no: the token they have will do.
	keepToken := func(s string) bool {
		if strings.Contains(s, replaceTokenQuestion) {
			_, _ = io.WriteString(a.stdin, "n")
			return true
		}
		return false
	}
	if err := a.pressUntil("t", "a token", func(s string) bool {
		if !keepToken(s) && strings.Contains(s, "y / n") {
			_, _ = io.WriteString(a.stdin, "y")
		}
		return strings.Contains(s, "expires") && strings.Contains(s, " left")
	}); err != nil {
		return "", err
	}
	if err := a.pressUntil("o", "the page link", func(s string) bool {
		keepToken(s)
		return a.pageURL() != ""
	}); err != nil {
		return "", err
	}
	return a.pageURL(), nil
}

// replaceTokenQuestion is how the TUI asks before minting over a live token.
const replaceTokenQuestion = "Mint a new one?"

// pressUntil presses key until the screen satisfies ok, a few times at most.
func (a *agent) pressUntil(key, what string, ok func(screen string) bool) error {
	for range 5 {
		_, _ = io.WriteString(a.stdin, key)
		deadline := time.Now().Add(5 * time.Second)
		err := a.await(what, func() bool { return ok(a.screen()) || time.Now().After(deadline) })
		if err != nil {
			return err
		}
		if ok(a.screen()) {
			return nil
		}
	}
	return fmt.Errorf("no %s after pressing %q five times", what, key)
}

type latencies []time.Duration

func (l latencies) pct(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}

// servers are a run's `reauth serve` children: agent i (idle, active or
// probe, each numbered from 0) connects to servers[i%len], and memory and
// CPU are their sums.
type servers []*serveProc

func (s servers) pick(i int) *serveProc { return s[i%len(s)] }

func (s servers) rssBytes() (n int64) {
	for _, p := range s {
		n += p.rssBytes()
	}
	return n
}

func (s servers) cpuTime() (d time.Duration) {
	for _, p := range s {
		d += p.cpuTime()
	}
	return d
}

func (s servers) stop() {
	var wg sync.WaitGroup
	for _, p := range s {
		wg.Go(p.stop)
	}
	wg.Wait()
}

func runScale(b *testing.B, srv servers, idle, active, rate int, dur time.Duration) {
	var agents []*agent
	defer func() {
		for _, a := range agents {
			a.close()
		}
	}()
	// A first session on each server warms it (colour profiles, styles,
	// the sandbox's first account pages) so the baseline is a running
	// server.
	for k, p := range srv {
		warm, _, err := dialAgent(p, fmt.Sprintf("warmup%d", k), false)
		if err != nil {
			b.Fatal(err)
		}
		warm.close()
	}
	baseRSS := srv.rssBytes()

	// Idle agents connect, a few at a time. A server that cannot keep up
	// refuses or drops handshakes: those are counted, not fatal, and
	// connecting stops after connectBudget so a run stays bounded.
	const connectBudget = 90 * time.Second
	connectUntil := time.Now().Add(connectBudget)
	var connectTimes latencies
	var mu sync.Mutex
	var problems []string // why agents failed; the first is logged in full
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var failed, skipped atomic.Int64
	for i := range idle {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if time.Now().After(connectUntil) {
				skipped.Add(1)
				return
			}
			a, d, err := dialAgent(srv.pick(i), fmt.Sprintf("idle%03d", i), false)
			if err != nil {
				failed.Add(1)
				problem("idle%03d: %v", i, err)
				return
			}
			mu.Lock()
			agents, connectTimes = append(agents, a), append(connectTimes, d)
			mu.Unlock()
		})
	}
	wg.Wait()
	idleIn := len(agents)
	if failed.Load()+skipped.Load() > 0 {
		problem("only %d of %d idle agents got a first frame: %d failed, %d not tried after %v of connecting",
			idleIn, idle, failed.Load(), skipped.Load(), connectBudget)
	}
	// What idle sessions cost by themselves: CPU over three seconds, after
	// three for the last ones to finish loading their account lists.
	time.Sleep(3 * time.Second) // settling, then measuring a rate over a fixed window
	cpu0, t0 := srv.cpuTime(), time.Now()
	time.Sleep(3 * time.Second)
	idleCores := (srv.cpuTime() - cpu0).Seconds() / time.Since(t0).Seconds()
	idleRSS := srv.rssBytes()

	// Active agents open pages.
	accounts := sandbox.Generate(1, 520)
	if 10+active > len(accounts) {
		b.Fatalf("at most %d active agents", len(accounts)-10)
	}
	links := make([]string, active)
	for i := range active {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			a, d, err := dialAgent(srv.pick(i), fmt.Sprintf("active%02d", i), true)
			if err != nil {
				problem("active%02d: %v", i, err)
				return
			}
			mu.Lock()
			agents, connectTimes = append(agents, a), append(connectTimes, d)
			mu.Unlock()
			// Past the scenario accounts, one account each: the servers'
			// sandbox is seed 1 with 520 accounts, as generated here.
			link, err := openAgentPage(a, accounts[10+i].ID)
			if err != nil {
				problem("active%02d: %v; screen:\n%s", i, err, a.screen())
				return
			}
			links[i] = link
			a.stopEmulating()
		})
	}
	wg.Wait()
	activeIn := 0
	for _, l := range links {
		if l != "" {
			activeIn++
		}
	}
	if activeIn < active {
		problem("only %d of %d active agents opened a page", activeIn, active)
	}
	if activeIn == 0 {
		b.Fatalf("no active agent opened a page: nothing to stream; %s", strings.Join(problems, "\n"))
	}

	// Stream events into every page while new agents connect, to each
	// server in turn.
	b.ResetTimer()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 30 * time.Second}
	var posted, refused atomic.Int64
	stream := make(chan struct{})
	// The probes begin once the streams are past their start (every page's
	// first events at the same instant, which no team sees: pages open one
	// by one), and the streams run on until the last probe.
	warmUp := time.Duration(envInt(b, "REAUTH_BENCH_WARMUP_MS", 1000)) * time.Millisecond
	for _, link := range links {
		if link != "" {
			wg.Go(func() { streamPage(b, httpc, link, rate, warmUp+dur, &posted, &refused); <-stream })
		}
	}
	time.Sleep(warmUp) // the load settling, not waiting for a result
	var probes latencies
	probesOn := make([]latencies, len(srv))
	type probeAt struct {
		i       int
		after   time.Duration // from the start of streaming
		latency time.Duration
	}
	var probeLog []probeAt
	probeFailed := 0
	var peakRSS int64
	peakOn := make([]int64, len(srv)) // each server's RSS at the peak of the sum
	cpu0, t0 = srv.cpuTime(), time.Now()
	for i := 0; time.Since(t0) < dur; i++ {
		began := time.Since(t0)
		a, d, err := dialAgent(srv.pick(i), fmt.Sprintf("probe%03d", i), false)
		if err != nil {
			problem("probe %d: %v", i, err)
			probeFailed++
			continue
		}
		probes = append(probes, d)
		probesOn[i%len(srv)] = append(probesOn[i%len(srv)], d)
		probeLog = append(probeLog, probeAt{i, began, d})
		if rss := srv.rssBytes(); rss > peakRSS {
			peakRSS = rss
			for k, p := range srv {
				peakOn[k] = p.rssBytes()
			}
		}
		a.close()
		time.Sleep(100 * time.Millisecond) // spacing the probes, not waiting for a result
	}
	loadedCores := (srv.cpuTime() - cpu0).Seconds() / time.Since(t0).Seconds()
	close(stream)
	wg.Wait()
	b.StopTimer()

	sessions := float64(idleIn + activeIn)
	perSession := float64(peakRSS-baseRSS) / sessions / (1 << 20)
	b.ReportMetric(float64(idle+active-idleIn-activeIn+probeFailed), "sessions-failed")
	b.ReportMetric(perSession, "MB/session")
	b.ReportMetric(probes.pct(0.5), "first-frame-p50-ms")
	b.ReportMetric(probes.pct(0.99), "first-frame-p99-ms")
	b.ReportMetric(idleCores, "idle-cores")
	b.ReportMetric(loadedCores, "loaded-cores")
	b.Logf("%d idle + %d active sessions in (of %d + %d; %d probes failed) (pages streaming %d events/s each for %v): server RSS %.0f MB at start, %.0f MB with the idle agents, %.0f MB at peak -> %.2f MB/session; "+
		"first frame while connecting p50 %.1f ms p99 %.1f ms; new sessions while loaded (%d probes) p50 %.1f ms p99 %.1f ms max %.1f ms; "+
		"server CPU %.2f cores with only idle agents, %.2f cores loaded; %d events posted, %d given up after retries",
		idleIn, activeIn, idle, active, probeFailed, rate, dur, float64(baseRSS)/(1<<20), float64(idleRSS)/(1<<20), float64(peakRSS)/(1<<20), perSession,
		connectTimes.pct(0.5), connectTimes.pct(0.99), len(probes), probes.pct(0.5), probes.pct(0.99), probes.pct(1),
		idleCores, loadedCores, posted.Load(), refused.Load())
	// When the slowest probes came tells load from start-up: the first
	// seconds of streaming are every page's first events at once.
	slices.SortFunc(probeLog, func(a, b probeAt) int { return cmp.Compare(b.latency, a.latency) })
	var slowest []string
	for _, p := range probeLog[:min(5, len(probeLog))] {
		slowest = append(slowest, fmt.Sprintf("#%d (server %d) at +%.1fs: %.1f ms", p.i, p.i%len(srv)+1, p.after.Seconds(),
			float64(p.latency.Microseconds())/1000))
	}
	b.Logf("slowest probes: %s", strings.Join(slowest, "; "))
	if len(srv) > 1 {
		// Sums hide an unbalanced pair: each server on its own.
		var each []string
		for k := range srv {
			each = append(each, fmt.Sprintf("server %d: RSS %.0f MB at the peak, probes p50 %.1f p99 %.1f max %.1f ms",
				k+1, float64(peakOn[k])/(1<<20), probesOn[k].pct(0.5), probesOn[k].pct(0.99), probesOn[k].pct(1)))
		}
		// Which replica owns each page: its id begins the page's.
		owners := map[string]int{}
		for _, l := range links {
			if id, ok := strings.CutPrefix(urlPath(l), "/s/"); ok {
				owner, _, _ := strings.Cut(id, "-")
				owners[owner]++
			}
		}
		b.Logf("%s; pages by owner %v", strings.Join(each, "; "), owners)
	}
	if len(problems) > 0 {
		// go test keeps only the first lines of a benchmark's log: the
		// summary above comes first, then the first problem and a count;
		// REAUTH_BENCH_PROBLEMS names a file for all of them, screens too.
		first := problems[0]
		if k := strings.Index(first, "; screen:"); k > 0 {
			first = first[:k]
		}
		b.Logf("%d problems; first: %s", len(problems), first)
		if path := os.Getenv("REAUTH_BENCH_PROBLEMS"); path != "" {
			if err := os.WriteFile(path, []byte(strings.Join(problems, "\n\n")+"\n"), 0o644); err != nil {
				b.Error(err)
			}
		}
	}
}

func urlPath(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	return u.Path
}

// streamPage is a browser on one page: it fetches the config, then posts
// rate events/s for dur, one at a time like page.js (429s retried).
func streamPage(b *testing.B, c *http.Client, link string, rate int, dur time.Duration, posted, refused *atomic.Int64) {
	u, err := url.Parse(link)
	if err != nil {
		b.Error(err)
		return
	}
	origin, secret := u.Scheme+"://"+u.Host, u.Fragment
	base := origin + u.Path
	req, _ := http.NewRequest(http.MethodGet, base+"/config", nil)
	req.Header.Set("X-Reauth-Secret", secret)
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	var cfg struct {
		SeqStart int64 `json:"seqStart"`
	}
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil {
		b.Errorf("page config: %v (HTTP %d)", err, resp.StatusCode)
		return
	}
	names := []string{"INSTITUTION_SELECTED", "SUBMIT_CREDENTIALS", "SUBMIT_MFA", "ERROR"}
	if os.Getenv("REAUTH_BENCH_SAME_STEP") == "1" {
		// The customer's step the same on every event, so the agent's
		// claim (which names the step) is not rewritten, and no claim
		// news goes to every program, at each event: an A/B knob.
		names = names[:1]
	}
	start := time.Now()
	for k := 0; time.Since(start) < dur; k++ {
		if wait := time.Until(start.Add(time.Duration(k) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait) // pacing the load, not waiting for a result
		}
		body := fmt.Sprintf(`{"seq":%d,"callback":"event","name":%q,"data":{"timestamp":%d}}`,
			cfg.SeqStart+int64(k), names[k%len(names)], time.Now().UnixMilli())
		if k%len(names) == 3 {
			body = fmt.Sprintf(`{"seq":%d,"callback":"event","name":"ERROR","data":{"errorType":"INVALID_OTP","errorMessage":"The OTP entered is wrong"}}`,
				cfg.SeqStart+int64(k))
		}
		ok := false
		for attempt := range 6 {
			req, _ := http.NewRequest(http.MethodPost, base+"/events", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", origin)
			req.Header.Set("X-Reauth-Secret", secret)
			resp, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					ok = true
					break
				}
				if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
					b.Errorf("post refused: HTTP %d", resp.StatusCode)
					return
				}
			}
			time.Sleep(250 * time.Millisecond << attempt) // page.js's backoff
		}
		posted.Add(1)
		if !ok {
			refused.Add(1)
		}
	}
}

// openAgent dials the server as user with key (checking the host key the
// server printed) and starts a shell on a 120x40 PTY (output into a vt
// emulator if emulate); it returns the agent and the session's output, for
// the caller's reader.
func openAgent(p *serveProc, user string, key gossh.Signer, emulate bool) (*agent, io.Reader, error) {
	cb := func(_ string, _ net.Addr, k gossh.PublicKey) error {
		if fp := gossh.FingerprintSHA256(k); fp != p.hostFP {
			return fmt.Errorf("host key %s, the server printed %s", fp, p.hostFP)
		}
		return nil
	}
	c, err := gossh.Dial("tcp", p.sshAddr, &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: cb, Timeout: 30 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*agent, io.Reader, error) {
		c.Close()
		return nil, nil, err
	}
	s, err := c.NewSession()
	if err != nil {
		return fail(err)
	}
	a := &agent{client: c, sess: s, firstFrame: make(chan struct{}), done: make(chan struct{})}
	if emulate {
		a.emu = vt.NewEmulator(120, 40)
	}
	if err := s.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
		return fail(err)
	}
	if a.stdin, err = s.StdinPipe(); err != nil {
		return fail(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if err := s.Shell(); err != nil {
		return fail(err)
	}
	return a, out, nil
}
