package mono

import (
	"strings"
	"time"
)

// Callback is which Connect callback (or which page-side signal) produced a
// WidgetEvent. The page relays every callback of `new Connect({...})` plus its
// own heartbeat and unload.
type Callback string

const (
	CallbackLoad      Callback = "load"       // onLoad()
	CallbackEvent     Callback = "event"      // onEvent(name, data)
	CallbackSuccess   Callback = "success"    // onSuccess({code})
	CallbackClose     Callback = "close"      // onClose()
	CallbackHeartbeat Callback = "heartbeat"  // page alive (every few seconds)
	CallbackUnload    Callback = "unload"     // page closed or navigated away (sendBeacon)
	CallbackPageError Callback = "page_error" // the page itself failed (e.g. the SDK threw)

	// CallbackPageOpen is made by the page server, never posted by a page:
	// a page fetched its session's config. Name is EventPageOpened the first
	// time and EventPageReopened after that (a reload, the link opened again
	// after the tab was closed, or on another device: the newest page wins).
	CallbackPageOpen Callback = "page_open"
)

// onEvent names, from connect.js's raw mono.connect.* message types.
const (
	EventLoaded              = "LOADED"
	EventOpened              = "OPENED"
	EventInstitutionSelected = "INSTITUTION_SELECTED"
	EventAuthMethodSwitched  = "AUTH_METHOD_SWITCHED"
	EventSubmitCredentials   = "SUBMIT_CREDENTIALS"
	EventSubmitMFA           = "SUBMIT_MFA"
	EventAccountSelected     = "ACCOUNT_SELECTED"
	EventAccountLinked       = "ACCOUNT_LINKED"
	EventError               = "ERROR"
	EventExit                = "EXIT"
	EventSuccess             = "SUCCESS"

	// EventPageGone names the unload event the page server makes itself
	// when a page that was heard from falls silent (no heartbeat).
	EventPageGone = "PAGE_GONE"

	// EventPageOpened and EventPageReopened name CallbackPageOpen events.
	EventPageOpened   = "PAGE_OPENED"
	EventPageReopened = "PAGE_REOPENED"
)

// WidgetEvent is one callback relayed from the page to the server, validated
// and with every string passed through CleanText. Unknown Names are kept
// (Mono may add events) and must be shown, never crash anything.
type WidgetEvent struct {
	Seq      int64     `json:"seq"`
	Callback Callback  `json:"callback"`
	Name     string    `json:"name,omitempty"` // onEvent name when Callback is "event"
	At       time.Time `json:"at"`             // data.timestamp when given, else receipt time
	Data     EventData `json:"data"`
}

// EventData holds the documented fields of an event's data.
type EventData struct {
	InstitutionID         string `json:"institution_id,omitempty"`
	InstitutionName       string `json:"institution_name,omitempty"`
	AuthMethod            string `json:"auth_method,omitempty"`
	PrevAuthMethod        string `json:"prev_auth_method,omitempty"`
	MFAType               string `json:"mfa_type,omitempty"`
	SelectedAccountsCount int    `json:"selected_accounts_count,omitempty"`
	ErrorType             string `json:"error_type,omitempty"`
	ErrorMessage          string `json:"error_message,omitempty"`
	PageName              string `json:"page_name,omitempty"`
	Code                  string `json:"code,omitempty"` // onSuccess code: treat as a secret, never log
	Reference             string `json:"reference,omitempty"`
}

// The facts of Mono's widget protocol, written once. Every other package
// (the page server's drop policy, the session machine, the sentences, the
// TUI) asks a WidgetEvent rather than comparing names itself, so a name in
// any case means the same thing everywhere.

// NormalEventName is an onEvent name as this package compares it: trimmed and
// upper case (Mono sends upper case; nothing should depend on it).
func NormalEventName(name string) string {
	name = strings.TrimSpace(name)
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'a' && c <= 'z' || c >= 0x80 {
			return strings.ToUpper(name)
		}
	}
	return name
}

// EventName is the normalised onEvent name ("" unless Callback is event).
func (e WidgetEvent) EventName() string {
	if e.Callback != CallbackEvent {
		return ""
	}
	return NormalEventName(e.Name)
}

// IsSuccess: the widget reported success (onSuccess, or onEvent SUCCESS).
func (e WidgetEvent) IsSuccess() bool {
	return e.Callback == CallbackSuccess || e.EventName() == EventSuccess
}

// IsError is onEvent ERROR (errorType, errorMessage).
func (e WidgetEvent) IsError() bool { return e.EventName() == EventError }

// IsExit is onEvent EXIT: the customer left the widget (pageName says where).
func (e WidgetEvent) IsExit() bool { return e.EventName() == EventExit }

// IsClose is onClose: the widget closed (after a success, or without one).
func (e WidgetEvent) IsClose() bool { return e.Callback == CallbackClose }

// IsPageGone is the page ending: its own unload, or the server noticing it
// fell silent (Name EventPageGone).
func (e WidgetEvent) IsPageGone() bool { return e.Callback == CallbackUnload }

// IsPageOpen is the page server's note that a page fetched its config;
// IsReopen tells a reload / reopen / other device from the first open.
func (e WidgetEvent) IsPageOpen() bool { return e.Callback == CallbackPageOpen }

// IsReopen: a page took the session over after an earlier one.
func (e WidgetEvent) IsReopen() bool {
	return e.Callback == CallbackPageOpen && NormalEventName(e.Name) == EventPageReopened
}

// IsPageError is the page itself failing (e.g. connect.js threw).
func (e WidgetEvent) IsPageError() bool { return e.Callback == CallbackPageError }

// IsProgress: the customer did something in the widget that moves the flow
// on (chose a bank, switched method, submitted credentials or MFA, chose an
// account, linked). After an ERROR it means they carried on.
func (e WidgetEvent) IsProgress() bool {
	switch e.EventName() {
	case EventInstitutionSelected, EventAuthMethodSwitched, EventSubmitCredentials,
		EventSubmitMFA, EventAccountSelected, EventAccountLinked:
		return true
	}
	return false
}

// IsCustomerAction: something the customer did (progress, an error they
// met, leaving), as opposed to the widget loading or the page's heartbeat.
// "Last customer action Ns ago" counts only these.
func (e WidgetEvent) IsCustomerAction() bool {
	return e.IsProgress() || e.IsError() || e.IsExit() || e.IsSuccess() || e.IsClose()
}

// IsOutcome: events that decide or explain how an attempt ends (success,
// close, exit, error, the page ending or failing). The page server never
// drops them.
func (e WidgetEvent) IsOutcome() bool {
	return e.IsSuccess() || e.IsClose() || e.IsPageGone() || e.IsPageError() || e.IsError() || e.IsExit()
}

// MustDeliver: events the page server never drops, even to a consumer that
// has fallen behind: the outcomes, and the page opening (a reopen undoes a
// page gone).
func (e WidgetEvent) MustDeliver() bool { return e.IsOutcome() || e.IsPageOpen() }
