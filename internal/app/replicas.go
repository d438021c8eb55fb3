package app

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"charm.land/log/v2"

	"github.com/reauth/reauth/internal/store/postgres"
	"github.com/reauth/reauth/internal/store/sqlite"
	"github.com/reauth/reauth/mono/connect"
)

// Replicas (issue 19): several `reauth serve` processes on one database,
// behind one load balancer and one --public-url. Each has a replica id
// (--replica-id, or a random one), which begins its page session ids, and
// registers in the store where its page server is reached on the internal
// network (--internal-url, default its own listen address), refreshing that
// every ReplicaBeatEvery. A customer's page request that reaches a replica
// not owning the page is forwarded to the owner (connect.Config.Forward,
// answered from the registry); a replica silent for ReplicaStaleAfter is
// not forwarded to, and its pages read as ended.

// Registry timing.
const (
	ReplicaBeatEvery  = 3 * time.Second
	ReplicaStaleAfter = 15 * time.Second
	// replicaMissReread: an owner not in the last read of the registry is
	// looked up again at most this often (it may have started since; a
	// stream of made-up owners costs the database little).
	replicaMissReread = 250 * time.Millisecond
	replicaReadBound  = 2 * time.Second
)

// replicaRegistry is the store's replicas table (postgres.Replicas,
// sqlite.Replicas).
type replicaRegistry interface {
	Register(ctx context.Context, id, url string, fresh time.Duration) error
	Live(ctx context.Context, fresh time.Duration) (map[string]string, error)
	Leave(ctx context.Context, id, url string) error
}

// newReplicaID is a random replica id: 8 lowercase letters and digits
// (about 41 bits; Register refuses an id a live replica holds).
func newReplicaID(src io.Reader) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	if _, err := io.ReadFull(src, b); err != nil {
		return "", err
	}
	for i, v := range b {
		b[i] = alphabet[int(v)%len(alphabet)]
	}
	return string(b), nil
}

// replicaIDFor is the --replica-id given (checked), or a new random one.
func replicaIDFor(given string, src io.Reader) (string, error) {
	if given = strings.TrimSpace(given); given != "" {
		if !connect.ValidReplicaID(given) {
			return "", ConfigError{"--replica-id " + given + ": use 1-32 lowercase letters and digits"}
		}
		return given, nil
	}
	if src == nil {
		src = rand.Reader
	}
	return newReplicaID(src)
}

// internalURLFor is where other replicas reach this page server: given
// (--internal-url, checked), else its listen address (the host name when it
// listens on every interface).
func internalURLFor(given, listenAddr string) (string, error) {
	if given = strings.TrimSpace(given); given != "" {
		u, err := url.Parse(strings.TrimRight(given, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return "", ConfigError{"--internal-url " + given + " is not an absolute http(s) URL without query or fragment"}
		}
		return u.String(), nil
	}
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", failed("the page server's address " + listenAddr + " has no port")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// replicaSet is this process's view of the replicas: its own id and
// internal URL, and the live ones' URLs as last read from the registry.
type replicaSet struct {
	id     string
	logger *log.Logger

	mu     sync.Mutex
	reg    replicaRegistry // nil until the store is open (or without one)
	self   string
	live   map[string]*url.URL
	readAt time.Time // when the read that gave live began
	tried  time.Time // when the last read began, whether it worked or not

	readMu  sync.Mutex // one registry read at a time
	lastErr string

	stop     context.CancelFunc // ends beat
	beatDone chan struct{}
}

// forward is connect.Config.Forward: the owner's internal URL when it is a
// live replica. An owner missing from a read of the registry that began
// before the request is looked up again first: it may have registered
// since (a replica just started, whose first page's first request reaches
// another replica within moments), and "gone" is a verdict the customer's
// page acts on (the link is no longer active). So it is given only when a
// read begun after the request says so: when the registry cannot be read
// (the database down, the read over its bound) the answer is
// errReplicasUnknown, and the page is asked to retry.
func (r *replicaSet) forward(owner string) (*url.URL, error) {
	asked := time.Now()
	r.mu.Lock()
	u, ok := r.live[owner]
	reg, readAt := r.reg, r.readAt
	r.mu.Unlock()
	switch {
	case ok:
		return u, nil
	case reg == nil || readAt.After(asked):
		return nil, connect.ErrNoLiveReplica
	}
	ctx, cancel := context.WithTimeout(context.Background(), replicaReadBound)
	defer cancel()
	r.readSince(ctx, asked)
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.live[owner]; ok {
		return u, nil
	}
	if !r.readAt.After(asked) {
		return nil, errReplicasUnknown
	}
	return nil, connect.ErrNoLiveReplica
}

// errReplicasUnknown: the registry could not be read since a request
// asked for a replica it did not know; whether that replica is live is
// not known.
var errReplicasUnknown = errors.New("the replica registry could not be read")

// joined reports whether this process registered as a replica (a shared
// store and a public URL).
func (r *replicaSet) joined() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reg != nil
}

// gone reports whether a replica has stopped, as the registry read last
// tells (no I/O: a screen asks it): it is not live there, and that read came
// after seen (when the replica last wrote something we hold, such as a
// claim's refresh), so a replica that started after the read is not taken
// for a dead one. This replica is never gone to itself; without a registry
// nothing is.
func (r *replicaSet) gone(id string, seen time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id == "" || id == r.id || r.reg == nil {
		return false
	}
	_, live := r.live[id]
	return !live && r.readAt.After(seen)
}

// read reloads the live replicas, unless another read has just done so.
func (r *replicaSet) read(ctx context.Context) {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	r.mu.Lock()
	reg, recent := r.reg, time.Since(r.tried) < replicaMissReread
	r.mu.Unlock()
	if reg == nil || recent {
		return
	}
	r.readLocked(ctx, reg)
}

// readSince makes the live replicas come from a read begun after t (unless
// ctx ends first, or the read fails): reads at least replicaMissReread
// apart, a caller waiting for its turn (a stream of requests for made-up
// owners costs the database one read an interval).
func (r *replicaSet) readSince(ctx context.Context, t time.Time) {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	r.mu.Lock()
	reg, readAt, tried := r.reg, r.readAt, r.tried
	r.mu.Unlock()
	if reg == nil || readAt.After(t) {
		return
	}
	if wait := replicaMissReread - time.Since(tried); wait > 0 {
		timer := time.NewTimer(wait) // the rate limit, not a wait for a result
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
	}
	r.readLocked(ctx, reg)
}

// readLocked reads the registry (readMu held). readAt is when the read
// began: it knows every replica registered before then.
func (r *replicaSet) readLocked(ctx context.Context, reg replicaRegistry) {
	began := time.Now()
	m, err := reg.Live(ctx, ReplicaStaleAfter)
	r.mu.Lock()
	r.tried = began
	r.mu.Unlock()
	if err != nil {
		r.complain("replicas not read", err) // the last good map stays; tried again later
		return
	}
	live := make(map[string]*url.URL, len(m))
	for id, raw := range m {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			live[id] = u
		}
	}
	r.mu.Lock()
	r.live, r.readAt = live, began
	r.mu.Unlock()
}

