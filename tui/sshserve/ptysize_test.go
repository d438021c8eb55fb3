package sshserve

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"
)

func TestClampWindow(t *testing.T) {
	for _, c := range []struct{ w, h, wantW, wantH int }{
		{80, 24, 80, 24},
		{MaxWidth, MaxHeight, MaxWidth, MaxHeight},
		{65535, 65535, MaxWidth, MaxHeight},
		{6000, 40, MaxWidth, 40},
		{120, 6000, 120, MaxHeight},
		{0, 0, 80, 24},
		{-1, 30, 80, 24},
	} {
		if w, h := clampWindow(c.w, c.h); w != c.wantW || h != c.wantH {
			t.Errorf("clampWindow(%d, %d) = %dx%d, want %dx%d", c.w, c.h, w, h, c.wantW, c.wantH)
		}
	}
}

// rawClient is an SSH client that asks for any PTY size it likes and only
// counts what the server sends, as a hostile client would: no emulator.
type rawClient struct {
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser
	mu     sync.Mutex
	out    bytes.Buffer
	bytes  atomic.Int64
}

func (f *fixture) openRaw(user string, width, height int) *rawClient {
	f.t.Helper()
	c, err := f.dial(user, f.keys[user])
	if err != nil {
		f.t.Fatal(err)
	}
	rc := &rawClient{client: c}
	if rc.sess, err = c.NewSession(); err != nil {
		f.t.Fatal(err)
	}
	if err := rc.sess.RequestPty("xterm-256color", height, width, gossh.TerminalModes{}); err != nil {
		f.t.Fatal(err)
	}
	if rc.stdin, err = rc.sess.StdinPipe(); err != nil {
		f.t.Fatal(err)
	}
	stdout, err := rc.sess.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := rc.sess.Shell(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				rc.bytes.Add(int64(n))
				rc.mu.Lock()
				if rc.out.Len() < 4<<20 {
					rc.out.Write(buf[:n])
				}
				rc.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	f.t.Cleanup(rc.close)
	return rc
}

func (rc *rawClient) close() {
	_ = rc.sess.Close()
	_ = rc.client.Close()
}

func (rc *rawClient) saw(sub string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	// The renderer sends only what changed, between cursor moves.
	return strings.Contains(ansi.Strip(rc.out.String()), sub)
}

// heapPeak samples the heap in use until stop is closed and returns the
// largest value seen.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	peak := make(chan uint64, 1)
	go func() {
		var most uint64
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			most = max(most, ms.HeapInuse)
			select {
			case <-stop:
				peak <- most
				return
			case <-tick.C:
			}
		}
	}()
	return peak
}

// keyToScreen types one letter into ada's search box and returns how long
// it took to show.
func keyToScreen(tm *terminal, letter string, query *string) time.Duration {
	tm.t.Helper()
	*query += letter
	want := "/ " + *query
	start := time.Now()
	tm.send(letter)
	tm.waitFor("the query "+*query, func(s string) bool { return strings.Contains(s, want) })
	return time.Since(start)
}

// waitUntil polls cond until it holds (true) or limit passes (false).
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// One agent's SSH client may ask for any terminal size. The server draws
// for at most MaxWidth x MaxHeight, so a 65535x65535 pty-req costs a
// bounded amount of memory, leaves another agent's typing as fast as
// before, and ends with its connection; the server still shuts down within
// its deadline. Without the clamp the request is billions of cells.
func TestHugePTYRequestIsClamped(t *testing.T) {
	f := newFixture(t, fixtureOpts{agents: []string{"ada", "mallory"}})
	ada := f.open("ada", termOpts{})
	ada.waitText("loaded 60 / 60")
	// The search box shows what is typed after "/ ".
	query := ""
	var before []time.Duration
	for _, l := range strings.Split("ade", "") {
		before = append(before, keyToScreen(ada, l, &query))
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := make(chan struct{})
	peak := heapPeak(stop)

	mallory := f.openRaw("mallory", 65535, 65535)
	if !waitUntil(waitLimit, func() bool { return mallory.saw("60 / 60") }) {
		close(stop)
		t.Fatalf("mallory's session drew nothing in %s (%d bytes)", waitLimit, mallory.bytes.Load())
	}
	// A resize to an even bigger window goes through the same clamp.
	if _, err := mallory.sess.SendRequest("window-change", false,
		gossh.Marshal(struct{ W, H, PW, PH uint32 }{65535, 65535, 0, 0})); err != nil {
		t.Fatal(err)
	}
	var during []time.Duration
	for _, l := range strings.Split("zeo", "") {
		during = append(during, keyToScreen(ada, l, &query))
	}
	close(stop)
	grew := int64(<-peak) - int64(base)

	// Budget: two cell buffers of MaxWidth x MaxHeight (~24 MB measured)
	// and the frame strings, with room to spare; unclamped, the request is
	// billions of cells.
	const budget = 64 << 20
	if grew > budget {
		t.Errorf("a 65535x65535 client grew the server's heap by %d MB; budget %d MB", grew>>20, budget>>20)
	}
	// "Unchanged" within what two busy cores allow: the median keystroke
	// while the big client is connected is compared with the median before
	// it, in this same run.
	b, d := median(before), median(during)
	if d > 4*b+250*time.Millisecond {
		t.Errorf("ada's key-to-screen median went from %s to %s while a 65535x65535 client was connected", b, d)
	}
	t.Logf("heap +%d MB; ada's key-to-screen median %s before, %s during", grew>>20, b, d)

	// The big client leaves: its session ends within a bound, not when
	// its rendering happens to finish.
	mallory.close()
	if !waitUntil(endGrace+5*time.Second, func() bool { return f.srv.Sessions() == 1 }) {
		t.Fatalf("%d sessions %s after the big client left; want only ada's", f.srv.Sessions(), endGrace+5*time.Second)
	}

	// Shutdown keeps its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	_ = f.srv.Shutdown(ctx)
	if took := time.Since(start); took > 9*time.Second {
		t.Fatalf("shutdown took %s with an 8 s deadline", took)
	}
}
