package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"
)

// BenchmarkStartup starts the built binary (TestMain builds it as `make
// build` does) on the sandbox in a 120x40 pseudo-terminal and times process
// start to the first frame on the terminal, and to the first frame listing
// accounts. A vt emulator answers the program's terminal queries as a real
// terminal would.
//
// Each op is two starts, back to back: reauth, then the baseline
// (internal/startupbaseline: the smallest Bubble Tea program drawing a
// similar first frame, built the same way). The machine's speed drifts by
// ~10 ms over minutes, so only starts interleaved like this compare.
//
//	go test -run '^$' -bench Startup -benchtime 20x .
//
// Target: first frame <= 50 ms. Binary sizes are reported alongside.
// REAUTH_BENCH_BIN=/path/to/other/reauth times another build instead (A/B
// comparisons: build both, run the benchmark once per binary).
func BenchmarkStartup(b *testing.B) {
	baseline := buildStartupBaseline(b)
	// One home for every start, as an agent's machine has: the first start
	// creates the state directory, log and audit files (about 1.5 ms more,
	// once); the others find them.
	home := b.TempDir()
	var app, base []startRun
	for b.Loop() {
		app = append(app, startOnce(b, startupBinary(), home))
		base = append(base, startOnce(b, baseline, home))
	}
	field := func(runs []startRun, f func(startRun) time.Duration) []time.Duration {
		out := make([]time.Duration, len(runs))
		for i, r := range runs {
			out[i] = f(r)
		}
		return out
	}
	pct := func(d []time.Duration, p float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	first := func(r startRun) time.Duration { return r.firstFrame }
	cpu := func(r startRun) time.Duration { return r.cpuAtFrame }
	b.ReportMetric(pct(field(app, func(r startRun) time.Duration { return r.firstOutput }), 0.5), "first-output-p50-ms")
	b.ReportMetric(pct(field(app, first), 0.5), "first-frame-p50-ms")
	b.ReportMetric(pct(field(app, first), 0.9), "first-frame-p90-ms")
	b.ReportMetric(pct(field(app, first), 1), "first-frame-max-ms")
	b.ReportMetric(pct(field(app, func(r startRun) time.Duration { return r.accountsListed }), 0.5), "accounts-listed-p50-ms")
	// Wall time moves with the machine's load; the CPU the process used and
	// its page faults up to the first frame do much less, so A/B comparisons
	// on a busy machine read these.
	b.ReportMetric(pct(field(app, cpu), 0.5), "frame-cpu-p50-ms")
	faults := make([]int, len(app))
	for i, r := range app {
		faults[i] = r.faultsAtFrame
	}
	slices.Sort(faults)
	b.ReportMetric(float64(faults[len(faults)/2]), "frame-faults-p50")
	b.ReportMetric(pct(field(base, first), 0.5), "baseline-first-frame-p50-ms")
	b.ReportMetric(pct(field(base, cpu), 0.5), "baseline-frame-cpu-p50-ms")
	b.ReportMetric(pct(field(app, first), 0.5)/pct(field(base, first), 0.5), "first-frame-vs-baseline")
	for name, path := range map[string]string{"binary-MB": startupBinary(), "baseline-binary-MB": baseline} {
		if st, err := os.Stat(path); err == nil {
			b.ReportMetric(float64(st.Size())/(1<<20), name)
		}
	}
}

// buildStartupBaseline builds internal/startupbaseline as TestMain builds
// reauth (static, no cgo) and returns its path.
func buildStartupBaseline(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "startupbaseline")
	build := exec.Command("go", "build", "-o", path, "./internal/startupbaseline")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the start-up baseline: %v\n%s", err, out)
	}
	return path
}

// startupBinary is the binary BenchmarkStartup times.
func startupBinary() string {
	if p := os.Getenv("REAUTH_BENCH_BIN"); p != "" {
		return p
	}
	return binPath
}

// startRun is one start: when the program first wrote to the terminal
// (terminal setup and queries), drew its first frame, and first listed
// accounts; and the CPU time (all threads) and minor page faults it had
// used when the first frame arrived.
type startRun struct {
	firstOutput, firstFrame, accountsListed time.Duration
	cpuAtFrame                              time.Duration
	faultsAtFrame                           int
}

func startOnce(b *testing.B, bin, state string) (r startRun) {
	cmd := exec.Command(bin)
	cmd.Env = []string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH"), "TERM=xterm-256color"}
	emu := vt.NewEmulator(120, 40)
	start := time.Now()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 120, Rows: 40})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		_ = f.Close()
	}()
	go func() { _, _ = io.Copy(f, emu) }() // the terminal's answers to queries
	buf := make([]byte, 32<<10)
	var head []byte
	deadline := time.AfterFunc(30*time.Second, func() { _ = f.Close() })
	defer deadline.Stop()
	for r.accountsListed == 0 {
		n, err := f.Read(buf)
		if n > 0 {
			now := time.Since(start)
			if r.firstOutput == 0 {
				r.firstOutput = now
			}
			_, _ = emu.Write(buf[:n])
			if r.firstFrame == 0 {
				// The first frame draws the header ("reauth") and sets the
				// window title; what comes before it is terminal setup.
				head = append(head, buf[:n]...)
				if bytes.Contains(head, []byte("reauth")) {
					r.firstFrame = now
					r.cpuAtFrame, r.faultsAtFrame = processCost(cmd.Process.Pid)
				}
			}
			if r.firstFrame != 0 {
				if s := emu.String(); strings.Contains(s, "AVAILABLE") || strings.Contains(s, "NEEDS REAUTH") {
					r.accountsListed = now
				}
			}
		}
		if err != nil {
			b.Fatalf("%s ended before listing accounts (%v); screen:\n%s", filepath.Base(bin), err, emu.String())
		}
	}
	return r
}

// processCost reads a running process's CPU time, summed over its threads
// (/proc/PID/task/TID/schedstat: nanoseconds on a CPU), and its minor page
// faults (/proc/PID/stat, field 10). Zero values if /proc cannot say.
func processCost(pid int) (cpu time.Duration, faults int) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, _ := os.ReadDir(dir)
	for _, t := range tasks {
		raw, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(raw)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			cpu += time.Duration(ns)
		}
	}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// The command name (field 2) is in parentheses and may hold spaces.
		if i := bytes.LastIndexByte(raw, ')'); i > 0 {
			if f := strings.Fields(string(raw[i+1:])); len(f) > 7 {
				faults, _ = strconv.Atoi(f[7])
			}
		}
	}
	return cpu, faults
}
