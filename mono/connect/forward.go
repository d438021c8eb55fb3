package connect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Replicas. Several page servers (one per `reauth serve` replica) can stand
// behind one load balancer and one PublicURL. Each names itself
// (Config.ReplicaID) at the front of its session ids, "<replica>-<random>",
// so any of them can tell who owns a page. A request for /s/{id}/… that
// another replica owns is forwarded to it over the internal network
// (Config.Forward says where), with the customer's Host and Origin as they
// came, so the owner runs every check (secret, Origin, size, shape, rate)
// exactly as for a direct request. No routing rule in the proxy is needed.

// ForwardedHeader marks a request one replica forwarded to another: the
// replicas it passed, in order ("r2", or "r2, r1" for a page that moved). It
// is a loop guard and nothing more: a replica that receives a request
// carrying it for a session it does not hold answers "ended" instead of
// forwarding it again by the id's owner; only a session that moved on from
// there (Server.Export) is passed on, never to a replica already named, at
// most maxHops. When the replica it would go to is already named, the page
// is between two replicas (Export done, Adopt not yet) and is told to retry
// (503). It relaxes no check, so a customer who sends it only stops their
// own request from being forwarded.
const ForwardedHeader = "X-Reauth-Forwarded-By"

// validReplicaID: lowercase letters and digits, so the first '-' of a
// session id ends the owner's name (the random part is base64url, which may
// hold '-'). 1 to 32 of them: a loop, not the pattern ^[a-z0-9]{1,32}$,
// which every start compiled in this package's initialiser (the {1,32}
// unrolls; ~350 allocations, BENCHMARKS.md 5).
func validReplicaID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// ValidReplicaID reports whether id can name a replica (Config.ReplicaID).
func ValidReplicaID(id string) bool { return validReplicaID(id) }

// OwnerOf is the replica that owns session id ("" and false when the id
// names none).
func OwnerOf(id string) (string, bool) {
	owner, _, ok := strings.Cut(id, "-")
	if !ok || !validReplicaID(owner) {
		return "", false
	}
	return owner, true
}

// Forwarding's bounds: an owner that does not take the connection soon is
// treated as gone; one that does not answer in time gets a 502.
const (
	forwardDialTimeout   = 3 * time.Second
	forwardHeaderTimeout = 10 * time.Second
)

func (s *Server) newForwarder() *httputil.ReverseProxy {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: forwardDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: forwardHeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   64,
		// Internal traffic: no proxy from the environment.
		Proxy: nil,
	}
	return &httputil.ReverseProxy{
		Transport: tr,
		ErrorLog:  slog.NewLogLogger(s.set.Logger.Handler(), slog.LevelDebug),
		Rewrite: func(pr *httputil.ProxyRequest) {
			hop := pr.In.Context().Value(forwardTargetKey{}).(forwardHop)
			pr.SetURL(hop.target)
			// The owner checks the Host and the Origin against the public
			// URL the replicas share: both go as the customer sent them.
			pr.Out.Host = pr.In.Host
			if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
				pr.Out.Header["X-Forwarded-For"] = prior
			}
			pr.SetXForwarded()
			pr.Out.Header.Set(ForwardedHeader, hop.by)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.set.Logger.Debug("page request not forwarded", "err", err)
			clear(w.Header())
			s.setSecurityHeaders(w, r)
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				// Nobody at the owner's address any more: it stopped (or
				// crashed) and its pages with it.
				s.ownerGone(w, r)
				return
			}
			s.refuse(w, r, http.StatusBadGateway, "the replica holding this page did not answer")
		},
	}
}

type forwardTargetKey struct{}

// forwardHop is where a forwarded request goes, and the ForwardedHeader it
// carries there (the replicas it passed, this one last).
type forwardHop struct {
	target *url.URL
	by     string
}

// maxHops bounds a forwarded request's path: its first replica, the owner
// by the id, and the replicas a moved session went to after that.
const maxHops = 4

