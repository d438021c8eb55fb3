package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reauth/reauth/mono"
)

// unsafeRune reports a rune a terminal could act on: C0, DEL, C1 or a bidi
// override. (Invalid UTF-8 is checked separately with utf8.ValidString.)
func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// eventStrings is every string an event carries to the TUI, found by
// reflection so a field added to EventData later is checked too.
func eventStrings(ev mono.WidgetEvent) map[string]string {
	out := map[string]string{"Name": ev.Name, "Callback": string(ev.Callback)}
	v := reflect.ValueOf(ev.Data)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			out["Data."+v.Type().Field(i).Name] = f.String()
		}
	}
	return out
}

// checkDelivered is what any event that reached Events must satisfy.
func checkDelivered(t *testing.T, ev mono.WidgetEvent, body []byte) {
	t.Helper()
	if _, ok := knownCallbacks[string(ev.Callback)]; !ok {
		t.Fatalf("unknown callback %q delivered from %q", ev.Callback, body)
	}
	if ev.Seq <= 0 {
		t.Fatalf("seq %d delivered from %q", ev.Seq, body)
	}
	if ev.Callback == mono.CallbackEvent && !validEventName(ev.Name) {
		t.Fatalf("event name %q delivered from %q", ev.Name, body)
	}
	if ev.Callback != mono.CallbackEvent && ev.Name != "" {
		t.Fatalf("%s carries a name %q", ev.Callback, ev.Name)
	}
	if ev.At.IsZero() {
		t.Fatalf("event without a time from %q", body)
	}
	if n := ev.Data.SelectedAccountsCount; n < 0 || n > 1000 {
		t.Fatalf("selectedAccountsCount %d delivered", n)
	}
	for field, s := range eventStrings(ev) {
		if !utf8.ValidString(s) {
			t.Fatalf("%s is not valid UTF-8: %q (from %q)", field, s, body)
		}
		for _, r := range s {
			if unsafeRune(r) {
				t.Fatalf("%s keeps %U: %q (from %q)", field, r, s, body)
			}
		}
		limit := maxShortText
		if field == "Data.ErrorMessage" || field == "Data.Code" {
			limit = maxLongText
		}
		if n := utf8.RuneCountInString(s); n > limit {
			t.Fatalf("%s is %d runes, over the %d limit", field, n, limit)
		}
	}
}

// fuzzSecret in a seed stands for the session's page secret: text/plain
// beacon bodies carry it, and the fuzz body cannot know the real one.
const fuzzSecret = "$SECRET"

