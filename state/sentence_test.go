package state

import (
	"strings"
	"testing"
	"unicode"

	"github.com/reauth/reauth/mono"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		ev   mono.WidgetEvent
		want string
		tone EventTone
	}{
		{callback(mono.CallbackLoad), "Widget loaded", ToneInfo},
		{onEvent(mono.EventLoaded, mono.EventData{}), "Widget loaded", ToneInfo},
		{onEvent(mono.EventOpened, mono.EventData{}), "Widget opened", ToneInfo},
		{onEvent(mono.EventInstitutionSelected, mono.EventData{InstitutionName: "GTBank", AuthMethod: mono.AuthInternetBanking}),
			"Customer chose GTBank (internet banking)", ToneProgress},
		{onEvent(mono.EventInstitutionSelected, mono.EventData{InstitutionName: "Access Bank"}), "Customer chose Access Bank", ToneProgress},
		{onEvent(mono.EventInstitutionSelected, mono.EventData{}), "Customer chose a bank", ToneProgress},
		{onEvent(mono.EventAuthMethodSwitched, mono.EventData{PrevAuthMethod: mono.AuthInternetBanking, AuthMethod: mono.AuthMobileBanking}),
			"Customer switched from internet banking to mobile banking", ToneProgress},
		{onEvent(mono.EventAuthMethodSwitched, mono.EventData{AuthMethod: mono.AuthMobileBanking}), "Customer switched to mobile banking", ToneProgress},
		{onEvent(mono.EventAuthMethodSwitched, mono.EventData{}), "Customer switched login method", ToneProgress},
		{onEvent(mono.EventSubmitCredentials, mono.EventData{}), "Submitted login details", ToneProgress},
		{onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "OTP"}), "Submitted OTP", ToneProgress},
		{onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "otp"}), "Submitted OTP", ToneProgress},
		{onEvent(mono.EventSubmitMFA, mono.EventData{MFAType: "SECURITY_QUESTION"}), "Submitted security question", ToneProgress},
		{onEvent(mono.EventSubmitMFA, mono.EventData{}), "Submitted MFA", ToneProgress},
		{onEvent(mono.EventAccountSelected, mono.EventData{SelectedAccountsCount: 1}), "Selected 1 account", ToneProgress},
		{onEvent(mono.EventAccountSelected, mono.EventData{SelectedAccountsCount: 3}), "Selected 3 accounts", ToneProgress},
		{onEvent(mono.EventAccountSelected, mono.EventData{}), "Selected an account", ToneProgress},
		{onEvent(mono.EventAccountLinked, mono.EventData{InstitutionName: "GTBank"}), "Account linked at GTBank", ToneProgress},
		{onEvent(mono.EventAccountLinked, mono.EventData{}), "Account linked", ToneProgress},
		{onEvent(mono.EventError, mono.EventData{ErrorType: "INVALID_OTP", ErrorMessage: "The OTP entered is wrong"}),
			"Error: INVALID_OTP — The OTP entered is wrong", ToneError},
		{onEvent(mono.EventError, mono.EventData{ErrorType: "BANK_ERROR"}), "Error: BANK_ERROR", ToneError},
		{onEvent(mono.EventError, mono.EventData{ErrorMessage: "Something failed"}), "Error: Something failed", ToneError},
		{onEvent(mono.EventError, mono.EventData{}), "Error (no details)", ToneError},
		{onEvent(mono.EventExit, mono.EventData{PageName: "MFA"}), "Closed the widget on the MFA page", ToneWarning},
		{onEvent(mono.EventExit, mono.EventData{PageName: "Login page"}), "Closed the widget on the Login page", ToneWarning},
		{onEvent(mono.EventExit, mono.EventData{}), "Closed the widget", ToneWarning},
		{onEvent(mono.EventSuccess, mono.EventData{Code: successCode}), "Re-authorisation succeeded", ToneSuccess},
		{onEvent("success", mono.EventData{}), "Re-authorisation succeeded", ToneSuccess},
		{mono.WidgetEvent{Callback: mono.CallbackSuccess, Data: mono.EventData{Code: successCode}}, "Success confirmed by the widget", ToneSuccess},
		{callback(mono.CallbackClose), "Widget closed", ToneWarning},
		{callback(mono.CallbackHeartbeat), "Page heartbeat", ToneFaint},
		{callback(mono.CallbackUnload), "Page closed", ToneWarning},
		{mono.WidgetEvent{Callback: mono.CallbackUnload, Name: mono.EventPageGone}, "The page stopped responding", ToneWarning},
		{mono.WidgetEvent{Callback: mono.CallbackPageError, Data: mono.EventData{ErrorMessage: "Re-auth token is required for reauthorisation"}},
			"Page error: Re-auth token is required for reauthorisation", ToneError},
		{mono.WidgetEvent{Callback: mono.CallbackPageError, Data: mono.EventData{ErrorType: "SCRIPT_LOAD"}}, "Page error: SCRIPT_LOAD", ToneError},
		{callback(mono.CallbackPageError), "Page error", ToneError},
		{onEvent("SOME_NEW_EVENT", mono.EventData{}), "Widget event SOME_NEW_EVENT", ToneInfo},
		{onEvent("", mono.EventData{}), "Widget event (unnamed)", ToneInfo},
		{onEvent("\x1b[0m", mono.EventData{}), "Widget event (unnamed)", ToneInfo},
		{callback("telepathy"), "Page signal telepathy", ToneInfo},
		{callback(""), "Page signal (unnamed)", ToneInfo},
		{mono.WidgetEvent{}, "Page signal (unnamed)", ToneInfo},
	} {
		if got := Describe(tc.ev); got != tc.want {
			t.Errorf("Describe(%s %q) = %q, want %q", tc.ev.Callback, tc.ev.Name, got, tc.want)
		}
		if got := Kind(tc.ev); got != tc.tone {
			t.Errorf("Kind(%s %q) = %s, want %s", tc.ev.Callback, tc.ev.Name, got, tc.tone)
		}
	}
}

