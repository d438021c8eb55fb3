package mono

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultBaseURL is Mono's production API host.
const DefaultBaseURL = "https://api.withmono.com"

// MaxReplyBytes bounds how much of any reply the client reads: a broken or
// hostile server cannot make us buffer without limit.
const MaxReplyBytes = 8 << 20

// DefaultTimeout bounds one HTTP attempt (dial, headers and body).
const DefaultTimeout = 15 * time.Second

// Config configures a Client. Only SecretKey is required.
type Config struct {
	// BaseURL defaults to DefaultBaseURL. It must be https, except for a
	// loopback host (the sandbox, tests) or when AllowPlainHTTP is set,
	// because the secret key travels in a header on every request.
	BaseURL   string
	SecretKey string
	// HTTPClient defaults to one with DefaultTimeout. The client makes a
	// shallow copy and refuses redirects on it, so the key header is never
	// replayed to another host.
	HTTPClient *http.Client
	// Now defaults to time.Now; it stamps minted tokens and resolves
	// Retry-After dates.
	Now   func() time.Time
	Retry RetryPolicy
	// Logger may be nil. It gets method, path, status, attempt and timing;
	// never the key or a token.
	Logger *slog.Logger
	// AllowPlainHTTP permits an http:// BaseURL on a non-loopback host.
	AllowPlainHTTP bool
	// Observe, if set, is told of every HTTP attempt: the call's op (a
	// fixed phrase such as "get account", never an id), the status (0 when
	// no reply came) and how long it took. Metrics hang here; it must not
	// block.
	Observe func(op string, status int, took time.Duration)
}

// RetryPolicy governs retries of reads (GETs) on 429, 5xx and network errors.
// Writes (a token mint, an initiate, a sync) are never retried. Zero fields
// take the defaults noted.
type RetryPolicy struct {
	MaxAttempts   int           // total attempts including the first; default 4, 1 disables retries
	BaseDelay     time.Duration // first backoff; default 300ms, doubling per retry
	MaxDelay      time.Duration // cap on one backoff; default 5s
	MaxRetryAfter time.Duration // longest Retry-After we wait out; longer ones fail at once; default 30s
	// Sleep waits d or until ctx is done (then returns ctx.Err()). Tests
	// inject an instant one; default uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter spreads a backoff d so many clients do not retry in step;
	// default picks uniformly in [d/2, d].
	Jitter func(d time.Duration) time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 300 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 5 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 30 * time.Second
	}
	if p.Sleep == nil {
		p.Sleep = sleepCtx
	}
	if p.Jitter == nil {
		p.Jitter = equalJitter
	}
	return p
}

// backoff is the wait before attempt n+1 after attempt n failed (n >= 1).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return max(p.Jitter(d), 0)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Client is a typed client for the parts of Mono's API that reauth uses. It
// is safe for concurrent use.
type Client struct {
	base    *url.URL
	key     string
	hc      *http.Client
	now     func() time.Time
	retry   RetryPolicy
	logger  *slog.Logger
	observe func(op string, status int, took time.Duration)
}

// NewClient checks cfg and returns a Client. It fails on an empty key or a
// base URL that is not absolute http(s) without credentials, query or fragment.
func NewClient(cfg Config) (*Client, error) {
	key := strings.TrimSpace(cfg.SecretKey)
	if key == "" {
		return nil, &Error{Kind: KindInvalidInput, Op: "configure", Message: "secret key is empty"}
	}
	if strings.ContainsAny(key, "\r\n\x00") {
		return nil, &Error{Kind: KindInvalidInput, Op: "configure", Message: "secret key contains control characters"}
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := parseBaseURL(raw, cfg.AllowPlainHTTP)
	if err != nil {
		return nil, &Error{Kind: KindInvalidInput, Op: "configure", Message: err.Error()}
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Timeout: DefaultTimeout, Transport: defaultTransport()}
	}
	// A redirect would replay mono-sec-key (a custom header Go does not
	// strip) to wherever Location points. Mono's API does not redirect.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{base: base, key: key, hc: &hc, now: now, retry: cfg.Retry.withDefaults(), logger: cfg.Logger, observe: cfg.Observe}, nil
}

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = DefaultTimeout
	t.MaxIdleConnsPerHost = 4
	return t
}

