package storetest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/state/audit"
)

// EnvCrashChild, when set, makes a backend package's crash-child test the
// writer AuditSurvivesKill kills; its value says where the store is.
const EnvCrashChild = "REAUTH_AUDIT_CRASH_CHILD"

const crashWriters = 8

// AuditCrashChild appends through a Log over b from 8 goroutines, forever,
// printing "ack W I" once writer W's record I is acknowledged, until the
// process is killed.
func AuditCrashChild(b audit.Backend) {
	l := audit.New(b, audit.Options{})
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := l.Append(audit.Record{Action: audit.ActionWidgetEvent, Session: fmt.Sprintf("w%d", w), Seq: i + 1,
					Account: fmt.Sprintf("acc%d", w), Event: fmt.Sprintf("%d %d", w, i), Detail: strings.Repeat("x", i%7*500)})
				out.Lock()
				if err != nil {
					fmt.Println("error", err)
					out.Unlock()
					os.Exit(2)
				}
				fmt.Printf("ack %d %d\n", w, i)
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

// AuditSurvivesKill runs childTest (a test that calls AuditCrashChild on
// the store named by where when EnvCrashChild is set) in a child process,
// SIGKILLs it after 300 acknowledged appends, and checks that a new backend
// on the store holds every acknowledged record, each writer's records in
// order with no gap, in a chain that verifies, and takes appends after it.
func AuditSurvivesKill(t *testing.T, st AuditStore, childTest, where string) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), EnvCrashChild+"="+where)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int]int{} // writer -> highest acknowledged record
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	sc := bufio.NewScanner(stdout)
	n := 0
	for n < 300 && sc.Scan() {
		var w, i int
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &w, &i); err != nil {
			if strings.HasPrefix(sc.Text(), "error") {
				t.Fatalf("child: %s", sc.Text())
			}
			continue
		}
		acked[w] = max(acked[w], i+1)
		n++
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-commit more often than not
		t.Fatal(err)
	}
	cmd.Wait()
	if n < 300 {
		t.Fatalf("the child acknowledged only %d appends before it stopped", n)
	}

	l, b := openLog(t, st)
	recs := all(t, b)
	next := map[string]int{}
	for _, r := range recs {
		if r.Seq != next[r.Session]+1 {
			t.Fatalf("writer %s: record %d follows %d", r.Session, r.Seq, next[r.Session])
		}
		next[r.Session] = r.Seq
	}
	for w, k := range acked {
		if got := next[fmt.Sprintf("w%d", w)]; got < k {
			t.Errorf("writer %d: %d records acknowledged, %d stored", w, k, got)
		}
	}
	verifyOK(t, l, int64(len(recs)))
	if err := l.Append(audit.Record{Action: audit.ActionSessionStarted, Event: "after the kill"}); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, l, int64(len(recs)+1))
	t.Logf("killed after %d acknowledged appends; %d records stored, chain whole", n, len(recs))
}
