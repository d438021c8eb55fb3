package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reauth/reauth/mono/connect"
	"github.com/reauth/reauth/state"
	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// Resume across replicas (issue 19). An agent whose connection to replica
// r1 dropped under a live attempt has it parked there (tui/sshserve's
// resume.go), their claim naming r1. When they reconnect through r2, r2
// finds the claim (claim.Backend.HeldBy) and asks r1, on r1's internal URL
// from the registry, to hand the attempt over: r1 writes what the parked
// program had not yet recorded, gives the machine's snapshot and the
// events it read and never applied, and moves the customer's page
// (connect's Export: r1 forwards the page's requests to r2 from then on);
// r2 adopts the page, reads the attempt's records back from the store for
// the status pane and runs the attempt on. The call is authenticated with
// the database's cluster key (only processes that can read the store can
// ask), and carries secrets (the token, the page secret): it is never
// logged.

// handoverPath is the internal endpoint, under connect's /_internal/.
const handoverPath = "/_internal/handover"

// handoverBound bounds one hand-over call (r2's agent waits for it before
// their first frame).
const handoverBound = 3 * time.Second

// handoverSkew is how old (or how far in the future) a signed request may
// be: a recorded request replayed later is refused.
const handoverSkew = 30 * time.Second

// authHeader carries "<unix seconds>.<hex HMAC-SHA256(key, ts \n body)>".
const authHeader = "Reauth-Cluster-Auth"

// ParkedAttempts is a serve front end's parked attempts (tui/sshserve's
// Server): HandOver takes the agent's (by key fingerprint) and gives it to
// give; when give fails the attempt stays parked. found is false when the
// agent has none parked here.
type ParkedAttempts interface {
	HandOver(fingerprint string, give func(m tui.Model, dropped time.Time) error) (found bool, err error)
}

// handoverReq is what r2 asks.
type handoverReq struct {
	Agent string `json:"agent"` // the agent's key fingerprint
	To    string `json:"to"`    // the asking replica's id
}

// handoverResp is what r1 gives.
type handoverResp struct {
	Attempt tui.Handoff      `json:"attempt"`
	Page    *connect.Handoff `json:"page,omitempty"`
}

// handovers is the runtime's side of it.
type handovers struct {
	rt *Runtime

	mu     sync.Mutex
	parked ParkedAttempts
	key    []byte
}

// ServeHandOvers lets other replicas take this one's parked attempts
// (`reauth serve` calls it with its SSH server once it exists).
func (rt *Runtime) ServeHandOvers(p ParkedAttempts) {
	rt.handovers.mu.Lock()
	rt.handovers.parked = p
	rt.handovers.mu.Unlock()
}

// clusterKey is the database's cluster key, read once.
func (h *handovers) clusterKey(ctx context.Context) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.key != nil {
		return h.key, nil
	}
	st := h.rt.storage
	if st == nil || st.clusterKey == nil {
		return nil, errors.New("no shared store: replicas cannot authenticate each other")
	}
	k, err := st.clusterKey(ctx)
	if err != nil {
		return nil, err
	}
	h.key = k
	return k, nil
}

