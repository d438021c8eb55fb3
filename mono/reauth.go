package mono

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// cannotReauthRE matches Mono's "This account can not be re-authorised."
// and close variants (cannot, reauthorized, ...). Compiled on first use, not
// at start-up: only a refused mint needs it.
var cannotReauthRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)can\s*not\s+be\s+re-?authori[sz]ed`)
})

// Reauthorise mints a reauth token: POST /accounts/{id}/reauthorise with no
// body. The token lives TokenLifetime; MintedAt is taken just before the
// request is sent, so the expiry we show is never later than Mono's.
//
// It is tried exactly once whatever happens: a mint is not idempotent, and a
// blind retry could leave the customer holding a token we have already
// replaced. A 2xx carrying "This account can not be re-authorised." and no
// token is a KindCannotReauth error.
func (c *Client) Reauthorise(ctx context.Context, id string) (Token, error) {
	const op = "mint reauth token"
	if err := checkID(op, id); err != nil {
		return Token{}, err
	}
	minted := c.now()
	rep, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/accounts/" + url.PathEscape(id) + "/reauthorise"})
	if err != nil {
		if me, ok := err.(*Error); ok && me.Status >= 400 && me.Status < 500 && cannotReauthRE().MatchString(me.Message) {
			me.Kind = KindCannotReauth
		}
		return Token{}, err
	}
	var body struct {
		Token   flexString `json:"token"`
		Message flexString `json:"message"`
		Data    *struct {
			Token flexString `json:"token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rep.body, &body); err != nil {
		return Token{}, badReply(op, rep.status, "token reply is not JSON", err)
	}
	value := strings.TrimSpace(string(body.Token))
	if value == "" && body.Data != nil {
		value = strings.TrimSpace(string(body.Data.Token))
	}
	if value == "" {
		msg := c.clean(string(body.Message))
		if cannotReauthRE().MatchString(msg) {
			return Token{}, &Error{Kind: KindCannotReauth, Op: op, Status: rep.status, Message: msg}
		}
		if msg == "" {
			msg = "reply has no token"
		} else {
			msg = "reply has no token: " + msg
		}
		return Token{}, badReply(op, rep.status, msg, nil)
	}
	if !plausibleToken(value) {
		// Never echo the value: it may be a real token in a strange shape.
		return Token{}, badReply(op, rep.status, "token has an unexpected shape", nil)
	}
	return Token{AccountID: id, Value: value, MintedAt: minted, ExpiresAt: minted.Add(TokenLifetime)}, nil
}

