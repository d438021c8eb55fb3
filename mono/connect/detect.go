package connect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The errors connect.js throws when reauthorise() is called with no
// argument: its only documented, version-independent sign of which contract
// it takes. The page's probe (assets/page.js) matches the same strings.
const (
	// TokenContractError: connect.js 0.1.2 to 2.0.2, reauthorise(token).
	TokenContractError = "Re-auth token is required for reauthorisation"
	// AccountContractError: connect.js 2.1.0 and 2.2.0, reauthorise(accountId).
	AccountContractError = "Account ID is required for re-authorisation"
	// AccountContractTypeError: the same releases, given a non-string.
	AccountContractTypeError = "Invalid accountId: must be a string"
)

// Limits of DetectContract. Mono's bundles are 9–46 KB.
const (
	DetectTimeout  = 15 * time.Second
	MaxScriptBytes = 2 << 20
	// DetectCacheTTL is how long a detected contract is reused for the same
	// script URL, so opening a page does not refetch the script each time,
	// yet a CDN that moves to another release is noticed within minutes.
	DetectCacheTTL = 10 * time.Minute
)

// ErrUnknownContract is (or is wrapped by) a DetectError's Err when the
// script was fetched but has neither documented error, or both.
var ErrUnknownContract = errors.New("neither documented reauthorise() error is in the script")

// bothContracts: a script with both errors (ErrUnknownContract too).
type bothContracts struct{}

func (bothContracts) Error() string        { return "it has both the token and the account error" }
func (bothContracts) Is(target error) bool { return target == ErrUnknownContract }

// DetectError says why DetectContract could not tell a script's contract.
// Its text names the URL and the flag that settles it.
type DetectError struct {
	URL string // the script URL, without user info
	Err error  // ErrUnknownContract, or what went wrong fetching the script
}

func (e *DetectError) Error() string {
	if e.Err == ErrUnknownContract {
		return "cannot tell which contract " + e.URL + " takes; pass --widget-contract token|account"
	}
	return "cannot tell which contract " + e.URL + " takes (" + e.Err.Error() + "); pass --widget-contract token|account"
}

func (e *DetectError) Unwrap() error { return e.Err }

// DetectContract fetches the Connect script at scriptURL (at most
// MaxScriptBytes, within DetectTimeout) and tells which contract its
// reauthorise() takes from the error it documents for a missing argument:
// TokenContractError means ContractToken, AccountContractError or
// AccountContractTypeError ContractAccount. No version string is read.
// Neither (or both) is a *DetectError wrapping ErrUnknownContract. Answers
// are cached per URL for DetectCacheTTL (failures are not); concurrent
// calls for one URL share a fetch. client nil: a client with DetectTimeout.
// The URL must be https (http only on loopback), like Config.ConnectJSURL.
func DetectContract(ctx context.Context, client *http.Client, scriptURL string) (Contract, error) {
	return defaultDetector.detect(ctx, client, scriptURL)
}

// ClassifyScript tells a Connect script's contract from its source, as
// DetectContract does once it has fetched it.
func ClassifyScript(src []byte) (Contract, error) {
	token := bytes.Contains(src, []byte(TokenContractError))
	account := bytes.Contains(src, []byte(AccountContractError)) || bytes.Contains(src, []byte(AccountContractTypeError))
	switch {
	case token && !account:
		return ContractToken, nil
	case account && !token:
		return ContractAccount, nil
	case token && account:
		return "", bothContracts{}
	}
	return "", ErrUnknownContract
}

var defaultDetector = newDetector(DetectCacheTTL, 64)

// detector caches DetectContract's answers and merges concurrent fetches.
type detector struct {
	ttl time.Duration
	max int

	mu       sync.Mutex
	cache    map[string]detected
	inflight map[string]*detectCall
}

type detected struct {
	contract Contract
	at       time.Time // monotonic
}

type detectCall struct {
	done     chan struct{}
	waiters  int // callers waiting on it (tests watch it)
	contract Contract
	err      error
}

func newDetector(ttl time.Duration, max int) *detector {
	return &detector{ttl: ttl, max: max, cache: map[string]detected{}, inflight: map[string]*detectCall{}}
}

func (d *detector) detect(ctx context.Context, client *http.Client, scriptURL string) (Contract, error) {
	u, err := url.Parse(scriptURL)
	if err != nil || u.Host == "" {
		return "", &DetectError{URL: scriptURL, Err: errors.New("not an absolute URL")}
	}
	shown := u.Redacted()
	if u.Scheme != "https" && (u.Scheme != "http" || !isLoopbackHost(u.Hostname())) {
		return "", &DetectError{URL: shown, Err: errors.New("must be https (http only on loopback)")}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	key := u.String()
	d.mu.Lock()
	if c, ok := d.cache[key]; ok {
		if time.Since(c.at) < d.ttl {
			d.mu.Unlock()
			return c.contract, nil
		}
		delete(d.cache, key)
	}
	call, joined := d.inflight[key]
	if !joined {
		call = &detectCall{done: make(chan struct{})}
		d.inflight[key] = call
		// The fetch is shared, so no one caller's cancellation ends it; it
		// is bounded by DetectTimeout (and the client's own timeout).
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DetectTimeout)
		go func() {
			defer cancel()
			c, err := fetchContract(fctx, client, key)
			if err != nil {
				err = &DetectError{URL: shown, Err: err}
			}
			d.mu.Lock()
			call.contract, call.err = c, err
			delete(d.inflight, key)
			if err == nil {
				d.storeLocked(key, c)
			}
			d.mu.Unlock()
			close(call.done)
		}()
	}
	call.waiters++
	d.mu.Unlock()
	select {
	case <-call.done:
		return call.contract, call.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// storeLocked caches an answer, dropping the oldest entry when full.
func (d *detector) storeLocked(key string, c Contract) {
	if len(d.cache) >= d.max {
		oldest, at := "", time.Time{}
		for k, v := range d.cache {
			if oldest == "" || v.at.Before(at) {
				oldest, at = k, v.at
			}
		}
		delete(d.cache, oldest)
	}
	d.cache[key] = detected{contract: c, at: time.Now()}
}

var defaultDetectClient = &http.Client{Timeout: DetectTimeout}

func fetchContract(ctx context.Context, client *http.Client, scriptURL string) (Contract, error) {
	if client == nil {
		client = defaultDetectClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scriptURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/javascript, application/javascript, */*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in DetectError's text
		}
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	if resp.ContentLength > MaxScriptBytes {
		return "", fmt.Errorf("script larger than %d bytes", MaxScriptBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxScriptBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading the script: %w", err)
	}
	if len(body) > MaxScriptBytes {
		return "", fmt.Errorf("script larger than %d bytes", MaxScriptBytes)
	}
	return ClassifyScript(body)
}

// ResolveContract is the contract a new session should use, decided before
// anything is minted: Config.Contract when it is token or account; under
// ContractAuto, the sandbox stand-in's own contract, or else what
// DetectContract finds in the configured script (cached per URL). Mint a
// token only for ContractToken, and pass the answer in
// SessionParams.Contract.
func (s *Server) ResolveContract(ctx context.Context) (Contract, error) {
	if s.set.Contract != ContractAuto {
		return s.set.Contract, nil
	}
	if s.set.ownConnectJS {
		return s.set.standIn, nil
	}
	return DetectContract(ctx, s.set.DetectClient, s.set.ConnectJSURL)
}
