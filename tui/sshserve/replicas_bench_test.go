package sshserve

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/reauth/reauth/internal/store/storetest"
)

// BenchmarkResumeAcrossReplicas measures issue 19's resume target when the
// agent comes back through another replica: "reconnect — to any replica —
// … to first frame with the attempt restored ≤ 200 ms p99". Two replicas
// (two in-process runtimes and SSH servers, as TestTwoReplicasResumeAcross
// AndClaims) on one PostgreSQL; ada opens a page on replica one and drops;
// then, N times (REAUTH_BENCH_RESUMES, default 40), she reconnects through
// the other replica, which asks the one holding her parked attempt for it
// (the hand-over: its records written, its snapshot and page moved), and
// drops again, so the attempt goes back and forth. Timed from the TCP dial
// to the read that completes "moved from replica …" (the restored attempt's
// status line), as BenchmarkResume times the same-server resume.
//
// Baseline, in the same run and alternating: a fresh session of another
// agent on the same replica, from the dial to its first frame; both are
// timed to the read after which the screen (a vt emulator) shows them.
//
//	go test -run '^$' -bench ResumeAcrossReplicas -benchtime 1x ./tui/sshserve/
func BenchmarkResumeAcrossReplicas(b *testing.B) {
	n := envInt(b, "REAUTH_BENCH_RESUMES", 40)
	for range b.N {
		runResumeAcross(b, n)
	}
}

func runResumeAcross(b *testing.B, n int) {
	db := storetest.PostgresURL(b)
	lb := newBalancer(b)
	opts := fixtureOpts{agents: []string{"ada", "bola"}, database: db, resumeGrace: 3 * time.Minute, publicURL: lb.URL}
	o1, o2 := opts, opts
	o1.replicaID, o2.replicaID = "r1", "r2"
	one := newFixture(b, o1)
	o2.sameKeysAs = one
	two := newFixture(b, o2)
	lb.to(b, "http://"+two.rt.PagesAddr())
	replicas := []*fixture{one, two}
	ids := []string{"r1", "r2"}
	proc := func(f *fixture) *serveProc {
		return &serveProc{sshAddr: f.srv.Addr(), hostFP: gossh.FingerprintSHA256(f.srv.hostKey.PublicKey())}
	}

	ada := one.open("ada", termOpts{width: 120, height: 40})
	openPage(b, ada, "okonkwo", "Adaeze Okonkwo")
	_ = ada.client.Close()

	var resumed, fresh latencies
	b.ResetTimer()
	for i := range n {
		from, to := replicas[i%2], replicas[(i+1)%2]
		eventually(b, "the attempt parked on "+ids[i%2], func() bool { return from.srv.parkedCount() == 1 })
		a, d, err := dialSeeing(proc(to), "ada", one.keys["ada"], "moved from replica "+ids[i%2])
		if err != nil {
			b.Fatalf("resume %d through %s: %v\nreplica one's log:\n%s\nreplica two's log:\n%s", i, ids[(i+1)%2], err,
				tail(one.logs.String(), 12), tail(two.logs.String(), 12))
		}
		resumed = append(resumed, d)
		f, d, err := dialSeeing(proc(to), "bola", one.keys["bola"], "SANDBOX")
		if err != nil {
			b.Fatalf("fresh session %d on %s: %v", i, ids[(i+1)%2], err)
		}
		fresh = append(fresh, d)
		f.drop()
		a.drop()
	}
	b.StopTimer()
	b.ReportMetric(resumed.pct(0.5), "resume-p50-ms")
	b.ReportMetric(resumed.pct(0.99), "resume-p99-ms")
	b.ReportMetric(fresh.pct(0.5), "fresh-p50-ms")
	b.ReportMetric(fresh.pct(0.99), "fresh-p99-ms")
	if f := fresh.pct(0.99); f > 0 {
		b.ReportMetric(resumed.pct(0.99)/f, "p99-ratio")
	}
	b.Logf("%d resumes across replicas: dial to the restored attempt's first frame p50 %.1f p99 %.1f max %.1f ms; "+
		"fresh session p50 %.1f p99 %.1f max %.1f ms", len(resumed), resumed.pct(0.5), resumed.pct(0.99), resumed.pct(1),
		fresh.pct(0.5), fresh.pct(0.99), fresh.pct(1))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// dialSeeing connects as user and returns once the screen (a vt emulator
// fed each read) shows marker; the duration is from the TCP dial to the
// read that drew it. The screen, not the byte stream, is searched: a
// renderer may draw a line in pieces (only the cells that changed between
// two frames).
func dialSeeing(p *serveProc, user string, key gossh.Signer, marker string) (*agent, time.Duration, error) {
	start := time.Now()
	a, out, err := openAgent(p, user, key, true)
	if err != nil {
		return nil, 0, err
	}
	var seenAt time.Time
	go func() {
		defer close(a.done)
		buf := make([]byte, 32<<10)
		seen := false
		for {
			n, err := out.Read(buf)
			if n > 0 {
				a.mu.Lock()
				if a.emu != nil {
					_, _ = a.emu.Write(buf[:n])
					if !seen && strings.Contains(a.emu.String(), marker) {
						seenAt, seen = time.Now(), true
						close(a.firstFrame)
					}
				}
				a.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { _, _ = io.Copy(a.stdin, a.emu) }() // answers to terminal queries
	select {
	case <-a.firstFrame:
		a.stopEmulating()
		return a, seenAt.Sub(start), nil
	case <-a.done:
		a.client.Close()
		return nil, 0, fmt.Errorf("session ended before %q", marker)
	case <-time.After(60 * time.Second):
		screen := a.screen()
		a.close()
		return nil, 0, fmt.Errorf("no %q in 60s; screen:\n%s", marker, screen)
	}
}
