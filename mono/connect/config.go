package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode says which Connect script the page loads.
type Mode string

const (
	// ModeLive loads Mono's real connect.js (ConnectJSURL, Mono's CDN by default).
	ModeLive Mode = "live"
	// ModeSandbox loads our stand-in connect.js and simulated widget, served
	// by this server.
	ModeSandbox Mode = "sandbox"
)

// Contract is what the page hands to connect.reauthorise().
type Contract string

const (
	// ContractAuto: find out from the script itself (DetectContract, or
	// Server.ResolveContract), before anything is minted. The default.
	ContractAuto Contract = "auto"
	// ContractToken: connect.js <= 2.0 takes the reauth token.
	ContractToken Contract = "token"
	// ContractAccount: connect.js >= 2.1 takes the account id, and the page
	// adds scope "reauth" to the Connect options. No token is minted.
	ContractAccount Contract = "account"
)

// ParseContract reads a --widget-contract value ("" means auto).
func ParseContract(s string) (Contract, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(ContractAuto):
		return ContractAuto, nil
	case string(ContractToken):
		return ContractToken, nil
	case string(ContractAccount):
		return ContractAccount, nil
	}
	return "", &ConfigError{Field: "contract", Problem: fmt.Sprintf("%q is not auto, token or account", s)}
}

// DefaultConnectJSURL is Mono's CDN script for plain HTML pages. Mono does
// not pin the version it serves there, hence Config.ConnectJSURL and
// ContractAuto.
const DefaultConnectJSURL = "https://connect.withmono.com/connect.js"

// Mono's two widget frame hosts. connect.js 2.0.2 and later point their
// iframe at MonoFrameOrigin; the older releases that have reauthorise
// (0.1.2, 0.1.9, 0.2.1, 0.2.2, 0.2.5) at MonoLegacyFrameOrigin. The page's
// frame-src allows the one the configured script needs, or both when the
// script URL does not say which release it serves (see frameOriginsFor).
const (
	MonoFrameOrigin       = "https://connect.mono.co"
	MonoLegacyFrameOrigin = "https://connect.withmono.com"
)

// Defaults.
const (
	DefaultAddr              = "127.0.0.1:0"
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultHeartbeatTimeout is long on purpose: Chromium throttles timers
	// in a tab hidden for 5 minutes to about one wake-up a minute, and a
	// customer who switches to their banking app must not be reported as
	// "page gone". A closed tab is reported at once by its unload beacon;
	// the timeout only catches crashes and lost networks.
	DefaultHeartbeatTimeout  = 90 * time.Second
	DefaultAutoplayStepDelay = 700 * time.Millisecond
	// DefaultSandboxOpenDelay matches real connect.js, which shows the
	// iframe (and makes OPENED) 2 s after open().
	DefaultSandboxOpenDelay = 2 * time.Second
	// DefaultSandboxPublicKey is the key the sandbox page passes to the
	// stand-in when Config.PublicKey is empty.
	DefaultSandboxPublicKey = "test_pk_reauth_sandbox"
)

