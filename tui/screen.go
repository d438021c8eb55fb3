package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/reauth/reauth/mono"
)

// screen is the shape every screen has. The root model owns what is global
// (size, styles, keys, help, the clock, quitting) and hands a screen only a
// screenCtx; a screen never sees the root model or another screen. What a
// screen wants of the root or of another screen (open an account, go back,
// a fresher account for the list) it posts as a message (screenCtx.post),
// and the root applies it right after the screen returns.
//
// A new screen: copy one screen's files (xxx_screen.go: the type, its
// messages and update; xxx_keys.go: onKey, enableKeys; xxx_view.go: view;
// xxx_cmds.go: its tea.Cmds), give it a screenID (before screenCount), a
// field in Model and its case in Model.screenOf; a message it or another
// screen posts opens it.
type screen interface {
	// update handles the screen's own messages (and the root's broadcasts:
	// tea.WindowSizeMsg, clockMsg, AccountSignal); ok is false for others.
	update(c *screenCtx, msg tea.Msg) (cmd tea.Cmd, ok bool)
	// onKey handles a key the root did not take (quit, help).
	onKey(c *screenCtx, msg tea.KeyPressMsg) tea.Cmd
	// enableKeys turns on exactly the bindings that do something now; the
	// root has turned every one off (but quit and help) before.
	enableKeys(c *screenCtx, k *KeyMap)
	// view renders the body in width×height cells.
	view(c *screenCtx, width, height int) string
	// title is the header's crumb after "reauth ›".
	title() string
	// busy reports a spinner on screen; ticking, that the screen shows
	// times that move (countdowns), so the root runs the clock.
	busy() bool
	ticking() bool
}

// screenCtx is what a screen may read and use: its dependencies, the clock,
// the terminal's size, the styles, the keymap and the spinner. Screens
// never keep it: the root makes one per call.
type screenCtx struct {
	ctx    context.Context // ends when the program quits; every Cmd honours it
	life   context.Context // ends when the model is done with (Model.life)
	deps   Deps
	keys   *KeyMap // screens read it; enableKeys sets what is enabled
	styles *Styles
	spin   *spinner.Model
	// width and height are the terminal's (a view gets its own box).
	width, height int
	// front is set when the screen is the one on screen.
	front bool
	// posted are messages for the root, applied in order once the screen
	// returns (before any other message).
	posted []tea.Msg
}

// screenCtx makes the context for the screen id.
func (m *Model) screenCtx(id screenID) screenCtx {
	return screenCtx{ctx: m.ctx, life: m.life, deps: m.deps, keys: m.keys, styles: m.styles, spin: &m.spinner,
		width: m.width, height: m.height, front: m.screen == id}
}

func (c *screenCtx) now() time.Time { return c.deps.now() }

// post hands msg to the root, to apply as soon as the screen returns.
func (c *screenCtx) post(msg tea.Msg) { c.posted = append(c.posted, msg) }

// innerWidth is the width inside the app's one-column inset.
func (c *screenCtx) innerWidth() int { return innerWidth(c.width) }

func (c *screenCtx) spinnerView() string {
	if c.spin == nil {
		return ""
	}
	return c.spin.View()
}

// marked reports Mono's webhook mark ("needs reauth") for an account.
func (c *screenCtx) marked(id string) bool {
	return c.deps.NeedsReauth != nil && c.deps.NeedsReauth(id)
}

// needsReauth folds Mono's webhook marks (the signal Mono really sends) into
// what an account read says (sync fields, only if Mono ever sends them).
func (c *screenCtx) needsReauth(a mono.Account) bool { return a.NeedsReauth() || c.marked(a.ID) }

// Messages a screen posts to the root (screenCtx.post).
type (
	// openAccountMsg opens the account screen for an account.
	openAccountMsg struct{ account mono.Account }
	// backToSearchMsg leaves the account screen for the list.
	backToSearchMsg struct{}
	// accountReadMsg is a fresher read of an account (after a reauth): the
	// root hands it to the list, which shows it (and shares it through the
	// catalogue).
	accountReadMsg struct{ account mono.Account }
	// replayMsg are messages a screen held back, to be handled again in
	// order, as if they arrived now.
	replayMsg struct{ msgs []tea.Msg }
)

// keyHolder is a screen that may hold keys back until it can act on them
// (the list, while its rows answer an older query).
type keyHolder interface {
	hold(c *screenCtx, msg tea.Msg) bool
}

// cursorScreen is a screen that shows the terminal's cursor (a text box).
type cursorScreen interface {
	textCursor() *tea.Cursor
}

// quitter is a screen that must be asked before the program quits (a live
// attempt); quit returns what to do instead of quitting at once.
type quitter interface {
	quit(c *screenCtx) tea.Cmd
}