func sign(key []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte{'\n'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// verify checks a request's signature and age.
func verify(key []byte, header string, body []byte, now time.Time) bool {
	ts, sig, ok := strings.Cut(header, ".")
	if !ok {
		return false
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(secs, 0)); d > handoverSkew || d < -handoverSkew {
		return false
	}
	want := sign(key, ts, body)
	return hmac.Equal([]byte(want), []byte(sig))
}

// ServeHTTP is the internal endpoint (connect.Config.Internal): r2 asking
// for an agent's parked attempt.
func (h *handovers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != handoverPath || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil {
		http.Error(w, "unreadable request", http.StatusBadRequest)
		return
	}
	key, err := h.clusterKey(r.Context())
	if err != nil {
		http.Error(w, "no cluster key", http.StatusServiceUnavailable)
		return
	}
	if !verify(key, r.Header.Get(authHeader), body, time.Now()) {
		http.Error(w, "not authenticated", http.StatusForbidden)
		return
	}
	var req handoverReq
	if err := json.Unmarshal(body, &req); err != nil || req.Agent == "" || req.To == "" || req.To == h.rt.env.ReplicaID {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	parked := h.parked
	h.mu.Unlock()
	if parked == nil {
		http.Error(w, "no attempts here", http.StatusNotFound)
		return
	}
	var resp handoverResp
	found, err := parked.HandOver(req.Agent, func(m tui.Model, dropped time.Time) error {
		ho, page, ok, err := m.HandOff(h.rt.env.ReplicaID)
		if err != nil {
			return fmt.Errorf("its records could not be written: %w", err)
		}
		if !ok {
			return errors.New("no live attempt")
		}
		ho.Dropped = dropped
		resp.Attempt = ho
		// Moving the page is the last step: once moved, this replica
		// forwards the customer's requests for it to the asking one.
		if cs, ok := page.(*connect.Session); ok && cs != nil {
			ph, err := h.rt.pages.Export(cs.ID(), req.To)
			if err != nil {
				return fmt.Errorf("its page could not move: %w", err)
			}
			resp.Page = &ph
		}
		return nil
	})
	switch {
	case !found:
		http.Error(w, "no parked attempt for this agent", http.StatusNotFound)
		return
	case err != nil:
		h.rt.env.Logger.Warn("a parked attempt was not handed over", "agent", req.Agent, "to", req.To, "err", OneLine(err))
		http.Error(w, "not handed over", http.StatusConflict)
		return
	}
	h.rt.env.Logger.Info("parked attempt handed over", "agent", req.Agent, "to", req.To,
		"attempt", resp.Attempt.Attempt.ID)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// ResumeElsewhere is sshserve.Config.ResumeElsewhere: the live attempt the
// agent's dropped connection left parked on another replica, handed over
// to this one, with its page moved here and its history read back from the
// store (Handoff nil when there is none, or it could not move: the agent
// starts afresh, and the other replica keeps it until its grace ends); and
// the agent's attempts on other replicas that cannot come back (Stranded:
// the replica went silent, or could not be asked), which their account
// list then mentions. An attempt the agent runs in another session still
// connected (nothing parked there) is neither.
func (rt *Runtime) ResumeElsewhere(ctx context.Context, agent audit.Agent) tui.Elsewhere {
	var out tui.Elsewhere
	if agent.KeyFingerprint == "" || rt.storage == nil || !rt.replicas.joined() {
		return out // one server: its own parked attempts are all there is
	}
	ctx, cancel := context.WithTimeout(ctx, handoverBound)
	defer cancel()
	held, err := rt.storage.claims.HeldBy(ctx, agent.KeyFingerprint)
	if err != nil {
		rt.env.Logger.Warn("could not look for the agent's attempts on other replicas", "err", OneLine(err))
		return out
	}
	self := rt.env.ReplicaID
	for _, cl := range held {
		if cl.Replica == "" || cl.Replica == self {
			continue
		}
		stranded := tui.Stranded{Account: cl.Account, Replica: cl.Replica, LastWord: cl.Updated}
		u, err := rt.replicas.forward(cl.Replica)
		if err != nil {
			// Gone: the attempt was interrupted. Or not known just now.
			stranded.Gone = errors.Is(err, connect.ErrNoLiveReplica)
			out.Stranded = append(out.Stranded, stranded)
			continue
		}
		if out.Handoff != nil {
			continue // one attempt comes back per connection; the rest stay parked
		}
		resp, err := rt.askHandover(ctx, u.String(), agent.KeyFingerprint)
		if errors.Is(err, errNothingParked) {
			continue // running in the agent's other session there
		}
		if err != nil {
			rt.env.Logger.Warn("a parked attempt on another replica did not move here", "replica", cl.Replica,
				"attempt", cl.Attempt, "err", OneLine(err))
			out.Stranded = append(out.Stranded, stranded)
			continue
		}
		h := resp.Attempt
		if resp.Page != nil {
			page, err := rt.pages.Adopt(*resp.Page)
			if err != nil {
				// The page left its replica and cannot be served here: the
				// customer's page ends; the attempt goes on, saying so.
				rt.env.Logger.Warn("a moved page could not be adopted", "attempt", h.Attempt.ID, "err", OneLine(err))
				// Its requests reach this replica now (the old one forwards
				// them here): tell the customer the link ended rather
				// than "try again" until it expires.
				rt.pages.EndUnadopted(resp.Page.ID)
			} else {
				h.Page = page
			}
		}
		recs, err := rt.storage.log.Query(ctx, audit.Query{Session: h.Attempt.ID})
		if err != nil {
			rt.env.Logger.Warn("the resumed attempt's history could not be read", "attempt", h.Attempt.ID, "err", OneLine(err))
		}
		h.History = state.LinesFromRecords(recs)
		out.Handoff = &h
	}
	return out
}

// errNothingParked: the replica asked holds no parked attempt of this
// agent's (its attempt there, if any, is in a session still connected).
var errNothingParked = errors.New("nothing parked there for this agent")

// askHandover is r2's call to r1's internal endpoint.
func (rt *Runtime) askHandover(ctx context.Context, base, fingerprint string) (handoverResp, error) {
	key, err := rt.handovers.clusterKey(ctx)
	if err != nil {
		return handoverResp{}, err
	}
	body, _ := json.Marshal(handoverReq{Agent: fingerprint, To: rt.env.ReplicaID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+handoverPath, bytes.NewReader(body))
	if err != nil {
		return handoverResp{}, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set(authHeader, ts+"."+sign(key, ts, body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return handoverResp{}, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return handoverResp{}, errNothingParked
	}
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 256))
		return handoverResp{}, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(msg)))
	}
	var out handoverResp
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&out); err != nil {
		return handoverResp{}, fmt.Errorf("unreadable hand-over: %w", err)
	}
	return out, nil
}
