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
	"regexp"
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

// ForwardedHeader marks a request one replica forwarded to another. It is a
// loop guard and nothing more: a replica that receives a request carrying it
// for a session it does not own answers "ended" instead of forwarding it
// again. It relaxes no check, so a customer who sends it only stops their
// own request from being forwarded.
const ForwardedHeader = "X-Reauth-Forwarded-By"

// validReplicaID: lowercase letters and digits, so the first '-' of a
// session id ends the owner's name (the random part is base64url, which may
// hold '-').
var validReplicaID = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

// ValidReplicaID reports whether id can name a replica (Config.ReplicaID).
func ValidReplicaID(id string) bool { return validReplicaID.MatchString(id) }

// OwnerOf is the replica that owns session id ("" and false when the id
// names none).
func OwnerOf(id string) (string, bool) {
	owner, _, ok := strings.Cut(id, "-")
	if !ok || !validReplicaID.MatchString(owner) {
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
			target := pr.In.Context().Value(forwardTargetKey{}).(*url.URL)
			pr.SetURL(target)
			// The owner checks the Host and the Origin against the public
			// URL the replicas share: both go as the customer sent them.
			pr.Out.Host = pr.In.Host
			if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
				pr.Out.Header["X-Forwarded-For"] = prior
			}
			pr.SetXForwarded()
			pr.Out.Header.Set(ForwardedHeader, s.set.ReplicaID)
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

// forward handles a session request another replica owns, and reports
// whether it did; false leaves the request to this server's own routes.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) bool {
	if s.proxy == nil {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/s/")
	if !ok {
		return false
	}
	id, _, _ := strings.Cut(rest, "/")
	owner, ok := OwnerOf(id)
	if !ok || owner == s.set.ReplicaID {
		return false
	}
	if r.Header.Get(ForwardedHeader) != "" {
		// Forwarded already (or claims to be): never again. The replica
		// that sent it here thought we own it; we do not.
		s.ownerGone(w, r)
		return true
	}
	target, ok := s.set.Forward(owner)
	if !ok || target == nil {
		s.ownerGone(w, r)
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
	s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardTargetKey{}, target)))
	return true
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