func parseBaseURL(raw string, allowPlain bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("base URL %q does not parse", CleanText(raw))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("base URL %q must start with https://", CleanText(raw))
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("base URL %q has no host", CleanText(raw))
	case u.User != nil:
		return nil, errors.New("base URL must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("base URL %q must not have a query or fragment", CleanText(raw))
	case u.Scheme == "http" && !allowPlain && !isLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("base URL %q is plain http to a non-loopback host; the secret key would travel in clear", CleanText(raw))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// BaseURL is the API base the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// request is one logical API call.
type request struct {
	op     string // for errors and logs, e.g. "get account"
	method string
	path   string // already escaped, starting with "/"
	query  url.Values
	body   []byte // JSON; nil means no body at all
	read   bool   // safe to retry
}

// reply is one HTTP answer, whatever its status.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do runs r, retrying reads per the policy, and returns the 2xx reply or an
// *Error.
func (c *Client) do(ctx context.Context, r request) (*reply, error) {
	attempts := 1
	if r.read {
		attempts = c.retry.MaxAttempts
	}
	for n := 1; ; n++ {
		rep, err := c.exchange(ctx, r, n)
		if err == nil && rep.status >= 200 && rep.status < 300 {
			return rep, nil
		}
		if err == nil {
			err = c.statusError(r.op, rep)
		}
		me := err.(*Error)
		if n >= attempts || !retryable(me) {
			return nil, err
		}
		wait := c.retry.backoff(n)
		if me.RetryAfter > 0 {
			if me.RetryAfter > c.retry.MaxRetryAfter {
				// Waiting minutes would freeze whoever is calling us; say
				// when to retry instead.
				return nil, err
			}
			wait = me.RetryAfter
		}
		c.logWarn("retrying", "op", r.op, "attempt", n, "wait", wait, "kind", me.Kind.String(), "status", me.Status)
		if serr := c.retry.Sleep(ctx, wait); serr != nil {
			return nil, c.transportError(ctx, r.op, serr)
		}
	}
}

func retryable(e *Error) bool {
	switch e.Kind {
	case KindRateLimited, KindServer, KindNetwork:
		return true
	}
	return false
}

// exchange makes one HTTP attempt. A transport failure becomes an *Error;
// any HTTP status is a reply.
func (c *Client) exchange(ctx context.Context, r request, attempt int) (*reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.transportError(ctx, r.op, err)
	}
	// r.path is already escaped (ids go through url.PathEscape), so set both
	// forms and let net/url keep the escaped one verbatim.
	u := *c.base
	u.RawPath = c.base.EscapedPath() + r.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, &Error{Kind: KindInvalidInput, Op: r.op, Message: "bad request path", Err: err}
	}
	u.Path = p
	u.RawQuery = r.query.Encode()

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, &Error{Kind: KindInvalidInput, Op: r.op, Message: "cannot build request", Err: err}
	}
	req.Header.Set("mono-sec-key", c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "reauth")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if c.observe != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		c.observe(r.op, status, time.Since(start))
	}
	if err != nil {
		c.logDebug("request failed", "op", r.op, "method", r.method, "path", r.path, "attempt", attempt, "took", time.Since(start).Round(time.Millisecond))
		return nil, c.transportError(ctx, r.op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplyBytes+1))
	c.logDebug("request", "op", r.op, "method", r.method, "path", r.path, "status", resp.StatusCode, "attempt", attempt, "bytes", len(data), "took", time.Since(start).Round(time.Millisecond))
	if err != nil {
		return nil, c.transportError(ctx, r.op, err)
	}
	if len(data) > MaxReplyBytes {
		return nil, &Error{Kind: KindBadReply, Op: r.op, Status: resp.StatusCode, Message: fmt.Sprintf("reply larger than %d bytes", MaxReplyBytes)}
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// statusError maps a non-2xx reply to an *Error carrying Mono's message.
func (c *Client) statusError(op string, rep *reply) *Error {
	e := &Error{Op: op, Status: rep.status, Message: c.clean(messageOf(rep.body))}
	switch s := rep.status; {
	case s == http.StatusUnauthorized:
		e.Kind = KindUnauthorised
	case s == http.StatusForbidden:
		e.Kind = KindForbidden
	case s == http.StatusNotFound:
		e.Kind = KindNotFound
	case s == http.StatusConflict:
		e.Kind = KindConflict
	case s == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
		e.RetryAfter = parseRetryAfter(rep.header.Get("Retry-After"), c.now())
	case s >= 500:
		e.Kind = KindServer
		e.RetryAfter = parseRetryAfter(rep.header.Get("Retry-After"), c.now())
	case s >= 400:
		e.Kind = KindBadRequest
	case s >= 300 && s < 400:
		e.Kind = KindBadReply
		e.Message = fmt.Sprintf("unexpected redirect (%d)", s)
	default:
		e.Kind = KindBadReply
		e.Message = fmt.Sprintf("unexpected status %d", s)
	}
	return e
}

// transportError classifies a failure where no usable reply arrived.
func (c *Client) transportError(ctx context.Context, op string, err error) *Error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Error{Kind: KindCanceled, Op: op, Err: ctx.Err()}
	}
	if ctx.Err() != nil {
		return &Error{Kind: KindNetwork, Op: op, Message: "timed out", Err: ctx.Err()}
	}
	return &Error{Kind: KindNetwork, Op: op, Message: c.clean(describeNetErr(err)), Err: err}
}

// describeNetErr turns a transport error into a few words for an agent
// (without the URL that *url.Error would prepend).
func describeNetErr(err error) string {
	var ne net.Error
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before the reply was complete"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// clean makes text from a reply or an error safe for a terminal, short, and
// free of the secret key even if a server echoed it back.
func (c *Client) clean(s string) string {
	s = strings.TrimSpace(CleanText(s))
	if c.key != "" && strings.Contains(s, c.key) {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	const maxRunes = 300
	if n := 0; len(s) > maxRunes {
		for i := range s {
			if n == maxRunes {
				return s[:i] + "…"
			}
			n++
		}
	}
	return s
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date
// relative to now; unparseable or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// One day is far beyond any sane Retry-After; clamp to avoid overflow.
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func (c *Client) logDebug(msg string, kv ...any) {
	if c.logger != nil {
		c.logger.Debug(msg, kv...)
	}
}

func (c *Client) logWarn(msg string, kv ...any) {
	if c.logger != nil {
		c.logger.Warn(msg, kv...)
	}
}
