package audit

import (
	"strconv"
	"sync"
	"testing"
)

// Appends that wait while another fsync runs are covered by one fsync after
// it: 20 appends held behind a busy syncer cost one fsync, not 20, and every
// record is on file in the order it was written.
func TestGroupCommitSharesOneFsync(t *testing.T) {
	l, path := openTemp(t)
	const n = 20
	var wrote sync.WaitGroup
	wrote.Add(n)
	l.afterWrite = func(uint64) { wrote.Done() }

	l.syncMu.Lock() // as if a long fsync were under way
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: strconv.Itoa(i)}) }()
	}
	wrote.Wait() // all 20 lines written, none acknowledged
	select {
	case err := <-errs:
		t.Fatalf("an Append returned (%v) before any fsync", err)
	default:
	}
	l.syncMu.Unlock()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if lines, syncs := l.Stats(); lines != n || syncs != 1 {
		t.Errorf("%d lines, %d fsyncs for %d appends that waited together, want %d and 1", lines, syncs, n, n)
	}
	recs, warns, err := ReadFile(path, Filter{})
	if err != nil || len(warns) != 0 || len(recs) != n {
		t.Fatalf("%d records, warnings %v, err %v", len(recs), warns, err)
	}
}

// The guarantee itself: a line written while an fsync is running is not
// acknowledged by that fsync (it may have missed the line) but by a later one.
func TestLineWrittenDuringFsyncWaitsForTheNextOne(t *testing.T) {
	l, path := openTemp(t)
	inSync := make(chan uint64)
	release := make(chan struct{})
	first := true
	l.beforeSync = func() {
		if first {
			first = false
			inSync <- l.synced
			<-release
		}
	}
	aDone := make(chan error, 1)
	go func() { aDone <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: "a"}) }()
	<-inSync // A's fsync (covering line 1 only) is about to run

	wroteB := make(chan struct{})
	l.afterWrite = func(n uint64) {
		if n == 2 {
			close(wroteB)
		}
	}
	bDone := make(chan error, 1)
	go func() { bDone <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: "b"}) }()
	<-wroteB
	close(release)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	l.syncMu.Lock()
	syncs, synced := l.syncs, l.synced
	l.syncMu.Unlock()
	if syncs != 2 || synced != 2 {
		t.Errorf("B was acknowledged by A's fsync: %d fsyncs, %d lines covered; want 2 and 2", syncs, synced)
	}
	recs, _, err := ReadFile(path, Filter{})
	if err != nil || len(recs) != 2 || recs[0].Event != "a" || recs[1].Event != "b" {
		t.Fatalf("records %+v, err %v", recs, err)
	}
}

// Close fsyncs what was written, so an Append waiting behind a syncer when
// the log closes is still acknowledged, not failed.
func TestCloseCoversWaitingAppends(t *testing.T) {
	l, path := openTemp(t)
	wrote := make(chan struct{})
	l.afterWrite = func(uint64) { close(wrote) }
	l.syncMu.Lock()
	done := make(chan error, 1)
	go func() { done <- l.Append(Record{Time: t0, Action: ActionOutcome, Outcome: "succeeded"}) }()
	<-wrote
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	l.syncMu.Unlock() // Close or the Append gets it first; either way both succeed
	if err := <-done; err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	recs, _, err := ReadFile(path, Filter{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, err %v", len(recs), err)
	}
}

// The pre-check never lets through what the secret-key pattern catches.
func TestMayBeSecretKeyCoversThePattern(t *testing.T) {
	for _, s := range []string{
		"live_sk_abcd1234", "TEST_SK_ABCD", "x test_Sk_0000 y", "test_\u017fk_abcd", "test_s\u212a_abcd",
		"", "live_pk_abcd", "_sk", "sk_", "plain words", "ünïcode only",
	} {
		if secretKeyShape().MatchString(s) && !mayBeSecretKey(s) {
			t.Errorf("%q matches the pattern but the pre-check skips it", s)
		}
	}
	for _, s := range []string{"", "live_pk_abcd", "An error happened", "widget_event"} {
		if mayBeSecretKey(s) {
			t.Errorf("%q needlessly sent to the regexp", s)
		}
	}
}
