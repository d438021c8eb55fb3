package connect

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
	"github.com/reauth/reauth/mono/sandbox"
)

// SandboxOutcome is the (cached) answer of the fake Mono to "the simulated
// customer finished": the widget turns it into success or an ERROR. A
// Handoff carries it, so a completion is never run twice for one session.
type SandboxOutcome struct {
	OK           bool   `json:"ok"`
	Code         string `json:"code,omitempty"` // the onSuccess code: a secret
	ErrorType    string `json:"errorType,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// standInFor keeps the stand-in's reauthorise() for one contract and drops
// the other's, so the served script, like each real connect.js release,
// throws only its own contract's error (and DetectContract tells it).
func standInFor(js string, c Contract) (string, error) {
	for _, drop := range []Contract{ContractToken, ContractAccount} {
		if drop == c {
			continue
		}
		begin, end := "/*CONTRACT:"+string(drop)+"*/", "/*END:"+string(drop)+"*/"
		i, j := strings.Index(js, begin), strings.Index(js, end)
		if i < 0 || j < i {
			return "", fmt.Errorf("widget page: stand-in script lacks its %s contract markers", drop)
		}
		js = js[:i] + js[j+len(end):]
	}
	return js, nil
}

func (s *Server) handleStandIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(s.standIn)
}

func (s *Server) handleWidgetPage(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, http.StatusOK, "assets/sandbox/widget.html", "text/html; charset=utf-8")
}

// planRequest: what the simulated widget received in its URL, as Mono's
// widget would (the reauth token, or the account id in data.account).
type planRequest struct {
	Reauth string `json:"reauth"`
}

type planInstitution struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// plan tells the simulated widget how to behave for this session.
type plan struct {
	Scenario      string            `json:"scenario"`
	Autoplay      bool              `json:"autoplay"`
	StepDelayMs   int64             `json:"stepDelayMs"`
	Institution   planInstitution   `json:"institution"`
	AuthMethod    string            `json:"authMethod"`
	Holder        string            `json:"holder"`
	AccountNumber string            `json:"accountNumber"`
	Banks         []planInstitution `json:"banks"`
	// Invalid is set when the widget was not given this session's token or
	// account: like Mono, it shows an error instead of the flow.
	Invalid *SandboxOutcome `json:"invalid,omitempty"`
}

// widgetBanks is the simulated widget's bank list: the account's own bank
// first, then every bank of the fake Mono (sandbox.Institutions, so each bank
// is named as the sandbox's accounts name it), each once: a bank already in
// the list by id or by name is not added again.
func widgetBanks(own planInstitution) []planInstitution {
	banks := []planInstitution{own}
	for _, inst := range sandbox.Institutions() {
		dup := false
		for _, b := range banks {
			if b.ID == inst.ID || strings.EqualFold(b.Name, inst.Name) {
				dup = true
				break
			}
		}
		if !dup {
			banks = append(banks, planInstitution{ID: inst.ID, Name: inst.Name})
		}
	}
	return banks
}

func (s *Server) handlePlan(w http.ResponseWriter, r *http.Request) {
	sess := s.authorize(w, r)
	if sess == nil {
		return
	}
	var req planRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, MaxPostBytes)).Decode(&req); err != nil {
		s.refuse(w, r, http.StatusBadRequest, "bad plan request")
		return
	}
	a := sess.params.Account
	inst := planInstitution{ID: a.Institution.ID, Name: mono.CleanText(a.Institution.Name)}
	if inst.Name == "" {
		inst.Name = "GTBank"
	}
	if inst.ID == "" {
		sum := sha256.Sum256([]byte(inst.Name))
		inst.ID = hex.EncodeToString(sum[:12])
	}
	banks := widgetBanks(inst)
	auth := a.AuthMethod
	if auth != mono.AuthMobileBanking {
		auth = mono.AuthInternetBanking
	}
	scenario := sess.params.Scenario
	if scenario == "" {
		scenario = ScenarioSucceeds
	}
	p := plan{
		Scenario:      scenario,
		Autoplay:      s.set.Autoplay,
		StepDelayMs:   s.set.AutoplayStepDelay.Milliseconds(),
		Institution:   inst,
		AuthMethod:    auth,
		Holder:        mono.CleanText(a.Name),
		AccountNumber: a.MaskedNumber(),
		Banks:         banks,
	}
	want := sess.params.Token.Value
	if sess.contract == ContractAccount {
		want = a.ID
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(req.Reauth), []byte(want)) != 1 {
		p.Invalid = &SandboxOutcome{ErrorType: "INVALID_REAUTH", ErrorMessage: "This re-authorisation link is not valid."}
	}
	writeJSON(w, http.StatusOK, p)
}

// handleComplete runs SandboxComplete once per session and caches the
// answer, so a double click or a retried fetch cannot re-authorise twice.
func (s *Server) handleComplete(w http.ResponseWriter, r *http.Request) {
	sess := s.authorize(w, r)
	if sess == nil {
		return
	}
	sess.completeMu.Lock()
	defer sess.completeMu.Unlock()
	sess.mu.Lock()
	cached, ended := sess.sandbox, sess.ended
	sess.mu.Unlock()
	if ended != "" {
		// It ended (or moved to another replica, Server.Export) while this
		// request waited: never complete twice.
		s.answer(w, endedVerdict(ended))
		return
	}
	if cached == nil {
		out := s.completeSandbox(r.Context(), sess)
		cached = &out
		sess.mu.Lock()
		sess.sandbox = cached
		sess.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, cached)
}

func (s *Server) completeSandbox(ctx context.Context, sess *Session) SandboxOutcome {
	tok := sess.params.Token
	if tok.Value != "" && tok.Expired(s.set.Now()) {
		return SandboxOutcome{ErrorType: "TOKEN_EXPIRED", ErrorMessage: "This re-authorisation link has expired. Ask for a new one."}
	}
	if s.set.SandboxComplete != nil {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := s.set.SandboxComplete(ctx, tok.Value); err != nil {
			msg := err.Error()
			if tok.Value != "" {
				msg = strings.ReplaceAll(msg, tok.Value, tok.Masked())
			}
			s.set.Logger.Warn("sandbox reauth refused", "session", sess.id, "token", tok.Fingerprint(), "err", mono.CleanText(msg))
			return SandboxOutcome{ErrorType: "REAUTH_FAILED", ErrorMessage: clean(&msg, maxLongText)}
		}
	}
	code, err := randomString(12)
	if err != nil {
		return SandboxOutcome{ErrorType: "INTERNAL_ERROR", ErrorMessage: "Something went wrong. Please try again."}
	}
	return SandboxOutcome{OK: true, Code: "code_" + code}
}

// String keeps the onSuccess code out of logs and errors.
func (o SandboxOutcome) String() string {
	if o.OK {
		return "SandboxOutcome{ok, code " + mono.Fingerprint(o.Code) + "}"
	}
	return "SandboxOutcome{" + o.ErrorType + "}"
}

// GoString does the same for %#v.
func (o SandboxOutcome) GoString() string { return o.String() }