func (r *replicaSet) complain(what string, err error) {
	if err.Error() != r.lastErr && r.logger != nil {
		r.logger.Warn(what, "err", OneLine(err))
	}
	r.lastErr = err.Error()
}

// join registers this replica at self and reads the others; a live replica
// holding the same id is a configuration error. Then it keeps the
// registration fresh until ctx ends.
func (r *replicaSet) join(ctx context.Context, reg replicaRegistry, self string) error {
	jctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := reg.Register(jctx, r.id, self, ReplicaStaleAfter); err != nil {
		var pg *postgres.ReplicaTakenError
		var lite *sqlite.ReplicaTakenError
		if errors.As(err, &pg) || errors.As(err, &lite) {
			return ConfigError{OneLine(err) + ": give each replica its own --replica-id (or none: a random one)"}
		}
		return failed("cannot register this replica: " + OneLine(err))
	}
	r.mu.Lock()
	r.reg, r.self = reg, self
	r.mu.Unlock()
	r.read(jctx)
	bctx, stop := context.WithCancel(ctx)
	r.stop, r.beatDone = stop, make(chan struct{})
	go r.beat(bctx, reg, self)
	return nil
}

func (r *replicaSet) beat(ctx context.Context, reg replicaRegistry, self string) {
	defer close(r.beatDone)
	t := time.NewTicker(ReplicaBeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		bctx, cancel := context.WithTimeout(ctx, replicaReadBound)
		if err := reg.Register(bctx, r.id, self, ReplicaStaleAfter); err != nil && ctx.Err() == nil {
			r.readMu.Lock()
			r.complain("replica registration not refreshed", err)
			r.readMu.Unlock()
		}
		r.read(bctx)
		cancel()
	}
}

// leave removes this replica from the registry (a clean stop: the others
// tell its pages' customers at once that the link ended).
func (r *replicaSet) leave() {
	if r.stop != nil {
		r.stop()
		<-r.beatDone
	}
	r.mu.Lock()
	reg, self := r.reg, r.self
	r.reg = nil
	r.mu.Unlock()
	if reg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), replicaReadBound)
	defer cancel()
	_ = reg.Leave(ctx, r.id, self)
}

// Wake is the store's wake-up for readers of kinds of news (a
// postgres.Kind… constant): it receives when another process committed such
// news, and after the store's listener (re)connects. Nil (never ready) on a
// store without one (SQLite, the files): readers keep to their timer.
func (s *Storage) Wake(ctx context.Context, kinds ...string) <-chan struct{} {
	if s.wake == nil {
		return nil
	}
	return s.wake(ctx, kinds...)
}
