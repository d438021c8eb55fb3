package sshserve

import (
	"io"
	"sync"
)

// maxPendingInput bounds what the relay holds for a program that is behind:
// far more than any burst of typing, small enough that a paste flood from
// one agent costs the server little.
const maxPendingInput = 64 << 10

// inputRelay reads the agent's keystrokes off the SSH session on its own
// goroutine and hands them to the program through a bounded buffer.
//
// Why not let Bubble Tea read the session directly: its reader only reads
// again once the event loop has taken the previous key, so a program busy
// rendering would leave keys unread in the channel, and the idle timer
// (which must see every key) could close a session whose agent is typing.
// The relay notes activity the moment the bytes arrive. It also lets the
// program's reader return as soon as the program ends (Close), instead of
// waiting for the next byte or the end of the connection.
type inputRelay struct {
	mu      sync.Mutex
	changed *sync.Cond
	pending []byte
	err     error // the session's read error (io.EOF at the end)
	closed  bool  // the program has ended
}

// newInputRelay starts copying src; touch is called for every read that
// brought data.
func newInputRelay(src io.Reader, touch func()) *inputRelay {
	r := &inputRelay{}
	r.changed = sync.NewCond(&r.mu)
	go r.copyFrom(src, touch)
	return r
}

// copyFrom runs until src fails (the session closed) or the program has
// ended and more input arrives.
func (r *inputRelay) copyFrom(src io.Reader, touch func()) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			touch()
		}
		r.mu.Lock()
		for n > 0 && len(r.pending) >= maxPendingInput && !r.closed {
			r.changed.Wait() // backpressure: the program is far behind
		}
		if r.closed {
			r.mu.Unlock()
			return
		}
		r.pending = append(r.pending, buf[:n]...)
		if err != nil {
			r.err = err
		}
		r.changed.Broadcast()
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Read is the program's input.
func (r *inputRelay) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.pending) == 0 && r.err == nil && !r.closed {
		r.changed.Wait()
	}
	if len(r.pending) > 0 && !r.closed {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			r.pending = nil // let a big paste's buffer go
		}
		r.changed.Broadcast()
		return n, nil
	}
	if r.closed {
		return 0, io.EOF
	}
	return 0, r.err
}

// Close ends the program's side: pending and future reads return io.EOF.
func (r *inputRelay) Close() error {
	r.mu.Lock()
	r.closed = true
	r.pending = nil
	r.changed.Broadcast()
	r.mu.Unlock()
	return nil
}
