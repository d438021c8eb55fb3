package connect

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// refusalLog counts refused requests by status and writes at most one log
// line per interval: "refused 3000 page requests in the last 10s: 401×1000,
// 403×2000". A line per refusal let any script that knows the address fill
// the log file (a flood of 10,000 posts wrote 10,000 lines). The line holds
// only statuses and counts: never a path with its session id, a body or a
// secret.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration

	mu     sync.Mutex
	counts map[int]int
	since  time.Time   // the first refusal counted since the last line
	timer  *time.Timer // writes the pending line; nil when nothing is pending
	closed bool
}

func newRefusalLog(log *slog.Logger, every time.Duration) *refusalLog {
	return &refusalLog{log: log, every: every, counts: map[int]int{}}
}

// count notes one refusal. The first after a line starts the interval; its
// end writes the line.
func (l *refusalLog) count(status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[status]++
	if l.timer != nil || l.closed {
		return
	}
	l.since = time.Now()
	l.timer = time.AfterFunc(l.every, l.flush)
}

// flush writes the pending line, if any.
func (l *refusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *refusalLog) flushLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	total := 0
	statuses := make([]int, 0, len(l.counts))
	for st, n := range l.counts {
		total += n
		statuses = append(statuses, st)
	}
	if total == 0 {
		return
	}
	slices.Sort(statuses)
	parts := make([]string, len(statuses))
	for i, st := range statuses {
		parts[i] = fmt.Sprintf("%d×%d", st, l.counts[st])
	}
	window := time.Since(l.since).Round(time.Second)
	if window < time.Second {
		window = time.Second
	}
	l.log.Info(fmt.Sprintf("refused %d page requests in the last %s: %s", total, window, strings.Join(parts, ", ")),
		"refused", total)
	clear(l.counts)
}

// close writes what is pending and stops counting into new lines.
func (l *refusalLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.flushLocked()
}
