package audit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv, when set, turns the test binary into the writer process of
// TestDurabilityUnderSIGKILL: it appends to the named log forever, printing
// "ack N" after each Append returns, until its parent kills it. With
// writersEnv set to W > 1, W goroutines append at once (sharing fsyncs) and
// print "ack G N".
const (
	childEnv   = "REAUTH_AUDIT_DURABILITY_CHILD"
	writersEnv = "REAUTH_AUDIT_DURABILITY_WRITERS"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		if w, _ := strconv.Atoi(os.Getenv(writersEnv)); w > 1 {
			os.Exit(runConcurrentDurabilityChild(path, w))
		}
		os.Exit(runDurabilityChild(path))
	}
	os.Exit(m.Run())
}

// detailFor gives record i a size cycling from tiny to 128 KiB, so some
// writes span many pages and a kill can land inside one.
func detailFor(i int) string {
	sizes := []int{10, 300, 4096, 40_000, 128 << 10}
	return strings.Repeat(string(rune('a'+i%26)), sizes[i%len(sizes)])
}

func runDurabilityChild(path string) int {
	l, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	for i := 0; i < 1_000_000; i++ {
		err := l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: strconv.Itoa(i), Detail: detailFor(i)})
		if err != nil {
			fmt.Println("error", err)
			return 2
		}
		fmt.Printf("ack %d\n", i)
	}
	return 0
}

func TestDurabilityUnderSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	const killAfter = 80
	lastAck := -1
	handle := func(line string) {
		n, ok := strings.CutPrefix(line, "ack ")
		i, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Errorf("child said %q", line)
			return
		}
		if i != lastAck+1 {
			t.Errorf("ack %d after ack %d", i, lastAck)
		}
		lastAck = i
	}
	deadline := time.After(60 * time.Second)
	for lastAck+1 < killAfter {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child exited early after ack %d", lastAck)
			}
			handle(line)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("only %d acks before the deadline", lastAck+1)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acks already in the pipe were acknowledged before the kill: they count.
	for line := range lines {
		handle(line)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed mid-run: %v", err)
	}

	recs, warns, err := ReadFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// One record past the last ack may have reached the disk before the kill.
	if len(recs) < lastAck+1 || len(recs) > lastAck+2 {
		t.Fatalf("%d records readable, %d acknowledged", len(recs), lastAck+1)
	}
	for i, r := range recs {
		if r.Event != strconv.Itoa(i) || r.Detail != detailFor(i) {
			t.Fatalf("record %d corrupted: event %q, detail %d bytes", i, r.Event, len(r.Detail))
		}
	}
	// At most the record being written when the kill landed is torn.
	if len(warns) > 1 || (len(warns) == 1 && warns[0].Line != len(recs)+1) {
		t.Fatalf("warnings %v with %d records: only a torn last line is allowed", warns, len(recs))
	}

	// A new writer after the crash appends cleanly after whatever was left.
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Record{Time: t0, Action: ActionSessionStarted, Event: "after crash"}); err != nil {
		t.Fatal(err)
	}
	again, warns2, err := ReadFile(path, Filter{})
	if err != nil || len(again) != len(recs)+1 || again[len(again)-1].Event != "after crash" || len(warns2) != len(warns) {
		t.Fatalf("after reopen: %d records (want %d), warnings %v, err %v", len(again), len(recs)+1, warns2, err)
	}
	t.Logf("killed after %d acks; %d records on disk; torn lines: %d", lastAck+1, len(recs), len(warns))
}

func runConcurrentDurabilityChild(path string, writers int) int {
	l, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	var out sync.Mutex
	fail := make(chan struct{})
	for g := range writers {
		go func() {
			for i := 0; ; i++ {
				err := l.Append(Record{Time: t0, Action: ActionWidgetEvent, Session: strconv.Itoa(g),
					Event: strconv.Itoa(i), Detail: detailFor(g + i)})
				out.Lock()
				if err != nil {
					fmt.Println("error", err)
					out.Unlock()
					close(fail)
					return
				}
				fmt.Printf("ack %d %d\n", g, i)
				out.Unlock()
			}
		}()
	}
	<-fail // or the kill
	return 2
}

// With several writers sharing fsyncs (group commit), SIGKILL mid-run still
// loses no acknowledged record: every acked record of every writer is
// readable and intact, each writer's records are in its order, and at most
// the one line being written is torn.
func TestDurabilityUnderSIGKILLWithConcurrentWriters(t *testing.T) {
	const writers = 8
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path, writersEnv+"="+strconv.Itoa(writers))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	lastAck := make([]int, writers)
	for g := range lastAck {
		lastAck[g] = -1
	}
	acks := 0
	handle := func(line string) {
		var g, i int
		if _, err := fmt.Sscanf(line, "ack %d %d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Errorf("child said %q", line)
			return
		}
		if i != lastAck[g]+1 {
			t.Errorf("writer %d: ack %d after ack %d", g, i, lastAck[g])
		}
		lastAck[g] = i
		acks++
	}
	const killAfter = 80
	deadline := time.After(60 * time.Second)
	for acks < killAfter {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child exited early after %d acks", acks)
			}
			handle(line)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("only %d acks before the deadline", acks)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		handle(line)
	}
	_ = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed mid-run")
	}

	recs, warns, err := ReadFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int, writers) // records read per writer, which must run 0, 1, 2, …
	for _, r := range recs {
		g, err1 := strconv.Atoi(r.Session)
		i, err2 := strconv.Atoi(r.Event)
		if err1 != nil || err2 != nil || g < 0 || g >= writers {
			t.Fatalf("stray record %+v", r)
		}
		if i != got[g] || r.Detail != detailFor(g+i) {
			t.Fatalf("writer %d: record %d (detail %d bytes) where %d was due", g, i, len(r.Detail), got[g])
		}
		got[g]++
	}
	for g := range writers {
		// A writer may have one record written but not yet acknowledged.
		if got[g] < lastAck[g]+1 || got[g] > lastAck[g]+2 {
			t.Errorf("writer %d: %d records readable, %d acknowledged", g, got[g], lastAck[g]+1)
		}
	}
	if len(warns) > 1 || (len(warns) == 1 && warns[0].Line != len(recs)+1) {
		t.Fatalf("warnings %v with %d records: only a torn last line is allowed", warns, len(recs))
	}
	t.Logf("killed after %d acks from %d writers; %d records on disk; torn lines: %d", acks, writers, len(recs), len(warns))
}