// Config configures a Server. The zero value of every field but Mode (and
// PublicKey in live mode) has a sensible default.
type Config struct {
	// Addr to listen on. Default 127.0.0.1:0 (loopback, free port).
	Addr string
	// PublicURL is the base URL people open when the page must be reached
	// from elsewhere (e.g. through a tunnel under `reauth serve`). Session
	// URLs are PublicURL + "/s/<id>#<secret>"; a proxy in front must map
	// that path to the same path here. Empty: http://<listen address>.
	PublicURL string
	// Mode picks Mono's connect.js or the sandbox stand-in. Required.
	Mode Mode
	// PublicKey is the Mono public key given to `new Connect({key})`.
	// Required in live mode; sandbox mode defaults to DefaultSandboxPublicKey.
	PublicKey string
	// ConnectJSURL overrides the Connect script. Live default:
	// DefaultConnectJSURL. Sandbox default: our stand-in at /sandbox/connect.js.
	// Must be https (http only for loopback hosts).
	ConnectJSURL string
	// Contract: what reauthorise() receives. Default ContractAuto: each
	// session gets the contract its caller resolved (Server.ResolveContract,
	// before minting) in SessionParams.Contract. Token or account forces one
	// for every session whose SessionParams.Contract is empty.
	Contract Contract
	// DetectClient fetches the Connect script for ResolveContract under
	// ContractAuto. Nil: a client with DetectTimeout.
	DetectClient *http.Client
	// Autoplay (sandbox): a scripted customer plays the simulated widget.
	Autoplay bool
	// AutoplayStepDelay is the pause between the scripted customer's steps.
	AutoplayStepDelay time.Duration
	// SandboxOpenDelay is how long the stand-in waits after open() before
	// it shows the widget and makes OPENED (real connect.js: 2 s).
	SandboxOpenDelay time.Duration
	// SandboxComplete is called (sandbox mode) when the simulated widget
	// reaches success, so the fake Mono marks the account re-authorised. An
	// error makes the widget show an ERROR instead. Nil: always succeeds.
	SandboxComplete func(ctx context.Context, token string) error
	// Logger receives operational logs (never secrets). Nil: discarded.
	Logger *slog.Logger
	// ObservePost, if set, hears how each request a page made ended:
	// accepted (an event post taken in) or refused, with the HTTP status
	// (401 wrong secret, 403 foreign origin, 413 too large, 410 ended, …).
	// For metrics; it must not block.
	ObservePost func(accepted bool, status int)
	// Now is the wall clock used for token expiry and for events without a
	// usable timestamp. Durations (heartbeat watchdog, rate limit, ordering
	// window) use the monotonic clock. Default time.Now.
	Now func() time.Time
	// LabelSource is for sandbox recordings only: it feeds session ids and
	// pairing codes (never page secrets, which always come from crypto/rand)
	// so a recorded screen repeats. Nil: crypto/rand. Refused in live mode.
	LabelSource io.Reader
	// HeartbeatInterval is how often the page posts a heartbeat.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout: once a page has been heard from, silence this long
	// makes the session emit a synthetic "page gone" event (see PageGone).
	HeartbeatTimeout time.Duration
	// ReplicaID names this page server among replicas that share one
	// PublicURL behind a load balancer (lowercase letters and digits, at
	// most 32): its session ids begin "<ReplicaID>-". Empty: ids name no
	// owner and nothing is forwarded.
	ReplicaID string
	// Forward, with ReplicaID, says where the replica owner of a session
	// this server does not own can be reached on the internal network (its
	// page server's base URL). An error wrapping ErrNoLiveReplica: the
	// registry says no such replica is live, and the customer is told the
	// link is no longer active. Any other error: nobody knows (the registry
	// could not be read), and the page is answered 503, which it retries;
	// "gone" is a verdict the customer acts on, so it is given only when
	// known. Requests are forwarded with their Host and Origin as sent, a
	// ForwardedHeader loop guard and X-Forwarded-For; the owner checks them
	// as any other. It is called on the request path: it must be quick (a
	// cache, not a query per call).
	Forward func(owner string) (target *url.URL, err error)
	// PageRateLimit overrides the limit on one page's event posts. The zero
	// value keeps the default (DefaultPageRate events/s, burst
	// DefaultPageBurst), which is ample for a real widget (tens of events in
	// a whole session). It exists for benchmarks that flood one page; leave
	// it zero in production. An outcome event (success, close, exit, error,
	// unload) that finds the limit spent may still take from a small reserve
	// of its own (8, refilled at 1/s), so a page flooding chatter cannot keep
	// its outcome out.
	PageRateLimit RateLimit
	// AckRecorded makes the answer to an outcome event (success, close,
	// exit, error, unload: mono.WidgetEvent.IsOutcome) wait until the
	// session's consumer says it is recorded (Session.Recorded), at most
	// RecordedAckWait: a 204 then means the event is in the agent's audit,
	// so a crash of this process after it loses nothing the page was told
	// was taken (the page does not send an acknowledged event again). The
	// app sets it; its consumers (the TUI, reauth link) call Recorded.
	// Off, the 204 means only that the event was accepted.
	AckRecorded bool
	// Internal, if set, is served under InternalPrefix ("/_internal/",
	// the request's path unchanged): the runtime's own endpoints between
	// replicas (e.g. "hand me this session", Server.Export on the other
	// side). These requests never go through the page's checks (Host,
	// security headers) and are never forwarded: the runtime
	// authenticates them itself, and must not serve anything there
	// without that. Nil: nothing is served there.
	Internal http.Handler
}

