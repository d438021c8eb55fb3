package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"
)

// BenchmarkStartup starts the built binary (TestMain builds it as `make
// build` does) on the sandbox in a 120x40 pseudo-terminal, one start per op,
// and times process start to the first frame on the terminal, and to the
// first frame listing accounts. A vt emulator answers the program's
// terminal queries as a real terminal would.
//
//	go test -run '^$' -bench Startup -benchtime 20x .
//
// Target: first frame <= 50 ms. Binary size is reported alongside.
// REAUTH_BENCH_BIN=/path/to/other/reauth times another build instead (A/B
// comparisons: build both, run the benchmark once per binary).
func BenchmarkStartup(b *testing.B) {
	var output, first, listed []time.Duration
	for b.Loop() {
		o, f, l := startOnce(b)
		output, first, listed = append(output, o), append(first, f), append(listed, l)
	}
	if st, err := os.Stat(startupBinary()); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "binary-MB")
	}
	pct := func(d []time.Duration, p float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(output, 0.5), "first-output-p50-ms")
	b.ReportMetric(pct(first, 0.5), "first-frame-p50-ms")
	b.ReportMetric(pct(first, 1), "first-frame-max-ms")
	b.ReportMetric(pct(listed, 0.5), "accounts-listed-p50-ms")
	b.ReportMetric(pct(listed, 1), "accounts-listed-max-ms")
}

// startupBinary is the binary BenchmarkStartup times.
func startupBinary() string {
	if p := os.Getenv("REAUTH_BENCH_BIN"); p != "" {
		return p
	}
	return binPath
}

// startOnce returns when the program first wrote to the terminal (terminal
// setup and queries), drew its first frame, and first listed accounts.
func startOnce(b *testing.B) (firstOutput, firstFrame, accountsListed time.Duration) {
	state := b.TempDir()
	cmd := exec.Command(startupBinary())
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
	for accountsListed == 0 {
		n, err := f.Read(buf)
		if n > 0 {
			now := time.Since(start)
			if firstOutput == 0 {
				firstOutput = now
			}
			_, _ = emu.Write(buf[:n])
			if firstFrame == 0 {
				// The first frame draws the header ("reauth") and sets the
				// window title; what comes before it is terminal setup.
				head = append(head, buf[:n]...)
				if bytes.Contains(head, []byte("reauth")) {
					firstFrame = now
				}
			}
			if firstFrame != 0 {
				if s := emu.String(); strings.Contains(s, "AVAILABLE") || strings.Contains(s, "NEEDS REAUTH") {
					accountsListed = now
				}
			}
		}
		if err != nil {
			b.Fatalf("reauth ended before listing accounts (%v); screen:\n%s", err, emu.String())
		}
	}
	return firstOutput, firstFrame, accountsListed
}