// plausibleToken accepts printable ASCII without spaces, up to 1 KiB: what
// we will hand to connect.js and put in a page.
func plausibleToken(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// InitiateReauth asks Mono for a hosted reauth link the account owner can
// open on their own device: POST /v2/accounts/initiate with scope "reauth".
// It returns data.mono_url. Like a mint it creates something, so it is never
// retried.
func (c *Client) InitiateReauth(ctx context.Context, accountID, ref, redirectURL string) (string, error) {
	const op = "initiate reauth"
	if err := checkID(op, accountID); err != nil {
		return "", err
	}
	if ref = strings.TrimSpace(ref); ref == "" || len(ref) > 256 || CleanText(ref) != ref {
		return "", &Error{Kind: KindInvalidInput, Op: op, Message: "reference must be 1 to 256 printable characters"}
	}
	// Mono documents redirect_url as optional: empty sends none.
	if redirectURL != "" && !isWebURL(redirectURL) {
		return "", &Error{Kind: KindInvalidInput, Op: op, Message: "redirect URL must be an absolute http(s) URL"}
	}
	type initiateMeta struct {
		Ref string `json:"ref"`
	}
	payload, err := json.Marshal(struct {
		Scope       string       `json:"scope"`
		Account     string       `json:"account"`
		Meta        initiateMeta `json:"meta"`
		RedirectURL string       `json:"redirect_url,omitempty"`
	}{"reauth", accountID, initiateMeta{ref}, redirectURL})
	if err != nil {
		return "", &Error{Kind: KindInvalidInput, Op: op, Message: "cannot encode request", Err: err}
	}
	rep, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/v2/accounts/initiate", body: payload})
	if err != nil {
		// Mono refusing the account itself reads the same as a refused mint
		// (KindCannotReauth), whichever of the two was asked.
		if me, ok := err.(*Error); ok && me.Status >= 400 && me.Status < 500 && cannotReauthRE().MatchString(me.Message) {
			me.Kind = KindCannotReauth
		}
		return "", err
	}
	var env struct {
		Status  flexString `json:"status"`
		Message flexString `json:"message"`
		MonoURL flexString `json:"mono_url"`
		Data    *struct {
			MonoURL flexString `json:"mono_url"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rep.body, &env); err != nil {
		return "", badReply(op, rep.status, "initiate reply is not JSON", err)
	}
	link := string(env.MonoURL)
	if env.Data != nil && env.Data.MonoURL != "" {
		link = string(env.Data.MonoURL)
	}
	link = strings.TrimSpace(link)
	if link == "" {
		msg := c.clean(string(env.Message))
		if cannotReauthRE().MatchString(msg) {
			return "", &Error{Kind: KindCannotReauth, Op: op, Status: rep.status, Message: msg}
		}
		return "", badReply(op, rep.status, strings.TrimSpace("reply has no mono_url "+msg), nil)
	}
	if !isWebURL(link) || CleanText(link) != link {
		return "", badReply(op, rep.status, "mono_url is not a web address", nil)
	}
	return link, nil
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// Sync codes Mono answers POST /accounts/{id}/sync with.
const (
	SyncSuccessful          = "SYNC_SUCCESSFUL"
	SyncError               = "SYNC_ERROR"
	SyncIncompleteStatement = "INCOMPLETE_STATEMENT_ERROR"
	// SyncReauthRequired (types.go) is the fourth.
)

// SyncResult is Mono's answer to a manual sync.
type SyncResult struct {
	Code    string // SyncSuccessful, SyncReauthRequired, SyncError, SyncIncompleteStatement, or something new
	Message string
	Status  int // HTTP status of the reply
}

// Sync asks Mono to refresh an account now (POST /accounts/{id}/sync; Mono
// allows one per account per 2 minutes). Mono does not document the HTTP
// status of a failed sync, so any reply carrying a code is a SyncResult,
// whatever its status; 401/403/404/429/5xx without one are errors. Never
// retried.
func (c *Client) Sync(ctx context.Context, id string) (SyncResult, error) {
	const op = "sync account"
	if err := checkID(op, id); err != nil {
		return SyncResult{}, err
	}
	r := request{op: op, method: http.MethodPost, path: "/accounts/" + url.PathEscape(id) + "/sync"}
	rep, err := c.exchange(ctx, r, 1)
	if err != nil {
		return SyncResult{}, err
	}
	var body struct {
		Code    flexString `json:"code"`
		Message flexString `json:"message"`
		Data    *struct {
			Code flexString `json:"code"`
		} `json:"data"`
	}
	decodeErr := json.Unmarshal(rep.body, &body)
	code := strings.TrimSpace(string(body.Code))
	if code == "" && body.Data != nil {
		code = strings.TrimSpace(string(body.Data.Code))
	}
	switch s := rep.status; {
	case s == 401, s == 403, s == 404, s == 429, s >= 500, s >= 300 && s < 400:
		return SyncResult{}, c.statusError(op, rep)
	case decodeErr == nil && code != "":
		return SyncResult{Code: strings.ToUpper(c.clean(code)), Message: c.clean(string(body.Message)), Status: s}, nil
	case s >= 200 && s < 300:
		return SyncResult{}, badReply(op, s, "sync reply has no code", decodeErr)
	default:
		return SyncResult{}, c.statusError(op, rep)
	}
}