// forward handles a session request that another replica answers, and
// reports whether it did; false leaves the request to this server's own
// routes. A session this server holds (or ended) is its own, whoever the id
// names (Adopt); one it handed on (Export) goes to where it went; any other
// to the owner the id names.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) bool {
	if s.proxy == nil {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/s/")
	if !ok {
		return false
	}
	id, _, _ := strings.Cut(rest, "/")
	local, movedTo := s.routeOf(id)
	if local {
		return false
	}
	to := movedTo
	if to == "" {
		owner, ok := OwnerOf(id)
		if !ok || owner == s.set.ReplicaID {
			return false
		}
		to = owner
	}
	var chain []string
	if prior := r.Header.Get(ForwardedHeader); prior != "" {
		for _, hop := range strings.Split(prior, ",") {
			chain = append(chain, strings.TrimSpace(hop))
		}
	}
	if len(chain) > 0 {
		switch {
		case slices.Contains(chain, to):
			// The replica we would send it to passed it here: the page
			// is between the two (Export done, Adopt not yet), or its new
			// holder lost it. The page retries (503) while that lasts.
			s.answer(w, movingVerdict())
			return true
		case movedTo == "" || slices.Contains(chain, s.set.ReplicaID) || len(chain) >= maxHops:
			// Forwarded already (or claims to be): never again by the
			// id. The replica that sent it here thought we own it; we do
			// not. Only a session that moved on from here is passed on.
			s.ownerGone(w, r)
			return true
		}
	}
	target, err := s.set.Forward(to)
	switch {
	case err == nil && target != nil:
	case err == nil || errors.Is(err, ErrNoLiveReplica):
		if movedTo != "" {
			s.forgetMoved(id, movedTo, EndServerClosed)
		}
		s.ownerGone(w, r)
		return true
	default:
		// Not known to be gone: the page retries and the customer is not
		// told a live link has ended.
		s.ownerUnknown(w, r)
		return true
	}
	if r.Body != nil && r.Body != http.NoBody {
		// The owner refuses a body over MaxPostBytes; read at most one byte
		// more so that it can, and so a replica never relays more.
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxPostBytes+1))
		if err != nil {
			s.refuse(w, r, http.StatusBadRequest, "could not read body")
			return true
		}
		if len(body) > MaxPostBytes {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, "event too large (max 16 KB)")
			return true
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Del("Transfer-Encoding")
	}
	// The owner sets its own security headers.
	clear(w.Header())
	hop := forwardHop{target: target, by: strings.Join(append(chain, s.set.ReplicaID), ", ")}
	s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardTargetKey{}, hop)))
	return true
}

// movingVerdict answers a request for a page that is being handed from one
// replica to another (Export, then Adopt): 503, try again in a moment.
// page.js retries its posts and its config fetch, the simulated widget its
// plan and completion.
func movingVerdict() verdict {
	return verdict{status: http.StatusServiceUnavailable, why: "this page is moving to another server; try again"}
}

// ownerUnknown answers a request for a page whose owner may or may not be
// live: the page itself (page.js retries its config while it gets 503), or
// 503 to its calls.
func (s *Server) ownerUnknown(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/s/")
	if r.Method == http.MethodGet && !strings.Contains(rest, "/") {
		s.serveAsset(w, http.StatusServiceUnavailable, "assets/page.html", "text/html; charset=utf-8")
		return
	}
	s.answer(w, unreachableVerdict())
}

// unreachableVerdict answers a request for a page whose replica cannot be
// looked up right now (the registry did not answer): 503, try again.
func unreachableVerdict() verdict {
	return verdict{status: http.StatusServiceUnavailable, why: "the server holding this page cannot be reached just now; try again"}
}

// ownerGone answers a request for a page whose replica is gone as for a
// session this server ended when it shut down: the page (410) tells the
// customer the link is no longer active; its API requests get the 410 the
// page acts on.
func (s *Server) ownerGone(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/s/")
	if r.Method == http.MethodGet && !strings.Contains(rest, "/") {
		s.serveAsset(w, http.StatusGone, "assets/page.html", "text/html; charset=utf-8")
		return
	}
	s.answer(w, endedVerdict(EndServerClosed))
}
