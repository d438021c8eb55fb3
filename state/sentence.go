package state

import (
	"fmt"
	"strings"

	"github.com/reauth/reauth/mono"
)

// EventTone is how a status line should look, so the UI can colour events
// without knowing their names.
type EventTone int

const (
	ToneInfo     EventTone = iota // the widget or page starting
	ToneProgress                  // the customer moving forward
	ToneSuccess                   // re-authorised
	ToneWarning                   // the customer left or the page closed
	ToneError                     // something failed
	ToneFaint                     // liveness noise (heartbeats)
)

var toneNames = [...]string{
	ToneInfo:     "info",
	ToneProgress: "progress",
	ToneSuccess:  "success",
	ToneWarning:  "warning",
	ToneError:    "error",
	ToneFaint:    "faint",
}

func (t EventTone) String() string {
	if t >= 0 && int(t) < len(toneNames) {
		return toneNames[t]
	}
	return fmt.Sprintf("EventTone(%d)", int(t))
}

// Describe turns a widget event into one plain sentence for the status pane.
// It never includes the success code, and every field it quotes goes through
// CleanText again, so a sentence is always safe to print on a terminal.
func Describe(ev mono.WidgetEvent) string {
	d := ev.Data
	switch ev.Callback {
	case mono.CallbackLoad:
		return "Widget loaded"
	case mono.CallbackSuccess:
		return "Success confirmed by the widget"
	case mono.CallbackClose:
		return "Widget closed"
	case mono.CallbackHeartbeat:
		return "Page heartbeat"
	case mono.CallbackUnload:
		if ev.Name == mono.EventPageGone {
			return "The page stopped responding"
		}
		return "Page closed"
	case mono.CallbackPageError:
		return pageErrorSentence(ev)
	case mono.CallbackPageOpen:
		if ev.IsReopen() {
			return "Page reopened (a reload, the link opened again, or another device)"
		}
		return "The page was opened (a browser loaded the link)"
	case mono.CallbackEvent:
	default:
		if c := clean(string(ev.Callback)); c != "" {
			return "Page signal " + c
		}
		return "Page signal (unnamed)"
	}

	switch ev.EventName() {
	case mono.EventLoaded:
		return "Widget loaded"
	case mono.EventOpened:
		return "Widget opened"
	case mono.EventInstitutionSelected:
		s := "Customer chose a bank"
		if bank := clean(d.InstitutionName); bank != "" {
			s = "Customer chose " + bank
		}
		if method := authMethodWords(d.AuthMethod); method != "" {
			s += " (" + method + ")"
		}
		return s
	case mono.EventAuthMethodSwitched:
		from, to := authMethodWords(d.PrevAuthMethod), authMethodWords(d.AuthMethod)
		switch {
		case from != "" && to != "":
			return "Customer switched from " + from + " to " + to
		case to != "":
			return "Customer switched to " + to
		default:
			return "Customer switched login method"
		}
	case mono.EventSubmitCredentials:
		return "Submitted login details"
	case mono.EventSubmitMFA:
		if t := clean(d.MFAType); t != "" {
			return "Submitted " + mfaWords(t)
		}
		return "Submitted MFA"
	case mono.EventAccountSelected:
		switch n := d.SelectedAccountsCount; {
		case n == 1:
			return "Selected 1 account"
		case n > 1:
			return fmt.Sprintf("Selected %d accounts", n)
		default:
			return "Selected an account"
		}
	case mono.EventAccountLinked:
		if bank := clean(d.InstitutionName); bank != "" {
			return "Account linked at " + bank
		}
		return "Account linked"
	case mono.EventError:
		return errorSentence(d.ErrorType, d.ErrorMessage)
	case mono.EventExit:
		if page := clean(d.PageName); page != "" {
			return "Closed the widget on the " + pageLabel(page)
		}
		return "Closed the widget"
	case mono.EventSuccess:
		return "Re-authorisation succeeded"
	default:
		if name := clean(ev.Name); name != "" {
			return "Widget event " + name
		}
		return "Widget event (unnamed)"
	}
}

// Kind is the tone of an event, for colour and icon.
func Kind(ev mono.WidgetEvent) EventTone {
	switch ev.Callback {
	case mono.CallbackLoad:
		return ToneInfo
	case mono.CallbackSuccess:
		return ToneSuccess
	case mono.CallbackClose, mono.CallbackUnload:
		return ToneWarning
	case mono.CallbackHeartbeat:
		return ToneFaint
	case mono.CallbackPageError:
		return ToneError
	case mono.CallbackEvent:
	default:
		return ToneInfo
	}
	switch {
	case ev.IsProgress():
		return ToneProgress
	case ev.IsSuccess():
		return ToneSuccess
	case ev.IsError():
		return ToneError
	case ev.IsExit():
		return ToneWarning
	default:
		return ToneInfo
	}
}

// errorSentence is "Error: TYPE — message", whichever parts exist.
func errorSentence(errorType, message string) string {
	t, m := clean(errorType), clean(message)
	switch {
	case t != "" && m != "":
		return "Error: " + t + " — " + m
	case t != "":
		return "Error: " + t
	case m != "":
		return "Error: " + m
	default:
		return "Error (no details)"
	}
}

func pageErrorSentence(ev mono.WidgetEvent) string {
	if m := clean(ev.Data.ErrorMessage); m != "" {
		return "Page error: " + m
	}
	if t := clean(ev.Data.ErrorType); t != "" {
		return "Page error: " + t
	}
	return "Page error"
}

// authMethodWords renders internet_banking as "internet banking".
func authMethodWords(method string) string {
	return strings.ToLower(strings.ReplaceAll(clean(method), "_", " "))
}

// mfaWords keeps acronyms (OTP, PIN) and spells the rest out in words.
func mfaWords(mfaType string) string {
	if len(mfaType) <= 4 && !strings.Contains(mfaType, "_") {
		return strings.ToUpper(mfaType)
	}
	return strings.ToLower(strings.ReplaceAll(mfaType, "_", " "))
}

func clean(s string) string { return strings.TrimSpace(mono.CleanText(s)) }
