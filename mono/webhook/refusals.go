package webhook

import (
	"context"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
)

// DefaultRefusalLogEvery is how often, at most, the receiver writes its
// summary of refused requests.
const DefaultRefusalLogEvery = 10 * time.Second

// Why a request was refused: the keys of the summary line's counts.
const (
	refusedMethod   = "method"     // 405: not a POST
	refusedSecret   = "bad_secret" // 401: wrong or missing secret
	refusedNoSecret = "no_secret"  // 401: MONO_WEBHOOK_SECRET is not configured
	refusedTooLarge = "too_large"  // 413: over MaxBody
	refusedUnread   = "unreadable" // 400: the body could not be read
	refusedBadBody  = "bad_body"   // 400: not a Mono event
	refusedDetail   = 200          // runes of the last bad body's error kept for the summary
	refusalsMessage = "webhooks refused"
)

// refusalOrder fixes the order of the counts in the summary line.
var refusalOrder = []string{refusedNoSecret, refusedSecret, refusedBadBody, refusedUnread, refusedTooLarge, refusedMethod}

// refusalLog counts refused requests by reason and writes them as one
// summary line at most once per interval, instead of a line per request:
// anyone who can reach the receiver can send bad requests as fast as they
// like, and a line each let them fill the disk through our log (3,606 bad
// requests wrote 360 KB).
//
// The first refusal after a quiet spell starts a window; a timer ends it
// one interval later with one line holding the window's counts, the last
// remote address and the last bad body's error. So lines are at least an
// interval apart, a lone refusal is still logged (an interval late), and
// nothing is counted twice or lost.
type refusalLog struct {
	logger *slog.Logger
	every  time.Duration

	mu         sync.Mutex
	counts     map[string]int
	total      int
	since      time.Time // first refusal of the open window
	lastRemote string
	lastErr    string
	timer      *time.Timer // the open window's end; nil when no window is open
	window     uint64      // the open (or last) window's number
}

func newRefusalLog(logger *slog.Logger, every time.Duration) *refusalLog {
	if every <= 0 {
		every = DefaultRefusalLogEvery
	}
	return &refusalLog{logger: logger, every: every, counts: map[string]int{}}
}

// refused counts one refused request. detail (the bad body's error) is kept,
// cleaned and bounded, for the summary; remote is the request's address.
func (l *refusalLog) refused(reason, remote, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total == 0 {
		l.since = time.Now()
	}
	l.counts[reason]++
	l.total++
	l.lastRemote = remote
	if detail != "" {
		l.lastErr = bounded(mono.CleanText(detail), refusedDetail)
	}
	if l.timer == nil {
		l.window++
		w := l.window
		l.timer = time.AfterFunc(l.every, func() { l.flushWindow(w) })
	}
}

// flush writes the open window's summary now (tests; the timer does it
// otherwise).
func (l *refusalLog) flush() {
	l.mu.Lock()
	w := l.window
	l.mu.Unlock()
	l.flushWindow(w)
}

// flushWindow writes window w's summary (if it counted anything) and closes
// it. A timer that fires for a window already flushed does nothing.
func (l *refusalLog) flushWindow(w uint64) {
	l.mu.Lock()
	if w != l.window || l.timer == nil {
		l.mu.Unlock()
		return
	}
	l.timer.Stop() // when called directly, not by the timer
	l.timer = nil
	if l.total == 0 {
		l.mu.Unlock()
		return
	}
	attrs := make([]slog.Attr, 0, len(refusalOrder)+4)
	attrs = append(attrs, slog.Int("total", l.total))
	for _, reason := range refusalOrder {
		if n := l.counts[reason]; n > 0 {
			attrs = append(attrs, slog.Int(reason, n))
		}
	}
	attrs = append(attrs, slog.Time("since", l.since), slog.String("last_remote", l.lastRemote))
	if l.lastErr != "" {
		attrs = append(attrs, slog.String("last_error", l.lastErr))
	}
	// A receiver with no secret configured refuses Mono itself: that is a
	// misconfiguration to fix, not noise.
	level := slog.LevelWarn
	if l.counts[refusedNoSecret] > 0 {
		level = slog.LevelError
	}
	clear(l.counts)
	l.total, l.lastRemote, l.lastErr = 0, "", ""
	l.mu.Unlock()
	l.logger.LogAttrs(context.Background(), level, refusalsMessage, attrs...)
}

// bounded cuts s to at most n runes, marking the cut.
func bounded(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
