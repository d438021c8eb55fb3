package audit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gated is a backend whose Append says when a batch arrives and then waits
// until the test opens the gate: a slow commit, on demand.
type gated struct {
	Backend
	entered chan int      // each batch's size, as it reaches Append
	gate    chan struct{} // closed by the test to let commits through

	mu      sync.Mutex
	batches [][]Record
}

func newGated(b Backend) *gated {
	return &gated{Backend: b, entered: make(chan int, 100), gate: make(chan struct{})}
}

func (g *gated) Append(ctx context.Context, batch []Record) error {
	g.entered <- len(batch)
	<-g.gate
	g.mu.Lock()
	g.batches = append(g.batches, batch)
	g.mu.Unlock()
	return g.Backend.Append(ctx, batch)
}

func (g *gated) sizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n []int
	for _, b := range g.batches {
		n = append(n, len(b))
	}
	return n
}

func gatedFile(t *testing.T) (*Log, *gated, string) {
	t.Helper()
	_, path := openTemp(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := newGated(f)
	l := New(g, Options{})
	t.Cleanup(func() { l.Close() })
	return l, g, path
}

// Appends that wait while another commit runs go to the backend together:
// 20 appends held behind a busy commit cost one commit (for the file: one
// write and one fsync), not 20, and every record is on file in order.
func TestGroupCommitSharesOneCommit(t *testing.T) {
	l, g, path := gatedFile(t)
	const n = 20
	queued := make(chan struct{})
	l.queued = func(size int) {
		if size == n {
			close(queued)
		}
	}
	errs := make(chan error, n+1)
	go func() { errs <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: "first"}) }()
	<-g.entered // the first commit is under way (and held)
	for i := range n {
		go func() { errs <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: strconv.Itoa(i)}) }()
	}
	<-queued // all 20 wait in the next batch, none acknowledged
	select {
	case err := <-errs:
		t.Fatalf("an Append returned (%v) before its commit", err)
	default:
	}
	close(g.gate)
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if recs, commits := l.Stats(); recs != n+1 || commits != 2 {
		t.Errorf("%d records, %d commits for 1 + %d appends that waited together, want %d and 2", recs, commits, n, n+1)
	}
	if got := g.sizes(); len(got) != 2 || got[0] != 1 || got[1] != n {
		t.Errorf("batches %v, want [1 %d]", got, n)
	}
	recs, warns, err := ReadFile(path, Filter{})
	if err != nil || len(warns) != 0 || len(recs) != n+1 || recs[0].Event != "first" {
		t.Fatalf("%d records, warnings %v, err %v", len(recs), warns, err)
	}
}

// A record queued while a commit runs is not acknowledged by that commit
// (the commit's batch was closed before it) but by the next one.
func TestRecordQueuedDuringACommitWaitsForTheNextOne(t *testing.T) {
	l, g, path := gatedFile(t)
	aDone := make(chan error, 1)
	go func() { aDone <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: "a"}) }()
	if size := <-g.entered; size != 1 {
		t.Fatalf("first batch of %d", size)
	}
	queuedB := make(chan struct{})
	l.queued = func(int) { close(queuedB) }
	bDone := make(chan error, 1)
	go func() { bDone <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: "b"}) }()
	<-queuedB
	close(g.gate)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	if got := g.sizes(); len(got) != 2 || got[0] != 1 || got[1] != 1 {
		t.Errorf("batches %v: b went in a's commit; want [1 1]", got)
	}
	recs, _, err := ReadFile(path, Filter{})
	if err != nil || len(recs) != 2 || recs[0].Event != "a" || recs[1].Event != "b" {
		t.Fatalf("records %+v, err %v", recs, err)
	}
}

// Close waits for the Appends under way, so one waiting behind a commit when
// the log closes is still acknowledged, not failed; later Appends are refused.
func TestCloseCoversWaitingAppends(t *testing.T) {
	l, g, path := gatedFile(t)
	aDone := make(chan error, 1)
	go func() { aDone <- l.Append(Record{Time: t0, Action: ActionWidgetEvent, Event: "a"}) }()
	<-g.entered
	queuedB := make(chan struct{})
	l.queued = func(int) { close(queuedB) }
	bDone := make(chan error, 1)
	go func() { bDone <- l.Append(Record{Time: t0, Action: ActionOutcome, Outcome: "succeeded"}) }()
	<-queuedB
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	close(g.gate)
	for _, c := range []chan error{aDone, bDone, closed} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(Record{Time: t0, Action: ActionOutcome}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	recs, _, err := ReadFile(path, Filter{})
	if err != nil || len(recs) != 2 {
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

// stuck is a backend that never answers (a database gone away): it waits
// for the commit's context.
type stuck struct{ Backend }

func (stuck) Append(ctx context.Context, _ []Record) error {
	<-ctx.Done()
	return ctx.Err()
}

// CommitTimeout bounds a commit: a store that never answers fails the
// Append (so a caller can refuse to mint) instead of holding it forever.
func TestCommitTimeoutFailsTheAppend(t *testing.T) {
	_, path := openTemp(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := New(stuck{f}, Options{CommitTimeout: 50 * time.Millisecond})
	defer l.Close()
	if err := l.Append(Record{Time: t0, Action: ActionTokenMintRequested}); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRefused) {
		t.Fatalf("Append to a store that never answers = %v, want context.DeadlineExceeded, not ErrRefused (the record may go in later)", err)
	}
	if recs, commits := l.Stats(); recs != 0 || commits != 1 {
		t.Errorf("Stats = %d records, %d commits; want 0 and 1", recs, commits)
	}
}

// What Append refuses for the record itself is of the class ErrRefused (a
// caller retrying after an outage drops it), keeping its own message and
// ErrSecret; nothing of it is written.
func TestRefusedRecordsAreErrRefused(t *testing.T) {
	_, path := openTemp(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := New(f, Options{})
	defer l.Close()
	for name, r := range map[string]Record{
		"no action": {Time: t0},
		"raw token": {Time: t0, Action: ActionTokenMinted, TokenFingerprint: "tok_live_1234567890abcdef"},
		"too large": {Time: t0, Action: ActionWidgetEvent, Detail: strings.Repeat("x", maxLineBytes)},
	} {
		err := l.Append(r)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: Append = %v, want ErrRefused", name, err)
		}
		if name == "raw token" && !errors.Is(err, ErrSecret) {
			t.Errorf("raw token: %v lost ErrSecret", err)
		}
	}
	if recs, _ := l.Stats(); recs != 0 {
		t.Errorf("%d refused records written", recs)
	}
	// Retryable: the store's failures only.
	for err, want := range map[error]bool{
		nil:                        false,
		l.Append(Record{Time: t0}): false, // refused
		ErrClosed:                  false,
		context.DeadlineExceeded:   true,
		errors.New("postgres: connection refused"): true,
	} {
		if got := Retryable(err); got != want {
			t.Errorf("Retryable(%v) = %v, want %v", err, got, want)
		}
	}
}
