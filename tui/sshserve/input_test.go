package sshserve

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"charm.land/log/v2"
	"charm.land/ssh"
)

func TestInputRelayPassesBytesAndNotesActivity(t *testing.T) {
	src, feed := io.Pipe()
	var touches atomic.Int32
	r := newInputRelay(src, func() { touches.Add(1) })
	// The relay reads ahead of the program: activity is noted before the
	// program asks for anything.
	if _, err := feed.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := feed.Write([]byte("def")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two touches before any program read", func() bool { return touches.Load() == 2 })
	var got bytes.Buffer
	buf := make([]byte, 2)
	for got.Len() < 6 {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(buf[:n])
	}
	if got.String() != "abcdef" {
		t.Fatalf("relayed %q", got.String())
	}
	// The end of the session reaches the program.
	_ = feed.CloseWithError(io.ErrUnexpectedEOF)
	if _, err := r.Read(buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after the source failed: %v", err)
	}
}

func TestInputRelayCloseReleasesABlockedRead(t *testing.T) {
	src, feed := io.Pipe()
	defer feed.Close()
	r := newInputRelay(src, func() {})
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		done <- err
	}()
	_ = r.Close()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Fatalf("blocked read after Close: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Close did not release the program's read")
	}
	// Input after Close is dropped, and stops the relay.
	_, _ = feed.Write([]byte("late"))
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("read after Close: %d, %v", n, err)
	}
}

func TestInputRelayBoundsWhatItHolds(t *testing.T) {
	src, feed := io.Pipe()
	defer feed.Close()
	r := newInputRelay(src, func() {})
	defer r.Close()
	chunk := bytes.Repeat([]byte("x"), 4096)
	wrote := make(chan int, 1)
	go func() {
		total := 0
		for total < 2*maxPendingInput {
			n, err := feed.Write(chunk)
			total += n
			if err != nil {
				break
			}
		}
		wrote <- total
	}()
	// Nobody reads: the relay must stop taking input at the bound, so the
	// writer stays blocked.
	eventually(t, "the relay to fill up", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.pending) >= maxPendingInput
	})
	select {
	case n := <-wrote:
		t.Fatalf("the writer got %d bytes in with nobody reading", n)
	default:
	}
	r.mu.Lock()
	held := len(r.pending)
	r.mu.Unlock()
	if held > maxPendingInput+len(chunk) {
		t.Fatalf("relay holds %d bytes, bound %d", held, maxPendingInput)
	}
	// Reading drains it and lets the writer finish.
	buf := make([]byte, 64<<10)
	got := 0
	for got < 2*maxPendingInput {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if n := <-wrote; n != 2*maxPendingInput {
		t.Fatalf("writer wrote %d", n)
	}
}

// closeRecorder is an ssh.Session whose Close is recorded; nothing else of
// it is used by forceEndAfter.
type closeRecorder struct {
	ssh.Session
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func TestStuckSessionIsClosedAfterTheGrace(t *testing.T) {
	srv := &Server{logger: log.New(io.Discard)}
	var killed atomic.Bool
	stuck := &closeRecorder{}
	as := &agentSession{srv: srv, sess: stuck, done: make(chan struct{}), cancel: func() { killed.Store(true) }}
	finished := make(chan struct{})
	go func() { as.forceEndAfter(10 * time.Millisecond); close(finished) }()
	<-finished
	if !killed.Load() || !stuck.closed.Load() {
		t.Fatalf("a session that did not end was left alone (killed %v, closed %v)", killed.Load(), stuck.closed.Load())
	}

	// A session that ends in time is not touched.
	killed.Store(false)
	fine := &closeRecorder{}
	as = &agentSession{srv: srv, sess: fine, done: make(chan struct{}), cancel: func() { killed.Store(true) }}
	close(as.done)
	as.forceEndAfter(waitLimit) // returns at once: done is closed
	if killed.Load() || fine.closed.Load() {
		t.Fatal("a session that ended in time was killed")
	}
}
