package sandbox

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind is how a faulted request misbehaves.
type FaultKind int

const (
	// FaultSlow waits Delay (or until the client gives up), then answers normally.
	FaultSlow FaultKind = iota + 1
	// FaultStatus answers Status (default 500) in Mono's v2 failure shape,
	// with a Retry-After header when RetryAfter is set.
	FaultStatus
	// FaultGarbage answers 200 with an HTML body instead of JSON.
	FaultGarbage
	// FaultTruncated answers the real reply cut in half (a complete HTTP
	// reply whose JSON ends early).
	FaultTruncated
	// FaultReset hijacks the connection and resets it without a reply.
	FaultReset
	// FaultHang never answers, until the client gives up or the server closes.
	FaultHang
)

func (k FaultKind) String() string {
	switch k {
	case FaultSlow:
		return "slow"
	case FaultStatus:
		return "status"
	case FaultGarbage:
		return "garbage"
	case FaultTruncated:
		return "truncated"
	case FaultReset:
		return "reset"
	case FaultHang:
		return "hang"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// Fault makes matching requests misbehave, for tests and demos.
type Fault struct {
	Path       string        // URL path prefix to match; "" matches every request
	Kind       FaultKind     //
	Times      int           // how many requests it hits; 0 = until ClearFaults
	Delay      time.Duration // waited before the fault acts (the whole point of FaultSlow)
	RetryAfter string        // Retry-After header value for FaultStatus, e.g. "3" or an HTTP date
	Status     int           // for FaultStatus; default 500
}

type activeFault struct {
	Fault
	left int // requests still to hit when Times > 0
}

// SetFault adds a fault. When several match a request, the earliest added
// that still has hits left applies.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f, left: f.Times})
}

// ClearFaults removes every fault. Requests already held by a fault carry on.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFaultLocked finds the fault for path and uses up one of its hits.
func (s *Server) takeFaultLocked(path string) *Fault {
	for k, af := range s.faults {
		if !strings.HasPrefix(path, af.Path) {
			continue
		}
		f := af.Fault
		if af.Times > 0 {
			af.left--
			if af.left <= 0 {
				s.faults = append(s.faults[:k:k], s.faults[k+1:]...)
			}
		}
		return &f
	}
	return nil
}

// applyFault acts out f; it reports whether the request has been dealt with
// (false: carry on and answer normally).
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	ctx := r.Context()
	if f.Kind == FaultHang {
		s.wait(ctx, -1) // forever: until the client gives up or Close
		return true
	}
	if !s.wait(ctx, f.Delay) {
		return true
	}
	switch f.Kind {
	case FaultStatus:
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		msg := http.StatusText(status)
		if status == http.StatusTooManyRequests {
			msg = "Too many requests, please try again later."
		}
		writeFailed(w, status, msg, s.now())
		return true
	case FaultGarbage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>\n"))
		return true
	case FaultTruncated:
		var rec captureWriter
		s.serveAPI(&rec, r)
		cut := rec.body.Bytes()[:rec.body.Len()/2]
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		// A consistent Content-Length makes this a complete HTTP reply whose
		// JSON is cut, not a broken connection.
		w.Header().Set("Content-Length", strconv.Itoa(len(cut)))
		w.WriteHeader(rec.statusOr200())
		_, _ = w.Write(cut)
		return true
	case FaultReset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler) // the server drops the connection
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // close with RST, like a dropped proxy
		}
		_ = conn.Close()
		return true
	}
	return false // FaultSlow, or an unknown kind: answer normally
}

// captureWriter records a reply so FaultTruncated can cut it.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header {
	if c.header == nil {
		c.header = http.Header{}
	}
	return c.header
}

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(p)
}

func (c *captureWriter) statusOr200() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}