// Every known name and callback, with every field filled (the success code
// included), so the checks below see each branch of Describe.
func everyEvent(data mono.EventData) []mono.WidgetEvent {
	var evs []mono.WidgetEvent
	for _, c := range []mono.Callback{mono.CallbackLoad, mono.CallbackSuccess, mono.CallbackClose,
		mono.CallbackHeartbeat, mono.CallbackUnload, mono.CallbackPageError, "odd"} {
		evs = append(evs, mono.WidgetEvent{Callback: c, Data: data})
	}
	for _, name := range []string{mono.EventLoaded, mono.EventOpened, mono.EventInstitutionSelected, mono.EventAuthMethodSwitched,
		mono.EventSubmitCredentials, mono.EventSubmitMFA, mono.EventAccountSelected, mono.EventAccountLinked,
		mono.EventError, mono.EventExit, mono.EventSuccess, "SOME_NEW_EVENT"} {
		evs = append(evs, onEvent(name, data))
	}
	return evs
}

func fullData(s string) mono.EventData {
	return mono.EventData{
		InstitutionID: s, InstitutionName: s, AuthMethod: s, PrevAuthMethod: s, MFAType: s,
		SelectedAccountsCount: 2, ErrorType: s, ErrorMessage: s, PageName: s, Code: successCode, Reference: s,
	}
}

func TestDescribeNeverShowsTheSuccessCode(t *testing.T) {
	for _, ev := range everyEvent(fullData("GTBank")) {
		if got := Describe(ev); strings.Contains(got, successCode) {
			t.Errorf("%s %s: %q", ev.Callback, ev.Name, got)
		}
	}
}

func assertTerminalSafe(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' || r == unicode.ReplacementChar {
			t.Errorf("unsafe rune %U in %q", r, s)
			return
		}
	}
}

func TestDescribeIsTerminalSafe(t *testing.T) {
	for _, input := range []string{
		"GTBank", "",
		"\x1b[31mred\x1b[0m", "\x1b]8;;http://evil\x07click\x1b]8;;\x07", "\x1b]52;c;cGF5bG9hZA==\x07",
		"tab\there\nnew line", "bidi \u202eevil", "bad utf8 \xff\xfe", "\x9b31m C1 CSI",
	} {
		for _, ev := range everyEvent(fullData(input)) {
			got := Describe(ev)
			assertTerminalSafe(t, got)
			if got == "" {
				t.Errorf("empty sentence for %s %s", ev.Callback, ev.Name)
			}
		}
		ev := onEvent(input, mono.EventData{})
		assertTerminalSafe(t, Describe(ev))
	}
}

func FuzzDescribe(f *testing.F) {
	f.Add("ERROR", "INVALID_OTP", "The OTP entered is wrong")
	f.Add("EXIT", "", "\x1b[2J")
	f.Add("\x1b]0;title\x07", "\x00", "\u202e")
	f.Fuzz(func(t *testing.T, name, field, message string) {
		ev := mono.WidgetEvent{Callback: mono.CallbackEvent, Name: name, Data: mono.EventData{
			InstitutionName: field, AuthMethod: field, PrevAuthMethod: message, MFAType: field,
			ErrorType: field, ErrorMessage: message, PageName: field, Code: successCode,
		}}
		got := Describe(ev)
		assertTerminalSafe(t, got)
		if strings.Contains(got, successCode) {
			t.Errorf("success code in %q", got)
		}
	})
}

func TestToneStrings(t *testing.T) {
	want := []string{"info", "progress", "success", "warning", "error", "faint"}
	for tone := ToneInfo; tone <= ToneFaint; tone++ {
		if tone.String() != want[tone] {
			t.Errorf("%d: %q", int(tone), tone)
		}
	}
	if EventTone(9).String() != "EventTone(9)" {
		t.Errorf("out of range: %q", EventTone(9))
	}
}