// startIngestRig starts one server whose handler every input of a fuzz
// worker is served by in memory: an input costs a request value and a
// session, not a listener.
func startIngestRig(f *testing.F) (srv *Server, handler http.Handler, host string) {
	srv, err := NewServer(sandboxConfig())
	if err != nil {
		f.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv, srv.httpSrv.Handler, srv.ln.Addr().String()
}

// FuzzIngest feeds arbitrary bodies to POST /s/<id>/events with a valid
// session, secret and Origin (as JSON with the secret header, or as a
// text/plain beacon with the secret in the body), then ends the session and
// checks everything it delivered. It also runs the decoder on its own.
// Properties: no panic; only documented statuses; every delivered event is
// well formed and its strings carry no escape or control character.
func FuzzIngest(f *testing.F) {
	hostile := []string{
		"\x1b]52;c;cm0gLXJmIH4=\x07copied",                      // OSC 52 clipboard write (BEL)
		"\x1b]52;c;cm0gLXJmIH4=\x1b\\copied",                    // OSC 52 (ST)
		"\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", // OSC 8 link
		"\x1b[2J\x1b[H\x1b[10;10Hmoved\x1b[A\x1b[3D",            // clear, home, cursor moves
		"\u009b31mC1 CSI\u009d0;title\u009c",                    // C1 CSI / OSC / ST as runes
		"\x9b31m raw C1 byte",                                   // C1 as a bare (invalid UTF-8) byte
		"\x1bP1$r\x1b\\DCS", "\x1b_APC\x1b\\", "\x1b^PM\x1b\\",
		"\u202eevil\u2066x\u2069", "nul\x00bell\x07bs\x08del\x7f",
		"line\r\nX-Injected: 1", "Ọ̀kọ́ GTBank", strings.Repeat("\x1b[1m", 600),
	}
	add := func(beacon bool, v map[string]any) {
		b, _ := json.Marshal(v)
		f.Add(b, beacon)
	}
	for _, h := range hostile {
		add(false, map[string]any{"seq": 1, "callback": "event", "name": "ERROR",
			"data": map[string]any{"errorType": h, "errorMessage": h, "timestamp": time.Now().UnixMilli()}})
		add(false, map[string]any{"seq": 1, "callback": "event", "name": "INSTITUTION_SELECTED",
			"data": map[string]any{"institution": map[string]any{"id": h, "name": h}, "authMethod": h}})
		add(false, map[string]any{"seq": 1, "callback": "event", "name": "EXIT", "data": map[string]any{"pageName": h, "reference": h}})
		add(false, map[string]any{"seq": 1, "callback": "success", "data": map[string]any{"code": h}})
		add(true, map[string]any{"seq": 1, "callback": "unload", "secret": fuzzSecret, "data": map[string]any{"mfaType": h}})
	}
	for _, raw := range []string{
		`{"seq":1,"callback":"load"}`,
		`{"seq":1,"callback":"heartbeat","data":null}`,
		`{"seq":1,"callback":"event","name":"ACCOUNT_SELECTED","data":{"selectedAccountsCount":3}}`,
		`{"seq":1,"callback":"event","name":"INSTITUTION_SELECTED","data":{"institution":"GT\u001b]8;;x\u0007Bank"}}`,
		`{"seq":1,"callback":"event","name":"AUTH_METHOD_SWITCHED","data":{"prevAuthMethod":"internet_banking","authMethod":"mobile_banking","future":{"a":[1,{"b":"\u009b"}]}}}`,
		`{"seq":1,"callback":"page_error","data":{"errorMessage":"Re-auth token is required"}}`,
		`{"seq":1,"callback":"event","name":"\u001b[2J","data":{}}`,
		`{"seq":1,"callback":"event","name":"X","data":{"timestamp":1e300}}`,
		`{"seq":1,"callback":"event","name":"X","data":{"timestamp":-1}}`,
		`{"seq":1,"callback":"event","name":"X","data":{"selectedAccountsCount":2.5}}`,
		`{"seq":1,"callback":"event","name":"X","data":[1,2]}`,
		`{"seq":1,"callback":"event","name":"X","data":{"institution":{"name":7}}}`,
		`{"seq":9223372036854775807,"callback":"close"}`,
		`{"seq":-1,"callback":"close"}`, `{"seq":1,"callback":"close","extra":1}`,
		`{"seq":1,"callback":"close"} {"seq":2}`, `[]`, `null`, ``, `{`, "\xff\xfe",
	} {
		f.Add([]byte(raw), false)
	}
	f.Add([]byte(`{"seq":1,"callback":"unload","secret":"$SECRET"}`), true)
	f.Add([]byte(`{"seq":1,"callback":"unload","secret":"wrong"}`), true)

	srv, handler, host := startIngestRig(f)
	f.Fuzz(func(t *testing.T, body []byte, beacon bool) {
		// The decoder alone, with a fixed clock.
		now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
		if p, err := decodePost(body); err == nil {
			if ev, err := toEvent(p, now); err == nil {
				checkDelivered(t, ev, body)
				if ev.Seq != p.Seq {
					t.Fatalf("seq changed %d -> %d", p.Seq, ev.Seq)
				}
			} else if hasUnsafe(err.Error()) {
				t.Fatalf("refusal text %q is unsafe", err.Error())
			}
		}

		// The handler, with everything but the body right.
		code, delivered, fixed := ingestOnce(t, srv, handler, host, body, beacon)
		if code != http.StatusNoContent && len(delivered) > 0 {
			t.Fatalf("a refused post (%d) delivered %d events", code, len(delivered))
		}
		if code == http.StatusNoContent {
			// seq 1 is the next expected, so it is delivered at once; any
			// other accepted seq is held for the gap and ends with the session.
			p, _ := decodePost(fixed)
			want := 0
			if p.Seq == 1 {
				want = 1
			}
			if len(delivered) != want {
				t.Fatalf("accepted seq %d delivered %d events, want %d", p.Seq, len(delivered), want)
			}
		}
	})
}

// ingestOnce posts body to a fresh session (its own seq window and rate
// bucket, so inputs cannot affect each other), ends the session, and
// returns the status and every event the session delivered, each already
// checked by checkDelivered. fixed is the body with fuzzSecret replaced.
func ingestOnce(t *testing.T, srv *Server, handler http.Handler, host string, body []byte, beacon bool) (code int, delivered []mono.WidgetEvent, fixed []byte) {
	t.Helper()
	sess, err := srv.NewSession(SessionParams{Account: testAccount("fuzz"), Token: testToken("fuzz")})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	secret := secretOf(sess)
	fixed = bytes.ReplaceAll(body, []byte(fuzzSecret), []byte(secret))
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/s/"+sess.ID()+"/events", bytes.NewReader(fixed))
	req.Host = host
	req.Header.Set("Origin", srv.origin)
	if beacon {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	} else {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SecretHeader, secret)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	switch rec.Code {
	case http.StatusNoContent, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
	case http.StatusUnauthorized:
		if !beacon {
			t.Fatalf("401 with the right secret header: %s", rec.Body)
		}
	default:
		t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
	}
	if hasUnsafe(rec.Body.String()) || strings.Contains(rec.Body.String(), secret) {
		t.Fatalf("refusal body %q is unsafe or echoes the secret", rec.Body)
	}
	// Ending the session flushes whatever was accepted into Events.
	sess.Close()
	for ev := range sess.Events() {
		checkDelivered(t, ev, body)
		for field, s := range eventStrings(ev) {
			if strings.Contains(s, secret) {
				t.Fatalf("the page secret reached %s", field)
			}
		}
		delivered = append(delivered, ev)
	}
	return rec.Code, delivered, fixed
}

// The fuzz rig really reaches delivery: a hostile but well-formed post is
// accepted and arrives cleaned, and a beacon with the secret in its body is
// accepted too (so the fuzzer explores past the checks, not only refusals).
func TestFuzzIngestRigDelivers(t *testing.T) {
	srv, err := NewServer(sandboxConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close(context.Background()) }()
	handler, host := srv.httpSrv.Handler, srv.ln.Addr().String()

	body := []byte(`{"seq":1,"callback":"event","name":"INSTITUTION_SELECTED","data":{"institution":{"id":"i1","name":"GT\u001b]52;c;cm0gLXJmIH4=\u0007Ba\u001b[3Ank\u009b"}}}`)
	code, evs, _ := ingestOnce(t, srv, handler, host, body, false)
	if code != http.StatusNoContent || len(evs) != 1 {
		t.Fatalf("hostile but valid post: status %d, %d events", code, len(evs))
	}
	if got := evs[0].Data.InstitutionName; got != "GTBank" {
		t.Fatalf("institution name %q, want GTBank", got)
	}
	code, evs, _ = ingestOnce(t, srv, handler, host, []byte(`{"seq":1,"callback":"unload","secret":"`+fuzzSecret+`"}`), true)
	if code != http.StatusNoContent || len(evs) != 1 || evs[0].Callback != mono.CallbackUnload {
		t.Fatalf("beacon: status %d, events %+v", code, evs)
	}
	code, evs, _ = ingestOnce(t, srv, handler, host, []byte(`{"seq":2,"callback":"close"}`), false)
	if code != http.StatusNoContent || len(evs) != 0 {
		t.Fatalf("seq 2 must be held, not delivered: status %d, %d events", code, len(evs))
	}
}

func hasUnsafe(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unsafeRune(r) && r != '\n' {
			return true
		}
	}
	return false
}