// RateLimit is a token bucket: Burst posts at once, refilled at PerSecond.
// Both must be set (positive) or both zero (the default).
type RateLimit struct {
	PerSecond float64
	Burst     float64
}

// Default per-page rate limit on event posts.
const (
	DefaultPageRate  = 30
	DefaultPageBurst = 60
)

// ConfigError is a problem with the configuration (the command line maps it
// to exit status 2).
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string { return "widget page: " + e.Field + ": " + e.Problem }

// IsConfigError reports whether err comes from a bad Config or bad
// SessionParams rather than from running.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// settings is a validated Config with defaults filled in.
type settings struct {
	Config
	publicBase    *url.URL // nil until Start when PublicURL is empty
	scriptOrigin  string   // CSP source for the Connect script ("'self'" for ours)
	frameOrigins  []string // CSP frame-src sources the script's iframe needs
	standIn       Contract // the contract the sandbox stand-in emulates
	ownConnectJS  bool     // the script is our stand-in
	connectJSPath string   // path of the stand-in on our server
	tune          tuning
}

const standInPath = "/sandbox/connect.js"

func (c Config) validate() (*settings, error) {
	s := &settings{Config: c, tune: defaultTuning()}
	if s.Addr == "" {
		s.Addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		return nil, &ConfigError{"addr", fmt.Sprintf("%q is not host:port", s.Addr)}
	}
	if s.ReplicaID != "" && !ValidReplicaID(s.ReplicaID) {
		return nil, &ConfigError{"replica id", fmt.Sprintf("%q is not 1-32 lowercase letters and digits", s.ReplicaID)}
	}
	if s.Forward != nil && s.ReplicaID == "" {
		return nil, &ConfigError{"forward", "needs a replica id (session ids name their owner)"}
	}
	if s.LabelSource != nil && s.Mode != ModeSandbox {
		return nil, &ConfigError{"label source", "only for sandbox recordings"}
	}
	switch s.Mode {
	case ModeLive, ModeSandbox:
	case "":
		return nil, &ConfigError{"mode", "missing (live or sandbox)"}
	default:
		return nil, &ConfigError{"mode", fmt.Sprintf("%q is not live or sandbox", string(s.Mode))}
	}
	if s.Contract == "" {
		s.Contract = ContractAuto
	}
	if s.Contract != ContractAuto && s.Contract != ContractToken && s.Contract != ContractAccount {
		return nil, &ConfigError{"contract", fmt.Sprintf("%q is not auto, token or account", string(s.Contract))}
	}
	// The stand-in takes the forced contract; under auto it plays
	// connect.js 2.0 (the token), the one the fake Mono can complete.
	s.standIn = s.Contract
	if s.standIn == ContractAuto {
		s.standIn = ContractToken
	}
	s.PublicKey = strings.TrimSpace(s.PublicKey)
	if s.PublicKey == "" {
		if s.Mode == ModeLive {
			return nil, &ConfigError{"public key", "missing (set MONO_PUBLIC_KEY)"}
		}
		s.PublicKey = DefaultSandboxPublicKey
	}
	if s.PublicURL != "" {
		u, err := url.Parse(strings.TrimRight(s.PublicURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, &ConfigError{"public url", fmt.Sprintf("%q is not an absolute http(s) URL without query or fragment", s.PublicURL)}
		}
		s.publicBase = u
	}
	switch {
	case s.ConnectJSURL != "":
		u, err := url.Parse(s.ConnectJSURL)
		if err != nil || u.Host == "" {
			return nil, &ConfigError{"connect.js url", fmt.Sprintf("%q is not an absolute URL", s.ConnectJSURL)}
		}
		// The page runs whatever this URL serves with the reauth token in
		// reach, so plain http is only tolerated where nobody can tamper
		// with it: the loopback interface.
		if u.Scheme != "https" && (u.Scheme != "http" || !isLoopbackHost(u.Hostname())) {
			return nil, &ConfigError{"connect.js url", "must be https (http only on loopback)"}
		}
		s.scriptOrigin = u.Scheme + "://" + u.Host
		s.frameOrigins = frameOriginsFor(u)
	case s.Mode == ModeLive:
		s.ConnectJSURL = DefaultConnectJSURL
		s.scriptOrigin = "https://connect.withmono.com"
		s.frameOrigins = []string{MonoFrameOrigin, MonoLegacyFrameOrigin}
	default:
		s.ownConnectJS = true
		s.connectJSPath = standInPath
		s.scriptOrigin = "'self'"
	}
	if s.AutoplayStepDelay <= 0 {
		s.AutoplayStepDelay = DefaultAutoplayStepDelay
	}
	if s.SandboxOpenDelay <= 0 {
		s.SandboxOpenDelay = DefaultSandboxOpenDelay
	}
	if s.HeartbeatInterval <= 0 {
		s.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if s.HeartbeatTimeout <= 0 {
		s.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if s.HeartbeatTimeout < 2*s.HeartbeatInterval {
		return nil, &ConfigError{"heartbeat timeout", "must be at least twice the heartbeat interval"}
	}
	switch rl := s.PageRateLimit; {
	case rl == RateLimit{}:
	case rl.PerSecond > 0 && rl.Burst >= 1:
		s.tune.rateRefill, s.tune.rateBurst = rl.PerSecond, rl.Burst
	default:
		return nil, &ConfigError{"page rate limit", "needs both a positive rate and a burst of at least 1 (or neither)"}
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// npmRelease finds "@mono.co/connect.js@<major>" in a script URL's path, as
// npm CDNs spell a pinned release (unpkg.com/@mono.co/connect.js@0.2.5/…,
// cdn.jsdelivr.net/npm/@mono.co/connect.js@2.2.0/…).
// Compiled on first use, not in the package's initialiser (every start).
var npmRelease = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`@mono\.co/connect\.js@(\d+)(?:[./]|$)`)
})

// frameOriginsFor is the frame host(s) the script at u points its iframe
// at. A URL that names a release says which; any other (Mono's CDN, which
// pins nothing, or a copy of unknown version) gets both Mono hosts, so
// whichever release it serves can show its widget.
func frameOriginsFor(u *url.URL) []string {
	if m := npmRelease().FindStringSubmatch(u.Path); m != nil {
		if major, err := strconv.Atoi(m[1]); err == nil {
			if major < 2 {
				return []string{MonoLegacyFrameOrigin}
			}
			return []string{MonoFrameOrigin}
		}
	}
	return []string{MonoFrameOrigin, MonoLegacyFrameOrigin}
}

// pageCSP is the Content-Security-Policy of the session page and its API.
// style-src needs 'unsafe-inline': connect.js injects a <style> element and
// sets style attributes on its container and iframe. Scripts stay strict.
// frame-src: the simulated widget ('self') in sandbox mode, and Mono's
// frame host(s) the configured script needs.
func (s *settings) pageCSP() string {
	var frames []string
	if s.Mode == ModeSandbox {
		frames = append(frames, "'self'") // the simulated widget
	}
	frames = append(frames, s.frameOrigins...) // none for the stand-in
	script := "'self'"
	if s.scriptOrigin != "'self'" {
		script += " " + s.scriptOrigin
	}
	return "default-src 'none'; script-src " + script +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-src " + strings.Join(frames, " ") +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// widgetCSP is for the simulated widget, which is framed by our own page.
const widgetCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
